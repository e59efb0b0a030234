"""The decoded-block cache: one process-wide budget, per-file caps and claims."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import trio
from obstore.store import LocalStore

import trio_geotiff
from trio_geotiff import GeoTIFF, Window, _cache
from trio_geotiff._cache import DEFAULT_CACHE_BUDGET, BlockCache, own_memory
from trio_geotiff.errors import InvalidArgumentError


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """Every test starts with an empty cache and leaves the default budget."""
    trio_geotiff.set_cache_budget(0)
    trio_geotiff.set_cache_budget(DEFAULT_CACHE_BUDGET)
    yield
    trio_geotiff.set_cache_budget(0)
    trio_geotiff.set_cache_budget(DEFAULT_CACHE_BUDGET)


def block(nbytes: int, value: int = 0) -> np.ndarray:
    return np.full((1, nbytes, 1), value, dtype=np.uint8)


def check_consistent() -> None:
    """The store's byte counters agree with what it holds."""
    store = _cache._BLOCKS
    with store._lock:
        total = sum(arr.nbytes for _, arr in store._entries.values())
        assert store.nbytes == total
        for owner, keys in store._by_owner.items():
            assert store._owner_bytes[owner] == sum(store._entries[k][1].nbytes for k in keys)
        assert sum(len(k) for k in store._by_owner.values()) == len(store._entries)


# -- unit tests of the store ---------------------------------------------------


def test_budget_evicts_least_recently_used_whatever_the_file() -> None:
    trio_geotiff.set_cache_budget(300)
    a, b = BlockCache(1000), BlockCache(1000)
    a.put((1, 0, 0), block(100))
    b.put((2, 0, 0), block(100))
    a.put((1, 0, 1), block(100))
    assert a.get((1, 0, 0)) is not None  # now the most recent
    b.put((2, 0, 1), block(100))  # over budget: (2, 0, 0) is the least recent
    assert b.get((2, 0, 0)) is None
    assert [a.get((1, 0, 0)) is not None, a.get((1, 0, 1)) is not None] == [True, True]
    assert _cache.cached_bytes() == 300
    assert (a.nbytes, b.nbytes) == (200, 100)
    check_consistent()


def test_a_file_cap_evicts_only_that_files_blocks() -> None:
    capped, other = BlockCache(200), BlockCache(10_000)
    other.put((2, 0, 0), block(100))
    for i in range(5):
        capped.put((1, 0, i), block(100))
    assert capped.nbytes == 200
    assert capped.get((1, 0, 4)) is not None
    assert capped.get((1, 0, 0)) is None
    assert other.get((2, 0, 0)) is not None
    check_consistent()


def test_blocks_larger_than_the_budget_or_cap_are_not_kept() -> None:
    trio_geotiff.set_cache_budget(1000)
    cache = BlockCache(500)
    cache.put((1, 0, 0), block(600))
    cache.put((1, 0, 1), block(400))
    assert cache.get((1, 0, 0)) is None
    kept = cache.get((1, 0, 1))
    assert kept is not None
    assert not kept.flags.writeable  # cached blocks are read-only
    assert not cache.admits(126)  # a read over a quarter of min(cap, budget)
    assert cache.admits(125)
    assert not cache.admits(0)


def test_lowering_the_budget_evicts_at_once() -> None:
    cache = BlockCache()
    for i in range(10):
        cache.put((1, 0, i), block(1000))
    assert _cache.cached_bytes() == 10_000
    trio_geotiff.set_cache_budget(2500)
    assert trio_geotiff.cache_budget() == 2500
    assert _cache.cached_bytes() == 2000
    assert cache.get((1, 0, 9)) is not None
    trio_geotiff.set_cache_budget(0)
    assert _cache.cached_bytes() == 0
    check_consistent()


@pytest.mark.parametrize("bad", [-1, 1.5, "1", True, None])
def test_the_budget_is_a_non_negative_integer(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="cache budget"):
        trio_geotiff.set_cache_budget(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="cache_bytes"):
        BlockCache(-1)


def test_a_collected_files_blocks_are_dropped() -> None:
    cache = BlockCache()
    cache.put((1, 0, 0), block(1000))
    del cache
    gc.collect()
    BlockCache().put((2, 0, 0), block(10))  # the next locked call drops them
    assert _cache.cached_bytes() == 10
    check_consistent()


def test_the_store_is_thread_safe() -> None:
    trio_geotiff.set_cache_budget(50_000)
    errors: list[BaseException] = []

    def hammer(seed: int) -> None:
        rng = np.random.default_rng(seed)
        cache = BlockCache(20_000)
        try:
            for _ in range(3000):
                key = (seed, 0, int(rng.integers(0, 200)))
                if rng.random() < 0.5:
                    cache.put(key, block(int(rng.integers(1, 2000))))
                else:
                    cache.get(key)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _cache.cached_bytes() <= 50_000
    check_consistent()


def test_own_memory_copies_views_into_larger_buffers() -> None:
    request = np.arange(1000, dtype=np.uint8)  # a coalesced request's bytes
    view = request[100:200].reshape(10, 10, 1)
    kept = own_memory(view)
    assert kept is not view
    assert kept.base is None or kept.base.nbytes == kept.nbytes
    np.testing.assert_array_equal(kept, view)
    from_bytes = np.frombuffer(memoryview(bytes(range(256)) * 4), dtype=np.uint8)[:100]
    assert own_memory(from_bytes) is not from_bytes
    whole = np.zeros((4, 4, 1), np.uint16)
    assert own_memory(whole) is whole
    assert own_memory(whole.reshape(16, 1, 1)).base is whole  # same bytes: kept
    codec_output = np.frombuffer(bytes(32), dtype=np.uint16).reshape(4, 4, 1)
    assert own_memory(codec_output) is codec_output


# -- the budget seen from reads --------------------------------------------------


def _write_files(root: Path, n: int, *, compression: str | None = "zlib") -> None:
    import tifffile

    rng = np.random.default_rng(7)
    for i in range(n):
        data = rng.integers(0, 255, (256, 256), dtype=np.uint8)
        tifffile.imwrite(
            root / f"f{i:03d}.tif",
            data,
            tile=(128, 128),
            compression=compression,
            photometric="minisblack",
        )


async def test_two_hundred_files_share_one_budget(tmp_path: Path) -> None:
    _write_files(tmp_path, 200)
    budget = 1024 * 1024
    trio_geotiff.set_cache_budget(budget)
    store = LocalStore(str(tmp_path))
    files = []
    for i in range(200):
        tif = await GeoTIFF.open(f"f{i:03d}.tif", store=store)
        await tif.read()  # 4 tiles of 16 KiB: 64 KiB each, 12.5 MiB for all
        files.append(tif)
        assert _cache.cached_bytes() <= budget
    assert _cache.cached_bytes() > budget - 64 * 1024  # the budget is used, not wasted
    # The most recent file is served from the cache; the first was evicted.
    await files[-1].read()
    assert files[-1].statistics().cache_hits == 4
    requests = files[0].statistics().requests
    await files[0].read()
    assert files[0].statistics().requests == requests + 1
    check_consistent()


def test_files_read_from_several_threads_share_the_budget(tmp_path: Path) -> None:
    _write_files(tmp_path, 24)
    budget = 256 * 1024
    trio_geotiff.set_cache_budget(budget)
    seen: list[int] = []
    errors: list[BaseException] = []

    async def read_some(names: list[str]) -> None:
        store = LocalStore(str(tmp_path))
        for name in names:
            tif = await GeoTIFF.open(name, store=store)
            arr = await tif.read(window=Window(0, 0, 200, 200))
            again = await tif.read(window=Window(0, 0, 200, 200))
            assert np.array_equal(arr.data, again.data)
            seen.append(_cache.cached_bytes())

    def run(k: int) -> None:
        try:
            trio.run(read_some, [f"f{i:03d}.tif" for i in range(k, 24, 4)])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(seen) == 24
    assert max(seen) <= budget
    check_consistent()


async def test_cached_blocks_of_coalesced_requests_do_not_pin_the_request(
    tmp_path: Path,
) -> None:
    # Uncompressed tiles decode to views of the fetched bytes: the cache must
    # keep copies, or one 16 KiB tile would keep the whole request alive.
    _write_files(tmp_path, 1, compression=None)
    tif = await GeoTIFF.open("f000.tif", store=LocalStore(str(tmp_path)))
    assert tif.statistics().requests == 1
    await tif.read()
    assert tif.statistics().requests == 2  # the 4 tiles in one request
    store = _cache._BLOCKS
    kept = [arr for _, arr in store._entries.values()]
    assert len(kept) == 4
    for arr in kept:
        base = arr
        while isinstance(base, np.ndarray) and base.base is not None:
            base = base.base
        assert isinstance(base, np.ndarray)
        assert base.nbytes == arr.nbytes == 128 * 128


async def test_a_file_can_be_kept_out_of_the_cache(tmp_path: Path) -> None:
    _write_files(tmp_path, 1)
    tif = await GeoTIFF.open("f000.tif", store=LocalStore(str(tmp_path)), cache_bytes=0)
    await tif.read()
    await tif.read()
    assert _cache.cached_bytes() == 0
    assert tif.statistics().cache_hits == 0


# -- claims: per file, on the file's event loop ----------------------------------


async def test_a_claimed_block_makes_other_reads_wait_until_released() -> None:
    cache = BlockCache()
    claim = cache.claim(7, 0, [3, 4], read_bytes=100)
    assert claim.fills
    hits, waits = cache.lookup(7, 0, [3, 4, 5])
    assert hits == {}
    assert sorted(waits) == [3, 4]
    assert not waits[3].is_set()
    claim.put(3, block(10))
    claim.release([3])  # this block's fetch ended: its waiters wake and find it
    assert waits[3].is_set()
    assert claim.get(3) is not None
    assert not waits[4].is_set()
    claim.release_all()  # the read ended (failed, say): the rest wake too
    assert waits[4].is_set()
    assert cache.lookup(7, 0, [4]) == ({}, {})  # nothing cached: a waiter fetches it
    other = BlockCache()
    assert other.lookup(7, 0, [3, 4]) == ({3: claim.get(3)}, {})  # blocks are shared, claims not


async def test_a_big_read_claims_but_does_not_fill() -> None:
    cache = BlockCache(1000)
    claim = cache.claim(7, 0, [1], read_bytes=251)
    assert not claim.fills
    claim.put(1, block(10))
    assert claim.get(1) is None
    claim.release_all()
