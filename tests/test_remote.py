"""Remote stores for real: a loopback HTTP server (with faults) and moto's S3.

What is checked against the server's own counters: requests per open and per
read, that a cancelled trio read aborts its requests, that a trio limiter
bounds the requests in flight, and that store failures surface as our errors.
The behaviour suite that runs in every async world (trio, asyncio, anyio on
asyncio) is tests/test_backends.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import trio
import trio.testing
from obstore.store import HTTPStore, LocalStore

from servers import HTTPServerHandle, serve_http
from trio_geotiff import GeoTIFF, Window
from trio_geotiff.errors import CorruptFileError, StoreError

pytestmark = pytest.mark.network

NO_RETRY = {"max_retries": 0, "retry_timeout": timedelta(seconds=5)}


@pytest.fixture
def http(cog_dir: Path) -> Iterator[HTTPServerHandle]:
    with serve_http(cog_dir) as handle:
        yield handle


def http_store(handle: HTTPServerHandle, **retry: object) -> HTTPStore:
    return HTTPStore.from_url(
        handle.url,
        retry_config=retry or NO_RETRY,
        client_options={"allow_http": True, "timeout": timedelta(seconds=10)},
    )


async def test_open_is_one_request_and_reads_match_local(
    http: HTTPServerHandle, cog_dir: Path
) -> None:
    tif = await GeoTIFF.open("cog.tif", store=http_store(http))
    assert http.stats().requests_total == 1
    assert tif.statistics().requests == 1
    assert len(tif.overviews) == 3
    local = await GeoTIFF.open("cog.tif", store=LocalStore(str(cog_dir)))
    window = Window(100, 300, 1500, 1200)
    remote_arr = await tif.read(window=window)
    local_arr = await local.read(window=window)
    assert np.array_equal(remote_arr.data, local_arr.data)


async def test_a_window_costs_one_request_per_row_of_tiles(http: HTTPServerHandle) -> None:
    tif = await GeoTIFF.open("cog.tif", store=http_store(http))
    http.reset()
    await tif.read(window=Window(0, 0, 1024, 1024))  # 4x4 tiles in 4 tile rows
    requests = http.stats().requests_total
    assert 1 <= requests <= 4
    assert tif.statistics().ranges_coalesced == 16 - requests


async def test_cancel_aborts_requests_in_flight(http: HTTPServerHandle) -> None:
    tif = await GeoTIFF.open("cog.tif", store=http_store(http), coalesce_gap=0)
    # The header's response is counted just after its last byte: let it land first.
    await trio.to_thread.run_sync(lambda: http.wait_for(lambda s: s.in_flight == 0, 5.0))
    http.reset()
    http.faults.set(throttle_bps=20_000)  # each tile row takes seconds to send
    with trio.move_on_after(30):  # a safety net: the test cancels long before
        async with trio.open_nursery() as nursery:
            nursery.start_soon(tif.read)
            # Wait (in a thread, the server is real) until requests are streaming.
            stats = await trio.to_thread.run_sync(
                lambda: http.wait_for(lambda s: s.in_flight >= 2, 5.0)
            )
            in_flight = stats.in_flight
            nursery.cancel_scope.cancel()
        at_return = http.stats()
    # Each tile's body takes seconds at 20 KB/s. When the cancelled read
    # returned, none of its requests had been answered in full: the requests
    # were abandoned, not awaited. (The latency itself is measured in
    # benchmarks/bridge.py, not asserted here.)
    assert at_return.completed == 0
    after = await trio.to_thread.run_sync(lambda: http.wait_for(lambda s: s.in_flight == 0, 5.0))
    assert after.aborted == after.requests_total >= in_flight
    assert after.completed == 0
    await trio.sleep(0.2)
    assert http.stats().requests_total == after.requests_total
    assert trio.testing.active_thread_count() == 0


async def test_limiter_bounds_requests_in_flight(http: HTTPServerHandle) -> None:
    limiter = trio.CapacityLimiter(2)
    tif = await GeoTIFF.open("cog.tif", store=http_store(http), limiter=limiter, coalesce_gap=0)
    http.reset()
    http.faults.set(latency=0.02)
    await tif.read(window=Window(0, 0, 1024, 1024))
    stats = http.stats()
    assert stats.requests_total == 16  # no coalescing: one request per tile
    assert stats.max_waiting == 2  # the limit was reached, never passed
    assert limiter.borrowed_tokens == 0


async def test_one_limiter_shared_by_many_files(http: HTTPServerHandle) -> None:
    limiter = trio.CapacityLimiter(3)
    tifs = [
        await GeoTIFF.open("cog.tif", store=http_store(http), limiter=limiter, coalesce_gap=0)
        for _ in range(4)
    ]
    http.reset()
    http.faults.set(latency=0.01)
    async with trio.open_nursery() as nursery:
        for tif in tifs:
            nursery.start_soon(lambda t=tif: t.read(window=Window(0, 0, 512, 512)))
    assert http.stats().max_waiting == 3


async def test_permanent_errors_are_raised_at_once(http: HTTPServerHandle) -> None:
    # Retries allowed, but a 403 is not transient: one request, then our error.
    tif = await GeoTIFF.open(
        "cog.tif", store=http_store(http, max_retries=5, retry_timeout=timedelta(seconds=5))
    )
    http.reset()
    http.faults.set(status=403)
    with pytest.raises(StoreError, match=r"cog\.tif"):
        await tif.read(window=Window(0, 0, 256, 256))
    assert http.stats().requests_total == 1


async def test_truncated_body_is_an_error_not_wrong_pixels(http: HTTPServerHandle) -> None:
    tif = await GeoTIFF.open("cog.tif", store=http_store(http))
    http.faults.set(truncate_to=100)
    with pytest.raises((StoreError, CorruptFileError)):
        await tif.read(window=Window(0, 0, 256, 256))


async def test_transient_errors_are_retried(http: HTTPServerHandle, cog_dir: Path) -> None:
    store = http_store(
        http,
        max_retries=3,
        backoff={
            "init_backoff": timedelta(milliseconds=10),
            "max_backoff": timedelta(milliseconds=50),
            "base": 2,
        },
        retry_timeout=timedelta(seconds=5),
    )
    tif = await GeoTIFF.open("cog.tif", store=store)
    http.faults.set(status=503, status_times=2)
    arr = await tif.read(window=Window(0, 0, 256, 256))
    local = await GeoTIFF.open("cog.tif", store=LocalStore(str(cog_dir)))
    assert np.array_equal(arr.data, (await local.read(window=Window(0, 0, 256, 256))).data)


async def test_cache_serves_repeated_windows_without_requests(http: HTTPServerHandle) -> None:
    tif = await GeoTIFF.open("cog.tif", store=http_store(http))
    window = Window(200, 200, 300, 300)  # 4 tiles
    first = await tif.read(window=window)
    http.reset()
    again = await tif.read(window=window)
    assert http.stats().requests_total == 0
    assert tif.statistics().cache_hits == 4
    assert np.array_equal(first.data, again.data)
    again.data[:] = 0  # results are the caller's: the cache is not touched
    assert np.array_equal((await tif.read(window=window)).data, first.data)


async def test_concurrent_readers_of_a_tile_share_one_fetch(http: HTTPServerHandle) -> None:
    tif = await GeoTIFF.open("cog.tif", store=http_store(http), coalesce_gap=0)
    http.reset()
    http.faults.set(latency=0.05)
    results = []

    async def read() -> None:
        results.append(await tif.read(window=Window(0, 0, 256, 256)))

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(read)
    assert http.stats().requests_total == 1
    assert all(np.array_equal(r.data, results[0].data) for r in results)


async def test_a_waiter_survives_the_cancelled_fetcher(http: HTTPServerHandle) -> None:
    tif = await GeoTIFF.open("cog.tif", store=http_store(http), coalesce_gap=0)
    http.faults.set(latency=0.2)
    window = Window(0, 0, 256, 256)
    async with trio.open_nursery() as nursery:
        fetcher = trio.CancelScope()

        async def fetch() -> None:
            with fetcher:
                await tif.read(window=window)

        nursery.start_soon(fetch)
        await trio.testing.wait_all_tasks_blocked()
        waiter_result = []

        async def wait() -> None:
            waiter_result.append(await tif.read(window=window))

        nursery.start_soon(wait)
        await trio.testing.wait_all_tasks_blocked()
        fetcher.cancel()
    assert waiter_result and waiter_result[0].shape == (3, 256, 256)


async def test_cache_can_be_switched_off_and_big_reads_bypass_it(http: HTTPServerHandle) -> None:
    off = await GeoTIFF.open("cog.tif", store=http_store(http), cache_bytes=0)
    await off.read(window=Window(0, 0, 256, 256))
    http.reset()
    await off.read(window=Window(0, 0, 256, 256))
    assert http.stats().requests_total == 1
    small = await GeoTIFF.open("cog.tif", store=http_store(http), cache_bytes=4 * 256 * 256 * 3)
    await small.read(window=Window(0, 0, 512, 512))  # 4 tiles > a quarter of the budget
    http.reset()
    await small.read(window=Window(0, 0, 256, 256))
    assert http.stats().requests_total == 1
