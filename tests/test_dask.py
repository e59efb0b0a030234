"""open_stack on dask's schedulers, with real servers and a real LocalCluster.

A stack of 16 COGs (512x512, 128-px tiles, made by examples/make_stack.py)
read by the threaded and processes schedulers and by a `LocalCluster` of 2
worker processes, from the loopback HTTP server and from moto's S3: the result
equals rasterio's, the server's counters show no header fetched by a worker
and no tile fetched twice by one worker, and a cancelled computation leaves
no request in flight and nothing running.
"""

from __future__ import annotations

import _thread
import collections
import pickle
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

xr = pytest.importorskip("xarray")
distributed = pytest.importorskip("distributed")

from obstore.store import HTTPStore  # noqa: E402

from servers import HTTPServerHandle, S3Handle, serve_http, serve_s3  # noqa: E402
from trio_geotiff import _blocking  # noqa: E402
from trio_geotiff.errors import InvalidArgumentError  # noqa: E402
from trio_geotiff.xarray import open_stack  # noqa: E402

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parents[1]
N_FILES = 16


@pytest.fixture(scope="module")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stack")
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "make_stack.py"),
            str(out),
            "--dates",
            str(N_FILES),
            "--size",
            "512",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


@pytest.fixture(scope="module")
def names(stack_dir: Path) -> list[str]:
    found = sorted(p.name for p in stack_dir.glob("*.tif"))
    assert len(found) == N_FILES
    return found


@pytest.fixture(scope="module")
def expected(stack_dir: Path, names: list[str]) -> np.ndarray:
    import rasterio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arrays = []
        for name in names:
            with rasterio.open(stack_dir / name) as ds:
                arrays.append(ds.read())
    return np.stack(arrays)


@pytest.fixture(scope="module")
def http(stack_dir: Path) -> Iterator[HTTPServerHandle]:
    with serve_http(stack_dir) as handle:
        yield handle


def http_store(handle: HTTPServerHandle) -> HTTPStore:
    return HTTPStore.from_url(
        handle.url,
        retry_config={"max_retries": 0, "retry_timeout": timedelta(seconds=10)},
        client_options={"allow_http": True, "timeout": timedelta(seconds=30)},
    )


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=40,
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


def test_threaded_scheduler(stack_dir: Path, names: list[str], expected: np.ndarray) -> None:
    stack = open_stack([str(stack_dir / n) for n in names])
    assert stack.dims == ("time", "band", "y", "x")
    assert stack.shape == expected.shape
    # Default chunks: one file per chunk, whole tiles.
    assert stack.chunks[0] == (1,) * N_FILES
    assert all(c % 128 == 0 for c in stack.chunks[2][:-1])
    np.testing.assert_array_equal(stack.compute(scheduler="threads").values, expected)
    median = open_stack(
        [str(stack_dir / n) for n in names], chunks={"time": -1, "y": 256, "x": -1}
    ).median("time")
    np.testing.assert_array_equal(median.values, np.median(expected, axis=0))


def test_processes_scheduler(stack_dir: Path, names: list[str], expected: np.ndarray) -> None:
    stack = open_stack([str(stack_dir / n) for n in names], chunks={"y": 256, "x": 256})
    got = stack.isel(time=slice(0, 4)).compute(scheduler="processes", num_workers=2)
    np.testing.assert_array_equal(got.values, expected[:4])


def test_graph_is_linear_in_chunks(stack_dir: Path, names: list[str]) -> None:
    stack = open_stack([str(stack_dir / n) for n in names], chunks={"y": 128, "x": 128})
    graph = dict(stack.data.__dask_graph__())
    chunks = int(np.prod([len(c) for c in stack.chunks]))
    assert len(graph) == chunks + N_FILES  # one task per chunk, one handle per file
    # Everything the graph carries pickles; a handle is its header plus a few names.
    for key, value in graph.items():
        blob = pickle.dumps(value)
        assert len(blob) < 64 * 1024, key
        pickle.loads(blob)


def test_a_file_off_the_grid_is_named(stack_dir: Path, names: list[str], tmp_path: Path) -> None:
    import rasterio

    odd = tmp_path / "odd.tif"
    with rasterio.open(stack_dir / names[0]) as src:
        profile = src.profile | {"width": 256, "height": 256}
        with rasterio.open(odd, "w", **profile) as dst:
            dst.write(src.read(window=((0, 256), (0, 256))))
    paths = [str(stack_dir / names[0]), str(stack_dir / names[1]), str(odd)]
    with pytest.raises(InvalidArgumentError, match="odd.tif: size"):
        open_stack(paths)


def test_open_mfdataset_works(stack_dir: Path, names: list[str], expected: np.ndarray) -> None:
    ds = xr.open_mfdataset(
        [str(stack_dir / n) for n in names[:4]],
        engine="trio_geotiff",
        combine="nested",
        concat_dim="time",
        mask_and_scale=False,
    )
    np.testing.assert_array_equal(ds.band_data.values, expected[:4])


def _ranges_by_path(stats: Any) -> collections.Counter[tuple[str, str | None]]:
    return collections.Counter((r.path, r.range) for r in stats.requests if r.method == "GET")


def test_local_cluster_over_http(
    client: Any, http: HTTPServerHandle, names: list[str], expected: np.ndarray
) -> None:
    http.reset()
    stack = open_stack(names, store=http_store(http), chunks={"y": 256, "x": 256})
    opened = http.stats()
    assert opened.requests_total == N_FILES  # one header request per file, by the client
    http.reset()
    got = client.compute(stack).result()
    np.testing.assert_array_equal(got.values, expected)
    stats = http.stats()
    header_range = {r.range for r in opened.requests}
    counts = _ranges_by_path(stats)
    # No worker fetched a header; no byte range was fetched twice.
    assert not any(rng in header_range for _, rng in counts)
    assert max(counts.values()) == 1
    # 4 chunks per file, each 2 rows of 2 tiles: at most one request per tile row.
    assert stats.requests_total <= N_FILES * 4 * 2
    # Each worker made its own HTTP client once and reused it.
    assert client.run(_blocking.in_flight) == dict.fromkeys(client.scheduler_info()["workers"], 0)


def test_local_cluster_over_s3(
    client: Any, stack_dir: Path, names: list[str], expected: np.ndarray
) -> None:
    s3: S3Handle
    with serve_s3() as s3:
        for name in names:
            s3.upload(f"stack/{name}", stack_dir / name)
        stack = open_stack(
            [f"stack/{n}" for n in names], store=s3.store(), chunks={"time": 4, "y": 512}
        )
        got = client.compute(stack.mean("time")).result()
    np.testing.assert_allclose(got.values, expected.mean(axis=0))


def test_client_cancel_leaves_nothing_in_flight(
    client: Any, http: HTTPServerHandle, names: list[str]
) -> None:
    stack = open_stack(names, store=http_store(http), chunks={"y": 128, "x": 128})
    http.reset()
    http.faults.set(throttle_bps=50_000)  # every tile takes seconds to arrive
    future = client.compute(stack.sum())
    http.wait_for(lambda s: s.in_flight >= 2, timeout=30)
    client.cancel(future)
    http.wait_for(lambda s: s.in_flight == 0, timeout=30)
    workers = client.scheduler_info()["workers"]
    # The workers' reads were cancelled, not left to finish.
    done = client.run(_blocking.in_flight)
    assert done == dict.fromkeys(workers, 0)
    assert http.stats().aborted >= 1
    http.reset()


def test_keyboard_interrupt_on_threaded_scheduler(http: HTTPServerHandle, names: list[str]) -> None:
    stack = open_stack(names, store=http_store(http), chunks={"y": 128, "x": 128})
    http.reset()
    http.faults.set(throttle_bps=50_000)

    def interrupt_when_reading() -> None:
        http.wait_for(lambda s: s.in_flight >= 2, timeout=30)
        _thread.interrupt_main()

    threading.Thread(target=interrupt_when_reading, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        stack.sum().compute(scheduler="threads", num_workers=4)
    http.wait_for(lambda s: s.in_flight == 0, timeout=30)
    assert _blocking.in_flight() == 0
    assert http.stats().aborted >= 1
    http.reset()


def test_open_stack_fetches_headers_concurrently_within_the_process_limiter(
    http: HTTPServerHandle, names: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fresh process state with a limiter of 4 (as TRIO_GEOTIFF_CONCURRENCY=4 would give).
    state = _blocking._ProcessState()
    state.concurrency = 4
    monkeypatch.setattr(_blocking, "_state", state)
    http.reset()
    http.faults.set(latency=0.05)  # every request waits: the opens overlap
    open_stack(names, store=http_store(http))
    stats = http.stats()
    http.reset()
    assert stats.requests_total == N_FILES
    assert 2 <= stats.max_waiting <= 4


def test_engine_opens_a_url_and_reads_it_on_the_cluster(
    client: Any, http: HTTPServerHandle, names: list[str], expected: np.ndarray
) -> None:
    http.reset()
    da = xr.open_dataarray(
        http.url + names[3], engine="trio_geotiff", mask_and_scale=False, chunks={}
    )
    assert http.stats().requests_total == 1  # the header, once
    assert da.chunks is not None
    assert da.chunks[1][0] == 128  # chunks follow the tiles
    np.testing.assert_array_equal(client.compute(da).result().values, expected[3])
    http.reset()


# Python 3.12+ warns that forking a multi-threaded process may deadlock: the point here.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_forked_workers_fail_with_one_clear_error(stack_dir: Path, names: list[str]) -> None:
    import dask

    from trio_geotiff.errors import StoreError

    stack = open_stack([str(stack_dir / n) for n in names[:2]], chunks={"y": 256, "x": 256})
    # This process has made requests: obstore's runtime does not survive fork.
    with (
        dask.config.set({"multiprocessing.context": "fork"}),
        pytest.raises(StoreError, match="spawn"),
    ):
        stack.compute(scheduler="processes", num_workers=2)
