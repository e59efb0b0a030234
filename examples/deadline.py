"""Read under a deadline: what trio's cancel scopes do to reads in flight.

Every trio_geotiff call can be cancelled at any point. When a deadline hits,
the range requests in flight are aborted, the running decodes are waited for
(milliseconds), and the call returns: no task, thread or request outlives it.
This script reads every tile of an image concurrently, twice:

1. under ``trio.move_on_after(deadline)``: when time is up, the reads still
   running are cancelled and the program simply carries on with the tiles
   that did arrive;
2. under ``trio.fail_after(deadline)``: the same, but the deadline raises
   ``trio.TooSlowError``, for code that cannot do without the data.

Local files read too fast for a short deadline to hit, so by default each
tile waits ``--latency`` seconds before its request, with at most
``--concurrency`` tiles in progress at once: a stand-in for a slow network.
With a remote URL, pass ``--latency 0`` to see real requests being aborted.

The input is a local path or a URL (``https://...``, ``s3://...``); without
one, the bundled sample is used. Examples::

    python examples/deadline.py                                  # bundled sample
    python examples/deadline.py --deadline 5                     # no deadline hit
    python examples/deadline.py https://example.com/big_cog.tif --latency 0 --deadline 0.5
"""

from __future__ import annotations

import argparse
import functools
import importlib.resources
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import obstore.store
import trio
import trio.testing

from trio_geotiff import Array, GeoTIFF


def store_and_path(location: str) -> tuple[Any, str]:
    """An obstore store for a local path or URL, and the object's path in it."""
    if "://" in location and not location.startswith("file://"):
        # s3://bucket/dir/x.tif, https://host/dir/x.tif, ...: a store for the
        # directory (credentials, if any, come from the environment).
        directory, _, name = location.rpartition("/")
        return obstore.store.from_url(directory + "/"), name
    path = Path(location.removeprefix("file://")).expanduser().resolve()
    return obstore.store.LocalStore(str(path.parent)), path.name


@attrs.define
class Report:
    """What one deadline-bound run got done."""

    total: int
    """Tiles asked for."""
    read: dict[tuple[int, int], Array] = attrs.field(factory=dict)
    """The tiles that arrived before the deadline, by ``(x, y)``."""
    started: set[tuple[int, int]] = attrs.field(factory=set)
    """The tiles whose read had started (arrived, or aborted mid-read)."""
    cancelled: bool = False
    """Whether the deadline hit (and cancelled the rest)."""
    elapsed: float = 0.0
    """Seconds from the start until everything had stopped."""
    threads_after: int = -1
    """Worker threads still running afterwards (always 0)."""


async def read_tiles(tif: GeoTIFF, report: Report, *, latency: float, concurrency: int) -> None:
    """Read every tile of ``tif`` concurrently into ``report.read``.

    A cancellation (from a deadline around this call) stops every tile still
    in progress; the tiles already read stay in ``report.read``.
    """
    across, down = tif.tile_count
    slots = trio.CapacityLimiter(concurrency)

    async def one(x: int, y: int) -> None:
        async with slots:
            await trio.sleep(latency)  # the simulated slow network
            report.started.add((x, y))
            report.read[x, y] = await tif.fetch_tile(x, y)

    # The nursery does not exit before every tile task has finished or been
    # cancelled: when this function returns or raises, nothing is left running.
    async with trio.open_nursery() as nursery:
        for y in range(down):
            for x in range(across):
                nursery.start_soon(one, x, y)


async def move_on_demo(
    tif: GeoTIFF, *, deadline: float, latency: float, concurrency: int
) -> Report:
    """Read under ``trio.move_on_after``: keep what arrived, carry on."""
    across, down = tif.tile_count
    report = Report(total=across * down)
    start = time.perf_counter()
    with trio.move_on_after(deadline) as scope:
        await read_tiles(tif, report, latency=latency, concurrency=concurrency)
    report.elapsed = time.perf_counter() - start
    # cancelled_caught: the deadline hit while the reads were still going.
    report.cancelled = scope.cancelled_caught
    # trio's own count of worker threads (decodes run in them) still running.
    report.threads_after = trio.testing.active_thread_count()
    return report


async def fail_after_demo(
    tif: GeoTIFF, *, deadline: float, latency: float, concurrency: int
) -> Report:
    """Read under ``trio.fail_after``: the deadline raises `trio.TooSlowError`.

    Raises:
        trio.TooSlowError: The deadline hit. The partial `Report` is in the
            exception's ``report`` attribute.
    """
    across, down = tif.tile_count
    report = Report(total=across * down)
    start = time.perf_counter()
    try:
        with trio.fail_after(deadline):
            await read_tiles(tif, report, latency=latency, concurrency=concurrency)
    except trio.TooSlowError as exc:
        report.cancelled = True
        report.elapsed = time.perf_counter() - start
        report.threads_after = trio.testing.active_thread_count()
        exc.report = report  # type: ignore[attr-defined]  # hand the partial result up
        raise
    report.elapsed = time.perf_counter() - start
    report.threads_after = trio.testing.active_thread_count()
    return report


def describe(report: Report) -> str:
    status = "deadline hit, the rest cancelled" if report.cancelled else "finished in time"
    tiles = ", ".join(f"({x},{y})" for x, y in sorted(report.read, key=lambda t: t[::-1]))
    aborted = len(report.started) - len(report.read)
    return (
        f"  {status}: {len(report.read)} of {report.total} tiles read"
        f" in {report.elapsed:.2f} s ({aborted} aborted mid-read);"
        f" worker threads still running: {report.threads_after}\n"
        f"  tiles read: {tiles or 'none'}"
    )


async def run(
    store: Any, path: str, *, deadline: float, latency: float, concurrency: int
) -> tuple[Report, Report | None]:
    """Both demos, one after the other; prints what happens.

    Returns:
        The `move_on_after` report and, when its deadline hit, the
        `fail_after` report (else None).
    """
    tif = await GeoTIFF.open(path, store=store)
    print(f"{path}: {tif.tile_count[0]}x{tif.tile_count[1]} tiles")

    print(f"1. trio.move_on_after({deadline}):")
    moved_on = await move_on_demo(tif, deadline=deadline, latency=latency, concurrency=concurrency)
    print(describe(moved_on))

    print(f"2. trio.fail_after({deadline}):")
    try:
        failed = await fail_after_demo(
            tif, deadline=deadline, latency=latency, concurrency=concurrency
        )
    except trio.TooSlowError as exc:
        failed = exc.report  # type: ignore[attr-defined]
        print("  raised trio.TooSlowError; the partial result rides on the exception")
        print(describe(failed))
        return moved_on, failed
    print(describe(failed))
    return moved_on, None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", nargs="?", help="a local path or URL (default: bundled sample)")
    parser.add_argument("--deadline", type=float, default=0.25, help="seconds (default 0.25)")
    parser.add_argument(
        "--latency", type=float, default=0.1, help="simulated delay per tile (default 0.1 s)"
    )
    parser.add_argument("--concurrency", type=int, default=2, help="tiles in progress at once")
    args = parser.parse_args(argv)

    with importlib.resources.as_file(
        importlib.resources.files("trio_geotiff") / "data" / "sample_cog.tif"
    ) as sample:
        store, path = store_and_path(args.input or str(sample))
        trio.run(
            functools.partial(
                run,
                store,
                path,
                deadline=args.deadline,
                latency=args.latency,
                concurrency=args.concurrency,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
