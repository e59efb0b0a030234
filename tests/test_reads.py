"""Reads: arguments, windows, tiles and streams, masks, memory, cancellation hygiene."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import rasterio
import trio
import trio.lowlevel
import trio.testing
from affine import Affine
from obstore.store import LocalStore

from trio_geotiff import GeoTIFF, Window, open_many, read_many
from trio_geotiff._masks import is_nodata, nodata_validity
from trio_geotiff.errors import InvalidArgumentError, InvalidWindowError, ResourceLimitError


async def open_cog(cog_dir: Path, **options: object) -> GeoTIFF:
    return await GeoTIFF.open("cog.tif", store=LocalStore(str(cog_dir)), **options)  # type: ignore[arg-type]


# -- arguments -------------------------------------------------------------


async def test_read_takes_keywords_only(cog_dir: Path) -> None:
    tif = await open_cog(cog_dir)
    with pytest.raises(TypeError):
        await tif.read(1)  # type: ignore[call-arg,arg-type]  # rasterio's band index: not a window here
    with pytest.raises(TypeError):
        await tif.read(Window(0, 0, 4, 4))  # type: ignore[call-arg]
    assert (await tif.read(window=Window(0, 0, 4, 4), indexes=1)).shape == (1, 4, 4)


def test_bad_windows_are_argument_errors() -> None:
    with pytest.raises(InvalidArgumentError, match="width must be >= 0"):
        Window(0, 0, -1, 4)
    with pytest.raises(TypeError):
        Window(0.5, 0, 1, 1)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="north-up") as info:
        Window.from_bounds(0, 0, 10, 10, Affine.rotation(10))
    assert isinstance(info.value, ValueError)
    north_up = Affine(1, 0, 0, 0, -1, 0)
    assert Window.from_bounds(0, -20, 10, 0, north_up) == Window(0, 0, 10, 20)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(InvalidArgumentError, match="whole pixels"):
            Window.from_bounds(0, -20, bad, 0, north_up)


async def test_windows_outside_the_image(cog_dir: Path) -> None:
    tif = await open_cog(cog_dir)
    for window in (Window(-1, 0, 10, 10), Window(2040, 0, 10, 10), Window(5000, 5000, 1, 1)):
        with pytest.raises(InvalidWindowError, match="cog.tif"):
            await tif.read(window=window)
    arr = await tif.read(window=Window(5000, 5000, 4, 3), boundless=True, fill_value=7)
    assert (arr.data == 7).all()
    assert arr.mask is not None
    assert not arr.mask.any()
    with pytest.raises(InvalidWindowError):
        await tif.read(indexes=[0])
    with pytest.raises(InvalidWindowError):
        await tif.read(indexes=[4])
    with pytest.raises(InvalidWindowError, match="fill_value"):
        await tif.read(window=Window(-1, -1, 2, 2), boundless=True, fill_value=1000)


async def test_boundless_read_fills_only_outside_and_keeps_the_inside(cog_dir: Path) -> None:
    tif = await open_cog(cog_dir)
    inside = await tif.read(window=Window(0, 0, 5, 4))
    arr = await tif.read(window=Window(-3, -2, 8, 6), boundless=True, fill_value=9)
    assert np.array_equal(arr.data[:, 2:, 3:], inside.data)
    assert (arr.data[:, :2] == 9).all()
    assert (arr.data[:, :, :3] == 9).all()
    assert arr.mask is not None
    assert arr.mask[2:, 3:].all()
    assert not arr.mask[:2].any()
    assert not arr.mask[:, :3].any()


# -- blocks and tiles ------------------------------------------------------


async def test_block_windows_match_rasterio(cog_dir: Path, tmp_path: Path) -> None:
    stripped = tmp_path / "strips.tif"
    with rasterio.open(
        stripped,
        "w",
        driver="GTiff",
        width=70,
        height=45,
        count=2,
        dtype="uint8",
        blockysize=8,
        crs="EPSG:4326",
        transform=Affine(0.1, 0, 0, 0, -0.1, 0),
    ) as ds:
        ds.write(np.ones((2, 45, 70), dtype=np.uint8))
    for root, name in ((cog_dir, "cog.tif"), (tmp_path, "strips.tif")):
        tif = await GeoTIFF.open(name, store=LocalStore(str(root)))
        with rasterio.open(root / name) as ds:
            for bidx in (0, 1):
                want = [
                    (ij, (w.col_off, w.row_off, w.width, w.height))
                    for ij, w in ds.block_windows(bidx)
                ]
                got = [
                    (ij, (w.col_off, w.row_off, w.width, w.height))
                    for ij, w in tif.block_windows(bidx)
                ]
                assert got == want, name
        with pytest.raises(InvalidWindowError):
            tif.block_windows(tif.count + 1)
    # A block window reads exactly that block, edge blocks clipped.
    tif = await GeoTIFF.open("strips.tif", store=LocalStore(str(tmp_path)))
    (last, window), *_ = reversed(list(tif.block_windows()))
    assert last == (5, 0)
    assert (await tif.read(window=window)).shape == (2, 5, 70)


async def test_tiles_are_validated_and_carry_their_transform(cog_dir: Path) -> None:
    tif = await open_cog(cog_dir)
    assert tif.tile_count == (8, 8)
    tile = await tif.fetch_tile(2, 3)
    assert tile.shape == (3, 256, 256)
    assert tile.transform == tif.transform @ tif.transform.translation(512, 768)
    full = await tif.read(window=Window(512, 768, 256, 256))
    assert np.array_equal(tile.data, full.data)
    for bad in ((8, 0), (0, -1), (100, 100)):
        with pytest.raises(InvalidWindowError, match="tile grid"):
            await tif.fetch_tile(*bad)
    with pytest.raises(InvalidWindowError):
        await tif.fetch_tiles([(0, 0), (9, 9)])
    tiles = await tif.fetch_tiles([(1, 1), (0, 0)], indexes=[2])
    assert [t.transform.c for t in tiles] == [tif.transform.c + 256 * tif.res[0], tif.transform.c]
    assert tiles[0].shape == (1, 256, 256)


async def test_tile_stream_is_ordered_bounded_and_safe_to_leave_early(cog_dir: Path) -> None:
    tif = await open_cog(cog_dir, cache_bytes=0)
    seen = []
    async with tif.open_tile_stream(batch=4) as stream:
        async for (x, y), arr in stream:
            seen.append((x, y))
            assert arr.shape[0] == 3
            # Backpressure: the producer is at most one batch ahead.
            assert tif.statistics().blocks_decoded <= len(seen) + 2 * 4
            await trio.lowlevel.checkpoint()
            if len(seen) == 10:
                break
    assert seen == [(x, 0) for x in range(8)] + [(0, 1), (1, 1)]
    await trio.testing.wait_all_threads_completed()
    assert trio.testing.active_thread_count() == 0
    with pytest.raises(InvalidArgumentError, match="batch"):
        tif.open_tile_stream(batch=0)


# -- many files ------------------------------------------------------------


async def test_open_many_and_read_many_share_a_limiter(cog_dir: Path) -> None:
    limiter = trio.CapacityLimiter(2)
    files = await open_many(["cog.tif"] * 5, store=LocalStore(str(cog_dir)), limiter=limiter)
    arrays = await read_many(files, Window(10, 20, 100, 50))
    assert [a.shape for a in arrays] == [(3, 50, 100)] * 5
    left, _, _, top = files[0].bounds
    by_bounds = await read_many(
        files, bounds=(left, top - 50 * files[0].res[1], left + 100 * files[0].res[0], top)
    )
    assert by_bounds[0].shape == (3, 50, 100)
    assert limiter.borrowed_tokens == 0
    with pytest.raises(ValueError, match="exactly one"):
        await read_many(files)


# -- masks -----------------------------------------------------------------


@pytest.mark.parametrize(("dtype", "nodata", "bound"), [(np.uint8, 0, 2), (np.float32, 0.0, 1)])
def test_nodata_mask_is_computed_band_by_band(dtype: type, nodata: float, bound: int) -> None:
    rng = np.random.default_rng(3)
    values: np.ndarray = rng.integers(0, 3, (8, 256, 256)).astype(dtype)
    values[:, :10, :10] = 0  # every band nodata: invalid
    want = ~np.all(values == 0, axis=0)
    tracemalloc.start()
    try:
        got = nodata_validity(values, nodata)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.array_equal(got, want)
    assert not got[:10, :10].any()
    # Comparing all bands at once needs a (bands, height, width) temporary at
    # least as large as values.nbytes // bound; band by band needs a few of
    # (height, width).
    assert peak < values.nbytes // bound


@pytest.mark.parametrize(
    ("dtype", "nodata", "values", "equal"),
    [
        (np.uint8, 0.0, [0, 1, 255], [True, False, False]),
        (np.uint8, 300.0, [0, 44, 255], [False, False, False]),  # outside the dtype
        (np.int16, 1.5, [1, 2], [False, False]),  # not an integer
        (np.float32, float("nan"), [np.nan, 1.0], [True, False]),
        (np.float64, float(np.float32(0.1)), [0.1, 0.2], [True, False]),  # float32-rounded
        (np.float32, float("-inf"), [-np.inf, np.inf], [True, False]),
        (np.complex64, 2.0, [2 + 5j, 3 + 0j], [True, False]),  # the real part
    ],
)
def test_nodata_equality_follows_gdal(
    dtype: type, nodata: float, values: list[float], equal: list[bool]
) -> None:
    assert is_nodata(np.array(values, dtype=dtype), nodata).tolist() == equal


# -- memory ----------------------------------------------------------------


async def test_decoded_bytes_ceiling(cog_dir: Path) -> None:
    tif = await open_cog(cog_dir, max_decoded_bytes=1_000_000)
    with pytest.raises(ResourceLimitError, match="max_decoded_bytes"):
        await tif.read()
    # Checked before anything is allocated: a 40 GB boundless window is refused.
    with pytest.raises(ResourceLimitError, match="40000000000 bytes"):
        await tif.read(window=Window(0, 0, 200_000, 200_000), boundless=True, indexes=1)
    assert (await tif.read(window=Window(0, 0, 100, 100))).shape == (3, 100, 100)


def test_out_of_memory_is_a_resource_limit_error(cog_dir: Path) -> None:
    # Under a 3 GiB address-space limit, a 12 GB output below the ceiling cannot
    # be allocated: the read must raise our error, naming the bytes and the ceiling.
    script = textwrap.dedent(
        f"""
        import resource, trio
        from obstore.store import LocalStore
        from trio_geotiff import GeoTIFF, Window
        from trio_geotiff.errors import ResourceLimitError

        async def main():
            tif = await GeoTIFF.open(
                "cog.tif", store=LocalStore({str(cog_dir)!r}), max_decoded_bytes=10**12
            )
            resource.setrlimit(resource.RLIMIT_AS, (3 << 30, resource.RLIM_INFINITY))
            try:
                await tif.read(window=Window(-10, -10, 60_000, 60_000), boundless=True, indexes=[1, 2, 3])
            except ResourceLimitError as exc:
                print("ok", exc)

        trio.run(main)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok"), proc.stdout
    assert "10800000000 bytes" in proc.stdout
    assert "ceiling 1000000000000 bytes" in proc.stdout


# -- checkpoints, cancellation, tasks -------------------------------------


async def test_read_is_a_checkpoint_even_from_cache(cog_dir: Path) -> None:
    tif = await open_cog(cog_dir)
    window = Window(0, 0, 64, 64)
    await tif.read(window=window)
    with trio.testing.assert_checkpoints():
        await tif.read(window=window)  # served from the block cache
    assert tif.statistics().cache_hits >= 1


async def test_cancelled_read_leaves_no_thread_task_or_token(cog_dir: Path) -> None:
    limiter = trio.CapacityLimiter(4)
    tif = await open_cog(cog_dir, limiter=limiter, cache_bytes=0)
    with trio.move_on_after(0.005):
        await tif.read()
    await trio.testing.wait_all_threads_completed()
    assert trio.testing.active_thread_count() == 0
    assert limiter.borrowed_tokens == 0
    # The file is still usable afterwards, and reads are whole.
    arr = await tif.read(window=Window(0, 0, 300, 300))
    assert arr.shape == (3, 300, 300)


def test_anyio_checkpoint_and_cancel_on_trio_backend(cog_dir: Path) -> None:
    import anyio

    async def main() -> tuple[bool, int]:
        tif = await open_cog(cog_dir, cache_bytes=0)
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(tif.read)
                await trio.testing.wait_all_tasks_blocked()
                scope.cancel()  # the whole-image read is mid-flight
        await trio.testing.wait_all_threads_completed()
        return scope.cancelled_caught, trio.testing.active_thread_count()

    assert anyio.run(main, backend="trio") == (True, 0)


async def test_the_leak_check_sees_library_tasks_at_any_depth(cog_dir: Path) -> None:
    from conftest import library_tasks

    tif = await open_cog(cog_dir, cache_bytes=0)
    seen: list[str] = []
    async with trio.open_nursery() as outer, trio.open_nursery() as inner:
        inner.start_soon(tif.read)
        await trio.testing.wait_all_tasks_blocked()
        seen = library_tasks()  # the read's fan-out tasks, nurseries deep
        inner.cancel_scope.cancel()
        del outer
    assert any(name.startswith("trio_geotiff.") for name in seen), seen
    assert library_tasks() == []


@pytest.mark.parametrize("indexes", [None, [1, 2, 3], [2, 3], [3, 1]])
async def test_blocks_decoded_into_place_equal_gdal(
    cog_dir: Path, indexes: list[int] | None
) -> None:
    """Predictor-2 tiles wholly inside the window are undone straight into the output.

    Without the cache (which needs its own copy of each block) that path is
    taken for the inner tiles and the old decode-then-paste for the edges;
    both must give GDAL's pixels, for every band order.
    """
    tif = await open_cog(cog_dir, cache_bytes=0)
    window = Window(100, 200, 900, 700)  # 256-px tiles: inner ones whole, edges cut
    arr = await tif.read(window=window, indexes=indexes)
    with rasterio.open(cog_dir / "cog.tif") as ds:
        expected = ds.read(indexes, window=((200, 900), (100, 1000)))
    assert np.array_equal(arr.data, expected)
    whole = await tif.read(indexes=indexes)  # every tile whole: all decoded into place
    with rasterio.open(cog_dir / "cog.tif") as ds:
        assert np.array_equal(whole.data, ds.read(indexes))
