"""Dask's local schedulers: an interrupted computation cancels its reads.

When ``compute()`` on the threaded (or synchronous) scheduler is interrupted
(``KeyboardInterrupt``) or fails, dask stops submitting tasks but lets the
running ones finish: their reads would go on, requests in flight, after the
user got control back. A global dask callback cancels them instead.

Limit: the reads of *every* local computation of the process are cancelled,
so a failure in one of two computations running at once in different threads
cancels the other's reads too (it then fails with ``CancelledError``).
"""

from __future__ import annotations

from typing import Any

from dask.callbacks import Callback

from trio_geotiff import _blocking

__all__ = ["install_interrupt_hook"]

_hook: Callback | None = None


def _finish(_dsk: Any, _state: Any, errored: bool) -> None:  # noqa: FBT001 - dask's signature
    if errored:
        _blocking.cancel_all()


def install_interrupt_hook() -> None:
    """Register the callback once per process."""
    global _hook  # noqa: PLW0603 - one registration per process
    if _hook is None:
        _hook = Callback(finish=_finish)  # type: ignore[no-untyped-call]
        _hook.register()
