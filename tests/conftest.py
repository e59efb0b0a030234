"""Test-wide fixtures: structured-concurrency hygiene after every trio test."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import trio
import trio.testing

from trio_geotiff import _portal

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
    assert _portal.portal_tasks_running() == 0, "an asyncio task outlived the test"
    stray = library_tasks()
    assert not stray, f"tasks outlived the test: {stray}"


def library_tasks() -> list[str]:
    """Names of every live task (at any depth) started by trio_geotiff code."""
    found = []
    todo = [trio.lowlevel.current_root_task()]
    while todo:
        task = todo.pop()
        if task.name.startswith("trio_geotiff."):
            found.append(task.name)
        todo.extend(child for nursery in task.child_nurseries for child in nursery.child_tasks)
    return found


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        func = getattr(item, "function", None)
        if func is not None and inspect.iscoroutinefunction(func):
            item.fixturenames.append("_trio_hygiene")  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def cog_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2048x2048 3-band COG with 256-px tiles (64 tiles per band-row... 8 per row)."""
    import rasterio
    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.shutil import copy as rio_copy

    root = tmp_path_factory.mktemp("cog")
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (3, 64, 64), dtype=np.uint8)
    data = np.kron(base, np.ones((32, 32), dtype=np.uint8)) + rng.integers(
        0, 8, (3, 2048, 2048), dtype=np.uint8
    )
    profile = {
        "driver": "GTiff",
        "width": 2048,
        "height": 2048,
        "count": 3,
        "dtype": "uint8",
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "predictor": 2,
        "crs": "EPSG:3857",
        "transform": Affine(10, 0, 1000, 0, -10, 2000),
    }
    tmp = root / "tmp.tif"
    with rasterio.open(tmp, "w", **profile) as ds:
        ds.write(data)
        ds.build_overviews([2, 4, 8], Resampling.average)
    with rasterio.open(tmp) as src:
        rio_copy(src, root / "cog.tif", copy_src_overviews=True, **profile)
    tmp.unlink()
    return root
