"""Benchmark trio_geotiff against rasterio, async-geotiff, tifffile and "the limit".

One command reproduces everything (data generation included)::

    python benchmarks/run.py --all      # full suite: 5 passes, all workloads
    python benchmarks/run.py --quick    # smoke test: 1 pass, 5 workloads (< 3 min)

Each (workload, source, contender) measurement runs in a fresh Python
subprocess, so every process-level cache (GDAL block cache, VSI cache, open
handles, HTTP connections) starts cold; the OS page cache is *not* dropped, so
local reads are warm-disk reads. The order of contenders is rotated on every
pass, and the report uses medians over passes.

Sources: ``local`` (files in benchmarks/.data) and ``http`` (the same files
through benchmarks/http_server.py on 127.0.0.1 with 20 ms added per request).

Timing covers opening the file(s) and reading (imports and hashing excluded).
The JSON results go to benchmarks/results/ (``latest.json`` and a time-stamped
copy); ``python benchmarks/report.py`` turns them into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
RESULTS = HERE / "results"

W2_WINDOW = (1024, 1024, 4096, 4096)  # col_off, row_off, width, height: 8x8 = 64 tiles
W7_WINDOW = (512, 512, 1024, 1024)  # in each 2048x2048 small file: 3x3 = 9 tiles
N_W3 = 200
W3_SIZE = 256
W3_SEED = 12345
W3_CONCURRENCY = 16
N_SMALL = 16

WORKLOADS: dict[str, dict[str, Any]] = {
    "W1": {"kind": "open", "file": "rgb.tif", "desc": "open + metadata (rgb COG)"},
    "W2": {
        "kind": "window",
        "file": "rgb.tif",
        "desc": "4096x4096 window, 64 tiles (rgb uint8 DEFLATE)",
    },
    "W3s": {
        "kind": "windows_seq",
        "file": "rgb.tif",
        "desc": "200 random 256x256 windows, sequential",
    },
    "W3c": {
        "kind": "windows_conc",
        "file": "rgb.tif",
        "desc": "200 random 256x256 windows, 16 at a time",
    },
    "W4": {"kind": "overview", "file": "rgb.tif", "desc": "whole smallest overview (512x512)"},
    "W5u16": {"kind": "window", "file": "u16.tif", "desc": "W2 on uint16 LZW+pred2"},
    "W5f32": {"kind": "window", "file": "f32.tif", "desc": "W2 on float32 ZSTD+pred3"},
    "W6": {"kind": "window", "file": "strip.tif", "desc": "W2 on stripped DEFLATE (16 rows/strip)"},
    "W7": {
        "kind": "multi",
        "file": "small_{i:02d}.tif",
        "desc": "1024x1024 window from 16 files, one limiter",
    },
}
CONTENDERS = ["trio_geotiff", "rasterio", "async_geotiff", "tifffile", "limit"]
# Not in the default set: trio_geotiff under asyncio.run, and the trio_geotiff
# source tree given by --before-src (e.g. a worktree of an older commit) under trio.
EXTRA_CONTENDERS = ["trio_geotiff_asyncio", "trio_geotiff_before"]
LOCAL_ONLY = {"tifffile", "limit"}
SOURCES = ["local", "http"]
QUICK_WORKLOADS = ["W1", "W2", "W3c", "W6", "W7"]

RASTERIO_TUNED_ENV = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_NUM_THREADS": "ALL_CPUS",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "VSI_CACHE": "TRUE",
}


def w3_windows() -> list[tuple[int, int, int, int]]:
    import random

    rng = random.Random(W3_SEED)
    hi = 8192 - W3_SIZE
    return [(rng.randint(0, hi), rng.randint(0, hi), W3_SIZE, W3_SIZE) for _ in range(N_W3)]


def applicable(contender: str, workload: str, source: str) -> str | None:
    """None if the contender runs this cell, else the reason it is skipped."""
    if contender in LOCAL_ONLY and source != "local":
        return "local files only"
    if contender == "limit" and workload == "W1":
        return "no decode work"
    if (
        contender == "tifffile"
        and WORKLOADS[workload]["kind"] not in ("open", "overview")
        and importlib.util.find_spec("zarr") is None
    ):
        return "tifffile window reads need zarr (not installed)"
    return None


# --------------------------------------------------------------------------
# Child side: one measurement
# --------------------------------------------------------------------------


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _hash_arrays(arrays: list[Any]) -> tuple[str, int]:
    import numpy as np

    h = hashlib.sha256()
    n = 0
    for a in arrays:
        b = np.ascontiguousarray(a).tobytes()
        n += len(b)
        h.update(b)
    return h.hexdigest(), n


def _names(wl: dict[str, Any]) -> list[str]:
    if wl["kind"] == "multi":
        return [wl["file"].format(i=i) for i in range(N_SMALL)]
    return [wl["file"]]


class _Runtime:
    """What the shared workload needs from the event loop running it (trio or asyncio)."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def sleep(self, seconds: float) -> None:
        if self.name == "trio":
            import trio

            await trio.sleep(seconds)
        else:
            import asyncio

            await asyncio.sleep(seconds)

    def harness_limiter(self, n: int) -> Any:
        """Bounds the benchmark's own concurrency (the W3c "16 at a time")."""
        if self.name == "trio":
            import trio

            return trio.CapacityLimiter(n)
        import asyncio

        return asyncio.Semaphore(n)

    def library_limiter(self, n: int) -> Any:
        """The limiter handed to trio_geotiff (W7): the running library's own kind."""
        if self.name == "trio":
            import trio

            return trio.CapacityLimiter(n)  # also what the pre-anyio code takes
        import anyio

        return anyio.CapacityLimiter(n)

    async def run_all(self, fns: list[Any]) -> None:
        if self.name == "trio":
            import trio

            async with trio.open_nursery() as n:
                for fn in fns:
                    n.start_soon(fn)
        else:
            import asyncio

            async with asyncio.TaskGroup() as g:
                for fn in fns:
                    g.create_task(fn())

    def run(self, main: Any) -> None:
        if self.name == "trio":
            import trio

            trio.run(main)
        else:
            import asyncio

            asyncio.run(main())

    async def with_ticker(self, work: Any, out: dict[str, Any]) -> None:
        """Idle-loop lateness (not timed), then ``work()`` timed with a 1 ms ticker beside it."""
        for key, fn in (("idle_lateness_ms", None), ("lateness_ms", work)):
            lat: list[float] = []
            done: list[bool] = []

            async def ticker(lat: list[float] = lat, done: list[bool] = done) -> None:
                while not done:
                    t0 = time.perf_counter()
                    await self.sleep(0.001)
                    lat.append(time.perf_counter() - t0 - 0.001)

            async def timed(fn: Any = fn, done: list[bool] = done) -> None:
                if fn is None:
                    await self.sleep(0.25)
                else:
                    t0, cpu0 = time.perf_counter(), _cpu_s()
                    await fn()
                    out["wall"] = time.perf_counter() - t0
                    # CPU time of the process (all threads): on a machine shared
                    # with other work, less noisy than the wall time.
                    out["cpu"] = _cpu_s() - cpu0
                done.append(True)

            await self.run_all([ticker, timed])
            out[key] = _lat_summary(lat)


def _store(source: str, port: int) -> Any:
    from obstore.store import HTTPStore, LocalStore

    if source == "local":
        return LocalStore(str(DATA))
    return HTTPStore.from_url(f"http://127.0.0.1:{port}", client_options={"allow_http": True})


async def _geotiff_work(
    rt: _Runtime, wl: dict[str, Any], store: Any, out: dict[str, Any], arrays: list[Any]
) -> None:
    """One workload with trio_geotiff, written once for trio and asyncio."""
    from trio_geotiff import GeoTIFF, Window

    kind = wl["kind"]
    if kind == "multi":
        names = _names(wl)
        lim = rt.library_limiter(16)
        res: list[Any] = [None] * len(names)
        stats: list[dict[str, int]] = []

        async def one_file(i: int) -> None:
            tif = await GeoTIFF.open(names[i], store=store, limiter=lim)
            res[i] = (await tif.read(window=Window(*W7_WINDOW))).data
            stats.append(attrs_dict(tif.statistics()))

        await rt.run_all([functools.partial(one_file, i) for i in range(len(names))])
        arrays.extend(res)
        out["stats"] = {k: sum(s[k] for s in stats) for k in stats[0]}
        return
    tif = await GeoTIFF.open(wl["file"], store=store)
    if kind == "open":
        meta = (
            *(tif.crs, tif.transform, tif.width, tif.height, tif.count, tif.dtype, tif.nodata),
            *(tif.block_shapes, [(o.width, o.height) for o in tif.overviews]),
        )
        out["meta"] = repr(meta)[:200]
    elif kind == "window":
        arrays.append((await tif.read(window=Window(*W2_WINDOW))).data)
    elif kind == "overview":
        arrays.append((await tif.overviews[-1].read()).data)
    elif kind == "windows_seq":
        for w in w3_windows():
            arrays.append((await tif.read(window=Window(*w))).data)  # noqa: PERF401
    elif kind == "windows_conc":
        wins = w3_windows()
        res = [None] * len(wins)
        harness = rt.harness_limiter(W3_CONCURRENCY)

        async def one(i: int) -> None:
            async with harness:
                res[i] = (await tif.read(window=Window(*wins[i]))).data

        await rt.run_all([functools.partial(one, i) for i in range(len(wins))])
        arrays.extend(res)
    out["stats"] = attrs_dict(tif.statistics())


def _child_geotiff(runtime: str, wl: dict[str, Any], source: str, port: int) -> dict[str, Any]:
    import trio_geotiff

    rt = _Runtime(runtime)
    store = _store(source, port)
    out: dict[str, Any] = {"code": str(Path(trio_geotiff.__file__).parent)}
    arrays: list[Any] = []

    async def main() -> None:
        await rt.with_ticker(lambda: _geotiff_work(rt, wl, store, out, arrays), out)

    rt.run(main)
    out["arrays"] = arrays
    return out


def child_trio(wl: dict[str, Any], source: str, port: int) -> dict[str, Any]:
    """trio_geotiff under trio.run (also the pre-port code: ``trio_geotiff_before``)."""
    return _child_geotiff("trio", wl, source, port)


def child_trio_asyncio(wl: dict[str, Any], source: str, port: int) -> dict[str, Any]:
    """trio_geotiff under plain asyncio.run, the ticker an asyncio task."""
    return _child_geotiff("asyncio", wl, source, port)


def attrs_dict(s: Any) -> dict[str, int]:
    return {
        k: int(getattr(s, k))
        for k in ("requests", "bytes_fetched", "ranges_coalesced", "blocks_decoded")
    }


def _lat_summary(lat: list[float]) -> dict[str, float]:
    import numpy as np

    if not lat:
        return {"n": 0}
    a = np.array(lat) * 1000.0
    return {
        "n": int(a.size),
        "p50": float(np.percentile(a, 50)),
        "p99": float(np.percentile(a, 99)),
        "max": float(a.max()),
    }


def child_rasterio(wl: dict[str, Any], source: str, port: int) -> dict[str, Any]:
    os.environ.update(RASTERIO_TUNED_ENV)
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import rasterio
    from rasterio.windows import Window

    def path(name: str) -> str:
        if source == "local":
            return str(DATA / name)
        return f"/vsicurl/http://127.0.0.1:{port}/{name}"

    out: dict[str, Any] = {}
    arrays: list[Any] = []
    kind = wl["kind"]
    t0 = time.perf_counter()
    if kind == "open":
        with rasterio.open(path(wl["file"])) as src:
            meta = (
                src.crs,
                src.transform,
                src.width,
                src.height,
                src.count,
                src.dtypes,
                src.nodata,
                src.block_shapes,
                src.overviews(1),
            )
            out["meta"] = repr(meta)[:200]
    elif kind == "window":
        with rasterio.open(path(wl["file"])) as src:
            arrays.append(src.read(window=Window(*W2_WINDOW)))
    elif kind == "overview":
        with rasterio.open(path(wl["file"])) as src:
            n_ov = len(src.overviews(1))
        with rasterio.open(path(wl["file"]), overview_level=n_ov - 1) as src:
            arrays.append(src.read())
    elif kind == "windows_seq":
        with rasterio.open(path(wl["file"])) as src:
            for w in w3_windows():
                arrays.append(src.read(window=Window(*w)))  # noqa: PERF401
    elif kind == "windows_conc":
        tl = threading.local()
        handles: list[Any] = []
        lock = threading.Lock()

        def one(w: tuple[int, int, int, int]) -> Any:
            ds = getattr(tl, "ds", None)
            if ds is None:
                ds = tl.ds = rasterio.open(path(wl["file"]))
                with lock:
                    handles.append(ds)
            return ds.read(window=Window(*w))

        with ThreadPoolExecutor(W3_CONCURRENCY) as pool:
            arrays.extend(pool.map(one, w3_windows()))
        for ds in handles:
            ds.close()
    elif kind == "multi":

        def one_file(name: str) -> Any:
            with rasterio.open(path(name)) as src:
                return src.read(window=Window(*W7_WINDOW))

        with ThreadPoolExecutor(16) as pool:
            arrays.extend(pool.map(one_file, _names(wl)))
    out["wall"] = time.perf_counter() - t0
    out["arrays"] = arrays
    return out


def child_async_geotiff(wl: dict[str, Any], source: str, port: int) -> dict[str, Any]:
    import asyncio

    from async_geotiff import GeoTIFF, Window
    from obstore.store import HTTPStore, LocalStore

    if source == "local":
        store = LocalStore(str(DATA))
    else:
        store = HTTPStore.from_url(f"http://127.0.0.1:{port}", client_options={"allow_http": True})
    out: dict[str, Any] = {}
    arrays: list[Any] = []

    async def work() -> None:
        kind = wl["kind"]
        if kind == "open":
            g = await GeoTIFF.open(wl["file"], store=store)
            meta = (
                g.crs,
                g.transform,
                g.width,
                g.height,
                g.count,
                g.dtype,
                g.nodata,
                [(o.width, o.height) for o in g.overviews],
            )
            out["meta"] = repr(meta)[:200]
        elif kind == "window":
            g = await GeoTIFF.open(wl["file"], store=store)
            arrays.append((await g.read(window=Window(*W2_WINDOW))).data)
        elif kind == "overview":
            g = await GeoTIFF.open(wl["file"], store=store)
            arrays.append((await g.overviews[-1].read()).data)
        elif kind == "windows_seq":
            g = await GeoTIFF.open(wl["file"], store=store)
            for w in w3_windows():
                arrays.append((await g.read(window=Window(*w))).data)  # noqa: PERF401
        elif kind == "windows_conc":
            g = await GeoTIFF.open(wl["file"], store=store)
            sem = asyncio.Semaphore(W3_CONCURRENCY)

            async def one(w: tuple[int, int, int, int]) -> Any:
                async with sem:
                    return (await g.read(window=Window(*w))).data

            arrays.extend(await asyncio.gather(*(one(w) for w in w3_windows())))
        elif kind == "multi":
            sem = asyncio.Semaphore(16)

            async def one_file(name: str) -> Any:
                async with sem:
                    g = await GeoTIFF.open(name, store=store)
                    return (await g.read(window=Window(*W7_WINDOW))).data

            arrays.extend(await asyncio.gather(*(one_file(n) for n in _names(wl))))

    async def main() -> None:
        # The same 1 ms ticker as trio_geotiff's rows: equal overhead, and its loop lateness.
        await _Runtime("asyncio").with_ticker(work, out)

    asyncio.run(main())
    out["arrays"] = arrays
    return out


def child_tifffile(wl: dict[str, Any], source: str, port: int) -> dict[str, Any]:  # noqa: ARG001
    import tifffile

    out: dict[str, Any] = {}
    arrays: list[Any] = []
    kind = wl["kind"]

    def sel(w: tuple[int, int, int, int], spp: int) -> tuple[slice, ...]:
        c, r, ww, hh = w
        s = (slice(r, r + hh), slice(c, c + ww))
        return (*s, slice(None)) if spp > 1 else s

    def chw(a: Any) -> Any:
        return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)

    t0 = time.perf_counter()
    if kind == "open":
        with tifffile.TiffFile(DATA / wl["file"]) as tf:
            p = tf.pages[0]
            meta = (
                p.shape,
                p.dtype,
                p.geotiff_tags if hasattr(p, "geotiff_tags") else None,
                [lv.shape for lv in tf.series[0].levels],
            )
            out["meta"] = repr(meta)[:200]
    elif kind == "overview":
        with tifffile.TiffFile(DATA / wl["file"]) as tf:
            arrays.append(chw(tf.series[0].levels[-1].asarray(maxworkers=2)))
    elif kind in ("window", "windows_seq", "windows_conc", "multi"):
        wins = {"window": [W2_WINDOW], "multi": [W7_WINDOW] * N_SMALL}.get(kind) or w3_windows()
        names = _names(wl) if kind == "multi" else [wl["file"]] * len(wins)
        spp = tifffile.TiffFile(DATA / names[0]).pages[0].samplesperpixel
        if kind == "windows_conc":
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(W3_CONCURRENCY) as pool:
                arrays.extend(
                    pool.map(
                        lambda nw: chw(tifffile.imread(DATA / nw[0], selection=sel(nw[1], spp))),
                        zip(names, wins, strict=False),
                    )
                )
        else:
            for name, w in zip(names, wins, strict=False):
                arrays.append(
                    chw(tifffile.imread(DATA / name, selection=sel(w, spp), maxworkers=2))
                )
    out["wall"] = time.perf_counter() - t0
    out["arrays"] = arrays
    return out


def child_limit(wl: dict[str, Any], source: str, port: int) -> dict[str, Any]:  # noqa: ARG001
    """Read the compressed bytes of exactly the blocks needed (os.pread), decode
    them with imagecodecs on 2 threads and copy each once into the output."""
    from concurrent.futures import ThreadPoolExecutor

    import imagecodecs
    import numpy as np
    import tifffile

    kind = wl["kind"]
    names = _names(wl)
    plans = []  # per output: (fd path, page geometry, window, out array)
    codecs = {
        8: imagecodecs.deflate_decode,
        32946: imagecodecs.deflate_decode,
        5: imagecodecs.lzw_decode,
        50000: imagecodecs.zstd_decode,
    }
    if kind == "window":
        jobs = [(names[0], 0, W2_WINDOW)]
    elif kind == "multi":
        jobs = [(n, 0, W7_WINDOW) for n in names]
    elif kind == "overview":
        jobs = [(names[0], -1, None)]
    else:
        jobs = [(names[0], 0, w) for w in w3_windows()]
    geo_cache: dict[tuple[str, int], dict[str, Any]] = {}
    for name, level, w in jobs:
        key = (name, level)
        if key not in geo_cache:
            with tifffile.TiffFile(DATA / name) as tf:
                p = tf.series[0].levels[level].pages[0]
                tiled = p.is_tiled
                geo_cache[key] = {
                    "offsets": list(p.dataoffsets),
                    "counts": list(p.databytecounts),
                    "bw": p.tilewidth if tiled else p.imagewidth,
                    "bh": p.tilelength if tiled else p.rowsperstrip,
                    "w": p.imagewidth,
                    "h": p.imagelength,
                    "spp": p.samplesperpixel,
                    "dtype": p.dtype.newbyteorder("<"),
                    "comp": int(p.compression),
                    "pred": int(p.predictor),
                    "tiled": tiled,
                }
        g = geo_cache[key]
        win = w or (0, 0, g["w"], g["h"])
        plans.append((name, g, win))

    pool = ThreadPoolExecutor(2)
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    fds = {n: os.open(DATA / n, os.O_RDONLY) for n in set(names)}
    outputs = []
    tasks = []
    for name, g, (c0, r0, ww, hh) in plans:
        o = np.empty((g["spp"], hh, ww), g["dtype"])
        outputs.append(o)
        bw, bh = g["bw"], g["bh"]
        ncols = -(-g["w"] // bw)
        for br in range(r0 // bh, (r0 + hh - 1) // bh + 1):
            for bc in range(c0 // bw, (c0 + ww - 1) // bw + 1):
                tasks.append((fds[name], g, br, bc, ncols, (c0, r0, ww, hh), o))  # noqa: PERF401

    def do(t: tuple[Any, ...]) -> None:
        fd, g, br, bc, ncols, (c0, r0, ww, hh), o = t
        idx = br * ncols + bc
        raw = os.pread(fd, g["counts"][idx], g["offsets"][idx])
        bw, bh, spp, dt = g["bw"], g["bh"], g["spp"], g["dtype"]
        rows = bh if g["tiled"] else min(bh, g["h"] - br * bh)
        dec = codecs[g["comp"]](raw, out=rows * bw * spp * dt.itemsize)
        if g["pred"] == 3:
            a = np.frombuffer(dec, np.uint8).reshape(rows, bw * spp * dt.itemsize)
            a = imagecodecs.floatpred_decode(a.view(dt).reshape(rows, bw, spp), axis=-2)
        else:
            a = np.frombuffer(dec, dt).reshape(rows, bw, spp)
            if g["pred"] == 2:
                a = imagecodecs.delta_decode(a, axis=-2)
        top, left = br * bh, bc * bw
        y0, y1 = max(top, r0), min(top + rows, r0 + hh)
        x0, x1 = max(left, c0), min(left + bw, c0 + ww)
        o[:, y0 - r0 : y1 - r0, x0 - c0 : x1 - c0] = a[
            y0 - top : y1 - top, x0 - left : x1 - left
        ].transpose(2, 0, 1)

    list(pool.map(do, tasks))
    out["wall"] = time.perf_counter() - t0
    for fd in fds.values():
        os.close(fd)
    pool.shutdown()
    out["arrays"] = outputs
    out["blocks"] = len(tasks)
    return out


CHILD_FUNCS = {
    "trio_geotiff": child_trio,
    "trio_geotiff_asyncio": child_trio_asyncio,
    "trio_geotiff_before": child_trio,
    "rasterio": child_rasterio,
    "async_geotiff": child_async_geotiff,
    "tifffile": child_tifffile,
    "limit": child_limit,
}


def run_child(spec: dict[str, Any]) -> None:
    wl = WORKLOADS[spec["workload"]]
    fn = CHILD_FUNCS[spec["contender"]]
    # Import the contender's modules before the RSS baseline (imports aren't timed).
    if spec["contender"] == "rasterio":
        os.environ.update(RASTERIO_TUNED_ENV)
    import numpy as np  # noqa: F401

    {
        "trio_geotiff": lambda: __import__("trio_geotiff"),
        "trio_geotiff_asyncio": lambda: __import__("trio_geotiff"),
        "trio_geotiff_before": lambda: __import__("trio_geotiff"),
        "rasterio": lambda: __import__("rasterio"),
        "async_geotiff": lambda: __import__("async_geotiff"),
        "tifffile": lambda: __import__("tifffile"),
        "limit": lambda: __import__("imagecodecs"),
    }[spec["contender"]]()
    if spec["contender"].startswith("trio_geotiff"):
        # anyio imports its backend modules on first use (40-80 ms on a busy
        # 2-core machine): an import, so not timed, as every other import.
        import anyio._backends._asyncio
        import anyio._backends._trio  # noqa: F401
    base = _rss_kb()
    res = fn(wl, spec["source"], spec.get("port", 0))
    peak = _rss_kb()
    arrays = res.pop("arrays")
    digest, nbytes = _hash_arrays(arrays) if arrays else (None, 0)
    shapes = sorted({tuple(a.shape) for a in arrays}) if arrays else []
    res.update(
        rss_base_kb=base,
        rss_peak_kb=peak,
        sha256=digest,
        out_bytes=nbytes,
        shapes=[list(s) for s in shapes][:3],
        dtype=str(arrays[0].dtype) if arrays else None,
    )
    print("RESULT " + json.dumps(res), flush=True)


# --------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------


class HttpServer:
    def __init__(self, delay_ms: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "http_server.py"), str(DATA), "--delay-ms", str(delay_ms)],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith("PORT "):
            raise RuntimeError(f"http server failed to start: {line!r}")
        self.port = int(line.split()[1])

    def reset(self) -> None:
        urllib.request.urlopen(
            urllib.request.Request(f"http://127.0.0.1:{self.port}/__reset", data=b"", method="POST")
        ).read()

    def stats(self) -> dict[str, int]:
        return json.loads(urllib.request.urlopen(f"http://127.0.0.1:{self.port}/__stats").read())

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def child_env(contender: str, srcs: dict[str, str]) -> dict[str, str] | None:
    """The environment of a child: trio_geotiff contenders may import a given source tree."""
    src = srcs.get("before") if contender == "trio_geotiff_before" else None
    if contender in ("trio_geotiff", "trio_geotiff_asyncio"):
        src = srcs.get("after")
    if src is None:
        if contender == "trio_geotiff_before":
            raise SystemExit("trio_geotiff_before needs --before-src")
        return None
    return {**os.environ, "PYTHONPATH": src}


@dataclasses.dataclass(frozen=True)
class ChildOptions:
    timeout: float
    """Per-measurement timeout (s)."""
    srcs: dict[str, str]
    """``before``/``after``: trio_geotiff source trees (see `child_env`)."""


def measure(
    contender: str, workload: str, source: str, server: HttpServer | None, opts: ChildOptions
) -> dict[str, Any]:
    spec = {
        "contender": contender,
        "workload": workload,
        "source": source,
        "port": server.port if server else 0,
    }
    if server is not None:
        server.reset()
    t0 = time.perf_counter()
    try:
        cp = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=opts.timeout,
            check=False,
            env=child_env(contender, opts.srcs),
        )
    except subprocess.TimeoutExpired:
        return {**spec, "error": f"timeout after {opts.timeout}s"}
    res: dict[str, Any] = dict(spec)
    res["process_s"] = time.perf_counter() - t0
    lines = [ln for ln in cp.stdout.splitlines() if ln.startswith("RESULT ")]
    if cp.returncode != 0 or not lines:
        tail = (cp.stderr or "").strip().splitlines()[-6:]
        res["error"] = f"exit {cp.returncode}: " + " | ".join(tail)
        if lines:
            res.update(json.loads(lines[-1][7:]))
    else:
        res.update(json.loads(lines[-1][7:]))
    if server is not None:
        res["http"] = server.stats()
    return res


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    cells: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in runs:
        cells.setdefault((r["workload"], r["source"], r["contender"]), []).append(r)
    summary = []
    for (w, s, c), rs in sorted(cells.items()):
        ok = [r for r in rs if "error" not in r and "wall" in r]
        entry: dict[str, Any] = {
            "workload": w,
            "source": s,
            "contender": c,
            "n": len(ok),
            "errors": sorted({r["error"] for r in rs if "error" in r}),
        }
        if ok:
            entry["wall_median"] = statistics.median(r["wall"] for r in ok)
            entry["wall_min"] = min(r["wall"] for r in ok)
            entry["wall_all"] = [round(r["wall"], 4) for r in ok]
            cpu = [r["cpu"] for r in ok if "cpu" in r]
            if cpu:
                entry["cpu_median"] = statistics.median(cpu)
            entry["rss_peak_mb_median"] = statistics.median(r["rss_peak_kb"] for r in ok) / 1024
            entry["rss_growth_mb_median"] = (
                statistics.median((r["rss_peak_kb"] - r["rss_base_kb"]) for r in ok) / 1024
            )
            entry["out_mb"] = ok[0]["out_bytes"] / 2**20
            entry["sha256"] = sorted({r["sha256"] for r in ok if r.get("sha256")})
            if any("http" in r for r in ok):
                entry["http_requests_median"] = statistics.median(r["http"]["requests"] for r in ok)
                entry["http_bytes_median"] = statistics.median(r["http"]["bytes"] for r in ok)
                entry["http_max_concurrency"] = max(r["http"]["max_concurrency"] for r in ok)
            lat = [r["lateness_ms"]["p99"] for r in ok if r.get("lateness_ms", {}).get("n")]
            if lat:
                entry["lateness_p99_ms_median"] = statistics.median(lat)
                entry["lateness_max_ms_max"] = max(r["lateness_ms"]["max"] for r in ok)
                entry["idle_lateness_p99_ms_median"] = statistics.median(
                    r["idle_lateness_ms"]["p99"] for r in ok
                )
            if ok[0].get("stats"):
                entry["lib_stats"] = ok[0]["stats"]
        summary.append(entry)
    # Correctness: compare every contender's hash with rasterio's for the same workload.
    ref: dict[str, set[str]] = {}
    for e in summary:
        if e["contender"] == "rasterio" and e.get("sha256"):
            ref.setdefault(e["workload"], set()).update(e["sha256"])
    for e in summary:
        if e["workload"] == "W1" or not e.get("sha256"):
            e["hash_check"] = "n/a"
        elif e["workload"] not in ref:
            e["hash_check"] = "no rasterio reference"
        elif set(e["sha256"]) <= ref[e["workload"]] and len(ref[e["workload"]]) == 1:
            e["hash_check"] = "match"
        else:
            e["hash_check"] = "MISMATCH"
    return {"cells": summary}


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--all", action="store_true", help="full suite (default passes: 5)")
    ap.add_argument("--quick", action="store_true", help=f"1 pass of {','.join(QUICK_WORKLOADS)}")
    ap.add_argument("--passes", type=int, default=None)
    ap.add_argument("--workloads", default=None, help="comma-separated subset, e.g. W1,W2")
    ap.add_argument("--sources", default=None, help="comma-separated: local,http")
    ap.add_argument(
        "--contenders",
        default=None,
        help="comma-separated subset of " + ",".join(CONTENDERS + EXTRA_CONTENDERS),
    )
    ap.add_argument(
        "--before-src",
        default=None,
        help="a trio_geotiff src/ directory for the trio_geotiff_before contender",
    )
    ap.add_argument(
        "--after-src",
        default=None,
        help="a src/ directory for trio_geotiff and trio_geotiff_asyncio (default: installed)",
    )
    ap.add_argument("--delay-ms", type=float, default=20.0)
    ap.add_argument("--timeout", type=float, default=300.0, help="per-measurement timeout (s)")
    ap.add_argument("--no-report", action="store_true", help="don't regenerate docs/benchmarks.md")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        run_child(json.loads(args.child))
        return 0
    if not (args.all or args.quick or args.workloads):
        ap.error("give --all, --quick or --workloads")
    workloads = (
        args.workloads.split(",")
        if args.workloads
        else QUICK_WORKLOADS
        if args.quick
        else list(WORKLOADS)
    )
    sources = args.sources.split(",") if args.sources else SOURCES
    contenders = args.contenders.split(",") if args.contenders else CONTENDERS
    passes = args.passes or (1 if args.quick else 5)
    opts = ChildOptions(args.timeout, _srcs(args))

    subprocess.run([sys.executable, str(HERE / "make_data.py")], check=True)
    server = HttpServer(args.delay_ms) if "http" in sources else None
    runs: list[dict[str, Any]] = []
    started = time.time()
    try:
        for p in range(passes):
            for w in workloads:
                for s in sources:
                    cs = [c for c in contenders if applicable(c, w, s) is None]
                    k = p % len(cs) if cs else 0
                    order = cs[k:] + cs[:k]  # rotate the order every pass
                    if p % 2:
                        order.reverse()
                    for c in order:
                        la = loadavg()
                        r = measure(c, w, s, server if s == "http" else None, opts)
                        r["pass"] = p
                        r["loadavg_before"] = la
                        runs.append(r)
                        msg = (
                            f"{r['error'][:160]}"
                            if "error" in r
                            else (
                                f"{r['wall'] * 1000:9.1f} ms  rss {r['rss_peak_kb'] / 1024:6.0f} MB"
                                + (f"  req {r['http']['requests']}" if "http" in r else "")
                            )
                        )
                        print(f"pass {p + 1}/{passes} {w:6} {s:5} {c:14} {msg}", flush=True)
    finally:
        if server is not None:
            server.close()
    result = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "elapsed_s": time.time() - started,
        "argv": sys.argv[1:],
        "passes": passes,
        "delay_ms": args.delay_ms,
        "machine": {
            "nproc": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "loadavg_end": loadavg(),
        },
        "versions": _versions(),
        "trio_geotiff_src": opts.srcs,
        "workloads": {w: WORKLOADS[w]["desc"] for w in workloads},
        "skipped": [
            {"workload": w, "source": s, "contender": c, "reason": applicable(c, w, s)}
            for w in workloads
            for s in sources
            for c in contenders
            if applicable(c, w, s)
        ],
        "runs": runs,
        **summarize(runs),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for name in (f"results-{stamp}.json", "latest.json"):
        (RESULTS / name).write_text(json.dumps(result, indent=1, default=str))
    print(f"results written to {RESULTS / 'latest.json'}")
    _print_problems(result["cells"])
    if not args.no_report:
        subprocess.run([sys.executable, str(HERE / "report.py")], check=False)
    return 0


def _print_problems(cells: list[dict[str, Any]]) -> None:
    for e in cells:
        if e["hash_check"] == "MISMATCH" or e["errors"]:
            print(
                f"  problem: {e['workload']} {e['source']} {e['contender']}: "
                f"{e['hash_check']} {e['errors'][:1]}"
            )


def _srcs(args: argparse.Namespace) -> dict[str, str]:
    return {
        k: str(Path(v).resolve())
        for k, v in (("before", args.before_src), ("after", args.after_src))
        if v is not None
    }


def _versions() -> dict[str, str]:
    out = {}
    for mod in (
        "trio_geotiff",
        "trio",
        "obstore",
        "async_tiff",
        "async_geotiff",
        "rasterio",
        "tifffile",
        "imagecodecs",
        "numpy",
    ):
        try:
            from importlib.metadata import version

            out[mod] = version(mod.replace("_", "-"))
        except Exception:
            out[mod] = "?"
    try:
        import rasterio

        out["gdal"] = rasterio.__gdal_version__
    except Exception:
        pass
    return out


if __name__ == "__main__":
    sys.exit(main())
