"""The behaviour suite, once, in every async world: trio, plain asyncio, anyio on asyncio.

Each test is a plain function that runs its scenario with `run_in` in the
world given by the ``world`` parameter, against the real loopback servers
(tests/servers/). What is checked: reads equal the local file (and GDAL),
cancellation reaches the network (the server sees every request aborted and
none started afterwards) whichever way the task is cancelled, the limiter
bounds the requests in flight at the server (headers and sidecars included),
store failures surface as our errors, the wrong limiter kind or event loop is
an `EventLoopError`, and nothing (task, thread, portal coroutine) outlives a
call. Assertions are on state (server counters, task and thread lists), never
on elapsed time.

pytest-trio's ``trio_mode`` owns ``async def`` tests; these are sync tests that
start their own event loop, so both plugins stay out of each other's way.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import numpy as np
import pytest
import trio
from obstore.store import HTTPStore, LocalStore

import trio_geotiff
from conftest import library_tasks
from servers import HTTPServerHandle, HTTPStats, serve_http, serve_s3
from trio_geotiff import GeoTIFF, Window, _portal, open_many, read_many
from trio_geotiff.errors import (
    CorruptFileError,
    EventLoopError,
    ObjectNotFoundError,
    StoreError,
)

pytestmark = pytest.mark.network

T = TypeVar("T")

NO_RETRY = {"max_retries": 0, "retry_timeout": timedelta(seconds=5)}
WORLDS = ["trio", "asyncio", "anyio-asyncio"]
PACKAGE_DIR = str(Path(trio_geotiff.__file__).parent)


def run_in(world: str, fn: Callable[[], Awaitable[T]]) -> T:
    """Run ``fn()`` in ``world``, then check that nothing it started is left."""

    async def main() -> T:
        result = await fn()
        await assert_nothing_left()
        return result

    if world == "asyncio":
        return asyncio.run(main())
    return anyio.run(main, backend="trio" if world == "trio" else "asyncio")


async def assert_nothing_left() -> None:
    """No library task, no thread running library code, no portal coroutine."""
    if trio.lowlevel.in_trio_run():
        assert not library_tasks(), library_tasks()
    else:
        others = asyncio.all_tasks() - {asyncio.current_task()}
        assert not others, others
    assert _portal.portal_tasks_running() == 0
    assert not threads_in_library()


def threads_in_library() -> list[str]:
    """Names of threads (other than this one and the portal's loop) inside trio_geotiff code."""
    names = {t.ident: t.name for t in threading.enumerate()}
    busy = []
    for ident, frame in sys._current_frames().items():
        if ident == threading.get_ident() or names.get(ident) == "trio_geotiff-asyncio-portal":
            continue
        f: Any = frame
        while f is not None:
            if f.f_code.co_filename.startswith(PACKAGE_DIR):
                busy.append(names.get(ident, str(ident)))
                break
            f = f.f_back
    return busy


async def wait_server(http: HTTPServerHandle, predicate: Callable[[HTTPStats], bool]) -> HTTPStats:
    """Wait (in a worker thread: the server is real) until the server's counters satisfy ``predicate``."""
    return await anyio.to_thread.run_sync(lambda: http.wait_for(predicate, 10.0))


async def settled_reset(http: HTTPServerHandle) -> None:
    """Zero the counters once the server has finished counting what came before."""
    await wait_server(http, lambda s: s.in_flight == 0)
    http.reset()


@pytest.fixture(params=WORLDS)
def world(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def http(cog_dir: Path) -> Iterator[HTTPServerHandle]:
    with serve_http(cog_dir) as handle:
        yield handle


def http_store(handle: HTTPServerHandle) -> HTTPStore:
    return HTTPStore.from_url(
        handle.url,
        retry_config=NO_RETRY,
        client_options={"allow_http": True, "timeout": timedelta(seconds=30)},
    )


# --------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------


def test_reads_equal_local_and_gdal(world: str, http: HTTPServerHandle, cog_dir: Path) -> None:
    import rasterio
    from rasterio.windows import Window as RioWindow

    window = Window(100, 300, 700, 500)

    async def scenario() -> tuple[Any, ...]:
        remote = await GeoTIFF.open("cog.tif", store=http_store(http))
        local = await GeoTIFF.open("cog.tif", store=LocalStore(str(cog_dir)))
        return (
            (await remote.read(window=window)).data,
            (await local.read(window=window)).data,
            (await remote.overviews[-1].read()).data,
            (await local.overviews[-1].read()).data,
            [a.data for a in await remote.fetch_tiles([(0, 0), (3, 2)])],
            (await remote.fetch_tile(3, 2)).data,
        )

    remote, local, remote_ov, local_ov, tiles, tile = run_in(world, scenario)
    with rasterio.open(cog_dir / "cog.tif") as ds:
        gdal = ds.read(window=RioWindow(100, 300, 700, 500))
    assert np.array_equal(remote, gdal)
    assert np.array_equal(local, gdal)
    assert np.array_equal(remote_ov, local_ov)
    assert np.array_equal(tiles[1], tile)
    assert tiles[0].shape == (3, 256, 256)


def test_tile_stream_and_read_many(world: str, http: HTTPServerHandle) -> None:
    async def scenario() -> tuple[list[Any], list[Any], list[Any]]:
        tif = await GeoTIFF.open("cog.tif", store=http_store(http))
        order = [(x, y) for y in range(2) for x in range(3)]
        streamed = []
        async with tif.open_tile_stream(order, batch=2) as tiles:
            async for xy, arr in tiles:
                streamed.append((xy, arr.data))
        direct = [(xy, (await tif.fetch_tile(*xy)).data) for xy in order]
        files = await open_many(["cog.tif", "cog.tif"], store=http_store(http))
        many = [a.data for a in await read_many(files, Window(0, 0, 300, 300))]
        return streamed, direct, many

    streamed, direct, many = run_in(world, scenario)
    assert [xy for xy, _ in streamed] == [xy for xy, _ in direct]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(streamed, direct, strict=True))
    assert np.array_equal(many[0], many[1])


def test_leaving_a_tile_stream_early_cancels_its_reads(world: str, http: HTTPServerHandle) -> None:
    async def scenario() -> HTTPStats:
        tif = await GeoTIFF.open("cog.tif", store=http_store(http), coalesce_gap=0)
        received = 0
        async with tif.open_tile_stream(batch=4) as tiles:
            async for _ in tiles:
                received += 1
                if received == 3:
                    # Taking the batch's last tile starts the next batch: it crawls.
                    http.faults.set(throttle_bps=20_000)
                if received == 4:
                    await wait_server(http, lambda s: s.in_flight >= 1)
                    break
        return await wait_server(http, lambda s: s.in_flight == 0)

    after = run_in(world, scenario)
    assert after.aborted >= 1


def test_decodes_never_run_on_the_event_loop_thread(
    world: str, http: HTTPServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trio_geotiff import _read

    decoded_on: list[int] = []
    real = _read.decode

    def spy(*args: Any, **kwargs: Any) -> Any:
        decoded_on.append(threading.get_ident())  # which thread decodes (the real decoder runs)
        return real(*args, **kwargs)

    monkeypatch.setattr(_read, "decode", spy)

    async def scenario() -> int:
        tif = await GeoTIFF.open("cog.tif", store=http_store(http), cache_bytes=0)
        await tif.read(window=Window(0, 0, 1024, 768))
        return threading.get_ident()

    loop_thread = run_in(world, scenario)
    assert len(decoded_on) == 12  # 4x3 pixel-interleaved tiles
    assert loop_thread not in decoded_on


def test_cache_serves_repeated_windows(world: str, http: HTTPServerHandle) -> None:
    async def scenario() -> tuple[int, int]:
        tif = await GeoTIFF.open("cog.tif", store=http_store(http))
        await tif.read(window=Window(200, 200, 300, 300))
        http.reset()
        await tif.read(window=Window(200, 200, 300, 300))
        return http.stats().requests_total, tif.statistics().cache_hits

    assert run_in(world, scenario) == (0, 4)


def test_reads_from_s3(world: str, cog_dir: Path) -> None:
    with serve_s3() as s3:
        s3.upload("scenes/cog.tif", cog_dir / "cog.tif")

        async def scenario() -> tuple[Any, Any]:
            tif = await GeoTIFF.open("scenes/cog.tif", store=s3.store())
            local = await GeoTIFF.open("cog.tif", store=LocalStore(str(cog_dir)))
            with pytest.raises(ObjectNotFoundError, match="missing.tif"):
                await GeoTIFF.open("scenes/missing.tif", store=s3.store())
            return (await tif.overviews[-1].read()).data, (await local.overviews[-1].read()).data

        remote, local = run_in(world, scenario)
    assert np.array_equal(remote, local)


# --------------------------------------------------------------------------
# Cancellation reaches the network
# --------------------------------------------------------------------------

# Each style cancels a read once its requests are streaming; returns what the
# read raised and the server counters at the moment the read returned.
CancelResult = tuple[BaseException | None, int, HTTPStats]


def _streaming(http: HTTPServerHandle) -> Callable[[], Awaitable[HTTPStats]]:
    return lambda: wait_server(http, lambda s: s.in_flight >= 2)


async def _cancel_with_task_cancel(http: HTTPServerHandle, tif: GeoTIFF) -> CancelResult:
    task = asyncio.ensure_future(tif.read())
    streaming = await _streaming(http)()
    task.cancel()
    raised: BaseException | None = None
    try:
        await task
    except asyncio.CancelledError as exc:
        raised = exc
    return raised, streaming.in_flight, http.stats()


async def _cancel_with_asyncio_timeout(http: HTTPServerHandle, tif: GeoTIFF) -> CancelResult:
    raised: BaseException | None = None
    loop = asyncio.get_running_loop()
    async with anyio.create_task_group() as group:
        try:
            async with asyncio.timeout(None) as timeout:

                async def expire() -> None:
                    seen.append((await _streaming(http)()).in_flight)
                    timeout.reschedule(loop.time())  # the deadline passes now

                seen: list[int] = []
                group.start_soon(expire)
                await tif.read()
        except TimeoutError as exc:
            raised = exc
        snap = http.stats()
    return raised, seen[0], snap


async def _cancel_with_fail_after(http: HTTPServerHandle, tif: GeoTIFF) -> CancelResult:
    raised: BaseException | None = None
    seen: list[int] = []
    async with anyio.create_task_group() as group:
        try:
            with anyio.fail_after(3600) as scope:

                async def expire() -> None:
                    seen.append((await _streaming(http)()).in_flight)
                    scope.deadline = anyio.current_time()  # the deadline passes now

                group.start_soon(expire)
                await tif.read()
        except TimeoutError as exc:
            raised = exc
        snap = http.stats()
    return raised, seen[0], snap


async def _cancel_with_cancel_scope(http: HTTPServerHandle, tif: GeoTIFF) -> CancelResult:
    seen: list[int] = []
    async with anyio.create_task_group() as group:
        with anyio.CancelScope() as scope:

            async def cancel() -> None:
                seen.append((await _streaming(http)()).in_flight)
                scope.cancel()

            group.start_soon(cancel)
            await tif.read()
        snap = http.stats()
    return (None if scope.cancelled_caught else AssertionError("read finished")), seen[0], snap


CANCEL_STYLES: dict[str, Callable[[HTTPServerHandle, GeoTIFF], Awaitable[CancelResult]]] = {
    "task.cancel": _cancel_with_task_cancel,
    "asyncio.timeout": _cancel_with_asyncio_timeout,
    "anyio.fail_after": _cancel_with_fail_after,
    "anyio.CancelScope": _cancel_with_cancel_scope,
}
CANCEL_CASES = [
    ("trio", "anyio.fail_after"),
    ("trio", "anyio.CancelScope"),
    ("asyncio", "task.cancel"),
    ("asyncio", "asyncio.timeout"),
    ("asyncio", "anyio.fail_after"),
    ("anyio-asyncio", "anyio.fail_after"),
    ("anyio-asyncio", "anyio.CancelScope"),
    ("anyio-asyncio", "task.cancel"),
]


@pytest.mark.parametrize(("cancel_world", "style"), CANCEL_CASES)
def test_a_cancelled_read_aborts_its_requests(
    cancel_world: str, style: str, http: HTTPServerHandle
) -> None:
    async def scenario() -> tuple[CancelResult, HTTPStats, HTTPStats]:
        tif = await GeoTIFF.open("cog.tif", store=http_store(http), coalesce_gap=0)
        await settled_reset(http)
        http.faults.set(throttle_bps=20_000)  # each tile's body takes seconds
        result = await CANCEL_STYLES[style](http, tif)
        after = await wait_server(http, lambda s: s.in_flight == 0)
        await anyio.sleep(0.2)  # room for a request that should not start
        return result, after, http.stats()

    (raised, in_flight, at_return), after, later = run_in(cancel_world, scenario)
    if style in ("task.cancel", "asyncio.timeout", "anyio.fail_after"):
        assert raised is not None, "the read was not cancelled"
    else:
        assert raised is None
    # When the read returned, no request of it had been answered in full: the
    # call abandoned its requests rather than waiting them out.
    assert at_return.completed == 0
    # The server saw every request aborted, and none started after the cancel.
    assert after.aborted == after.requests_total >= in_flight >= 2
    assert later.requests_total == after.requests_total
    assert later.completed == 0


def test_a_cancelled_open_many_aborts_every_open(world: str, http: HTTPServerHandle) -> None:
    async def scenario() -> HTTPStats:
        http.faults.set(throttle_bps=2_000)  # the 32 KiB headers crawl
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:

                async def cancel() -> None:
                    await wait_server(http, lambda s: s.in_flight >= 3)
                    scope.cancel()

                group.start_soon(cancel)
                await open_many(["cog.tif"] * 3, store=http_store(http))
        assert scope.cancelled_caught
        return await wait_server(http, lambda s: s.in_flight == 0)

    after = run_in(world, scenario)
    assert after.aborted == after.requests_total == 3


# --------------------------------------------------------------------------
# Limits, checked at the server
# --------------------------------------------------------------------------


def test_limiter_bounds_requests_in_flight(world: str, http: HTTPServerHandle) -> None:
    async def scenario() -> tuple[HTTPStats, float]:
        limiter = anyio.CapacityLimiter(2)
        tif = await GeoTIFF.open("cog.tif", store=http_store(http), limiter=limiter, coalesce_gap=0)
        http.reset()
        http.faults.set(latency=0.02)
        await tif.read(window=Window(0, 0, 1024, 1024))
        return http.stats(), limiter.borrowed_tokens

    stats, borrowed = run_in(world, scenario)
    assert stats.requests_total == 16  # no coalescing: one request per tile
    assert stats.max_waiting == 2  # the limit was reached, never passed
    assert borrowed == 0


def test_one_limiter_bounds_many_files_and_their_sidecars(
    world: str, http: HTTPServerHandle
) -> None:
    async def scenario() -> tuple[HTTPStats, HTTPStats, HTTPStats]:
        http.faults.set(latency=0.03)  # every request, 404s included, takes a while
        limiter = anyio.CapacityLimiter(2)
        files = await open_many(
            ["cog.tif"] * 4, store=http_store(http), limiter=limiter, sidecars=True
        )
        opened = http.stats()
        http.reset()
        http.faults.set(latency=0.03)
        await GeoTIFF.open(
            "cog.tif", store=http_store(http), sidecars=True, limiter=anyio.CapacityLimiter(1)
        )
        single = http.stats()
        http.reset()
        http.faults.set(latency=0.01)
        await read_many(files, Window(0, 0, 512, 512))
        assert limiter.borrowed_tokens == 0
        return opened, single, http.stats()

    opened, single, read = run_in(world, scenario)
    # Each open: the header, .ovr, .msk and .aux.xml, all under the limiter.
    assert opened.requests_total == 16
    assert opened.max_waiting == 2
    assert single.requests_total == 4
    assert single.max_waiting == 1
    assert read.max_waiting == 2


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


def test_store_failures_are_our_errors(world: str, http: HTTPServerHandle) -> None:
    async def scenario() -> list[BaseException]:
        caught: list[BaseException] = []
        store = http_store(http)
        for call in (
            lambda: GeoTIFF.open("nope.tif", store=store),
            lambda: open_many(["cog.tif", "nope.tif"], store=store),
        ):
            try:
                await call()
            except Exception as exc:
                caught.append(exc)
        tif = await GeoTIFF.open("cog.tif", store=store)
        for fault in ({"status": 500}, {"truncate_to": 100}):
            http.faults.set(**fault)  # type: ignore[arg-type]
            try:
                await tif.read(window=Window(0, 0, 256, 256))
            except Exception as exc:
                caught.append(exc)
            http.faults.clear()
        return caught

    not_found, many_not_found, server_error, truncated = run_in(world, scenario)
    assert isinstance(not_found, ObjectNotFoundError)
    assert "nope.tif" in str(not_found)
    assert isinstance(many_not_found, ObjectNotFoundError)
    assert isinstance(server_error, StoreError)
    assert "cog.tif" in str(server_error)
    assert isinstance(truncated, (StoreError, CorruptFileError))


def test_limiter_of_the_wrong_kind_is_event_loop_error(world: str, cog_dir: Path) -> None:
    async def scenario() -> list[BaseException]:
        store = LocalStore(str(cog_dir))
        wrong: list[object] = [asyncio.Semaphore(2), 3]
        if world != "trio":
            wrong.append(trio.CapacityLimiter(2))
        caught = []
        for limiter in wrong:
            for call in (
                lambda lim=limiter: GeoTIFF.open("cog.tif", store=store, limiter=lim),
                lambda lim=limiter: open_many(["cog.tif"], store=store, limiter=lim),
            ):
                with pytest.raises(EventLoopError, match=r"anyio\.CapacityLimiter") as info:
                    await call()
                caught.append(info.value)
        return caught

    caught = run_in(world, scenario)
    assert len(caught) == (4 if world == "trio" else 6)


def test_trio_limiter_is_accepted_under_trio(cog_dir: Path) -> None:
    async def scenario() -> float:
        limiter = trio.CapacityLimiter(2)
        tif = await GeoTIFF.open("cog.tif", store=LocalStore(str(cog_dir)), limiter=limiter)
        await tif.read(window=Window(0, 0, 512, 512))
        return limiter.borrowed_tokens

    assert run_in("trio", scenario) == 0


@pytest.mark.parametrize("second", WORLDS)
def test_a_file_belongs_to_its_event_loop(world: str, second: str, cog_dir: Path) -> None:
    async def open_it() -> GeoTIFF:
        return await GeoTIFF.open("cog.tif", store=LocalStore(str(cog_dir)))

    tif = run_in(world, open_it)

    async def use_it() -> list[BaseException]:
        caught = []
        for call in (
            lambda: tif.read(window=Window(0, 0, 10, 10)),
            lambda: tif.fetch_tiles([(0, 0)]),
            tif.overviews[0].read,
            lambda: read_many([tif], Window(0, 0, 10, 10)),
        ):
            with pytest.raises(EventLoopError, match="another event loop"):
                await call()
            caught.append(call)
        return caught

    assert len(run_in(second, use_it)) == 4


def test_a_file_cannot_be_used_from_another_thread(world: str, cog_dir: Path) -> None:
    async def open_it() -> GeoTIFF:
        return await GeoTIFF.open("cog.tif", store=LocalStore(str(cog_dir)))

    async def scenario() -> BaseException:
        tif = await open_it()
        # Another thread, another loop: the call must refuse, not hang.
        return await anyio.to_thread.run_sync(lambda: _in_other_loop(tif))

    error = run_in(world, scenario)
    assert isinstance(error, EventLoopError)


def _in_other_loop(tif: GeoTIFF) -> BaseException:
    async def use() -> None:
        await tif.read(window=Window(0, 0, 10, 10))

    try:
        asyncio.run(use())
    except BaseException as exc:  # returned to the test
        return exc
    raise AssertionError("the read was allowed from another thread's loop")


# --------------------------------------------------------------------------
# A Jupyter-like running loop
# --------------------------------------------------------------------------

JUPYTER_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    cells = [
        "from obstore.store import LocalStore\\nfrom trio_geotiff import GeoTIFF, Window",
        f"tif = await GeoTIFF.open('cog.tif', store=LocalStore({sys.argv[1]!r}))",
        "arr = await tif.read(window=Window(0, 0, 256, 256))",
        "import anyio\\nwith anyio.fail_after(30):\\n    ov = await tif.overviews[-1].read()",
        "print('RESULT', int(arr.data.astype('int64').sum()), ov.data.shape)",
    ]

    async def kernel():
        # As ipykernel does: each cell runs in the kernel's one running loop.
        for cell in cells:
            result = await shell.run_cell_async(cell, transformed_cell=shell.transform_cell(cell))
            result.raise_error()

    asyncio.run(kernel())
    """
)


def test_top_level_await_in_an_ipython_kernel_loop(cog_dir: Path) -> None:
    pytest.importorskip("IPython")
    import rasterio

    proc = subprocess.run(
        [sys.executable, "-c", JUPYTER_SCRIPT, str(cog_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT"))
    with rasterio.open(cog_dir / "cog.tif") as ds:
        expected = int(ds.read(window=((0, 256), (0, 256))).astype("int64").sum())
    assert line.split(maxsplit=2)[1:] == [str(expected), "(3, 256, 256)"]
