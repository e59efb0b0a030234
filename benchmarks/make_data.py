"""Generate the deterministic benchmark data set into benchmarks/.data/.

Files (all 8192x8192, EPSG:32633, 10 m pixels, seeded; regenerated only when
missing unless --force):

* ``rgb.tif``      3-band uint8 COG, DEFLATE + predictor 2, 512 px tiles, 4 overviews
* ``u16.tif``      1-band uint16 COG, LZW + predictor 2
* ``f32.tif``      1-band float32 COG, ZSTD + predictor 3
* ``strip.tif``    3-band uint8 stripped GeoTIFF (same pixels as rgb.tif),
                   DEFLATE + predictor 2, 16 rows per strip
* ``small_00.tif`` .. ``small_15.tif``: a 2048x2048 crop of rgb.tif as a COG,
                   the first file written once, the others hard links to it.

The pixels are a sum of smoothed noise octaves, gradients, sharp-edged
"fields", straight "roads" and fine per-pixel noise, so that the codecs see
realistic entropy (neither zeros nor white noise).

Usage: python benchmarks/make_data.py [--force]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.crs import CRS

DATA = Path(__file__).resolve().parent / ".data"
SIZE = 8192
SEED = 20240611
TRANSFORM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 5_000_000.0)
CRS_ = CRS.from_epsg(32633)
N_SMALL = 16
SMALL = 2048


def _upsample(grid: np.ndarray, n: int) -> np.ndarray:
    """Separable linear interpolation of a (g, g) grid to (n, n), float32."""
    g = grid.shape[0]
    x = np.linspace(0, g - 1, n, dtype=np.float32)
    j = np.minimum(x.astype(np.int64), g - 2)
    w = (x - j).astype(np.float32)
    rows = grid[j] * (1 - w)[:, None] + grid[j + 1] * w[:, None]  # (n, g)
    return rows[:, j] * (1 - w)[None, :] + rows[:, j + 1] * w[None, :]


def _smooth_noise(rng: np.random.Generator, n: int, octaves: list[tuple[int, float]]) -> np.ndarray:
    out = np.zeros((n, n), np.float32)
    for g, amp in octaves:
        out += amp * _upsample(rng.standard_normal((g, g)).astype(np.float32), n)
    return out


def _fields(rng: np.random.Generator, n: int) -> np.ndarray:
    """Piecewise-constant patches with sharp edges (like field parcels)."""
    base = _smooth_noise(rng, n, [(33, 1.0), (129, 0.35)])
    levels = np.quantile(base[::64, ::64], np.linspace(0, 1, 9)[1:-1])
    return np.digitize(base, levels).astype(np.uint8)  # 0..7


def _roads(n: int, rng: np.random.Generator) -> np.ndarray:
    mask = np.zeros((n, n), bool)
    yy = np.arange(n)
    for _ in range(12):
        # Straight lines y = a*x + b, 5 px wide.
        a = rng.uniform(-1.5, 1.5)
        b = rng.uniform(-n / 2, n * 1.5)
        for x0 in range(0, n, 1024):
            xs = np.arange(x0, min(x0 + 1024, n))
            ys = (a * xs + b).astype(np.int64)
            for d in range(-2, 3):
                y = ys + d
                ok = (y >= 0) & (y < n)
                mask[y[ok], xs[ok]] = True
    del yy
    return mask


def make_rgb_array(rng: np.random.Generator, n: int = SIZE) -> np.ndarray:
    t0 = time.perf_counter()
    smooth = _smooth_noise(rng, n, [(17, 1.0), (65, 0.5), (257, 0.25), (1025, 0.12)])
    cls = _fields(rng, n)
    roads = _roads(n, rng)
    ramp = np.linspace(-0.6, 0.6, n, dtype=np.float32)
    palette = rng.uniform(40, 200, size=(8, 3)).astype(np.float32)
    out = np.empty((3, n, n), np.uint8)
    for b in range(3):
        band = palette[cls, b]
        band += 28.0 * smooth
        band += 30.0 * (ramp[None, :] * (b - 1) + ramp[:, None] * 0.5)
        band += rng.integers(-6, 7, size=(n, n), dtype=np.int8).astype(np.float32)
        band[roads] = (90.0, 92.0, 95.0)[b]
        np.clip(band, 0, 255, out=band)
        out[b] = band.astype(np.uint8)
        del band
    print(f"  rgb pixels in {time.perf_counter() - t0:.1f}s", flush=True)
    return out


def _write_cog(path: Path, arr: np.ndarray, **opts: object) -> None:
    tmp = path.with_suffix(".tmp.tif")
    count, h, w = arr.shape
    with rasterio.open(
        tmp,
        "w",
        driver="GTiff",
        width=w,
        height=h,
        count=count,
        dtype=arr.dtype,
        crs=CRS_,
        transform=TRANSFORM,
        tiled=True,
        blockxsize=512,
        blockysize=512,
        photometric="RGB" if count == 3 else "MINISBLACK",
    ) as dst:
        dst.write(arr)
    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):
        rasterio.shutil.copy(
            tmp,
            path,
            driver="COG",
            BLOCKSIZE=512,
            OVERVIEW_RESAMPLING="AVERAGE",
            NUM_THREADS="ALL_CPUS",
            OVERVIEW_COUNT=4,
            **opts,
        )
    tmp.unlink()


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--force", action="store_true", help="regenerate even if the files exist")
    args = ap.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    names = ["rgb.tif", "u16.tif", "f32.tif", "strip.tif"] + [
        f"small_{i:02d}.tif" for i in range(N_SMALL)
    ]
    if not args.force and all((DATA / n).exists() for n in names):
        print(f"data already in {DATA} (use --force to regenerate)")
        return 0
    t_all = time.perf_counter()
    rng = np.random.default_rng(SEED)
    rgb = make_rgb_array(rng)

    t0 = time.perf_counter()
    _write_cog(DATA / "rgb.tif", rgb, COMPRESS="DEFLATE", PREDICTOR=2)
    print(f"  rgb.tif in {time.perf_counter() - t0:.1f}s", flush=True)

    t0 = time.perf_counter()
    with rasterio.open(
        DATA / "strip.tif",
        "w",
        driver="GTiff",
        width=SIZE,
        height=SIZE,
        count=3,
        dtype="uint8",
        crs=CRS_,
        transform=TRANSFORM,
        tiled=False,
        blockysize=16,
        compress="DEFLATE",
        predictor=2,
        interleave="pixel",
        photometric="RGB",
        NUM_THREADS="ALL_CPUS",
    ) as dst:
        dst.write(rgb)
    print(f"  strip.tif in {time.perf_counter() - t0:.1f}s", flush=True)

    t0 = time.perf_counter()
    small = DATA / "small_00.tif"
    _write_cog(small, np.ascontiguousarray(rgb[:, :SMALL, :SMALL]), COMPRESS="DEFLATE", PREDICTOR=2)
    for i in range(1, N_SMALL):
        link = DATA / f"small_{i:02d}.tif"
        if link.exists():
            link.unlink()
        os.link(small, link)
    print(f"  small_*.tif in {time.perf_counter() - t0:.1f}s", flush=True)
    del rgb

    t0 = time.perf_counter()
    elev = _smooth_noise(rng, SIZE, [(9, 900.0), (33, 400.0), (129, 120.0), (513, 30.0)])
    elev += np.linspace(0, 1500, SIZE, dtype=np.float32)[:, None]
    elev += rng.integers(-3, 4, size=(SIZE, SIZE), dtype=np.int8).astype(np.float32)
    elev += 2000.0
    u16 = np.clip(elev, 0, 65535).astype(np.uint16)[None]
    _write_cog(DATA / "u16.tif", u16, COMPRESS="LZW", PREDICTOR=2)
    del u16
    print(f"  u16.tif in {time.perf_counter() - t0:.1f}s", flush=True)

    t0 = time.perf_counter()
    # A temperature-like field (deg C) derived from the elevation, with sensor noise
    # quantised to 1/64 degree so that the float predictor has something to gain.
    temp = 25.0 - elev * 0.0065 + _smooth_noise(rng, SIZE, [(65, 1.5), (257, 0.5)])
    temp += rng.standard_normal((SIZE, SIZE), dtype=np.float32) * 0.05
    f32 = (np.round(temp * 64.0) / 64.0).astype(np.float32)[None]
    del temp, elev
    _write_cog(DATA / "f32.tif", f32, COMPRESS="ZSTD", PREDICTOR=3)
    del f32
    print(f"  f32.tif in {time.perf_counter() - t0:.1f}s", flush=True)
    print(f"data written to {DATA} in {time.perf_counter() - t_all:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
