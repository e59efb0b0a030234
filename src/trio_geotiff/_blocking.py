"""The blocking face: call the library from code that is not async.

Dask tasks, scripts and notebook cells without ``await`` call `run`. Every
call of a process runs on ONE asyncio event loop in a daemon thread (the
portal's: the loop trio callers already use for obstore), so that:

* files opened by one call are read by the next, from any thread (a
  `GeoTIFF` belongs to the loop it was opened in, and there is only one);
* one request limiter (`limiter`) bounds the requests and decodes of the
  whole process, whatever number of threads call in;
* a call costs a thread handoff (~0.1 ms), not a new event loop per chunk.

Why not ``trio.run`` per call: a fresh loop per chunk cannot share opened
files, limiters or connection pools, and costs a loop start per chunk.

**Cancellation:** if the waiting thread is interrupted (``KeyboardInterrupt``
in the main thread) or `cancel_all` is called, the coroutine is cancelled and
`run` returns only once it has finished, so no request stays in flight. Under
``dask.distributed``, a task the client cancelled is noticed within
`_POLL_S` and its read is cancelled the same way.

**Exit and fork:** an ``atexit`` hook cancels whatever still runs before the
portal stops; a forked child forgets the parent's loop, files and limiter
and makes its own on first use.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Final, ParamSpec, TypeVar

import anyio

from . import _portal
from .errors import EventLoopError

__all__ = ["cancel_all", "in_flight", "limiter", "process_state", "run"]

T = TypeVar("T")
P = ParamSpec("P")

DEFAULT_PROCESS_CONCURRENCY: Final = 32
"""Requests and decodes in flight per process (all files, all threads) by default."""
# How often a waiting thread checks whether its dask task was cancelled.
_POLL_S: Final = 0.1
# How long a cancelled call may take to finish (a running decode is waited for).
_CANCEL_WAIT_S: Final = 30.0


class _Call:
    """One `run` call: its asyncio task (once started) and when it ended."""

    __slots__ = ("cancelled", "done", "task")

    def __init__(self) -> None:
        self.task: asyncio.Task[Any] | None = None
        self.cancelled = False
        self.done = threading.Event()


class _ProcessState:
    """What the calls of one process share; made on first use, forgotten at fork."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: set[_Call] = set()
        self.limiter: anyio.CapacityLimiter | None = None
        self.concurrency = int(
            os.environ.get("TRIO_GEOTIFF_CONCURRENCY", DEFAULT_PROCESS_CONCURRENCY)
        )
        self.values: dict[Any, Any] = {}
        """Per-process objects by key (opened files, stores), used on the loop thread."""


_state = _ProcessState()


def _forget_in_child() -> None:
    # The loop thread and its tasks did not survive fork(): start afresh.
    global _state  # noqa: PLW0603 - per-process singleton
    _state = _ProcessState()


os.register_at_fork(after_in_child=_forget_in_child)


def process_state() -> dict[Any, Any]:
    """The process-wide dict of shared objects (only touch it from the loop thread)."""
    return _state.values


def limiter() -> anyio.CapacityLimiter:
    """The process's request limiter (call from the loop thread, inside `run`).

    Its size is ``$TRIO_GEOTIFF_CONCURRENCY`` or `DEFAULT_PROCESS_CONCURRENCY`.
    """
    state = _state
    if state.limiter is None:
        state.limiter = anyio.CapacityLimiter(state.concurrency)
    return state.limiter


def in_flight() -> int:
    """Number of `run` calls whose coroutine has not finished yet."""
    with _state.lock:
        return len(_state.calls)


def cancel_all() -> int:
    """Cancel every call in flight in this process; returns how many were cancelled.

    The calls' threads get ``concurrent.futures.CancelledError``.
    """
    with _state.lock:
        calls = list(_state.calls)
    loop = _portal._get_portal().loop  # noqa: SLF001 - the shared loop is the point
    for call in calls:
        call.cancelled = True
        loop.call_soon_threadsafe(_cancel_task, call)
    return len(calls)


def _cancel_task(call: _Call) -> None:
    if call.task is not None:
        call.task.cancel()


def run(fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``await fn(*args, **kwargs)`` on the process's event loop and wait for it.

    Callable from any thread that is not the loop's own.

    Returns:
        What the coroutine returned.

    Raises:
        EventLoopError: Called from the loop thread itself (it would deadlock).
        concurrent.futures.CancelledError: The call was cancelled (`cancel_all`,
            or its dask task was cancelled).
        BaseException: Whatever the coroutine raised.
    """
    portal = _portal._get_portal()  # noqa: SLF001 - the shared loop is the point
    if threading.current_thread() is portal.thread:
        raise EventLoopError(
            "", "the blocking API cannot be called from trio_geotiff's own event loop thread"
        )
    state = _state
    call = _Call()
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def finished(task: asyncio.Task[T]) -> None:
        # On the loop thread: the coroutine has ended, one way or another.
        with state.lock:
            state.calls.discard(call)
        if task.cancelled():
            future.cancel()
        elif (exc := task.exception()) is not None:
            future.set_exception(exc)
        else:
            future.set_result(task.result())
        call.done.set()

    def start() -> None:
        # On the loop thread.
        if call.cancelled:
            finished_without_task()
            return
        task = portal.loop.create_task(_coroutine(fn, *args, **kwargs))
        call.task = task
        task.add_done_callback(finished)

    def finished_without_task() -> None:
        with state.lock:
            state.calls.discard(call)
        future.cancel()
        call.done.set()

    with state.lock:
        state.calls.add(call)
    try:
        portal.loop.call_soon_threadsafe(start)
    except RuntimeError as exc:  # the loop was closed (interpreter exit)
        with state.lock:
            state.calls.discard(call)
        raise EventLoopError("", "trio_geotiff's event loop has stopped") from exc
    try:
        return _wait(future)
    except BaseException:
        # Interrupted or cancelled: make sure nothing keeps running.
        call.cancelled = True
        portal.loop.call_soon_threadsafe(_cancel_task, call)
        call.done.wait(_CANCEL_WAIT_S)
        raise


async def _coroutine(fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
    return await fn(*args, **kwargs)


def _wait(future: concurrent.futures.Future[T]) -> T:
    wanted = _dask_task_wanted()
    if wanted is None:
        return future.result()
    while True:
        try:
            return future.result(timeout=_POLL_S)
        except concurrent.futures.TimeoutError:
            if not wanted():
                raise concurrent.futures.CancelledError("the dask task was cancelled") from None


def _dask_task_wanted() -> Callable[[], bool] | None:
    """On a dask.distributed worker thread: whether the running task is still wanted."""
    distributed_worker = _distributed_worker_module()
    if distributed_worker is None:
        return None
    key = getattr(distributed_worker.thread_state, "key", None)
    if key is None:
        return None
    try:
        worker = distributed_worker.get_worker()
    except ValueError:
        return None

    def wanted() -> bool:
        ts = worker.state.tasks.get(key)
        return ts is not None and ts.state not in ("cancelled", "released", "forgotten")

    return wanted


def _distributed_worker_module() -> Any:
    import sys  # noqa: PLC0415 - only to see whether distributed is already loaded

    # Never import distributed here: only a process that runs it has tasks to watch.
    return sys.modules.get("distributed.worker")


@atexit.register
def _cancel_at_exit() -> None:
    # Registered after the portal's own hook, so it runs first: nothing may
    # still run on the loop when the portal stops.
    with _state.lock:
        calls = list(_state.calls)
    if not calls:
        return
    cancel_all()
    for call in calls:
        with contextlib.suppress(Exception):
            call.done.wait(5)
