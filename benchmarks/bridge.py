"""Measure the trio <-> Rust-core bridge options (numbers for docs/design.md).

1. Per-call cost of a tiny ranged read from a MemoryStore through:
   a) the asyncio portal (trio_geotiff._portal), b) trio.to_thread.run_sync
   around obstore's sync get_range, c) trio.to_thread.run_sync(asyncio.run, ...).
2. Cancellation against a slow loopback HTTP server (20 KB/s body): how long
   the cancelled trio call takes to return, and whether the server saw the
   request aborted, for a) and b).
3. Decode: a 1 ms trio ticker's lateness while 2048x2048 Deflate tiles decode
   with imagecodecs in worker threads vs async-tiff's decode_sync in threads.

Run: python benchmarks/bridge.py
"""

from __future__ import annotations

import asyncio
import functools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import obstore
import trio
from obstore.store import HTTPStore, MemoryStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from servers import serve_http
from trio_geotiff import _portal, _store

N = 2000


async def per_call() -> dict[str, float]:
    store = MemoryStore()
    obstore.put(store, "x", b"\0" * 4096)
    out: dict[str, float] = {}

    async def portal() -> None:
        await _portal.run_in_portal(lambda: obstore.get_range_async(store, "x", start=0, end=100))

    async def library() -> None:
        # What the library does for a MemoryStore/LocalStore: inline, after a checkpoint.
        await _store.fetch_range(store, "x", 0, 100)

    async def thread_sync() -> None:
        await trio.to_thread.run_sync(lambda: obstore.get_range(store, "x", start=0, end=100))

    async def one_get() -> object:
        return await obstore.get_range_async(store, "x", start=0, end=100)

    async def thread_asyncio_run() -> None:
        await trio.to_thread.run_sync(lambda: asyncio.run(one_get()))

    for name, fn in (
        ("portal", portal),
        ("_store.fetch_range (inline for local stores)", library),
        ("to_thread(sync get_range)", thread_sync),
        ("to_thread(asyncio.run)", thread_asyncio_run),
    ):
        for _ in range(50):
            await fn()
        t0 = time.perf_counter()
        for _ in range(N):
            await fn()
        out[name] = (time.perf_counter() - t0) / N * 1000
    return out


async def cancellation(root: Path) -> dict[str, tuple[float, int, int]]:
    out = {}
    with serve_http(root) as http:
        store = HTTPStore.from_url(
            http.url, client_options={"allow_http": True}, retry_config={"max_retries": 0}
        )

        async def portal() -> None:
            await _store.fetch_range(store, "big.bin", 0, 1_000_000)

        async def thread_sync() -> None:
            await trio.to_thread.run_sync(
                lambda: obstore.get_range(store, "big.bin", start=0, end=1_000_000),
                abandon_on_cancel=True,
            )

        for name, fn in (("portal", portal), ("to_thread(sync, abandon_on_cancel)", thread_sync)):
            http.reset()
            http.faults.set(throttle_bps=20_000)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(fn)
                await trio.to_thread.run_sync(lambda: http.wait_for(lambda s: s.in_flight == 1, 5))
                await trio.sleep(0.2)
                t0 = time.perf_counter()
                nursery.cancel_scope.cancel()
            returned_ms = (time.perf_counter() - t0) * 1000
            await trio.sleep(0.5)
            stats = http.stats()
            out[name] = (returned_ms, stats.aborted, stats.in_flight)
            # let an abandoned request finish before the next measurement
            await trio.to_thread.run_sync(lambda: http.faults.clear())
            await trio.to_thread.run_sync(lambda: http.wait_for(lambda s: s.in_flight == 0, 60))
    return out


async def _ticking(start_work, n_tiles: int) -> tuple[float, float, float]:
    """Run ``start_work(nursery, i)`` for each tile under a 1 ms ticker; (p99, max, wall ms)."""
    lat: list[float] = []
    done = trio.Event()

    async def tick() -> None:
        while not done.is_set():
            t0 = trio.current_time()
            await trio.sleep(0.001)
            lat.append((trio.current_time() - t0 - 0.001) * 1000)

    t0 = time.perf_counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(tick)
        async with trio.open_nursery() as work:
            for i in range(n_tiles):
                start_work(work, i)
        done.set()
    wall = (time.perf_counter() - t0) * 1000
    return float(np.percentile(lat, 99)), max(lat), wall


async def ticker_lateness(decode, n_tiles: int, threads: int = 2) -> tuple[float, float, float]:
    """Decode n tiles in worker threads (at most ``threads`` at once) under a 1 ms ticker."""
    limiter = trio.CapacityLimiter(threads)
    return await _ticking(
        lambda work, i: work.start_soon(
            functools.partial(trio.to_thread.run_sync, decode, i, limiter=limiter)
        ),
        n_tiles,
    )


async def ticker_lateness_async(decode_async, n_tiles: int) -> tuple[float, float, float]:
    """The same, with each decode awaited through the asyncio portal (async-tiff's rayon pool)."""
    return await _ticking(
        lambda work, i: work.start_soon(_portal.run_in_portal, functools.partial(decode_async, i)),
        n_tiles,
    )


def decode_comparison(path: Path) -> None:
    """imagecodecs in threads vs async-tiff decode_sync in threads vs async-tiff decode (rayon)."""
    import async_tiff
    import imagecodecs
    from obstore.store import LocalStore

    store = LocalStore(str(path.parent))
    xy = [(x, y) for y in range(2, 10) for x in range(2, 10)]  # 64 tiles: a 4096^2 window

    async def load() -> tuple[object, list[object]]:
        tif = await async_tiff.TIFF.open(path.name, store=store)
        tiles = await tif.fetch_tiles(xy, 0)
        return tif, tiles

    async def get_tiles() -> list[object]:
        return (await _portal.run_in_portal(load))[1]  # type: ignore[index]

    tiles = trio.run(get_tiles)
    registry = async_tiff.DecoderRegistry()
    raw = [bytes(t.compressed_bytes) for t in tiles]  # type: ignore[attr-defined]
    n = len(tiles)
    size = 512 * 512 * 3

    def ours(i: int) -> object:
        out = imagecodecs.deflate_decode(raw[i], out=size)
        arr = np.frombuffer(out, np.uint8).reshape(512, 512, 3)
        return imagecodecs.delta_decode(arr, axis=-2, dist=1)

    def at_sync(i: int) -> object:
        return tiles[i].decode_sync(decoder_registry=registry)  # type: ignore[attr-defined]

    async def at_async(i: int) -> object:
        return await tiles[i].decode(decoder_registry=registry)  # type: ignore[attr-defined]

    print(
        "decode the 64 tiles (512^2 RGB, Deflate + predictor 2) of a 4096^2 window, 1 ms ticker running:"
    )
    for name, fn, runner in (
        ("imagecodecs in trio.to_thread (2 threads)", ours, ticker_lateness),
        ("async-tiff decode_sync in trio.to_thread (2 threads)", at_sync, ticker_lateness),
        ("async-tiff decode() on its rayon pool via the portal", at_async, ticker_lateness_async),
    ):
        results = []
        for _ in range(5):
            tiles[:] = trio.run(get_tiles)  # async-tiff tiles can be decoded once
            results.append(trio.run(runner, fn, n))
        p99 = statistics.median(r[0] for r in results)
        mx = statistics.median(r[1] for r in results)
        wall = statistics.median(r[2] for r in results)
        print(
            f"  {name}: wall {wall:.0f} ms, ticker p99 {p99:.1f} ms, max {mx:.1f} ms (medians of 5)"
        )


def main() -> None:
    print("per-call cost (ms):", trio.run(per_call))
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "big.bin").write_bytes(b"\1" * 1_000_000)
        for name, (ms, aborted, in_flight) in trio.run(cancellation, root).items():
            print(
                f"cancel via {name}: call returned in {ms:.1f} ms; server aborted={aborted}, still streaming={in_flight}"
            )
    data = Path(__file__).parent / ".data" / "rgb.tif"
    if data.exists():
        decode_comparison(data)
    else:
        print("(run benchmarks/make_data.py for the decode comparison)")


if __name__ == "__main__":
    main()
