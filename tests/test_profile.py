"""`profile` and `mask_flag_enums` (trio_geotiff._profile) against rasterio's.

rasterio is the oracle on three sets of files: the bundled sample, every case
of `make_fixtures` (written with rasterio at test time) and every corpus file
the library opens. The whole dict is compared: keys, their order and values.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyproj
import pytest
import rasterio
import rasterio.enums
from affine import Affine
from obstore.store import LocalStore

from corpus import CORPUS, oracle
from make_fixtures import SKIPPED, make_fixtures
from test_cli import SAMPLE, _info_files
from trio_geotiff import GeoTIFF
from trio_geotiff._enums import MaskFlags
from trio_geotiff._profile import mask_flag_enums, profile

CINT16 = {"dtype": "complex int16 is read as complex64 (numpy has none)"}
# Where the library knowingly differs from GDAL, by corpus path and key.
PROFILE_DIFFERENCES: dict[str, dict[str, str]] = {
    "rio-cogeo/slc.tif": CINT16,
    "rioxarray/cint16.tif": CINT16,
    "pillow/hopper.Lab.tif": {"mask_flags": "GDAL's RGBA conversion adds an alpha mask"},
}


async def _open(path: Path) -> GeoTIFF:
    return await GeoTIFF.open(path.name, store=LocalStore(str(path.parent)), sidecars=True)


@contextmanager
def _rio(path: Path) -> Iterator[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with (
            rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="NO"),
            rasterio.open(path) as ds,
        ):
            yield ds


def _same_crs(ours: pyproj.CRS | None, theirs: Any) -> bool:
    if theirs is None or ours is None:
        return theirs is None and ours is None
    epsg = theirs.to_epsg()
    if epsg is not None and ours.to_epsg() == epsg:
        return True
    return ours == pyproj.CRS.from_user_input(theirs.to_wkt())


def assert_profile_matches(ours: dict[str, Any], ds: Any, known: dict[str, str]) -> None:
    theirs = dict(ds.profile)
    assert list(ours) == list(theirs), (list(ours), list(theirs))
    for key, want in theirs.items():
        have = ours[key]
        if key in known:
            if known is CINT16:
                assert (have, want) == ("complex64", "complex_int16")
            continue
        if key == "crs":
            assert _same_crs(have, want), (have, want)
        elif key == "transform":
            assert isinstance(have, Affine)
            assert all(
                math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-7)
                for a, b in zip(have, want, strict=True)
            ), (have, want)
        elif key == "nodata" and isinstance(want, float) and math.isnan(want):
            assert isinstance(have, float), have
            assert math.isnan(have)
        else:
            assert have == want, (key, have, want)
            assert type(have) is type(want), (key, have, want)


def assert_mask_flags_match(ours: tuple[list[MaskFlags], ...], ds: Any) -> None:
    assert isinstance(ours, tuple)
    assert all(isinstance(flag, MaskFlags) for flags in ours for flag in flags)
    assert [[(f.name, int(f)) for f in flags] for flags in ours] == [
        [(f.name, int(f)) for f in flags] for flags in ds.mask_flag_enums
    ]


def test_mask_flags_mirror_rasterio() -> None:
    assert [(f.name, f.value) for f in MaskFlags] == [
        (f.name, f.value) for f in rasterio.enums.MaskFlags
    ]
    # Bits, as GDAL's GetMaskFlags returns them.
    assert MaskFlags.per_dataset | MaskFlags.alpha == 6


async def test_sample_profile() -> None:
    tif = await _open(SAMPLE)
    ours = profile(tif)
    with _rio(SAMPLE) as ds:
        assert_profile_matches(ours, ds, {})
        assert_mask_flags_match(mask_flag_enums(tif), ds)
    assert ours["compress"] == "deflate"
    assert ours["tiled"] is True
    assert "photometric" not in ours  # RGB: GDAL records no source colour space
    ours["count"] = 99  # a new dict each time
    assert profile(tif)["count"] == 3


@pytest.fixture(scope="session")
def fixture_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_fixtures(tmp_path_factory.mktemp("profile"))


async def test_profile_of_every_fixture(fixture_files: dict[str, Path]) -> None:
    assert len(fixture_files) > 100, SKIPPED
    seen_flags = set()
    for name, path in sorted(fixture_files.items()):
        tif = await _open(path)
        flags = mask_flag_enums(tif)
        with _rio(path) as ds:
            known = CINT16 if ds.dtypes[0] == "complex_int16" else {}
            try:
                assert_profile_matches(profile(tif), ds, known)
                assert_mask_flags_match(flags, ds)
            except AssertionError as exc:
                raise AssertionError(f"{name}: {exc}") from exc
        seen_flags |= {tuple(f) for f in flags}
    # Every kind of mask was exercised.
    assert seen_flags >= {
        (MaskFlags.all_valid,),
        (MaskFlags.nodata,),
        (MaskFlags.per_dataset,),
        (MaskFlags.per_dataset, MaskFlags.alpha),
    }, seen_flags


@pytest.mark.corpus
@pytest.mark.parametrize("entry", _info_files())
async def test_profile_matches_rasterio_for_every_corpus_file(entry: dict[str, Any]) -> None:
    rel = entry["path"]
    known = PROFILE_DIFFERENCES.get(rel, {})
    tif = await _open(CORPUS / rel)
    with oracle(rel) as ds:
        assert_profile_matches(profile(tif), ds, known)
        if "mask_flags" not in known:
            assert_mask_flags_match(mask_flag_enums(tif), ds)
