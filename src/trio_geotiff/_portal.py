"""Awaiting asyncio-only awaitables from whichever library runs us.

obstore's awaitables are built by pyo3-async-runtimes for asyncio: under
``trio.run`` they raise ``RuntimeError: no running event loop``. Under asyncio
(plain, anyio's backend, Jupyter) `run_asyncio` simply awaits them in the
caller's task, whose cancellation drops the Rust future. Under trio it runs
them on one long-lived asyncio loop in a background thread (the *portal*) and
lets the trio task wait for each one:

* the trio task sleeps in ``wait_task_rescheduled`` and is woken through its
  trio token when the asyncio task finishes (about 0.09 ms a call, measured);
* on trio cancellation the asyncio task is cancelled, which drops the Rust
  future and so aborts the HTTP request; the trio call returns only once the
  asyncio task has really finished, so nothing started by a call outlives it.

This module knows nothing of stores or TIFFs: `_store` maps their errors.

Why not ``trio.to_thread.run_sync`` around obstore's *sync* API: a blocking
request in a worker thread cannot be cancelled (it runs to completion, seconds
on a slow server), and ``to_thread.run_sync(asyncio.run, ...)`` costs ~0.34 ms a
call and can only abandon the request. See docs/design.md for the numbers.

Exit safety: obstore's tokio workers may drop Python objects a few
milliseconds after a future resolves; if the interpreter is finalizing by then
the process crashes (SIGSEGV/SIGABRT at exit). An ``atexit`` hook stops the
portal and waits out that window after the last call finished.

Fork safety: a forked child has no portal thread; the portal is forgotten at
fork and the child starts its own on first use.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import outcome
import trio

from ._runtime import current_library

__all__ = ["mark_done", "portal_tasks_running", "run_asyncio", "run_in_portal"]

T = TypeVar("T")

# How long tokio workers are given to drop their Python references after the
# last call, before the interpreter may finalize (20 ms was enough in 40/40
# runs; we take a margin).
_EXIT_GRACE_S: Final = 0.1
# When the last asyncio-side call finished (portal or direct), for the exit grace.
_last_done = 0.0


class _Portal:
    """An asyncio event loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.thread = threading.Thread(
            target=self._run, name="trio_geotiff-asyncio-portal", daemon=True
        )
        self.thread.start()
        self._ready.wait()
        self.running = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


_portal: _Portal | None = None
_portal_lock = threading.Lock()


def _get_portal() -> _Portal:
    global _portal  # noqa: PLW0603 - one portal per process, made on first use
    portal = _portal
    if portal is None:
        with _portal_lock:
            if _portal is None:
                _portal = _Portal()
            portal = _portal
    return portal


def _forget_portal_in_child() -> None:
    # The portal thread does not survive fork(); its loop must not be reused.
    global _portal, _portal_lock  # noqa: PLW0603 - reset the per-process singleton
    _portal = None
    _portal_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_portal_in_child)


def mark_done() -> None:
    """Note that a call into obstore just finished (the exit grace counts from the last one)."""
    global _last_done  # noqa: PLW0603 - the exit grace's clock
    _last_done = time.monotonic()


def portal_tasks_running() -> int:
    """Number of coroutines running on the portal now (0 when idle or never started)."""
    portal = _portal
    return 0 if portal is None else portal.running


@atexit.register
def _shutdown_portal() -> None:
    portal = _portal
    if portal is not None:
        portal.stop()
    wait = _last_done + _EXIT_GRACE_S - time.monotonic()
    if wait > 0:
        time.sleep(wait)


async def run_in_portal(
    make_coro: Callable[[], Awaitable[T]],
) -> T:
    """Run an asyncio coroutine on the portal loop and wait for it from trio.

    Args:
        make_coro: Called on the portal thread to make the coroutine, so that
            pyo3 futures are created where an asyncio loop runs.

    Returns:
        The coroutine's result.

    **Cancellation:** cancelling the trio task cancels the asyncio task (which
    drops the Rust future and aborts its requests) and then waits for it to
    finish, typically within a millisecond; nothing keeps running afterwards.
    If the coroutine finished before the cancel reached it, its result is
    returned and the cancel is delivered at the caller's next checkpoint.
    """
    await trio.lowlevel.checkpoint_if_cancelled()
    portal = _get_portal()
    loop = portal.loop
    token = trio.lowlevel.current_trio_token()
    trio_task = trio.lowlevel.current_task()
    state: dict[str, Any] = {"task": None, "cancel": False}
    raise_cancel_box: list[Callable[[], Any]] = []

    def on_done(atask: asyncio.Future[T]) -> None:
        # On the portal thread: hand the outcome back to trio.
        global _last_done  # noqa: PLW0603 - the exit grace's clock
        portal.running -= 1
        _last_done = time.monotonic()
        if atask.cancelled():
            if raise_cancel_box:
                result: outcome.Outcome[T] = outcome.capture(raise_cancel_box[0])
            else:
                result = outcome.Error(RuntimeError("portal task cancelled"))
        else:
            exc = atask.exception()
            result = outcome.Error(exc) if exc is not None else outcome.Value(atask.result())
        # RunFinishedError cannot happen: the trio call is still waiting.
        token.run_sync_soon(trio.lowlevel.reschedule, trio_task, result)

    def start() -> None:
        # On the portal thread.
        portal.running += 1
        try:
            # A coroutine, or a future made by pyo3 (obstore's *_async functions).
            atask = asyncio.ensure_future(make_coro(), loop=loop)
        except BaseException as exc:  # noqa: BLE001 - handed back to the trio task
            portal.running -= 1
            token.run_sync_soon(trio.lowlevel.reschedule, trio_task, outcome.Error(exc))
            return
        state["task"] = atask
        if state["cancel"]:
            atask.cancel()
        atask.add_done_callback(on_done)

    def cancel() -> None:
        # On the portal thread.
        state["cancel"] = True
        atask = state["task"]
        if atask is not None:
            atask.cancel()

    loop.call_soon_threadsafe(start)

    def abort(raise_cancel: Callable[[], Any]) -> trio.lowlevel.Abort:
        raise_cancel_box.append(raise_cancel)
        loop.call_soon_threadsafe(cancel)
        return trio.lowlevel.Abort.FAILED

    return await trio.lowlevel.wait_task_rescheduled(abort)  # type: ignore[no-any-return]


async def run_asyncio(make_coro: Callable[[], Awaitable[T]]) -> T:
    """Await an asyncio-only awaitable from trio or asyncio.

    Args:
        make_coro: Makes the awaitable, in a thread where an asyncio loop runs.

    **Cancellation:** under asyncio the awaitable is cancelled with the
    caller's task; under trio as `run_in_portal`. Either way it has finished
    when this returns or raises.
    """
    global _last_done  # noqa: PLW0603 - the exit grace's clock
    if current_library() == "trio":
        return await run_in_portal(make_coro)
    try:
        return await make_coro()
    finally:
        _last_done = time.monotonic()
