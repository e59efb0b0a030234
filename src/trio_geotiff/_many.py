"""Many files at once: the time-series / STAC-stack use."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import trio

from ._array import Array
from ._geotiff import GeoTIFF
from ._nursery import first_error_nursery
from ._window import Window

__all__ = ["open_many", "read_many"]


async def open_many(
    paths: Sequence[str],
    *,
    store: Any,
    limiter: trio.CapacityLimiter | None = None,
    **options: Any,
) -> list[GeoTIFF]:
    """Open many GeoTIFFs concurrently, sharing one limiter.

    Args:
        paths: Object paths in ``store``.
        store: The obstore store holding them.
        limiter: Bounds requests and decodes across *all* the files
            (default: one ``CapacityLimiter(16)`` for the lot).
        **options: Passed to `GeoTIFF.open` for every file.

    Returns:
        The opened files, in the order of ``paths``.

    Raises:
        GeoTIFFError: The first file that fails (the other opens are cancelled).

    **Cancellation:** cancels every open in flight.
    """
    shared = limiter or trio.CapacityLimiter(16)
    opened: list[GeoTIFF | None] = [None] * len(paths)

    async def one(i: int) -> None:
        opened[i] = await GeoTIFF.open(paths[i], store=store, limiter=shared, **options)

    async with first_error_nursery() as nursery:
        for i in range(len(paths)):
            nursery.start_soon(one, i)
    return [g for g in opened if g is not None]


async def read_many(
    files: Sequence[GeoTIFF],
    window: Window | None = None,
    *,
    bounds: tuple[float, float, float, float] | None = None,
    indexes: Sequence[int] | int | None = None,
    boundless: bool = False,
    fill_value: float | None = None,
) -> list[Array]:
    """Read the same window (or the same bounds) from many files concurrently.

    The files' own limiters bound the work (open them with one shared
    limiter, as `open_many` does, to bound them together).

    Args:
        files: Opened files.
        window: The pixel window to read from each file.
        bounds: Instead of ``window``: ``(left, bottom, right, top)`` in each
            file's CRS, turned into each file's window (files may differ in grid).
        indexes: 1-based bands (default: all).
        boundless: Allow windows that cross the image edges.
        fill_value: Fill for pixels outside an image.

    Returns:
        One `Array` per file, in order.

    Raises:
        ValueError: Neither or both of ``window`` and ``bounds`` given.
        GeoTIFFError: The first read that fails (the others are cancelled).

    **Cancellation:** cancels every read in flight; nothing keeps running.
    """
    if (window is None) == (bounds is None):
        raise ValueError("give exactly one of window= and bounds=")
    results: list[Array | None] = [None] * len(files)

    async def one(i: int) -> None:
        tif = files[i]
        if window is not None:
            w = window
        else:
            assert bounds is not None
            left, bottom, right, top = bounds
            w = Window.from_bounds(left, bottom, right, top, tif.transform)
        results[i] = await tif.read(
            window=w, indexes=indexes, boundless=boundless, fill_value=fill_value
        )

    async with first_error_nursery() as nursery:
        for i in range(len(files)):
            nursery.start_soon(one, i)
    return [r for r in results if r is not None]
