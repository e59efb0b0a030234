"""The public API's contract: checkpoints, cancellation hygiene, tiles, streams, many files, errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import trio
import trio.testing
from obstore.store import LocalStore, MemoryStore

import trio_geotiff
from trio_geotiff import GeoTIFF, Window, open_many, read_many
from trio_geotiff.errors import (
    CorruptFileError,
    GeoTIFFError,
    InvalidWindowError,
    NotATIFFError,
    ObjectNotFoundError,
    ResourceLimitError,
    StoreError,
)


async def open_cog(cog_dir: Path, **options: object) -> GeoTIFF:
    return await GeoTIFF.open("cog.tif", store=LocalStore(str(cog_dir)), **options)  # type: ignore[arg-type]


def test_public_names_are_exported_and_documented() -> None:
    public = {n for n in vars(trio_geotiff) if not n.startswith("_")} | {"__version__"}
    public -= {"annotations"}  # from __future__
    assert set(trio_geotiff.__all__) == public
    for name in trio_geotiff.__all__:
        obj = getattr(trio_geotiff, name)
        assert obj.__doc__, name
        if name != "errors" and hasattr(obj, "__module__"):
            assert obj.__module__ == "trio_geotiff", name


def test_geotiff_has_no_public_constructor() -> None:
    with pytest.raises(TypeError, match="GeoTIFF.open"):
        GeoTIFF()


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
    with trio.move_on_after(0.005) as scope:
        await tif.read()
    await trio.testing.wait_all_threads_completed()
    assert trio.testing.active_thread_count() == 0
    assert limiter.borrowed_tokens == 0
    # The file is still usable afterwards, and reads are whole.
    arr = await tif.read(window=Window(0, 0, 300, 300))
    assert arr.shape == (3, 300, 300)
    del scope


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
            await trio.sleep(0.001)
            if len(seen) == 10:
                break
    assert seen == [(x, 0) for x in range(8)] + [(0, 1), (1, 1)]
    await trio.testing.wait_all_threads_completed()
    assert trio.testing.active_thread_count() == 0


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
    with pytest.raises(ObjectNotFoundError):
        await open_many(["cog.tif", "missing.tif"], store=LocalStore(str(cog_dir)))


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


async def test_decoded_bytes_ceiling(cog_dir: Path) -> None:
    tif = await open_cog(cog_dir, max_decoded_bytes=1_000_000)
    with pytest.raises(ResourceLimitError, match="max_decoded_bytes"):
        await tif.read()
    assert (await tif.read(window=Window(0, 0, 100, 100))).shape == (3, 100, 100)


async def test_errors_name_the_path_and_the_cause() -> None:
    store = MemoryStore()
    import obstore

    obstore.put(store, "text.tif", b"hello, this is not a TIFF at all")
    obstore.put(store, "short.tif", b"II*\0")
    obstore.put(
        store,
        "loop.tif",
        b"II*\0\x08\0\0\0" + b"\x01\0" + b"\0\x01\x03\0\x01\0\0\0\x10\0\0\0" + b"\x08\0\0\0",
    )
    with pytest.raises(NotATIFFError, match="text.tif"):
        await GeoTIFF.open("text.tif", store=store)
    with pytest.raises(NotATIFFError, match="short.tif"):
        await GeoTIFF.open("short.tif", store=store)
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
        InvalidWindowError,
        NotATIFFError,
        ResourceLimitError,
        StoreError,
    ):
        assert issubclass(cls, GeoTIFFError)
    assert issubclass(InvalidWindowError, ValueError)


def test_anyio_checkpoint_and_cancel_on_trio_backend(cog_dir: Path) -> None:
    import anyio

    async def main() -> tuple[bool, int]:
        tif = await open_cog(cog_dir, cache_bytes=0)
        with anyio.move_on_after(0.002) as scope:
            await tif.read()  # a 2048x2048 read takes far longer than 2 ms
        await trio.testing.wait_all_threads_completed()
        return scope.cancelled_caught, trio.testing.active_thread_count()

    assert anyio.run(main, backend="trio") == (True, 0)


async def test_empty_object_is_not_a_tiff() -> None:
    import obstore

    store = MemoryStore()
    obstore.put(store, "empty.tif", b"")
    with pytest.raises(NotATIFFError, match="empty"):
        await GeoTIFF.open("empty.tif", store=store)


async def test_portal_hands_back_errors_raised_while_starting() -> None:
    from trio_geotiff import _portal

    with trio.fail_after(5), pytest.raises(TypeError):
        await _portal.run_in_portal(lambda: 42)  # type: ignore[arg-type,return-value]
    assert _portal.portal_tasks_running() == 0


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("-9999", -9999.0),
        (" 12abc", 12.0),
        ("abc", 0.0),
        ("-3.5e2x", -350.0),
        (".5q", 0.5),
        ("", None),
    ],
)
def test_gdal_nodata_text_parses_like_atof(text: str, value: float | None) -> None:
    from trio_geotiff._gdal_metadata import parse_nodata

    assert parse_nodata(text) == value


def test_bounds_of_a_rotated_window_cover_all_corners() -> None:
    from affine import Affine

    from trio_geotiff import Array

    t = Affine.rotation(30) @ Affine.scale(10, -10)
    arr = Array(data=np.zeros((1, 20, 10)), mask=None, transform=t, crs=None, nodata=None)
    corners = [t @ (c, r) for c in (0, 10) for r in (0, 20)]
    assert tuple(arr.bounds) == (
        min(x for x, _ in corners),
        min(y for _, y in corners),
        max(x for x, _ in corners),
        max(y for _, y in corners),
    )


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
    assert any(name.startswith("trio_geotiff._read.") for name in seen), seen
    assert library_tasks() == []
