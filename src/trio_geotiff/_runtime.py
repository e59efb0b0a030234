"""The event loop a call runs in, and the per-loop resources reads share.

The library is written once, on anyio's primitives: under trio they are
trio's own (a task group is a nursery, a limiter a ``trio.CapacityLimiter``),
under asyncio (plain, anyio's backend, a Jupyter loop) they are asyncio's.
What cannot be shared between event loops — limiters, cache waiters, the
tasks of a read — belongs to the loop a file was opened in, and using a file
from another loop is an `EventLoopError`, not a hang or an ``AttributeError``
from deep inside.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from typing import Any, Final, Literal, TypeAlias, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread
import trio

from .errors import EventLoopError

__all__ = [
    "DEFAULT_CONCURRENCY",
    "AsyncLibrary",
    "Limiter",
    "LoopBinding",
    "check_limiter",
    "current_library",
    "decode_slots",
    "default_limiter",
    "run_in_thread",
]

T = TypeVar("T")

AsyncLibrary: TypeAlias = Literal["trio", "asyncio"]

Limiter: TypeAlias = "anyio.CapacityLimiter | trio.CapacityLimiter"
"""What ``limiter=`` takes: anyio's (either backend) or, under trio, trio's own."""

DEFAULT_CONCURRENCY: Final = 16
"""Requests and decodes in flight per file (or per `open_many` call) by default."""

# Decoding is CPU-bound: more threads than cores only adds memory and stalls
# the event loop thread.
_DECODE_THREADS: Final = max(os.cpu_count() or 1, 1)

# One decode limiter per event loop, shared by every file that loop reads.
# A decode first takes a CPU slot, *then* a token of the file's limiter:
# decodes queued for a CPU must not hold the tokens the next range requests
# need (that stalled I/O behind decoding: 28 ms on a 64-tile window), so the
# thread itself runs under a limiter that never blocks.
_decode_slots: anyio.lowlevel.RunVar[anyio.CapacityLimiter] = anyio.lowlevel.RunVar(
    "trio_geotiff_decode_slots"
)
_thread_slots: anyio.lowlevel.RunVar[anyio.CapacityLimiter] = anyio.lowlevel.RunVar(
    "trio_geotiff_thread_slots"
)


def current_library(path: str = "") -> AsyncLibrary:
    """``"trio"`` or ``"asyncio"``: the library running the current task.

    Raises:
        EventLoopError: No trio run and no asyncio loop is running here.
    """
    if trio.lowlevel.in_trio_run():
        return "trio"
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise EventLoopError(
            path, "trio_geotiff must be awaited from trio or asyncio (or anyio on either)"
        ) from None
    return "asyncio"


def _loop_identity(path: str) -> object:
    if current_library(path) == "trio":
        return trio.lowlevel.current_trio_token()
    return asyncio.get_running_loop()


class LoopBinding:
    """Remembers the event loop an object was made in and refuses any other."""

    __slots__ = ("_loop",)

    def __init__(self) -> None:
        """Bind to the event loop running now (or to the first one that checks)."""
        self._loop: object | None = None
        # Made outside a loop (unpickled, say): bound on first use.
        with contextlib.suppress(EventLoopError):
            self._loop = _loop_identity("")

    def check(self, path: str) -> None:
        """Raise `EventLoopError` unless called from the bound event loop."""
        loop = _loop_identity(path)
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise EventLoopError(
                path,
                "this file was opened in another event loop (another thread, trio.run or"
                " asyncio.run); open it again in this one",
            )


def check_limiter(path: str, limiter: object) -> Limiter:
    """The limiter, if the running library can use it.

    Raises:
        EventLoopError: Not a limiter, or a ``trio.CapacityLimiter`` outside trio.
    """
    if isinstance(limiter, anyio.CapacityLimiter):
        return limiter
    if isinstance(limiter, trio.CapacityLimiter):
        if current_library(path) == "trio":
            return limiter
        raise EventLoopError(
            path, "a trio.CapacityLimiter cannot be used under asyncio: pass anyio.CapacityLimiter"
        )
    raise EventLoopError(
        path,
        f"limiter must be an anyio.CapacityLimiter (or, under trio, a trio.CapacityLimiter),"
        f" not {type(limiter).__name__}",
    )


def default_limiter() -> anyio.CapacityLimiter:
    """A new limiter of `DEFAULT_CONCURRENCY` tokens for the running library."""
    return anyio.CapacityLimiter(DEFAULT_CONCURRENCY)


def decode_slots() -> anyio.CapacityLimiter:
    """The running loop's limiter of decoding threads (one per core)."""
    try:
        return _decode_slots.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(_DECODE_THREADS)
        _decode_slots.set(limiter)
        return limiter


def _thread_slots_limiter() -> anyio.CapacityLimiter:
    # Threads are already bounded by the decode slot held around them.
    try:
        return _thread_slots.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(float("inf"))
        _thread_slots.set(limiter)
        return limiter


async def run_in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` in a worker thread; the caller holds a `decode_slots` token.

    **Cancellation:** the thread is waited for (never abandoned): nothing
    started by a call outlives it. Pass only work that takes milliseconds.
    """
    return await anyio.to_thread.run_sync(fn, *args, limiter=_thread_slots_limiter())
