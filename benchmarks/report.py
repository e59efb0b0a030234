"""Turn benchmarks/results/latest.json (from run.py) into docs/benchmarks.md.

Usage: python benchmarks/report.py [RESULTS_JSON] [--out docs/benchmarks.md]

Writes a PNG plot next to the markdown (docs/benchmarks.png) when matplotlib
is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ORDER = [
    "trio_geotiff",
    "trio_geotiff_asyncio",
    "trio_geotiff_before",
    "rasterio",
    "async_geotiff",
    "tifffile",
    "limit",
]
LABEL = {
    "trio_geotiff": "trio_geotiff",
    "trio_geotiff_asyncio": "trio_geotiff on asyncio",
    "trio_geotiff_before": "trio_geotiff before the anyio port",
    "rasterio": "rasterio (tuned)",
    "async_geotiff": "async-geotiff",
    "tifffile": "tifffile",
    "limit": "the limit",
}


def machine() -> list[str]:
    lines = []
    try:
        cpu = Path("/proc/cpuinfo").read_text()
        models = re.findall(r"^model name\s*:\s*(.*)$", cpu, re.MULTILINE)
        mhz = re.findall(r"^cpu MHz\s*:\s*(.*)$", cpu, re.MULTILINE)
        lines.append(
            f"CPU: {models[0] if models else '?'} ({len(models)} logical CPUs in /proc/cpuinfo"
            + (f", {float(mhz[0]):.0f} MHz" if mhz else "")
            + ")"
        )
    except OSError:
        pass
    lines.append(f"nproc: {os.cpu_count()}")
    try:
        mem = re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text())
        if mem:
            lines.append(f"memory: {int(mem.group(1)) / 2**20:.1f} GiB")
    except OSError:
        pass
    return lines


def fmt_ms(x: float | None) -> str:
    return "—" if x is None else (f"{x * 1000:.0f}" if x >= 0.1 else f"{x * 1000:.1f}")


def cell_map(res: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(c["workload"], c["source"], c["contender"]): c for c in res["cells"]}


def ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float | None:
    if not a or not b or not a.get("wall_median") or not b.get("wall_median"):
        return None
    return a["wall_median"] / b["wall_median"]


def targets(res: dict[str, Any]) -> list[tuple[str, str, str]]:
    cm = cell_map(res)
    out: list[tuple[str, str, str]] = []

    def get(w: str, s: str, c: str) -> dict[str, Any] | None:
        return cm.get((w, s, c))

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("**met**" if ok else "**missed**")

    r = ratio(get("W2", "local", "trio_geotiff"), get("W2", "local", "rasterio"))
    out.append(
        ("W2 local ≤ rasterio-tuned", f"ratio {r:.2f}" if r else "no data", verdict(r and r <= 1.0))
    )
    r = ratio(get("W2", "local", "trio_geotiff"), get("W2", "local", "limit"))
    out.append(
        (
            "W2 local within 1.2x of the limit",
            f"ratio {r:.2f}" if r else "no data",
            verdict(r and r <= 1.2),
        )
    )
    for w, goal in (("W1", 0.6), ("W2", 0.8), ("W3c", 0.8), ("W7", 0.8)):
        r = ratio(get(w, "http", "trio_geotiff"), get(w, "http", "rasterio"))
        out.append(
            (
                f"HTTP {w} ≤ {goal}x rasterio-tuned",
                f"ratio {r:.2f}" if r else "no data",
                verdict(None if r is None else r <= goal),
            )
        )
    for s in ("local", "http"):
        c = get("W2", s, "trio_geotiff")
        lat = c.get("lateness_p99_ms_median") if c else None
        out.append(
            (
                f"trio loop p99 lateness ≤ 5 ms during W2 ({s})",
                f"{lat:.1f} ms (idle {c.get('idle_lateness_p99_ms_median', 0):.2f} ms, worst single"
                f" {c.get('lateness_max_ms_max', 0):.0f} ms)"
                if lat is not None
                else "no data",
                verdict(None if lat is None else lat <= 5.0),
            )
        )
    for s in ("local", "http"):
        c = get("W2", s, "trio_geotiff")
        if c and c.get("rss_peak_mb_median") is not None:
            budget = 1.5 * c["out_mb"] + 60
            out.append(
                (
                    f"W2 peak RSS ≤ 1.5x output + 60 MB ({s})",
                    (
                        f"peak {c['rss_peak_mb_median']:.0f} MB (growth over imports"
                        f" {c['rss_growth_mb_median']:.0f} MB), budget {budget:.0f} MB"
                    ),
                    verdict(c["rss_peak_mb_median"] <= budget),
                )
            )
    c = get("W2", "http", "trio_geotiff")
    if c and c.get("http_requests_median") is not None:
        out.append(
            (
                "HTTP requests per W2 ≤ 10",
                (
                    f"{c['http_requests_median']:.0f} requests, "
                    f"{c['http_bytes_median'] / 2**20:.1f} MB"
                ),
                verdict(c["http_requests_median"] <= 10),
            )
        )
    return out


def plot(res: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib as mpl

        mpl.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    cm = cell_map(res)
    workloads = list(res["workloads"])
    sources = [s for s in ("local", "http") if any(k[1] == s for k in cm)]
    fig, axes = plt.subplots(len(sources), 1, figsize=(11, 4 * len(sources)), squeeze=False)
    for ax, s in zip(axes[:, 0], sources, strict=False):
        cs = [c for c in ORDER if any(k[1] == s and k[2] == c for k in cm)]
        width = 0.8 / max(len(cs), 1)
        for i, c in enumerate(cs):
            ys = [(cm.get((w, s, c)) or {}).get("wall_median") for w in workloads]
            xs = [j + i * width for j in range(len(workloads))]
            ax.bar(
                [x for x, y in zip(xs, ys, strict=False) if y],
                [y * 1000 for y in ys if y],
                width,
                label=LABEL[c],
            )
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(workloads))], workloads)
        ax.set_yscale("log")
        ax.set_ylabel("median wall time (ms, log)")
        ax.set_title(
            f"source: {s}"
            + (f" (+{res.get('delay_ms', 20):.0f} ms per request)" if s == "http" else "")
        )
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def render(res: dict[str, Any], png: str | None) -> str:
    cm = cell_map(res)
    md: list[str] = []
    md.append("# Benchmarks\n")
    md.append(
        "trio_geotiff against rasterio (GDAL, tuned), async-geotiff (asyncio), tifffile and "
        '"the limit" (pread of exactly the needed compressed blocks + imagecodecs decode on '
        "2 threads + one copy into the output, no I/O framework at all).\n"
    )
    md.append("## Reproduce\n")
    md.append(
        "```sh\npython benchmarks/run.py --all     # data generation + full suite + this page\n"
        "python benchmarks/run.py --quick   # 1 pass of a few workloads, < 3 min\n"
        "python benchmarks/report.py        # regenerate this page from benchmarks/results/latest.json\n```\n"
    )
    md.append(
        "Each (workload, source, contender) measurement runs in a fresh subprocess (cold process "
        "caches; the OS page cache is warm). Timing covers opening the file(s) and reading; imports "
        "and hashing are excluded. Contender order rotates every pass; numbers are medians over "
        f"{res['passes']} pass(es). The `http` source is benchmarks/http_server.py on 127.0.0.1 "
        f"adding {res.get('delay_ms', 20):.0f} ms to every request (threaded, HTTP/1.1 keep-alive, "
        "Range and multi-range support). Outputs are sha256-hashed and compared with rasterio's.\n"
    )
    md.append(
        "rasterio tuned: "
        + ", ".join(
            f"`{k}={v}`"
            for k, v in {
                "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
                "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
                "GDAL_NUM_THREADS": "ALL_CPUS",
                "GDAL_HTTP_MULTIPLEX": "YES",
                "VSI_CACHE": "TRUE",
            }.items()
        )
        + "; concurrent windows use one dataset per thread in a `ThreadPoolExecutor(16)`.\n"
    )
    md.append("## Machine\n")
    for ln in machine():
        md.append(f"- {ln}")  # noqa: PERF401
    m = res.get("machine", {})
    md.append(f"- Python {m.get('python')}, {m.get('platform')}")
    loads = [
        r.get("loadavg_before", [None])[0] for r in res.get("runs", []) if r.get("loadavg_before")
    ]
    if loads:
        md.append(
            f"- 1-min load average before each measurement: min {min(loads):.2f}, "
            f"median {sorted(loads)[len(loads) // 2]:.2f}, max {max(loads):.2f} "
            "(other work shared the machine: compare ratios, not absolute times)"
        )
    md.append("- versions: " + ", ".join(f"{k} {v}" for k, v in res.get("versions", {}).items()))
    md.append(
        f"- run: {res['created']}, {res['elapsed_s'] / 60:.1f} min, args `{' '.join(res.get('argv', []))}`\n"
    )
    md.append("## Workloads\n")
    md.append(
        "Data (benchmarks/make_data.py, seeded): 8192x8192 RGB uint8 COG (DEFLATE+pred 2, 512 px "
        "tiles, 4 overviews), uint16 LZW+pred 2 COG, float32 ZSTD+pred 3 COG, a stripped "
        "DEFLATE GeoTIFF (16 rows/strip), and 16 links to a 2048x2048 RGB COG.\n"
    )
    for w, d in res["workloads"].items():
        md.append(f"- **{w}**: {d}")
    md.append("")
    md.append("## Targets\n")
    md.append("| target | measured | verdict |\n|---|---|---|")
    for name, meas, v in targets(res):
        md.append(f"| {name} | {meas} | {v} |")
    md.append("")
    if png:
        md.append(f"![median wall time per workload]({png})\n")
    md.append("## Results\n")
    md.append(
        "Times are medians in ms (min in parentheses). *vs trio* = this contender's time / "
        "trio_geotiff's (above 1: trio_geotiff is faster). RSS = peak resident set of the "
        "measuring process (growth over the post-import baseline in parentheses). "
        "req / MB = requests and body bytes seen by the HTTP server. Hash = output vs rasterio's.\n"
    )
    for s in ("local", "http"):
        if not any(k[1] == s for k in cm):
            continue
        md.append(f"### Source: {s}\n")
        md.append(
            "| workload | contender | time ms | vs trio | RSS MB | out MB | req | MB fetched |"
            " p99 loop lateness ms | hash |"
        )
        md.append("|---|---|---|---|---|---|---|---|---|---|")
        for w in res["workloads"]:
            trio = cm.get((w, s, "trio_geotiff"))
            for c in ORDER:
                e = cm.get((w, s, c))
                if e is None:
                    continue
                if not e.get("wall_median"):
                    err = (e.get("errors") or ["no data"])[0]
                    err = err.replace("|", "/")[-140:]
                    md.append(f"| {w} | {LABEL[c]} | failed | | | | | | | {err} |")
                    continue
                r = ratio(e, trio)
                md.append(
                    f"| {w} | {LABEL[c]} | {fmt_ms(e['wall_median'])} ({fmt_ms(e['wall_min'])}) | "
                    f"{'' if c == 'trio_geotiff' or r is None else f'{r:.2f}'} | "
                    f"{e['rss_peak_mb_median']:.0f} ({e['rss_growth_mb_median']:.0f}) | {e['out_mb']:.1f} | "
                    f"{e.get('http_requests_median', '') if s == 'http' else ''} | "
                    f"{e['http_bytes_median'] / 2**20:.1f} |"
                    if s == "http" and "http_bytes_median" in e
                    else f"| {w} | {LABEL[c]} | {fmt_ms(e['wall_median'])} ({fmt_ms(e['wall_min'])}) | "
                    f"{'' if c == 'trio_geotiff' or r is None else f'{r:.2f}'} | "
                    f"{e['rss_peak_mb_median']:.0f} ({e['rss_growth_mb_median']:.0f}) | {e['out_mb']:.1f} | | |"
                )
                md[-1] += (
                    f" {e['lateness_p99_ms_median']:.1f} |"
                    if "lateness_p99_ms_median" in e
                    else " |"
                )
                md[-1] += f" {e.get('hash_check', '')} |"
        md.append("")
        stats = [
            (w, cm[(w, s, "trio_geotiff")].get("lib_stats"))
            for w in res["workloads"]
            if (w, s, "trio_geotiff") in cm and cm[(w, s, "trio_geotiff")].get("lib_stats")
        ]
        if stats:
            md.append(
                f"trio_geotiff's own counters ({s}, first pass): "
                + "; ".join(
                    f"{w}: {st['requests']} req, {st['bytes_fetched'] / 2**20:.1f} MB, "
                    f"{st['ranges_coalesced']} coalesced, {st['blocks_decoded']} blocks"
                    for w, st in stats
                )
                + "\n"
            )
    md.append("## Ratios: trio_geotiff time / contender time (below 1: trio_geotiff faster)\n")
    cols = [c for c in ORDER if c != "trio_geotiff"]
    md.append("| workload | source | " + " | ".join(LABEL[c] for c in cols) + " |")
    md.append("|---|---|" + "---|" * len(cols))
    for w in res["workloads"]:
        for s in ("local", "http"):
            t = cm.get((w, s, "trio_geotiff"))
            if not t:
                continue
            vals = []
            for c in cols:
                r = ratio(t, cm.get((w, s, c)))
                vals.append("" if r is None else f"{r:.2f}")
            md.append(f"| {w} | {s} | " + " | ".join(vals) + " |")
    md.append("")
    if res.get("skipped"):
        md.append("## Not measured\n")
        seen = set()
        for sk in res["skipped"]:
            key = (sk["contender"], sk["reason"])
            if key in seen:
                continue
            seen.add(key)
            md.append(f"- {LABEL[sk['contender']]}: {sk['reason']}")
        md.append("")
    problems = [e for e in res["cells"] if e.get("errors") or e.get("hash_check") == "MISMATCH"]
    if problems:
        md.append("## Failures and mismatches\n")
        for e in problems:
            md.append(  # noqa: PERF401
                f"- {e['workload']} {e['source']} {LABEL[e['contender']]}: hash {e.get('hash_check')}; "
                + "; ".join(x.replace("|", "/")[-300:] for x in e.get("errors", []))
            )
        md.append("")
    notes = res.get("notes")
    if notes:
        md.append("## Notes\n")
        md.extend(f"- {n}" for n in notes)
        md.append("")
    return "\n".join(md) + "\n"


WORLDS_START = "<!-- every-async-world:start -->"
WORLDS_END = "<!-- every-async-world:end -->"
WORLDS = ["trio_geotiff", "trio_geotiff_before", "trio_geotiff_asyncio", "async_geotiff"]


def _p99(e: dict[str, Any] | None) -> str:
    if not e or e.get("lateness_p99_ms_median") is None:
        return "—"
    return f"{e['lateness_p99_ms_median']:.1f}"


def _ratio_text(
    a: dict[str, Any] | None, b: dict[str, Any] | None, key: str = "wall_median"
) -> str:
    if not a or not b or not a.get(key) or not b.get(key):
        return "—"
    return f"{a[key] / b[key]:.2f}"


def _worlds_targets(res: dict[str, Any]) -> list[str]:
    cm = cell_map(res)
    lines = []
    for w in res["workloads"]:
        asy, ag = cm.get((w, "http", "trio_geotiff_asyncio")), cm.get((w, "http", "async_geotiff"))
        r = ratio(asy, ag)
        if r is not None:
            ok = "met" if r < 1.0 else "**missed**"
            lines.append(f"- {w} http, trio_geotiff on asyncio / async-geotiff < 1: {r:.2f} ({ok})")
    for w in ("W2", "W3c"):
        for s in ("local", "http"):
            r = ratio(cm.get((w, s, "trio_geotiff_asyncio")), cm.get((w, s, "trio_geotiff")))
            if r is not None:
                ok = "met" if r <= 1.05 else "**missed**"
                lines.append(f"- {w} {s}, on asyncio / on trio ≤ 1.05: {r:.2f} ({ok})")
            r = ratio(cm.get((w, s, "trio_geotiff")), cm.get((w, s, "trio_geotiff_before")))
            if r is not None:
                ok = "met" if r <= 1.05 else "**missed**"
                lines.append(f"- {w} {s}, on trio after / before the port ≤ 1.05: {r:.2f} ({ok})")
    for s in ("local", "http"):
        e = cm.get(("W2", s, "trio_geotiff_asyncio"))
        if e and e.get("lateness_p99_ms_median") is not None:
            lat = e["lateness_p99_ms_median"]
            ok = "met" if lat <= 5.0 else "**missed**"
            idle = e.get("idle_lateness_p99_ms_median", 0.0)
            trio = cm.get(("W2", s, "trio_geotiff")) or {}
            lines.append(
                f"- W2 {s}, asyncio loop p99 lateness ≤ 5 ms: {lat:.1f} ms ({ok}; the same"
                f" loop idle before the workload: {idle:.1f} ms; trio's during W2:"
                f" {trio.get('lateness_p99_ms_median', float('nan')):.1f} ms, idle"
                f" {trio.get('idle_lateness_p99_ms_median', float('nan')):.1f} ms)"
            )
    return lines


def worlds_section(res: dict[str, Any]) -> str:
    """The "Every async world" section: trio_geotiff on trio (before/after the port), on asyncio, and async-geotiff."""
    cm = cell_map(res)
    loads = [r["loadavg_before"][0] for r in res.get("runs", []) if r.get("loadavg_before")]
    md = [WORLDS_START, "## Every async world\n"]
    md.append(
        "trio_geotiff under `trio.run` after the anyio port (*trio*), the same workload under "
        "`trio.run` with the code of before the port (*before*, commit d732e63), under plain "
        "`asyncio.run` (*asyncio*), and async-geotiff under `asyncio.run` (its home), in one "
        f"run: {res['created']}, {res['passes']} passes, contenders interleaved and rotated, "
        f"medians in ms. Every contender runs a 1 ms ticker on its loop; *p99* is that ticker's "
        "99th-percentile lateness (ms) during the workload; *CPU* ratios compare the "
        "processes' CPU time (all threads) over the timed part, which the machine's other "
        "load disturbs less than wall time. 1-min load average before the "
        + (
            f"measurements: median {sorted(loads)[len(loads) // 2]:.1f}, max {max(loads):.1f} "
            if loads
            else ""
        )
        + "(a shared 2-core machine: compare ratios, not absolute times). "
        f"Code measured: `{json.dumps(res.get('trio_geotiff_src', {}))}`.\n"
    )
    md.append(
        "| workload | source | trio | before | asyncio | async-geotiff | asyncio / trio |"
        " trio / before | asyncio / async-geotiff | CPU asyncio / trio | CPU trio / before |"
        " p99 trio | p99 asyncio | p99 async-geotiff |"
    )
    md.append("|---|---|" + "---|" * 12)
    for w in res["workloads"]:
        for s in ("local", "http"):
            cells = [cm.get((w, s, c)) for c in WORLDS]
            if not any(cells):
                continue
            trio, before, asy, ag = cells
            times = [fmt_ms(e.get("wall_median")) if e else "—" for e in cells]
            md.append(
                f"| {w} | {s} | "
                + " | ".join(times)
                + f" | {_ratio_text(asy, trio)} | {_ratio_text(trio, before)} | "
                f"{_ratio_text(asy, ag)} | {_ratio_text(asy, trio, 'cpu_median')} | "
                f"{_ratio_text(trio, before, 'cpu_median')} | "
                f"{_p99(trio)} | {_p99(asy)} | {_p99(ag)} |"
            )
    md.append("")
    md.append("Targets of issue 11:\n")
    md.extend(_worlds_targets(res))
    md.append("")
    if res.get("worlds_notes"):  # findings added to the results file by hand
        md.append("Notes:\n")
        md.extend(f"- {note}" for note in res["worlds_notes"])
        md.append("")
    md.append(WORLDS_END)
    return "\n".join(md) + "\n"


def splice_worlds(page: str, section: str) -> str:
    """``page`` with its "Every async world" section replaced by ``section`` (or appended)."""
    if WORLDS_START in page and WORLDS_END in page:
        head, rest = page.split(WORLDS_START, 1)
        tail = rest.split(WORLDS_END, 1)[1].lstrip("\n")
        return head + section + ("\n" + tail if tail else "")
    return page.rstrip("\n") + "\n\n" + section


def kept_worlds(path: Path) -> str | None:
    """The "Every async world" section already in ``path``, if any."""
    if not path.exists():
        return None
    page = path.read_text()
    if WORLDS_START not in page or WORLDS_END not in page:
        return None
    return WORLDS_START + page.split(WORLDS_START, 1)[1].split(WORLDS_END, 1)[0] + WORLDS_END + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("results", nargs="?", type=Path, default=HERE / "results" / "latest.json")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    ap.add_argument(
        "--notes",
        type=Path,
        default=HERE / "notes.md",
        help="markdown bullet list appended as 'Notes' (optional)",
    )
    ap.add_argument(
        "--worlds",
        action="store_true",
        help='only (re)write the "Every async world" section of --out from these results',
    )
    args = ap.parse_args()
    res = json.loads(args.results.read_text())
    if args.worlds:
        page = args.out.read_text() if args.out.exists() else "# Benchmarks\n"
        args.out.write_text(splice_worlds(page, worlds_section(res)))
        print(f"wrote the every-async-world section of {args.out}")
        return 0
    kept = kept_worlds(args.out)
    if args.notes.exists():
        res["notes"] = [
            ln[2:].strip() for ln in args.notes.read_text().splitlines() if ln.startswith("- ")
        ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    png_path = args.out.with_suffix(".png")
    png = png_path.name if plot(res, png_path) else None
    page = render(res, png)
    args.out.write_text(splice_worlds(page, kept) if kept else page)
    print(f"wrote {args.out}" + (f" and {png_path}" if png else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
