"""Per-operation costs behind the "every async world" design (docs/design.md).

    python benchmarks/worlds.py [--rounds 7]

Measures, in one process, interleaved round by round (medians of the rounds,
in microseconds per operation):

* a tiny ranged read from an obstore ``MemoryStore``: awaited directly on an
  asyncio loop (what trio_geotiff does under asyncio), sent from an asyncio
  loop to a second loop in another thread (the alternative: one dedicated loop
  thread for every world), and from trio through the portal (what it does
  under trio);
* the primitives the library is written on, anyio's against trio's own under
  ``trio.run`` (limiter acquire/release, a task group of 16 no-op tasks, a
  worker-thread call), and anyio's under asyncio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread
import obstore
import trio
from obstore.store import MemoryStore

from trio_geotiff._portal import run_asyncio

N_READS = 400
N_PRIMITIVE = 2000
N_GROUPS = 200
N_THREADS = 300

STORE = MemoryStore()
obstore.put(STORE, "blob", b"x" * 65536)


async def _per_op(n: int, op: Callable[[], Awaitable[Any]]) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        await op()
    return (time.perf_counter() - t0) / n * 1e6


def _read() -> Awaitable[Any]:
    return obstore.get_range_async(STORE, "blob", start=100, end=4196)


class _OtherLoop:
    """An asyncio loop in a thread, as a dedicated I/O loop for every world would be."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    async def read(self) -> Any:
        async def coro() -> Any:
            return await _read()

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro(), self.loop))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()


async def _asyncio_round(other: _OtherLoop) -> dict[str, float]:
    lim = anyio.CapacityLimiter(16)

    async def acquire() -> None:
        async with lim:
            pass

    async def group() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(16):
                tg.start_soon(anyio.lowlevel.checkpoint)

    return {
        "read: asyncio, awaited directly": await _per_op(N_READS, _read),
        "read: asyncio, sent to a loop thread": await _per_op(N_READS, other.read),
        "limiter: anyio on asyncio": await _per_op(N_PRIMITIVE, acquire),
        "16-task group: anyio on asyncio": await _per_op(N_GROUPS, group),
        "to_thread: anyio on asyncio": await _per_op(
            N_THREADS, lambda: anyio.to_thread.run_sync(int)
        ),
    }


async def _trio_round() -> dict[str, float]:
    anyio_lim, trio_lim = anyio.CapacityLimiter(16), trio.CapacityLimiter(16)

    async def acquire(lim: Any) -> None:
        async with lim:
            pass

    async def anyio_group() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(16):
                tg.start_soon(anyio.lowlevel.checkpoint)

    async def trio_group() -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(16):
                nursery.start_soon(trio.lowlevel.checkpoint)

    return {
        "read: trio, through the portal": await _per_op(N_READS, lambda: run_asyncio(_read)),
        "limiter: trio's own": await _per_op(N_PRIMITIVE, lambda: acquire(trio_lim)),
        "limiter: anyio on trio": await _per_op(N_PRIMITIVE, lambda: acquire(anyio_lim)),
        "16-task group: trio nursery": await _per_op(N_GROUPS, trio_group),
        "16-task group: anyio on trio": await _per_op(N_GROUPS, anyio_group),
        "to_thread: trio's own": await _per_op(N_THREADS, lambda: trio.to_thread.run_sync(int)),
        "to_thread: anyio on trio": await _per_op(N_THREADS, lambda: anyio.to_thread.run_sync(int)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    other = _OtherLoop()
    rows: dict[str, list[float]] = {}
    try:
        for _ in range(args.rounds):
            for result in (asyncio.run(_asyncio_round(other)), trio.run(_trio_round)):
                for name, value in result.items():
                    rows.setdefault(name, []).append(value)
    finally:
        other.stop()
    print(f"| operation | µs per operation (median of {args.rounds} rounds) | min |")
    print("|---|---|---|")
    for name, values in rows.items():
        print(f"| {name} | {statistics.median(values):.1f} | {min(values):.1f} |")


if __name__ == "__main__":
    main()
