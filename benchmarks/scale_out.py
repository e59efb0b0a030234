"""W8/W9: a stack of COGs on a dask LocalCluster, and opening many headers.

W8: 16 COGs of 2048x2048 RGB (512-px tiles, DEFLATE), mean and median over
time, on a `LocalCluster` of 2 worker processes x 1 thread, local and over
benchmarks/http_server.py (20 ms per request). Contenders, in one run:

* ``open_stack``: trio_geotiff.xarray.open_stack, chunks spanning time
  (``{"time": -1, "y": 1024, "x": -1}``), for the mean and the median;
* ``rioxarray``: ``rioxarray.open_rasterio(chunks=512, lock=False)`` + ``xr.concat``;
* ``per-file``: one ``dask.delayed`` per file running ``trio.run(read)``
  (what a trio_geotiff user could write before the xarray package).

Reductions: ``mean`` and ``median`` over time returned to the client, and
``mean-sum`` (the mean summed to a scalar on the workers: reading and
reducing without the 100 MB result transfer).

W9: open N headers over the 20 ms server: ``open_stack`` (concurrent),
``xr.open_mfdataset(engine="trio_geotiff")`` and rioxarray (one by one).

Usage: python benchmarks/scale_out.py [--reps 3] [--headers 1000] [--slow-headers 100]
       [--ops mean,median,mean-sum] [--only-w8]
Prints a JSON summary and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data" / "scale_out"
N_FILES = 16
SIZE = 2048
TILE = 512
LOADS: list[float] = []
"""1-minute load average before each W8 measurement (the machine is shared)."""


def make_data() -> list[Path]:
    import rasterio
    import rasterio.shutil
    from affine import Affine
    from rasterio.io import MemoryFile

    DATA.mkdir(parents=True, exist_ok=True)
    paths = [DATA / f"t{i:02d}.tif" for i in range(N_FILES)]
    rng = np.random.default_rng(8)
    for i, path in enumerate(paths):
        if path.exists():
            continue
        base = rng.integers(0, 255, (3, SIZE // 32, SIZE // 32), dtype=np.uint8)
        data = np.kron(base, np.ones((32, 32), dtype=np.uint8))
        data += rng.integers(0, 24, data.shape, dtype=np.uint8)
        profile = {
            "driver": "GTiff",
            "width": SIZE,
            "height": SIZE,
            "count": 3,
            "dtype": "uint8",
            "crs": "EPSG:32631",
            "transform": Affine(10, 0, 500000 + 0 * i, 0, -10, 4000000),
        }
        with MemoryFile() as mem:
            with mem.open(**profile) as ds:
                ds.write(data)
            with mem.open() as src:
                rasterio.shutil.copy(
                    src,
                    path,
                    driver="COG",
                    BLOCKSIZE=TILE,
                    COMPRESS="DEFLATE",
                    PREDICTOR=2,
                    OVERVIEWS="NONE",
                )
    heads = DATA / "headers"
    heads.mkdir(exist_ok=True)
    for i in range(1000):
        target = heads / f"h{i:04d}.tif"
        if not target.exists():
            # Hard links: 1,000 names, no extra disk (the headers are what counts).
            os.link(paths[i % N_FILES], target)
    return paths


# -- contenders -----------------------------------------------------------------


def stack_open_stack(urls: list[str], store: Any, _median: bool) -> Any:
    from trio_geotiff.xarray import open_stack

    # Chunks that span time (2 tile rows x the whole width): a reduction over
    # time is one pass per chunk, and each chunk is one request per file.
    return open_stack(urls, store=store, chunks={"time": -1, "y": 2 * TILE, "x": -1})


def stack_rioxarray(urls: list[str], _store: Any, median: bool) -> Any:
    import rioxarray
    import xarray as xr

    arrays = [rioxarray.open_rasterio(u, chunks=TILE, lock=False) for u in urls]
    stack = xr.concat(arrays, dim="time")
    return stack.chunk({"time": -1, "y": TILE, "x": -1}) if median else stack


def _read_one(path: str, url: str | None) -> np.ndarray:
    import trio
    from obstore.store import HTTPStore, LocalStore

    from trio_geotiff import GeoTIFF

    async def main() -> np.ndarray:
        if url is None:
            p = Path(path)
            store: Any = LocalStore(str(p.parent))
            name = p.name
        else:
            store = HTTPStore.from_url(url, client_options={"allow_http": True})
            name = path
        tif = await GeoTIFF.open(name, store=store)
        return (await tif.read()).data

    return trio.run(main)


def stack_per_file(urls: list[str], base: Any, median: bool) -> Any:
    import dask
    import dask.array as da
    import xarray as xr

    parts = [
        da.from_delayed(dask.delayed(_read_one)(u, base), (3, SIZE, SIZE), dtype=np.uint8)
        for u in urls
    ]
    stack = xr.DataArray(da.stack(parts), dims=("time", "band", "y", "x"))
    return stack.chunk({"time": -1, "y": TILE, "x": -1}) if median else stack


def run_w8(
    client: Any,
    paths: list[Path],
    http_url: str,
    counters: Any,
    reps: int,
    ops: list[str],
) -> list[dict[str, Any]]:

    contenders = [
        ("open_stack", stack_open_stack),
        ("rioxarray", stack_rioxarray),
        ("per-file", stack_per_file),
    ]
    rows = []
    for where in ("local", "http"):
        for op in ops:
            times: dict[str, list[float]] = {name: [] for name, _ in contenders}
            requests: dict[str, int] = {}
            for rep in range(reps):
                # The order rotates every rep: the machine is shared, and a
                # burst of load then hits every contender alike.
                for name, fn in contenders[rep % 3 :] + contenders[: rep % 3]:
                    elapsed, requests[name] = _w8_once(
                        client, fn, name, paths, http_url, counters, where=where, op=op
                    )
                    times[name].append(elapsed)
            for name, _ in contenders:
                rows.append(
                    {
                        "workload": f"W8 {op} {where}",
                        "contender": name,
                        "median_s": statistics.median(times[name]),
                        "times": times[name],
                        "requests": requests[name] if where == "http" else None,
                    }
                )
                print(rows[-1], flush=True)
    return rows


def _w8_once(
    client: Any,
    fn: Any,
    name: str,
    paths: list[Path],
    http_url: str,
    counters: Any,
    *,
    where: str,
    op: str,
) -> tuple[float, int]:
    from obstore.store import HTTPStore

    # Every measurement opens the files afresh, on the workers and here.
    client.run(_reset_worker_caches)
    _reset_worker_caches()
    names = [p.name for p in paths]
    if where == "local":
        urls, store = [str(p) for p in paths], None
    elif name == "open_stack":
        urls, store = names, HTTPStore.from_url(http_url, client_options={"allow_http": True})
    elif name == "rioxarray":
        urls, store = [http_url + n for n in names], None
    else:
        urls, store = names, http_url
    LOADS.append(os.getloadavg()[0])
    counters.reset()
    t0 = time.perf_counter()
    stack = fn(urls, store, op == "median")
    reduced = stack.median("time") if op == "median" else stack.mean("time")
    if op == "mean-sum":
        # Reduced to a scalar on the workers: no 100 MB result to the client.
        reduced = reduced.sum()
    client.compute(reduced).result()
    return time.perf_counter() - t0, counters.requests


def _reset_worker_caches() -> None:
    from trio_geotiff import _blocking

    _blocking.process_state().clear()


def run_w9(http_url: str, counters: Any, n: int, n_slow: int) -> list[dict[str, Any]]:
    import rioxarray
    import xarray as xr
    from obstore.store import HTTPStore

    from trio_geotiff import _blocking
    from trio_geotiff.xarray import open_stack

    names = [f"headers/h{i:04d}.tif" for i in range(n)]
    rows = []
    _blocking.process_state().clear()
    counters.reset()
    t0 = time.perf_counter()
    open_stack(names, store=HTTPStore.from_url(http_url, client_options={"allow_http": True}))
    rows.append(
        {
            "workload": f"W9 {n} headers",
            "contender": "open_stack",
            "median_s": time.perf_counter() - t0,
            "requests": counters.requests,
            "max_concurrency": counters.max_concurrency,
        }
    )
    print(rows[-1], flush=True)
    slow = names[:n_slow]
    _blocking.process_state().clear()
    counters.reset()
    t0 = time.perf_counter()
    xr.open_mfdataset(
        [http_url + s for s in slow], engine="trio_geotiff", combine="nested", concat_dim="time"
    )
    dt = time.perf_counter() - t0
    rows.append(
        {
            "workload": f"W9 {n_slow} headers",
            "contender": "open_mfdataset(trio_geotiff)",
            "median_s": dt,
            "per_1000_s": dt * 1000 / n_slow,
            "requests": counters.requests,
        }
    )
    print(rows[-1], flush=True)
    counters.reset()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for s in slow:
            rioxarray.open_rasterio(http_url + s, chunks=TILE, lock=False)
    dt = time.perf_counter() - t0
    rows.append(
        {
            "workload": f"W9 {n_slow} headers",
            "contender": "rioxarray",
            "median_s": dt,
            "per_1000_s": dt * 1000 / n_slow,
            "requests": counters.requests,
        }
    )
    print(rows[-1], flush=True)
    return rows


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_of_open_stack(paths: list[Path]) -> dict[str, Any]:
    """Peak RSS of fresh workers running only open_stack's W8 (mean, then median)."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(lambda: __import__("trio_geotiff.xarray"))
        idle = client.run(_rss_mb)
        for op in ("mean", "median"):
            stack = stack_open_stack([str(p) for p in paths], None, op == "median")
            reduced = stack.mean("time") if op == "mean" else stack.median("time")
            client.compute(reduced).result()
        return {"idle_after_imports": idle, "peak": client.run(_rss_mb)}


def decode_limit(paths: list[Path]) -> float:
    """Seconds to decode every tile of the stack on 2 cores (one thread's time / 2)."""
    import tifffile

    t0 = time.process_time()
    for p in paths:
        with tifffile.TiffFile(p) as tif:
            tif.pages[0].asarray(maxworkers=1)
    return (time.process_time() - t0) / 2


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--headers", type=int, default=1000)
    ap.add_argument("--slow-headers", type=int, default=100)
    ap.add_argument(
        "--ops",
        default="mean,median,mean-sum",
        help="W8 reductions: mean, median, mean-sum (the mean summed on the workers)",
    )
    ap.add_argument("--only-w8", action="store_true", help="skip W9 and the RSS measurement")
    args = ap.parse_args()
    import sys

    sys.path.insert(0, str(HERE))
    from distributed import Client, LocalCluster
    from http_server import serve

    # rasterio tuned as in benchmarks/run.py; the workers inherit the environment.
    os.environ.update(
        GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR",
        GDAL_HTTP_MERGE_CONSECUTIVE_RANGES="YES",
        GDAL_HTTP_MULTIPLEX="YES",
        VSI_CACHE="TRUE",
        CPL_VSIL_CURL_ALLOWED_EXTENSIONS=".tif",
    )
    paths = make_data()
    httpd, counters = serve(DATA, delay_ms=20.0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    http_url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    rows: list[dict[str, Any]] = []
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        ) as cluster,
        Client(cluster) as client,
    ):
        rows += run_w8(client, paths, http_url, counters, args.reps, args.ops.split(","))
        rss = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    rss_open_stack = None if args.only_w8 else rss_of_open_stack(paths)
    if not args.only_w8:
        rows += run_w9(http_url, counters, args.headers, args.slow_headers)
    limit = decode_limit(paths)
    summary = {
        "rows": rows,
        "decode_limit_s": limit,
        "worker_peak_rss_mb": rss,
        "open_stack_worker_rss_mb": rss_open_stack,
        "load_min_median_max": [min(LOADS), statistics.median(LOADS), max(LOADS)],
    }
    out = HERE / "results" / ("scale_out-w8.json" if args.only_w8 else "scale_out-latest.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(summary, indent=1))
    print(f"decode limit (2 cores): {limit:.2f} s; worker peak RSS MB (all contenders): {rss}")
    print(f"open_stack alone, worker RSS MB: {rss_open_stack}")
    print(f"load average (min, median, max): {summary['load_min_median_max']}")
    print("| workload | contender | median s | requests |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['workload']} | {r['contender']} | {r['median_s']:.2f} | {r.get('requests')} |")
    httpd.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
