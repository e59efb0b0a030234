"""Opening: public names, construction, options, errors, sidecars, overview order."""

from __future__ import annotations

import pickle
import shutil
import types
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import obstore
import pytest
import rasterio
import trio
from affine import Affine
from obstore.store import HTTPStore, LocalStore, MemoryStore

import trio_geotiff
from corpus import CORPUS, oracle, params, tiff_entries
from servers import HTTPServerHandle, serve_http
from trio_geotiff import GeoTIFF, Overview, Window
from trio_geotiff.errors import (
    CorruptFileError,
    EventLoopError,
    GeoTIFFError,
    InvalidArgumentError,
    InvalidWindowError,
    NotATIFFError,
    ObjectNotFoundError,
    ResourceLimitError,
    StoreError,
    UnsupportedError,
)

# -- the public surface ------------------------------------------------------


def test_public_names_are_exported_and_documented() -> None:
    # Subpackages (trio_geotiff.xarray) join the namespace when imported.
    public = {
        n
        for n, v in vars(trio_geotiff).items()
        if not n.startswith("_") and (n == "errors" or not isinstance(v, types.ModuleType))
    } | {"__version__"}
    public -= {"annotations"}  # from __future__
    assert set(trio_geotiff.__all__) == public
    for name in trio_geotiff.__all__:
        obj = getattr(trio_geotiff, name)
        assert obj.__doc__, name
        if name != "errors" and hasattr(obj, "__module__"):
            assert obj.__module__ == "trio_geotiff", name


def test_geotiff_and_overview_have_no_public_constructor() -> None:
    with pytest.raises(TypeError, match=r"GeoTIFF\.open"):
        GeoTIFF()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"GeoTIFF\.overviews"):
        Overview()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="no public constructor"):
        Overview(1, 2, 3, 4, 5)  # type: ignore[arg-type]  # the old __init__'s arity


async def test_open_options_out_of_range_are_argument_errors(cog_dir: Path) -> None:
    store = LocalStore(str(cog_dir))
    for options, match in (
        ({"prefetch": 8}, "prefetch"),
        ({"coalesce_gap": -1}, "coalesce_gap"),
        ({"jpeg": "exact"}, "jpeg"),
    ):
        with pytest.raises(InvalidArgumentError, match=f"cog.tif: {match}") as info:
            await GeoTIFF.open("cog.tif", store=store, **options)
        assert isinstance(info.value, ValueError)


# -- errors ------------------------------------------------------------------


async def test_errors_name_the_path_and_the_cause() -> None:
    store = MemoryStore()
    obstore.put(store, "text.tif", b"hello, this is not a TIFF at all")
    obstore.put(store, "short.tif", b"II*\0")
    obstore.put(
        store,
        "loop.tif",
        b"II*\0\x08\0\0\0" + b"\x01\0" + b"\0\x01\x03\0\x01\0\0\0\x10\0\0\0" + b"\x08\0\0\0",
    )
    obstore.put(store, "empty.tif", b"")
    with pytest.raises(NotATIFFError, match="text.tif"):
        await GeoTIFF.open("text.tif", store=store)
    with pytest.raises(NotATIFFError, match="short.tif"):
        await GeoTIFF.open("short.tif", store=store)
    with pytest.raises(NotATIFFError, match="empty"):
        await GeoTIFF.open("empty.tif", store=store)
    with pytest.raises(CorruptFileError, match=r"loop\.tif.*ImageLength"):
        await GeoTIFF.open("loop.tif", store=store)  # loops to itself, and no height
    with pytest.raises(ObjectNotFoundError) as info:
        await GeoTIFF.open("absent.tif", store=store)
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, StoreError)
    assert isinstance(info.value, OSError)


def test_errors_pickle_and_form_one_hierarchy() -> None:
    err = CorruptFileError("a/b.tif", "IFD 0 is broken")
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.path, copy.reason, str(copy)) == (
        "a/b.tif",
        "IFD 0 is broken",
        "a/b.tif: IFD 0 is broken",
    )
    for cls in (
        CorruptFileError,
        EventLoopError,
        InvalidArgumentError,
        InvalidWindowError,
        NotATIFFError,
        ResourceLimitError,
        StoreError,
        UnsupportedError,
    ):
        assert issubclass(cls, GeoTIFFError)
    assert issubclass(InvalidWindowError, InvalidArgumentError)
    assert issubclass(InvalidArgumentError, ValueError)


async def test_portal_hands_back_errors_raised_while_starting() -> None:
    from trio_geotiff import _portal

    with trio.fail_after(5), pytest.raises(TypeError):
        await _portal.run_in_portal(lambda: 42)  # type: ignore[arg-type,return-value]
    assert _portal.portal_tasks_running() == 0


# -- sidecars ----------------------------------------------------------------


@pytest.fixture(scope="module")
def sidecar_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scene.tif (no internal overviews) with a .ovr (2 levels), a .msk and its .msk.ovr.

    bare.tif is the same file without sidecars.
    """
    root = tmp_path_factory.mktemp("sidecars")
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": 256,
        "height": 128,
        "count": 1,
        "dtype": "uint8",
        "crs": "EPSG:3857",
        "transform": Affine(10, 0, 0, 0, -10, 0),
    }
    data = (np.arange(256 * 128) % 251).astype(np.uint8).reshape(1, 128, 256)
    with (
        rasterio.Env(GDAL_TIFF_INTERNAL_MASK=False),
        rasterio.open(root / "scene.tif", "w", **profile) as ds,
    ):
        ds.write(data)
        mask = np.full((128, 256), 255, dtype=np.uint8)
        mask[:, :16] = 0
        ds.write_mask(mask)
    with rasterio.Env(TIFF_USE_OVR=True), rasterio.open(root / "scene.tif", "r+") as ds:
        ds.build_overviews([2, 4])  # an external .ovr
    assert (root / "scene.tif.msk.ovr").exists()  # the mask's overviews, beside the .msk
    with rasterio.open(root / "bare.tif", "w", **profile) as ds:
        ds.write(data)
    assert (root / "scene.tif.ovr").exists()
    assert (root / "scene.tif.msk").exists()
    return root


async def test_sidecars_are_used_and_counted(sidecar_dir: Path) -> None:
    tif = await GeoTIFF.open("scene.tif", store=LocalStore(str(sidecar_dir)), sidecars=True)
    assert [(o.width, o.height) for o in tif.overviews] == [(128, 64), (64, 32)]
    assert tif.mask_kind == "mask"
    before = tif.statistics()
    assert before.requests == 4  # the file, its .ovr, .msk and .msk.ovr (one request each)
    arr = await tif.overviews[1].read(masked=True)
    assert arr.mask is not None
    with rasterio.open(sidecar_dir / "scene.tif", overview_level=1) as ods:
        assert np.array_equal(arr.data, ods.read())
        assert np.array_equal(arr.mask, ods.dataset_mask() > 0)
    assert not arr.mask[:, :4].any()  # from the .msk.ovr
    full = await tif.read(masked=True)
    assert full.mask is not None
    with rasterio.open(sidecar_dir / "scene.tif") as ds:
        assert np.array_equal(full.mask, ds.dataset_mask() > 0)
        assert not full.mask[:, :16].any()
    after = tif.statistics()
    # Reads of the .ovr and .msk are this file's too.
    assert after.requests > before.requests
    assert after.blocks_decoded >= 2


@pytest.mark.parametrize("suffix", [".ovr", ".msk", ".aux.xml"])
@pytest.mark.parametrize("content", [b"", b"not a TIFF, not XML"])
async def test_an_unusable_sidecar_is_ignored_silently(
    sidecar_dir: Path, tmp_path: Path, suffix: str, content: bytes
) -> None:
    shutil.copy(sidecar_dir / "bare.tif", tmp_path / "bare.tif")
    (tmp_path / f"bare.tif{suffix}").write_bytes(content)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # GDAL does not warn either
        tif = await GeoTIFF.open("bare.tif", store=LocalStore(str(tmp_path)), sidecars=True)
    assert tif.overviews == ()
    assert tif.mask_kind is None
    assert tif.crs is not None
    assert (await tif.read()).shape == (1, 128, 256)


@pytest.mark.parametrize("suffix", [".ovr", ".msk"])
async def test_a_broken_tiff_sidecar_is_ignored_with_a_warning(
    sidecar_dir: Path, tmp_path: Path, suffix: str
) -> None:
    shutil.copy(sidecar_dir / "bare.tif", tmp_path / "bare.tif")
    # A TIFF header whose first IFD is garbage (GDAL reports an error and goes on).
    (tmp_path / f"bare.tif{suffix}").write_bytes(b"II*\0\x08\0\0\0\xff\xff" + b"\0" * 32)
    with pytest.warns(RuntimeWarning, match=rf"bare\.tif\{suffix}: sidecar ignored"):
        tif = await GeoTIFF.open("bare.tif", store=LocalStore(str(tmp_path)), sidecars=True)
    assert tif.overviews == ()
    assert tif.mask_kind is None


@pytest.fixture
def http(sidecar_dir: Path) -> Iterator[HTTPServerHandle]:
    with serve_http(sidecar_dir) as handle:
        yield handle


def http_store(handle: HTTPServerHandle) -> HTTPStore:
    return HTTPStore.from_url(
        handle.url,
        retry_config={"max_retries": 0, "retry_timeout": timedelta(seconds=5)},
        client_options={"allow_http": True, "timeout": timedelta(seconds=10)},
    )


@pytest.mark.network
@pytest.mark.parametrize("suffix", [".ovr", ".msk", ".msk.ovr", ".aux.xml"])
async def test_a_sidecar_the_store_refuses_is_ignored_with_a_warning(
    http: HTTPServerHandle, suffix: str
) -> None:
    http.faults.set(status=403, only_path=f"scene.tif{suffix}")
    with pytest.warns(RuntimeWarning, match=rf"scene\.tif\{suffix}: sidecar ignored \(StoreError"):
        tif = await GeoTIFF.open("scene.tif", store=http_store(http), sidecars=True)
    statuses = {r.path.lstrip("/"): r.status for r in http.stats().requests}
    assert statuses[f"scene.tif{suffix}"] == 403
    assert statuses["scene.tif"] in (200, 206)
    assert (len(tif.overviews) == 0) == (suffix == ".ovr")
    assert (tif.mask_kind == "mask") == (suffix != ".msk")
    if tif.overviews:
        has_mask = suffix not in (".msk", ".msk.ovr")
        assert (tif.overviews[0].mask_kind == "mask") == has_mask


@pytest.mark.network
async def test_sidecars_are_fetched_under_the_files_limiter(http: HTTPServerHandle) -> None:
    http.faults.set(latency=0.05)
    limiter = trio.CapacityLimiter(1)
    await GeoTIFF.open("scene.tif", store=http_store(http), sidecars=True, limiter=limiter)
    stats = http.stats()
    assert stats.requests_total == 5  # the file, .ovr, .msk, .msk.ovr, .aux.xml (absent)
    http.reset()
    await GeoTIFF.open("bare.tif", store=http_store(http), sidecars=True, limiter=limiter)
    # Without a .msk, its .msk.ovr is not looked up: the file and three 404s.
    assert http.stats().requests_total == 4
    assert stats.max_waiting == 1


# -- overview order ----------------------------------------------------------


def test_gdals_directory_scan_order() -> None:
    from trio_geotiff._open import _scan_order
    from trio_geotiff._tiff import IFD

    ifds = [
        IFD(8, {330: (300, 200)}),  # the first image lists two SubIFDs, 300 first
        IFD(100, {}),  # main chain: a candidate
        IFD(150, {330: (500,)}),  # main chain with SubIFDs of its own: not one
        IFD(200, {}, parent=0),
        IFD(300, {}, parent=0),
        IFD(400, {}, parent=0),  # chained from a SubIFD, not listed: GDAL never visits it
    ]
    assert [ifd.offset for _, ifd in _scan_order(ifds)] == [300, 200, 100]
    assert [i for i, _ in _scan_order(ifds)] == [4, 3, 1]


def test_subifd_overviews_are_listed_in_gdals_order() -> None:
    # GDAL lists the SubIFDs in the order the SubIFDs tag gives them, unsorted.
    rel = "libtiff/tiff_with_subifd_chain.tif"
    if not (CORPUS / rel).exists():
        pytest.skip(f"{rel} is not in the corpus")

    async def sizes() -> list[tuple[int, int]]:
        tif = await GeoTIFF.open(rel, store=LocalStore(str(CORPUS)))
        return [(o.width, o.height) for o in tif.overviews]

    assert trio.run(sizes) == [(256, 128), (512, 256)]


@pytest.mark.corpus
@pytest.mark.parametrize("entry", params([e for e in tiff_entries() if e.get("opens") is True]))
async def test_overviews_are_listed_as_rasterio_lists_them(entry: dict[str, Any]) -> None:
    rel = entry["path"]
    tif = await GeoTIFF.open(rel, store=LocalStore(str(CORPUS)), sidecars=True)
    with oracle(rel) as ds:
        levels = len(ds.overviews(1))
    want = []
    for level in range(levels):
        with oracle(rel, overview_level=level) as ods:
            want.append((ods.width, ods.height))
    assert [(o.width, o.height) for o in tif.overviews] == want
    if tif.overviews:
        ov = tif.overviews[0]
        window = Window(0, 0, min(ov.width, 64), min(ov.height, 64))
        assert (await ov.read(window=window)).shape[1:] == (window.height, window.width)
