"""Test-wide fixtures: structured-concurrency hygiene after every trio test."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from trio_geotiff import _bridge

# tifffile and rasterio log every odd tag of the deliberately broken files.
logging.getLogger("tifffile").setLevel(logging.CRITICAL)
logging.getLogger("rasterio").setLevel(logging.CRITICAL)


@pytest.fixture
async def _trio_hygiene() -> AsyncIterator[None]:
    """After a trio test: no worker thread running, no portal task, no stray task."""
    yield
    with trio.fail_after(10):
        await trio.testing.wait_all_threads_completed()
    assert trio.testing.active_thread_count() == 0, "a worker thread outlived the test"
    assert _bridge.portal_tasks_running() == 0, "an asyncio task outlived the test"
    root = trio.lowlevel.current_root_task()
    stray = [t.name for n in root.child_nurseries for t in n.child_tasks if "trio_geotiff" in t.name]
    assert not stray, f"tasks outlived the test: {stray}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        func = getattr(item, "function", None)
        if func is not None and inspect.iscoroutinefunction(func):
            item.fixturenames.append("_trio_hygiene")  # type: ignore[attr-defined]
