"""Many files at once: the time-series / STAC-stack use."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from ._array import Array
from ._geotiff import GeoTIFF
from ._nursery import gather
from ._runtime import Limiter, check_limiter, default_limiter
from ._window import Window
from .errors import InvalidArgumentError, InvalidWindowError

__all__ = ["open_many", "read_many"]


async def open_many(
    paths: Sequence[str],
    *,
    store: Any,
    limiter: Limiter | None = None,
    **options: Any,
) -> list[GeoTIFF]:
    """Open many GeoTIFFs concurrently, sharing one limiter.

    Args:
        paths: Object paths in ``store``.
        store: The obstore store holding them.
        limiter: Bounds requests (headers included) and decodes across
            *all* the files (default: one limiter of 16 tokens for the lot).
        **options: Passed to `GeoTIFF.open` for every file.

    Returns:
        The opened files, in the order of ``paths``.

    Raises:
        GeoTIFFError: The first file that fails (the other opens are cancelled).

    **Cancellation:** cancels every open in flight.
    """
    shared = default_limiter() if limiter is None else check_limiter("", limiter)
    return await gather(
        [
            functools.partial(GeoTIFF.open, path, store=store, limiter=shared, **options)
            for path in paths
        ]
    )


async def read_many(  # noqa: PLR0913 - keyword options, as rasterio.read
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
        InvalidArgumentError: Neither or both of ``window`` and ``bounds`` given.
        InvalidWindowError: ``bounds`` give no window in a file's grid.
        GeoTIFFError: The first read that fails (the others are cancelled).

    **Cancellation:** cancels every read in flight; nothing keeps running.
    """
    if (window is None) == (bounds is None):
        raise InvalidArgumentError("", "give exactly one of window= and bounds=")
    windows = [window if window is not None else _bounds_window(tif, bounds) for tif in files]
    return await gather(
        [
            functools.partial(
                tif.read, window=w, indexes=indexes, boundless=boundless, fill_value=fill_value
            )
            for tif, w in zip(files, windows, strict=True)
        ]
    )


def _bounds_window(tif: GeoTIFF, bounds: tuple[float, float, float, float] | None) -> Window:
    assert bounds is not None
    left, bottom, right, top = bounds
    try:
        return Window.from_bounds(left, bottom, right, top, tif.transform)
    except ValueError as exc:
        raise InvalidWindowError(tif.path, f"bounds {bounds}: {exc}") from exc
