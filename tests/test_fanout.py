"""Every fan-out raises exactly one exception, whatever fails and in what order.

The store is replaced by a fake whose requests wait at one shared checkpoint
and then all fail together, so that several children of the same task group
fail in the same scheduling batch — deterministically, on every run, under
both trio and asyncio. Each public fan-out is driven this way: the requests
of a read, the decodes of one request, pixels + mask, ``fetch_tiles``, tile
streams, ``open_many``, ``read_many`` and an open with sidecars.
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
from obstore.store import LocalStore

import trio_geotiff
from trio_geotiff import GeoTIFF, Window, _nursery, _store
from trio_geotiff.errors import CorruptFileError, StoreError

BACKENDS = ["trio", "asyncio"]


class FailTogether:
    """Stands in for `_store.fetch_range`/`fetch_head`: the first ``n`` calls
    wait until all ``n`` arrived, then each raises what ``make_error`` gives
    for its arrival order (0 first)."""

    def __init__(self, n: int, make_error: Callable[[int, str], BaseException]) -> None:
        self.n = n
        self.make_error = make_error
        self.arrived = 0
        self.failed = 0
        self.event: anyio.Event | None = None

    async def wait_and_fail(self, path: str) -> None:
        if self.event is None:
            self.event = anyio.Event()
        order = self.arrived
        self.arrived += 1
        if self.arrived == self.n:
            self.event.set()  # and fail now: a checkpoint here could cancel this one
        else:
            await self.event.wait()
        self.failed += 1
        raise self.make_error(order, path)


def store_error(_order: int, path: str) -> BaseException:
    return StoreError(path, "injected failure")


def interrupt_last(n: int) -> Callable[[int, str], BaseException]:
    def make(order: int, path: str) -> BaseException:
        return KeyboardInterrupt() if order == n - 1 else StoreError(path, "injected failure")

    return make


@pytest.fixture
def fail_ranges(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FailTogether]:
    def install(n: int, make_error: Callable[[int, str], BaseException]) -> FailTogether:
        fake = FailTogether(n, make_error)

        async def fetch_range(_store_obj: Any, path: str, _start: int, _end: int) -> bytes:
            await fake.wait_and_fail(path)
            raise AssertionError("unreachable")

        monkeypatch.setattr(_store, "fetch_range", fetch_range)
        return fake

    return install


def run(backend: str, fn: Callable[[], Awaitable[Any]]) -> Any:
    return anyio.run(fn, backend=backend)


def raised(backend: str, fn: Callable[[], Awaitable[Any]]) -> BaseException:
    """The exception ``fn`` raised (asserting it raised exactly one, not a group)."""
    with pytest.raises(BaseException) as info:
        run(backend, fn)
    assert not isinstance(info.value, BaseExceptionGroup), f"a group escaped: {info.value!r}"
    # No group hides in its chain either (a group holding the error is a cycle).
    seen = info.value.__context__
    while seen is not None:
        assert not isinstance(seen, BaseExceptionGroup), f"a group in the context: {seen!r}"
        seen = seen.__context__
    return info.value


async def open_cog(cog_dir: Path, **options: Any) -> GeoTIFF:
    return await GeoTIFF.open("cog.tif", store=LocalStore(str(cog_dir)), cache_bytes=0, **options)


@pytest.mark.parametrize("backend", BACKENDS)
def test_requests_of_one_read_failing_together(
    backend: str, cog_dir: Path, fail_ranges: Callable[..., FailTogether]
) -> None:
    async def main() -> None:
        tif = await open_cog(cog_dir, coalesce_gap=0)
        fake = fail_ranges(8, store_error)
        try:
            # 8 tiles of different rows, no coalescing: 8 requests.
            await tif.read(window=Window(0, 0, 256, 2048))
        finally:
            assert fake.failed == 8  # they really failed at the same checkpoint

    assert type(raised(backend, main)) is StoreError


@pytest.mark.parametrize("backend", BACKENDS)
def test_keyboard_interrupt_is_never_lost_behind_an_ordinary_error(
    backend: str, cog_dir: Path, fail_ranges: Callable[..., FailTogether]
) -> None:
    async def main() -> None:
        tif = await open_cog(cog_dir, coalesce_gap=0)
        fail_ranges(8, interrupt_last(8))
        await tif.read(window=Window(0, 0, 256, 2048))

    assert type(raised(backend, main)) is KeyboardInterrupt


@pytest.mark.parametrize("backend", BACKENDS)
def test_decodes_of_one_request_failing_together(
    backend: str, cog_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def garbage(_store_obj: Any, _path: str, start: int, end: int) -> bytes:
        await anyio.lowlevel.checkpoint()
        return b"\x00\xff" * ((end - start) // 2) + b"\x00" * ((end - start) % 2)

    async def main() -> None:
        tif = await open_cog(cog_dir)
        monkeypatch.setattr(_store, "fetch_range", garbage)
        # One coalesced request of 16 tiles: 16 decodes fail in one task group.
        await tif.read(window=Window(0, 0, 1024, 1024))

    for _ in range(5):
        assert type(raised(backend, main)) is CorruptFileError


@pytest.mark.parametrize("backend", BACKENDS)
def test_fetch_tiles_and_tile_streams_failing_together(
    backend: str, cog_dir: Path, fail_ranges: Callable[..., FailTogether]
) -> None:
    async def tiles() -> None:
        tif = await open_cog(cog_dir)
        fail_ranges(4, store_error)
        await tif.fetch_tiles([(0, 0), (1, 1), (2, 2), (3, 3)])

    async def stream() -> None:
        tif = await open_cog(cog_dir)
        fail_ranges(4, store_error)
        async with tif.open_tile_stream([(0, 0), (1, 1), (2, 2), (3, 3)], batch=4) as s:
            async for _ in s:
                pass

    assert type(raised(backend, tiles)) is StoreError
    assert type(raised(backend, stream)) is StoreError


@pytest.mark.parametrize("backend", BACKENDS)
def test_read_many_failing_together(
    backend: str, cog_dir: Path, fail_ranges: Callable[..., FailTogether]
) -> None:
    async def main() -> None:
        files = [await open_cog(cog_dir) for _ in range(3)]
        fail_ranges(3, store_error)
        await trio_geotiff.read_many(files, Window(0, 0, 256, 256))

    assert type(raised(backend, main)) is StoreError


@pytest.mark.parametrize("backend", BACKENDS)
def test_opens_failing_together(
    backend: str, cog_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def install(n: int, make_error: Callable[[int, str], BaseException]) -> FailTogether:
        fake = FailTogether(n, make_error)

        async def fetch_head(_store_obj: Any, path: str, _length: int) -> tuple[bytes, int]:
            await fake.wait_and_fail(path)
            raise AssertionError("unreachable")

        monkeypatch.setattr(_store, "fetch_head", fetch_head)
        return fake

    store = LocalStore(str(cog_dir))

    async def many() -> None:
        install(5, store_error)
        await trio_geotiff.open_many(["cog.tif"] * 5, store=store)

    async def many_interrupted() -> None:
        install(5, interrupt_last(5))
        await trio_geotiff.open_many(["cog.tif"] * 5, store=store)

    async def with_sidecars() -> None:
        # The main object, .ovr, .msk and .aux.xml are requested together; a
        # sidecar that fails is ignored with a warning, as GDAL does.
        install(4, store_error)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            await GeoTIFF.open("cog.tif", store=store, sidecars=True)

    assert type(raised(backend, many)) is StoreError
    assert type(raised(backend, many_interrupted)) is KeyboardInterrupt
    error = raised(backend, with_sidecars)
    assert type(error) is StoreError
    assert error.path == "cog.tif"


@pytest.fixture(scope="module")
def masked_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import rasterio
    from affine import Affine

    root = tmp_path_factory.mktemp("masked")
    profile = {
        "driver": "GTiff",
        "width": 512,
        "height": 512,
        "count": 1,
        "dtype": "uint8",
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "crs": "EPSG:3857",
        "transform": Affine(10, 0, 1000, 0, -10, 5000),
    }
    with (
        rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True),
        rasterio.open(root / "m.tif", "w", **profile) as ds,
    ):
        ds.write(np.full((1, 512, 512), 7, dtype=np.uint8))
        ds.write_mask(np.full((512, 512), 255, dtype=np.uint8))
    return root


@pytest.mark.parametrize("backend", BACKENDS)
def test_pixels_and_mask_failing_together(
    backend: str, masked_dir: Path, fail_ranges: Callable[..., FailTogether]
) -> None:
    async def main() -> None:
        tif = await GeoTIFF.open("m.tif", store=LocalStore(str(masked_dir)), cache_bytes=0)
        assert tif.mask_kind == "mask"
        fail_ranges(2, store_error)  # one request for the pixels, one for the mask
        await tif.read(window=Window(0, 0, 256, 256))

    assert type(raised(backend, main)) is StoreError


def test_one_error_rules() -> None:
    import trio

    store = StoreError("p", "x")
    corrupt = CorruptFileError("p", "y")
    interrupt = KeyboardInterrupt()
    nested = BaseExceptionGroup("outer", [ExceptionGroup("inner", [store, corrupt]), interrupt])
    assert _nursery.one_error(nested) is interrupt
    assert _nursery.one_error(ExceptionGroup("g", [store, corrupt])) is store
    bug = TypeError("a bug")
    assert _nursery.one_error(ExceptionGroup("g", [bug, store])) is bug
    cancelled = trio.Cancelled._create()  # type: ignore[attr-defined]
    assert _nursery.one_error(BaseExceptionGroup("g", [cancelled, corrupt])) is corrupt
    assert _nursery.one_error(BaseExceptionGroup("g", [cancelled])) is cancelled
