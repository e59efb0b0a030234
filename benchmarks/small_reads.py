"""Warm-process timings of single reads, contenders interleaved, medians and ratios.

benchmarks/run.py measures every cell in a fresh process (cold caches, the
first call's imports and thread start-up included). This script answers a
different question: once a process is warm (imports done, threads and
connections up), how long does *one* open (W1), one whole-overview read
(W4), one window read (W2, W5u16, W5f32, W6) or one run of 200 sequential
small windows (W3s) take? Every contender is a long-lived child process
driven round by round, so that all of them see the same machine load.

Each iteration opens the file again (trio_geotiff: a new object and a new
cache owner, so no decoded block is reused; rasterio: ``rasterio.open``;
async-geotiff: ``GeoTIFF.open``), as run.py's workloads do. Outputs are
hashed and compared with rasterio's.

Contenders: ``tg`` (trio_geotiff under trio; ``tg@DIR`` imports the source
tree DIR, e.g. a scratch worktree with a patch), ``tga`` (trio_geotiff under
asyncio), ``rasterio`` (tuned as in run.py), ``ag`` (async-geotiff), and
``limit`` (run.py's: the blocks needed, read with pread and decoded by
imagecodecs on 2 threads, local only), and ``decode1``: the workload's blocks decoded by imagecodecs on ONE thread from
bytes already in memory (no I/O, no paste), the yardstick of issue 13
("one-thread decode time / 2").

Run::

    python benchmarks/small_reads.py --workloads W1,W4 --sources local,http
    python benchmarks/small_reads.py --workloads W5u16 --contenders tg,tg@/work/x/src,decode1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import DATA, RASTERIO_TUNED_ENV, W2_WINDOW, HttpServer, w3_windows  # noqa: E402

WINDOW_FILES = {"W2": "rgb.tif", "W5u16": "u16.tif", "W5f32": "f32.tif", "W6": "strip.tif"}
WORKLOADS = ["W1", "W4", "W3s", *WINDOW_FILES]


cpus: list[float] = []
"""Process CPU time (all threads) of each timed iteration of the last batch."""


def _digest(arrays: list[Any]) -> str:
    import numpy as np

    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------
# Children: read commands on stdin, answer one JSON line each
# --------------------------------------------------------------------------


def _trio_geotiff_child(runtime: str) -> Any:
    import anyio._backends._asyncio
    import anyio._backends._trio  # noqa: F401
    from obstore.store import HTTPStore, LocalStore

    from trio_geotiff import GeoTIFF, Window

    stores: dict[str, Any] = {}

    async def once(wl: str, store: Any) -> list[Any]:
        if wl == "W1":
            tif = await GeoTIFF.open("rgb.tif", store=store)
            _ = (tif.crs, tif.transform, tif.width, tif.height, tif.count, tif.dtype, tif.nodata)
            _ = (tif.block_shapes, [(o.width, o.height) for o in tif.overviews])
            return []
        if wl == "W4":
            tif = await GeoTIFF.open("rgb.tif", store=store)
            return [(await tif.overviews[-1].read()).data]
        if wl == "W3s":
            tif = await GeoTIFF.open("rgb.tif", store=store)
            return [(await tif.read(window=Window(*w))).data for w in w3_windows()]
        tif = await GeoTIFF.open(WINDOW_FILES[wl], store=store)
        return [(await tif.read(window=Window(*W2_WINDOW))).data]

    def batch(wl: str, source: str, port: int, n: int) -> tuple[list[float], str]:
        if source not in stores:
            stores[source] = (
                LocalStore(str(DATA))
                if source == "local"
                else HTTPStore.from_url(
                    f"http://127.0.0.1:{port}", client_options={"allow_http": True}
                )
            )
        store = stores[source]
        times: list[float] = []
        cpus.clear()
        digest = [""]

        async def main() -> None:
            await once(wl, store)  # warm-up (connections, threads, lazy imports)
            for _ in range(n):
                t0, c0 = time.perf_counter(), time.process_time()
                arrays = await once(wl, store)
                times.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
                digest[0] = _digest(arrays)

        if runtime == "trio":
            import trio

            trio.run(main)
        else:
            import asyncio

            asyncio.run(main())
        return times, digest[0]

    return batch


def _async_geotiff_child() -> Any:
    import asyncio

    from async_geotiff import GeoTIFF, Window
    from obstore.store import HTTPStore, LocalStore

    async def once(wl: str, store: Any) -> list[Any]:
        if wl == "W1":
            g = await GeoTIFF.open("rgb.tif", store=store)
            _ = (g.crs, g.transform, g.width, g.height, g.count, g.dtype, g.nodata)
            _ = [(o.width, o.height) for o in g.overviews]
            return []
        if wl == "W4":
            g = await GeoTIFF.open("rgb.tif", store=store)
            return [(await g.overviews[-1].read()).data]
        if wl == "W3s":
            g = await GeoTIFF.open("rgb.tif", store=store)
            return [(await g.read(window=Window(*w))).data for w in w3_windows()]
        g = await GeoTIFF.open(WINDOW_FILES[wl], store=store)
        return [(await g.read(window=Window(*W2_WINDOW))).data]

    def batch(wl: str, source: str, port: int, n: int) -> tuple[list[float], str]:
        if wl == "W6":
            raise RuntimeError("async-geotiff cannot read stripped files")
        store = (
            LocalStore(str(DATA))
            if source == "local"
            else HTTPStore.from_url(f"http://127.0.0.1:{port}", client_options={"allow_http": True})
        )
        times: list[float] = []
        cpus.clear()
        digest = [""]

        async def main() -> None:
            await once(wl, store)
            for _ in range(n):
                t0, c0 = time.perf_counter(), time.process_time()
                arrays = await once(wl, store)
                times.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
                digest[0] = _digest(arrays)

        asyncio.run(main())
        return times, digest[0]

    return batch


def _rasterio_child() -> Any:
    os.environ.update(RASTERIO_TUNED_ENV)
    import rasterio
    from rasterio.windows import Window

    def once(wl: str, path: str) -> list[Any]:
        if wl == "W1":
            with rasterio.open(path) as src:
                _ = (src.crs, src.transform, src.width, src.height, src.count, src.dtypes)
                _ = (src.nodata, src.block_shapes, src.overviews(1))
            return []
        if wl == "W4":
            with rasterio.open(path) as src:
                n_ov = len(src.overviews(1))
            with rasterio.open(path, overview_level=n_ov - 1) as src:
                return [src.read()]
        if wl == "W3s":
            with rasterio.open(path) as src:
                return [src.read(window=Window(*w)) for w in w3_windows()]
        with rasterio.open(path) as src:
            return [src.read(window=Window(*W2_WINDOW))]

    def batch(wl: str, source: str, port: int, n: int) -> tuple[list[float], str]:
        name = WINDOW_FILES.get(wl, "rgb.tif")
        path = str(DATA / name) if source == "local" else f"/vsicurl/http://127.0.0.1:{port}/{name}"
        once(wl, path)
        times, digest = [], ""
        cpus.clear()
        for _ in range(n):
            t0, c0 = time.perf_counter(), time.process_time()
            arrays = once(wl, path)
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            digest = _digest(arrays)
        return times, digest

    return batch


def _limit_child() -> Any:
    """run.py's "limit": exactly the blocks needed, pread, imagecodecs on 2 threads."""
    import run

    def batch(wl: str, source: str, port: int, n: int) -> tuple[list[float], str]:
        if source != "local" or wl == "W1":
            raise RuntimeError("the limit reads local files and decodes (not W1)")
        run.child_limit(run.WORKLOADS[wl], source, port)
        times, digest = [], ""
        cpus.clear()
        for _ in range(n):
            c0 = time.process_time()
            res = run.child_limit(run.WORKLOADS[wl], source, port)
            times.append(res["wall"])
            cpus.append(time.process_time() - c0)  # setup included: an upper bound
            digest = _digest(res["arrays"])
        return times, digest

    return batch


def _decode1_child() -> Any:
    """One thread, imagecodecs, bytes in memory: the decode work of a window read."""
    import imagecodecs
    import numpy as np
    import tifffile

    prepared: dict[str, Any] = {}

    def prepare(wl: str) -> Any:
        with tifffile.TiffFile(DATA / WINDOW_FILES[wl]) as tf:
            p = tf.pages[0]
            tiled = p.is_tiled
            bw = p.tilewidth if tiled else p.imagewidth
            bh = p.tilelength if tiled else p.rowsperstrip
            ncols = -(-p.imagewidth // bw)
            c0, r0, ww, hh = W2_WINDOW
            raw = Path(DATA / WINDOW_FILES[wl]).read_bytes()
            blocks = []
            for br in range(r0 // bh, (r0 + hh - 1) // bh + 1):
                for bc in range(c0 // bw, (c0 + ww - 1) // bw + 1):
                    i = br * ncols + bc
                    off, cnt = p.dataoffsets[i], p.databytecounts[i]
                    blocks.append(raw[off : off + cnt])
            codec = {
                8: imagecodecs.deflate_decode,
                32946: imagecodecs.deflate_decode,
                5: imagecodecs.lzw_decode,
                50000: imagecodecs.zstd_decode,
            }[int(p.compression)]
            shape = (bh, bw, p.samplesperpixel)
            return blocks, codec, int(p.predictor), np.dtype(p.dtype).newbyteorder("<"), shape

    def batch(wl: str, source: str, port: int, n: int) -> tuple[list[float], str]:  # noqa: ARG001
        if wl not in WINDOW_FILES:
            raise RuntimeError("decode1 times window workloads only")
        if wl not in prepared:
            prepared[wl] = prepare(wl)
        blocks, codec, pred, dtype, shape = prepared[wl]
        nbytes = int(np.prod(shape)) * dtype.itemsize
        times = []
        cpus.clear()
        for _ in range(n):
            t0, c0 = time.perf_counter(), time.process_time()
            for b in blocks:
                a = np.frombuffer(codec(b, out=nbytes), dtype).reshape(shape)
                if pred == 2:
                    imagecodecs.delta_decode(a, axis=-2, out=a)
                elif pred == 3:
                    imagecodecs.floatpred_decode(a, axis=-2)
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        return times, ""

    return batch


def child_main(kind: str) -> None:
    import numpy as np  # noqa: F401

    if kind in ("tg", "tga"):
        batch = _trio_geotiff_child("trio" if kind == "tg" else "asyncio")
    elif kind == "ag":
        batch = _async_geotiff_child()
    elif kind == "rasterio":
        batch = _rasterio_child()
    elif kind == "limit":
        batch = _limit_child()
    else:
        batch = _decode1_child()
    print("READY", flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            times, digest = batch(cmd["wl"], cmd["source"], cmd["port"], cmd["n"])
            print(json.dumps({"times": times, "cpus": cpus, "digest": digest}), flush=True)
        except Exception as exc:  # reported by the parent
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)


# --------------------------------------------------------------------------
# Parent
# --------------------------------------------------------------------------


class Child:
    def __init__(self, name: str) -> None:
        kind, _, src = name.partition("@")
        env = dict(os.environ)
        if src:
            env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--child", kind],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if line.strip() != "READY":
            raise RuntimeError(f"{name} failed to start: {line!r}")

    def run(self, wl: str, source: str, port: int, n: int) -> dict[str, Any]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"wl": wl, "source": source, "port": port, "n": n}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())  # type: ignore[no-any-return]

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


class _Server(HttpServer):
    """run.py's loopback server, started from another copy of http_server.py."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(args.http_server), str(DATA), "--delay-ms", str(args.delay_ms)],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith("PORT "):
            raise RuntimeError(f"http server failed to start: {line!r}")
        self.port = int(line.split()[1])


def _n_for(wl: str) -> int:
    return {"W1": 20, "W4": 10, "W3s": 1}.get(wl, 2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workloads", default="W1,W4")
    ap.add_argument("--sources", default="local,http")
    ap.add_argument("--contenders", default="tg,rasterio,ag")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds per cell")
    ap.add_argument(
        "--n", type=int, default=None, help="iterations per round (default per workload)"
    )
    ap.add_argument("--delay-ms", type=float, default=20.0)
    ap.add_argument(
        "--http-server",
        type=Path,
        default=None,
        help="serve with this copy of http_server.py (default: benchmarks/http_server.py)",
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the raw timings here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_main(args.child)
        return 0
    names = args.contenders.split(",")
    children = [Child(n) for n in names]
    server = None
    if "http" in args.sources.split(","):
        server = HttpServer(args.delay_ms) if args.http_server is None else _Server(args)
    port = server.port if server else 0
    raw: dict[str, Any] = {}
    try:
        for wl in args.workloads.split(","):
            for source in args.sources.split(","):
                if source == "http" and wl not in ("W1", "W4", "W3s", "W2"):
                    continue
                cell = {c.name: [] for c in children}
                cpu: dict[str, list[float]] = {c.name: [] for c in children}
                digests: dict[str, set[str]] = {c.name: set() for c in children}
                errors: dict[str, str] = {}
                for rnd in range(args.rounds):
                    order = children[rnd % len(children) :] + children[: rnd % len(children)]
                    for child in order:
                        if child.name in errors or (source == "http" and child.name == "decode1"):
                            continue
                        res = child.run(wl, source, port, args.n or _n_for(wl))
                        if "error" in res:
                            errors[child.name] = res["error"]
                            continue
                        cell[child.name].extend(res["times"])
                        cpu[child.name].extend(res["cpus"])
                        digests[child.name].add(res["digest"])
                raw[f"{wl}/{source}"] = {"wall": cell, "cpu": cpu}
                _print_cell(wl, source, cell, cpu, digests, errors)
    finally:
        for c in children:
            c.close()
        if server:
            server.close()
    if args.json:
        args.json.write_text(json.dumps(raw))
    return 0


def _print_cell(
    wl: str,
    source: str,
    cell: dict[str, list[float]],
    cpu: dict[str, list[float]],
    digests: dict[str, set[str]],
    errors: dict[str, str],
) -> None:
    load = os.getloadavg()[0]
    meds = {k: statistics.median(v) * 1000 for k, v in cell.items() if v}
    ref = meds.get("rasterio")
    first = next(iter(meds.values()), None)
    print(f"{wl} {source} (load {load:.1f})")
    want = digests.get("rasterio", set())
    for name, med in meds.items():
        v = sorted(cell[name])
        q1, q3 = (v[len(v) // 4] * 1000, v[(3 * len(v)) // 4] * 1000)
        ratio = f"  x{med / ref:.2f} of rasterio" if ref else ""
        ratio += f"  x{med / first:.2f} of first" if first and name != next(iter(meds)) else ""
        same = (
            ""
            if not want or not digests[name] - {""}
            else (
                "  same pixels" if digests[name] == want else f"  DIFFERENT pixels {digests[name]}"
            )
        )
        c = statistics.median(cpu[name]) * 1000 if cpu.get(name) else float("nan")
        print(
            f"  {name:28s} median {med:8.2f} ms  (q1 {q1:.2f}, q3 {q3:.2f}, n {len(v)})"
            f"  cpu {c:.1f} ms{ratio}{same}"
        )
    for name, err in errors.items():
        print(f"  {name:28s} {err}")
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
