"""Every layout and codec GDAL writes, read here and compared with rasterio.

The files come from `make_fixtures` (written with rasterio at test time into a
session temporary directory). For each: the full image, a window crossing
block edges, a band subset, the first overview and a boundless window over the
bottom-right corner must equal GDAL's pixels (lossy codecs: within the case's
tolerance) and GDAL's dataset mask.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from obstore.store import LocalStore
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window as RioWindow

from make_fixtures import CASES, SKIPPED, Case, make_fixtures
from trio_geotiff import GeoTIFF, Window
from trio_geotiff.errors import UnsupportedError

# Fixtures this library cannot read; each must raise UnsupportedError on read.
UNSUPPORTED: dict[str, str] = {}
# Fixtures read with pixels known to differ from GDAL beyond the tolerance
# (strict xfail: an improvement shows up as XPASS and the entry must go).
KNOWN_DIFFERENCES: dict[str, str] = {}


def _case_params() -> list[Any]:
    return [
        pytest.param(name, marks=pytest.mark.xfail(reason=KNOWN_DIFFERENCES[name], strict=True))
        if name in KNOWN_DIFFERENCES
        else name
        for name in sorted(CASES)
    ]


@pytest.fixture(scope="session")
def fixture_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_fixtures(tmp_path_factory.mktemp("formats"))


@pytest.fixture
def fixture_path(name: str, fixture_files: dict[str, Path]) -> Path:
    """The file of case ``name`` (skipped, sync, when the bundled GDAL could not write it)."""
    if name not in fixture_files:
        pytest.skip(SKIPPED.get(name, "fixture not written"))
    return fixture_files[name]


@contextmanager
def rio_open(path: Path, **kw: Any) -> Iterator[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, **kw) as ds:
            yield ds


def has_mask_source(ds: Any) -> bool:
    """True when GDAL has a dataset mask (nodata, internal mask or alpha)."""
    return [f.name for f in ds.mask_flag_enums[0]] != ["all_valid"]


def assert_pixels(case: Case, got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if case.tolerance:
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        assert np.nanmax(diff, initial=0) <= case.tolerance, f"{what}: max diff {np.nanmax(diff)}"
        if got.dtype.kind == "f":
            assert np.array_equal(np.isnan(got), np.isnan(want)), f"{what}: NaNs differ"
    elif got.dtype.kind in "fc":
        assert np.array_equal(got, want, equal_nan=True), f"{what}: pixels differ"
    else:
        bad = np.argwhere(got != want)
        assert bad.size == 0, f"{what}: {len(bad)} pixels differ, first at {bad[0]}"


def expected_mask(ds: Any, window: RioWindow) -> np.ndarray:
    """GDAL's dataset mask over ``window`` (False outside the image)."""
    w = int(window.width)
    h = int(window.height)
    col, row = int(window.col_off), int(window.row_off)
    out = np.zeros((h, w), dtype=bool)
    c0, r0 = max(col, 0), max(row, 0)
    c1, r1 = min(col + w, ds.width), min(row + h, ds.height)
    if c1 > c0 and r1 > r0:
        inner = RioWindow(c0, r0, c1 - c0, r1 - r0)
        out[r0 - row : r1 - row, c0 - col : c1 - col] = ds.dataset_mask(window=inner) > 0
    return out


def rio_boundless(
    ds: Any, window: RioWindow, fill: float, indexes: list[int] | None = None
) -> np.ndarray:
    """GDAL's boundless read of ``window``.

    rasterio reads boundless windows through a VRT that passes 64-bit
    integers through float64 (their low bits are lost); for those the
    expectation is built from an in-bounds read and the fill value instead.
    """
    indexes = indexes or list(range(1, ds.count + 1))
    dtype = np.dtype("complex64" if ds.dtypes[0] == "complex_int16" else ds.dtypes[0])
    if dtype.kind not in "iu" or dtype.itemsize < 8:
        return ds.read(indexes, window=window, boundless=True, fill_value=fill)  # type: ignore[no-any-return]
    w, h = int(window.width), int(window.height)
    col, row = int(window.col_off), int(window.row_off)
    out = np.full((len(indexes), h, w), fill, dtype=dtype)
    c0, r0 = max(col, 0), max(row, 0)
    c1, r1 = min(col + w, ds.width), min(row + h, ds.height)
    if c1 > c0 and r1 > r0:
        inner = RioWindow(c0, r0, c1 - c0, r1 - r0)
        out[:, r0 - row : r1 - row, c0 - col : c1 - col] = ds.read(indexes, window=inner)
    return out


def edge_window(width: int, height: int, block: tuple[int, int]) -> Window:
    """A window inside the image that crosses block edges where there are any."""
    bh, bw = block
    col = max(0, min(bw - 5, width - 12))
    row = max(0, min(bh - 3, height - 9))
    return Window(col, row, min(width - col, bw + 11), min(height - row, bh + 7))


def check_read(
    case: Case, ds: Any, arr: Any, window: Window, indexes: list[int], what: str
) -> None:
    rio_window = RioWindow(window.col_off, window.row_off, window.width, window.height)
    want = ds.read(indexes, window=rio_window)
    assert_pixels(case, arr.data, want, what)
    if has_mask_source(ds):
        assert arr.mask is not None, f"{what}: no mask"
        np.testing.assert_array_equal(arr.mask, expected_mask(ds, rio_window), err_msg=what)
    else:
        assert arr.mask is None, f"{what}: unexpected mask"


@pytest.mark.parametrize("name", _case_params())
async def test_matches_gdal(name: str, fixture_path: Path) -> None:
    case = CASES[name]
    path = fixture_path
    # jpeg="gdal": subsampled YCbCr JPEG decoded as GDAL does (the default
    # "fast" libjpeg-turbo path differs from it by design; see docs/jpeg.md).
    tif = await GeoTIFF.open(path.name, store=LocalStore(str(path.parent)), jpeg="gdal")
    if name in UNSUPPORTED:
        with pytest.raises(UnsupportedError):
            await tif.read()
        return
    with rio_open(path) as ds:
        assert (tif.width, tif.height, tif.count) == (ds.width, ds.height, ds.count)
        assert str(tif.dtype) == ("complex64" if ds.dtypes[0] == "complex_int16" else ds.dtypes[0])
        all_bands = list(range(1, ds.count + 1))

        full = Window(0, 0, ds.width, ds.height)
        check_read(case, ds, await tif.read(), full, all_bands, "full read")

        win = edge_window(ds.width, ds.height, ds.block_shapes[0])
        check_read(case, ds, await tif.read(window=win), win, all_bands, f"window {win}")

        masked = await tif.read(window=win, masked=True)
        assert masked.mask is not None
        if not has_mask_source(ds):
            assert masked.mask.all()

        subset = [ds.count, 1] if ds.count > 1 else [1, 1]
        arr = await tif.read(window=win, indexes=subset)
        check_read(case, ds, arr, win, subset, f"bands {subset} of {win}")

        # Boundless over the bottom-right corner, with an explicit fill value.
        corner = Window(ds.width - 20, ds.height - 15, 50, 40)
        fill = 7 if np.dtype(tif.dtype).kind in "iuf" else 3
        arr = await tif.read(window=corner, boundless=True, fill_value=fill)
        rio_corner = RioWindow(corner.col_off, corner.row_off, corner.width, corner.height)
        want = rio_boundless(ds, rio_corner, fill)
        assert_pixels(case, arr.data, want, f"boundless {corner}")
        assert arr.mask is not None
        np.testing.assert_array_equal(arr.mask, expected_mask(ds, rio_corner), err_msg="boundless")

        n_overviews = len(ds.overviews(1))
    assert len(tif.overviews) == n_overviews
    if n_overviews:
        ov = tif.overviews[0]
        with rio_open(path, overview_level=0) as ods:
            assert (ov.width, ov.height) == (ods.width, ods.height)
            full = Window(0, 0, ods.width, ods.height)
            check_read(case, ods, await ov.read(), full, all_bands, "overview 0")
            win = edge_window(ods.width, ods.height, ods.block_shapes[0])
            check_read(case, ods, await ov.read(window=win), win, all_bands, f"overview 0 {win}")


def test_unsupported_list_is_current() -> None:
    """Every name in UNSUPPORTED is a fixture case (no stale entries)."""
    assert set(UNSUPPORTED) <= set(CASES)
    assert set(KNOWN_DIFFERENCES) <= set(CASES)
