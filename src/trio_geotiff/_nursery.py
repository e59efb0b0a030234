"""Fan-out helpers that surface one error, not an ExceptionGroup.

A read fans out into many tasks; when one fails, the others are cancelled
and the caller gets that first error alone, with its own type (an
`UnsupportedError` stays an `UnsupportedError`). Groups that hold several
real errors cannot happen here: the first one cancels the rest.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import trio

__all__ = ["FirstError", "first_error_nursery", "first_leaf"]


def first_leaf(exc: BaseException) -> BaseException:
    """The first real error inside (possibly nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup):
        # Prefer a real error over the Cancelled it caused in siblings.
        real = [e for e in exc.exceptions if not isinstance(e, trio.Cancelled)]
        exc = (real or list(exc.exceptions))[0]
    return exc


class FirstError:
    """Runs child tasks; the first failure cancels the rest and is kept to re-raise."""

    def __init__(self, nursery: trio.Nursery) -> None:
        """Wrap ``nursery``: start children through `start_soon`."""
        self.nursery = nursery
        self.error: BaseException | None = None

    def start_soon(self, fn: Callable[..., Awaitable[object]], *args: Any) -> None:
        """Start ``fn(*args)`` as a child whose failure is recorded."""
        self.nursery.start_soon(self._guard, fn, *args)

    async def _guard(self, fn: Callable[..., Awaitable[object]], *args: Any) -> None:
        try:
            await fn(*args)
        except Exception as exc:  # noqa: BLE001 - recorded, re-raised alone by the parent
            if self.error is None:
                self.error = first_leaf(exc)
            self.nursery.cancel_scope.cancel()


@contextlib.asynccontextmanager
async def first_error_nursery() -> AsyncIterator[trio.Nursery]:
    """A nursery that raises the first child error alone, not an ExceptionGroup."""
    try:
        async with trio.open_nursery() as nursery:
            yield nursery
    except BaseExceptionGroup as group:
        first = first_leaf(group)
        if isinstance(first, Exception):  # (trio.Cancelled is a BaseException)
            raise first from None
        raise
