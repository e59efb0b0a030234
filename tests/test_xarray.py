"""The ``trio_geotiff`` xarray engine against rioxarray's ``rasterio`` engine (GDAL).

The same ``xr.open_dataarray`` call with both engines must give the same
array: values (lazily indexed and loaded), coords, attrs, encoding, CRS and
transform, with ``mask_and_scale`` both ways. Also: the blocking face, pickling
of what the graph carries, and a chunk read in a fresh process.
"""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

xr = pytest.importorskip("xarray")
pytest.importorskip("rioxarray")

from rasterio.crs import CRS as RioCRS  # noqa: E402

from corpus import CORPUS, params, tiff_entries  # noqa: E402
from make_fixtures import make_fixtures  # noqa: E402
from test_corpus import CRS_REFUSED, LOSSY, UNSUPPORTED, YCBCR_JPEG  # noqa: E402
from trio_geotiff import _blocking  # noqa: E402
from trio_geotiff.errors import CorruptFileError, InvalidArgumentError  # noqa: E402

# rioxarray (the oracle, and `.rio` on our arrays) multiplies Affines with `*`.
pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

# Small enough to load whole in a test.
MAX_LOAD_PIXELS = 4_000_000
# Keys of the CF grid mapping whose *names* differ between PROJ databases
# (EPSG's "World Geodetic System 1984 ensemble" vs GDAL's WKT1 names).
NAME_KEYS = {
    "horizontal_datum_name",
    "reference_ellipsoid_name",
    "geographic_crs_name",
    "projected_crs_name",
    "prime_meridian_name",
}


def open_both(path: Path | str, **kw: Any) -> tuple[Any, Any]:
    # jpeg="gdal": subsampled YCbCr JPEG decoded exactly as GDAL does.
    options = {"sidecars": True, "jpeg": "gdal"}
    ours = xr.open_dataarray(path, engine="trio_geotiff", open_options=options, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rioxarray warns about differing scales
        ref = xr.open_dataarray(path, engine="rasterio", **kw)
    return ours, ref


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (tuple, list, np.ndarray)) or isinstance(b, (tuple, list, np.ndarray)):
        a_, b_ = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
        return a_.shape == b_.shape and all(
            _same(x, y) for x, y in zip(a_.ravel(), b_.ravel(), strict=True)
        )
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (int, float, np.number)) and isinstance(b, (int, float, np.number)):
        return bool(a == b) or bool(np.isnan(a) and np.isnan(b))
    return bool(a == b)


def assert_same_metadata(ours: Any, ref: Any) -> None:
    assert ours.dims == ref.dims
    assert ours.shape == ref.shape
    assert ours.dtype == ref.dtype
    assert ours.name == ref.name
    assert set(ours.coords) == set(ref.coords)
    np.testing.assert_array_equal(ours.band.values, ref.band.values)
    for name in set(ref.coords) - {"band", "spatial_ref"}:
        np.testing.assert_allclose(ours[name].values, ref[name].values, rtol=1e-12, atol=1e-9)
    assert ours.attrs.keys() == ref.attrs.keys()
    for key, value in ref.attrs.items():
        assert _same(ours.attrs[key], value), (key, ours.attrs[key], value)
    for key in ("_FillValue", "scale_factor", "add_offset", "scales", "offsets", "dtype"):
        assert (key in ours.encoding) == (key in ref.encoding), key
        if key in ref.encoding:
            assert _same(ours.encoding[key], ref.encoding[key]), key
            assert type(ours.encoding[key]) is type(ref.encoding[key]), key
    assert ours.encoding["grid_mapping"] == ref.encoding["grid_mapping"] == "spatial_ref"
    ours_gm, ref_gm = ours.spatial_ref.attrs, ref.spatial_ref.attrs
    assert ours_gm.keys() == ref_gm.keys()
    assert ours_gm["GeoTransform"] == ref_gm["GeoTransform"]
    if "crs_wkt" in ref_gm:
        # GDAL's own comparison (axis order and WKT dialects aside).
        assert RioCRS.from_wkt(ours_gm["crs_wkt"]) == RioCRS.from_wkt(ref_gm["crs_wkt"])
        assert ours_gm.get("grid_mapping_name") == ref_gm.get("grid_mapping_name")
    # .rio works on ours as on rioxarray's.
    assert ours.rio.crs == ref.rio.crs
    assert ours.rio.transform() == ref.rio.transform()


def assert_values(ours: Any, ref: Any, *, lossy: bool) -> None:
    a, b = np.asarray(ours), np.asarray(ref)
    assert a.dtype == b.dtype
    if lossy and a.dtype.kind in "iuf":
        a64, b64 = a.astype(float), b.astype(float)
        np.testing.assert_array_equal(np.isnan(a64), np.isnan(b64))
        diff = np.abs(np.nan_to_num(a64) - np.nan_to_num(b64))
        assert diff.max(initial=0) <= 2
    else:
        np.testing.assert_array_equal(a, b)


def check_like_rioxarray(path: Path | str, *, lossy: bool = False, load: bool = True) -> None:
    for mask_and_scale in (False, True):
        ours, ref = open_both(path, mask_and_scale=mask_and_scale)
        assert_same_metadata(ours, ref)
        # Lazily: a strided window and a single pixel, before anything is loaded.
        h, w = ours.shape[1:]
        sel = {"y": slice(h // 3, h // 3 + 37, 2), "x": slice(w // 4, None, 3)}
        assert_values(ours.isel(**sel), ref.isel(**sel), lossy=lossy)
        assert_values(
            ours.isel(band=-1, y=h - 1, x=0), ref.isel(band=-1, y=h - 1, x=0), lossy=lossy
        )
        if load:
            assert_values(ours.load(), ref.load(), lossy=lossy)
        chunked = xr.open_dataarray(
            path,
            engine="trio_geotiff",
            mask_and_scale=mask_and_scale,
            chunks={},
            open_options={"sidecars": True, "jpeg": "gdal"},
        )
        assert chunked.chunks is not None
        assert_values(chunked.isel(**sel).compute(), ref.isel(**sel), lossy=lossy)


@pytest.fixture(scope="module")
def fixture_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_fixtures(tmp_path_factory.mktemp("xr_formats"))


def _fixture_names() -> list[str]:
    from make_fixtures import CASES

    return sorted(CASES)


@pytest.mark.parametrize("name", _fixture_names())
def test_format_fixtures_like_rioxarray(name: str, fixture_files: dict[str, Path]) -> None:
    if name not in fixture_files:
        pytest.skip("fixture not written by this GDAL")
    from make_fixtures import CASES

    try:
        check_like_rioxarray(fixture_files[name], lossy=CASES[name].tolerance > 0)
    except NotImplementedError as exc:  # UnsupportedError: also a NotImplementedError
        pytest.skip(f"not readable here: {exc}")


def _corpus_entries() -> list[dict[str, Any]]:
    return [
        e
        for e in tiff_entries()
        if e.get("opens") is True
        and e["path"] not in UNSUPPORTED
        and e["path"] not in CRS_REFUSED
        and e["path"] not in YCBCR_JPEG
        and not e.get("gcps")
    ]


@pytest.mark.corpus
@pytest.mark.parametrize("entry", params(_corpus_entries()))
def test_corpus_like_rioxarray(entry: dict[str, Any]) -> None:
    rel = entry["path"]
    pixels = (entry.get("width") or 0) * (entry.get("height") or 0) * (entry.get("count") or 1)
    lossy = entry.get("compression") in LOSSY or "JPEG" in str(entry.get("compression"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if xr.open_dataarray(CORPUS / rel, engine="rasterio").name != "band_data":
            pytest.skip("rioxarray opens this file as several datasets (pages or sub-IFDs)")
    try:
        check_like_rioxarray(CORPUS / rel, lossy=lossy, load=pixels <= MAX_LOAD_PIXELS)
    except CorruptFileError as exc:
        pytest.skip(f"broken file that GDAL reads in part, we refuse: {exc}")


def test_overview_level_and_masked_option(fixture_files: dict[str, Path]) -> None:
    path = next(p for n, p in fixture_files.items() if "overview" in n)
    import rasterio

    with rasterio.open(path) as ds:
        if not ds.overviews(1):
            pytest.skip("no overview")
        factor = ds.overviews(1)[0]
        want = ds.read(out_shape=(ds.count, ds.height // factor, ds.width // factor))
    ours = xr.open_dataarray(path, engine="trio_geotiff", overview_level=0, mask_and_scale=False)
    assert ours.shape == want.shape
    np.testing.assert_array_equal(ours.values, want)
    with pytest.raises(InvalidArgumentError, match="overview_level 99"):
        xr.open_dataarray(path, engine="trio_geotiff", overview_level=99)


def test_store_and_path(fixture_files: dict[str, Path]) -> None:
    from obstore.store import LocalStore

    path = next(iter(fixture_files.values()))
    ours = xr.open_dataarray(
        path.name, engine="trio_geotiff", store=LocalStore(str(path.parent)), mask_and_scale=False
    )
    ref = xr.open_dataarray(path, engine="trio_geotiff", mask_and_scale=False)
    xr.testing.assert_identical(ours.drop_encoding(), ref.drop_encoding())


# -- the blocking face ---------------------------------------------------------


def test_blocking_run_from_many_threads_shares_one_loop() -> None:
    import asyncio

    loops: list[Any] = []

    async def which_loop(i: int) -> int:
        loops.append(asyncio.get_running_loop())
        await asyncio.sleep(0.001)
        return i

    results: list[int] = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(_blocking.run(which_loop, i)))
        for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == list(range(8))
    assert len(set(map(id, loops))) == 1
    assert _blocking.in_flight() == 0


def test_blocking_cancel_all_ends_the_coroutine() -> None:
    import asyncio
    import concurrent.futures

    started = threading.Event()
    ended = threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            ended.set()

    errors: list[BaseException] = []

    def call() -> None:
        try:
            _blocking.run(forever)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=call)
    t.start()
    assert started.wait(10)
    assert _blocking.cancel_all() == 1
    t.join(10)
    assert ended.is_set()
    assert len(errors) == 1
    assert isinstance(errors[0], concurrent.futures.CancelledError)
    assert _blocking.in_flight() == 0


# -- pickling and a fresh process ---------------------------------------------


def test_graph_objects_pickle_small_and_read_in_a_fresh_process(
    fixture_files: dict[str, Path], tmp_path: Path
) -> None:
    path = next(p for n, p in fixture_files.items() if "tiled" in n)
    da = xr.open_dataarray(path, engine="trio_geotiff", mask_and_scale=False, chunks={})
    ref = xr.open_dataarray(path, engine="rasterio", mask_and_scale=False).values
    graph = dict(da.data.__dask_graph__())
    blob = pickle.dumps(graph)
    # The header bytes travel once per file, not per chunk.
    assert len(blob) < 64 * 1024 + 4096 * len(graph)
    for value in graph.values():
        pickle.loads(pickle.dumps(value))
    array_blob = tmp_path / "array.pkl"
    array_blob.write_bytes(pickle.dumps(da.data))
    out = tmp_path / "out.npy"
    code = (
        "import pickle, sys, numpy as np, dask;"
        f"a = pickle.loads(open({str(array_blob)!r}, 'rb').read());"
        f"np.save({str(out)!r}, a.compute(scheduler='sync'))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    np.testing.assert_array_equal(np.load(out), ref)


def test_nothing_runs_past_interpreter_exit() -> None:
    code = """
import asyncio, threading, time
from trio_geotiff import _blocking

async def forever():
    try:
        await asyncio.sleep(600)
    finally:
        print("coroutine ended", flush=True)

def call():
    try:
        _blocking.run(forever)
    except BaseException as exc:
        print("caller got", type(exc).__name__, flush=True)

threading.Thread(target=call, daemon=True).start()
while _blocking.in_flight() == 0:
    time.sleep(0.01)
print("exiting", flush=True)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "exiting"
    assert "coroutine ended" in lines


@pytest.mark.parametrize("chunks", [{}, "auto"])
def test_chunks_follow_the_tiles(fixture_files: dict[str, Path], chunks: Any) -> None:
    import rasterio

    path = fixture_files["tiled_nonsquare_deflate_i16"]
    with rasterio.open(path) as ds:
        tile_h, tile_w = ds.block_shapes[0]
    da = xr.open_dataarray(path, engine="trio_geotiff", chunks=chunks)
    assert da.encoding["preferred_chunks"]["y"] == tile_h
    assert da.encoding["preferred_chunks"]["x"] == tile_w
    for sizes, tile in ((da.chunks[1], tile_h), (da.chunks[2], tile_w)):
        assert all(size % tile == 0 for size in sizes[:-1])
