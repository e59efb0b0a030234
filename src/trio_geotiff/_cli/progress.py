"""A one-line progress indicator on stderr, redrawn while a read runs (terminals only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import IO, Final, TypeVar

import trio

from trio_geotiff._geotiff import GeoTIFF
from trio_geotiff._nursery import task_group

__all__ = ["Progress", "fmt_bytes"]

T = TypeVar("T")

_INTERVAL: Final = 0.1


def fmt_bytes(n: int) -> str:
    """``n`` bytes for people: "512 B", "3.2 KiB", "41.0 MiB"."""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """A one-line progress indicator on a terminal; silent otherwise.

    The line shows the file's `GeoTIFF.statistics` (blocks decoded, bytes and
    requests) and the time elapsed, and is erased when the work ends.
    """

    def __init__(
        self, stream: IO[str], label: str, tif: GeoTIFF, *, enabled: bool | None = None
    ) -> None:
        """Draw on ``stream`` (by default only when it is a terminal)."""
        self.stream = stream
        self.label = label
        self.tif = tif
        self.enabled = _isatty(stream) if enabled is None else enabled
        self._width = 0

    def _line(self, elapsed: float) -> str:
        stats = self.tif.statistics()
        return (
            f"{self.label}: {stats.blocks_decoded} blocks decoded,"
            f" {fmt_bytes(stats.bytes_fetched)} in {stats.requests} requests, {elapsed:.1f} s"
        )

    def _show(self, text: str) -> None:
        pad = max(0, self._width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)

    async def _redraw(self, start: float) -> None:
        while True:
            await trio.sleep(_INTERVAL)
            self._show(self._line(trio.current_time() - start))

    def clear(self) -> None:
        """Erase the line."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    async def track(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Await ``fn()`` with the indicator running beside it.

        Raises:
            BaseException: What ``fn()`` raised, alone (never in a group).

        **Cancellation:** cancelling the caller cancels ``fn()`` and the
        redraws; the line is erased either way.
        """
        if not self.enabled:
            return await fn()
        start = trio.current_time()
        self._show(self._line(0.0))  # drawn before the work starts, however short it is
        try:
            # The library's task group raises one exception, not a group.
            async with task_group() as group:
                group.start_soon(self._redraw, start)
                try:
                    result = await fn()
                finally:
                    group.cancel_scope.cancel()
        finally:
            self.clear()
        return result
