"""The one way the library fans out: task groups that raise one exception.

Every concurrent step of the library (the requests and decodes of a read,
the pixels and the mask, the files of `open_many`, the sidecars of an open)
runs in a `task_group`. When a child fails, the others are cancelled and the
caller gets exactly one exception, never an ``ExceptionGroup``:

1. a ``KeyboardInterrupt``/``SystemExit`` from any child, so that an ordinary
   error that came first in the group never hides it;
2. otherwise the first real error (a `GeoTIFFError` keeps its own type; a
   programming error stays what it is);
3. otherwise (only cancellations) the first cancellation, which the
   enclosing cancel scope then handles.

Nested groups collapse at every level, so what a read raises does not depend
on which child failed first or how deep it ran.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import anyio
import anyio.abc
import trio

__all__ = ["gather", "one_error", "task_group"]

T = TypeVar("T")

_CANCELLED = (trio.Cancelled, asyncio.CancelledError)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


def one_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The single exception that stands for ``group`` (see the module docstring)."""
    leaves = _leaves(group)
    for leaf in leaves:
        if not isinstance(leaf, (Exception, *_CANCELLED)):
            return leaf  # KeyboardInterrupt, SystemExit: never lost
    for leaf in leaves:
        if isinstance(leaf, Exception):
            return leaf
    return leaves[0]


@contextlib.asynccontextmanager
async def task_group() -> AsyncIterator[anyio.abc.TaskGroup]:
    """An anyio task group whose failure is one exception, not a group.

    **Cancellation:** cancelling the caller cancels every child and waits for
    them; nothing started in the group outlives the ``async with``.
    """
    try:
        async with anyio.create_task_group() as group:
            yield group
    except BaseExceptionGroup as exc_group:
        error = one_error(exc_group)
    else:
        return
    # Raised outside the except clause: there its __context__ would become the
    # group that holds it, a cycle that pickling (dask sends errors between
    # processes) follows for ever.
    raise error


async def gather(calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run ``calls`` concurrently; their results in the order given.

    Raises:
        BaseException: The one exception of a failed call (`task_group` rules);
            the other calls are cancelled first.

    **Cancellation:** cancels every call in flight and waits for them.
    """
    results: list[Any] = [None] * len(calls)

    async def run(i: int) -> None:
        results[i] = await calls[i]()

    async with task_group() as group:
        for i in range(len(calls)):
            group.start_soon(run, i)
    return results
