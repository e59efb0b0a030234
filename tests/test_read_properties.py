"""Property tests of windowed, boundless and band-subset reads (hypothesis).

For a selection of the `make_fixtures` files covering every block layout:

* a window inside the image reads what the full read holds there;
* a boundless window (crossing the edge or entirely outside) reads what
  rasterio's boundless read gives, and its mask is False exactly outside
  the image (inside: the full read's mask, or True without a mask source);
* any list of band indexes (repeats and any order) reads those bands of the
  full read.

hypothesis drives sync test functions; each example runs its reads in its own
``trio.run``. The full read of each file is made once and cached.

Knobs: ``PROPERTY_EXAMPLES=n`` (default 25 examples per test and file) and
``PROPERTY_CASES=all`` (every fixture case, not only the selection below).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from obstore.store import LocalStore
from rasterio.windows import Window as RioWindow

from make_fixtures import CASES, SKIPPED, Case, make_fixtures
from test_formats import rio_boundless, rio_open
from trio_geotiff import GeoTIFF, Window

# One file per block layout / decode path; lossy ones compare within the case tolerance.
PROPERTY_CASES = [
    "tiled_none_u8",
    "strip_none_u8_rps7",
    "strip_none_u8_onestrip",
    "strip_deflate_u16_rps13",
    "tiled_nonsquare_deflate_i16",
    "tile_larger_than_image",
    "chunky_u16_3band_pred2",
    "planar_u16_3band_pred2_tiled",
    "planar_u16_3band_pred2_strip",
    "planar_f32_3band_pred3_tiled",
    "pred2_int64",
    "pred3_float64_2band_strip",
    "dtype_complex_int16",
    "nbits1_width_not_multiple_of_8",
    "nbits12_3band_chunky",
    "nbits4_3band_planar",
    "bigendian_u16_pred2_planar",
    "bigtiff_bigendian_f32_overviews",
    "codec_lerc_f32_3band_nan_per_band",
    "codec_webp_rgba_lossy",
    "codec_jpeg_rgb_strip",
    "cog_jpeg_rgb_mask",
    "nodata_nan_f32",
    "nodata_u8_3band",
    "mask_u8_3band_strip",
    "alpha_rgba_u8_planar_strip",
    "alpha_gray_u8",
    "sparse_i16_nodata",
    "sparse_u8",
]
if os.environ.get("PROPERTY_CASES") == "all":  # a wider sweep: every fixture case
    PROPERTY_CASES = sorted(CASES)

SETTINGS = settings(
    max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "25")),
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.differing_executors,
        HealthCheck.function_scoped_fixture,  # `path` is the same file for every example
    ],
)

_full_cache: dict[Path, tuple[np.ndarray, np.ndarray | None]] = {}


@pytest.fixture(scope="session")
def property_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    cases = {name: CASES[name] for name in PROPERTY_CASES}
    return make_fixtures(tmp_path_factory.mktemp("properties"), cases)


@pytest.fixture
def path(name: str, property_files: dict[str, Path]) -> Path:
    if name not in property_files:
        pytest.skip(SKIPPED.get(name, "fixture not written"))
    return property_files[name]


async def _read(path: Path, jpeg: str, **kw: Any) -> Any:
    tif = await GeoTIFF.open(path.name, store=LocalStore(str(path.parent)), jpeg=jpeg)
    return await tif.read(**kw)


def read(path: Path, jpeg: str = "fast", **kw: Any) -> Any:
    """Read in a fresh trio run ("fast" JPEG unless compared with GDAL's pixels)."""
    return trio.run(lambda: _read(path, jpeg, **kw))


def full(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """The full read's data and mask (cached)."""
    if path not in _full_cache:
        arr = read(path)
        _full_cache[path] = (arr.data, arr.mask)
    return _full_cache[path]


def shape_of(path: Path) -> tuple[int, int, int]:
    data, _ = full(path)
    return data.shape  # type: ignore[return-value]


def inner_window(data: st.DataObject, width: int, height: int) -> Window:
    col = data.draw(st.integers(0, width - 1), label="col_off")
    row = data.draw(st.integers(0, height - 1), label="row_off")
    w = data.draw(st.integers(1, width - col), label="width")
    h = data.draw(st.integers(1, height - row), label="height")
    return Window(col, row, w, h)


def any_window(data: st.DataObject, width: int, height: int) -> Window:
    """A window anywhere near the image: inside, across an edge, or outside."""
    w = data.draw(st.integers(1, width + 40), label="width")
    h = data.draw(st.integers(1, height + 40), label="height")
    col = data.draw(st.integers(-w - 20, width + 20), label="col_off")
    row = data.draw(st.integers(-h - 20, height + 20), label="row_off")
    return Window(col, row, w, h)


def assert_close(case: Case, got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape, what
    if case.tolerance:
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        assert np.nanmax(diff, initial=0) <= case.tolerance, what
    else:
        assert np.array_equal(got, want, equal_nan=got.dtype.kind in "fc"), what


@pytest.mark.parametrize("name", PROPERTY_CASES)
@SETTINGS
@given(data=st.data())
def test_inner_window_matches_full_read(name: str, path: Path, data: st.DataObject) -> None:
    full_data, full_mask = full(path)
    _, height, width = full_data.shape
    win = inner_window(data, width, height)
    arr = read(path, window=win)
    rows, cols = win.toslices()
    assert np.array_equal(
        arr.data, full_data[:, rows, cols], equal_nan=arr.data.dtype.kind in "fc"
    ), win
    if full_mask is None:
        assert arr.mask is None
    else:
        assert arr.mask is not None
        np.testing.assert_array_equal(arr.mask, full_mask[rows, cols], err_msg=str(win))


@pytest.mark.parametrize("name", PROPERTY_CASES)
@SETTINGS
@given(data=st.data())
def test_boundless_window_matches_rasterio(name: str, path: Path, data: st.DataObject) -> None:
    case = CASES[name]
    full_data, full_mask = full(path)
    _, height, width = full_data.shape
    win = any_window(data, width, height)
    fill = data.draw(st.one_of(st.none(), st.integers(0, 100)), label="fill_value")
    arr = read(path, jpeg="gdal", window=win, boundless=True, fill_value=fill)

    with rio_open(path) as ds:
        nodata = ds.nodata
        rio_fill = fill if fill is not None else (nodata if nodata is not None else 0)
        want = rio_boundless(
            ds, RioWindow(win.col_off, win.row_off, win.width, win.height), rio_fill
        )
    assert_close(case, arr.data, want, f"{win} fill={fill}")

    inside = np.zeros((win.height, win.width), dtype=bool)
    overlap = win.intersection(Window(0, 0, width, height))
    expected = np.zeros((win.height, win.width), dtype=bool)
    if overlap is not None:
        r0, c0 = overlap.row_off - win.row_off, overlap.col_off - win.col_off
        inside[r0 : r0 + overlap.height, c0 : c0 + overlap.width] = True
        rows, cols = overlap.toslices()
        expected[inside] = True if full_mask is None else full_mask[rows, cols].ravel()
    if overlap == win and full_mask is None:
        assert arr.mask is None
        return
    assert arr.mask is not None, win
    assert not arr.mask[~inside].any(), f"{win}: mask True outside the image"
    np.testing.assert_array_equal(arr.mask, expected, err_msg=str(win))


@pytest.mark.parametrize("name", PROPERTY_CASES)
@SETTINGS
@given(data=st.data())
def test_band_subset_matches_full_read(name: str, path: Path, data: st.DataObject) -> None:
    full_data, full_mask = full(path)
    count, height, width = full_data.shape
    indexes = data.draw(
        st.lists(st.integers(1, count), min_size=1, max_size=count + 2), label="indexes"
    )
    win = inner_window(data, width, height)
    arr = read(path, window=win, indexes=indexes)
    rows, cols = win.toslices()
    want = full_data[[i - 1 for i in indexes]][:, rows, cols]
    assert np.array_equal(arr.data, want, equal_nan=want.dtype.kind in "fc"), (indexes, win)
    if full_mask is None:
        assert arr.mask is None
    else:
        assert arr.mask is not None
        np.testing.assert_array_equal(arr.mask, full_mask[rows, cols])
