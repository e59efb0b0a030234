"""Generate a small, Sentinel-2-like time series of COGs (needs rasterio).

This is a helper for the other examples and for the tests: it writes
``dates`` Cloud-Optimized GeoTIFFs of one made-up 10 m tile in UTM zone 33N,
one per acquisition date, each with three uint16 bands in surface-reflectance
units (B04 red, B03 green, B02 blue). Like real Sentinel-2 L2A data:

- valid reflectances are 1..10000 (bright clouds near 8000), nodata is 0;
- some dates only partly cover the tile: the rest is nodata (all bands 0);
- the files are COGs: 128x128 tiles, DEFLATE with a predictor, internal
  overviews (factors 2 and 4 for 512x512), average resampling.

The output is seeded, so the same arguments always give the same pixels.
rasterio (GDAL) is only needed here, to *write* the files; the examples that
read them use trio_geotiff alone.

Usage::

    python examples/make_stack.py OUT_DIR [--dates 6] [--size 512] [--separate-bands]

With ``--separate-bands`` each date is three single-band files
(``..._B04.tif``, ``..._B03.tif``, ``..._B02.tif``), as Sentinel-2 COGs are
published; otherwise each date is one 3-band file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.io import MemoryFile

BANDS = ("B04", "B03", "B02")  # red, green, blue
NODATA = 0
FIRST_DATE = dt.date(2024, 3, 5)
REVISIT = dt.timedelta(days=5)
CRS = "EPSG:32633"
# A north-up 10 m grid; built directly, because `rasterio.transform.from_origin`
# multiplies Affines with `*`, which newer affine versions deprecate.
TRANSFORM = Affine(10.0, 0.0, 399960.0, 0.0, -10.0, 5800020.0)


def _scene(rng: np.random.Generator, size: int) -> np.ndarray:
    """A cloud-free base scene: (3, size, size) float reflectances."""
    # Blocky "fields" on a coarse grid, each a land cover with a typical
    # red/green/blue reflectance, blown up to full size.
    covers = np.array(
        [
            [300.0, 600.0, 350.0],  # crops / forest: green
            [1500.0, 1300.0, 1000.0],  # bare soil: brown
            [200.0, 350.0, 500.0],  # water: dark blue
            [1100.0, 1100.0, 1100.0],  # built-up: grey
        ]
    )
    cells = max(size // 32, 1)
    kind = rng.choice(len(covers), size=(cells, cells), p=[0.5, 0.25, 0.1, 0.15])
    coarse = covers[kind] * rng.uniform(0.8, 1.2, (cells, cells, 1))  # (cells, cells, 3)
    block = np.ones((size // cells + 1, size // cells + 1))
    return np.stack([np.kron(coarse[..., b], block)[:size, :size] for b in range(3)])


def _date_pixels(rng: np.random.Generator, base: np.ndarray, i: int) -> np.ndarray:
    """One date: seasonal change, sensor noise, clouds and a partial swath."""
    size = base.shape[-1]
    season = 1.0 + 0.15 * np.sin(i)  # greener or browner from date to date
    noisy = base * season + rng.normal(0.0, 40.0, base.shape)
    data = np.clip(np.rint(noisy), 1, 10000).astype(np.uint16)  # valid pixels are never 0

    rows, cols = np.mgrid[0:size, 0:size]
    # A few round clouds, bright in every band.
    for _ in range(int(rng.integers(0, 4))):
        r0, c0 = rng.integers(0, size, 2)
        radius = rng.uniform(size / 40, size / 16)
        cloud = (rows - r0) ** 2 + (cols - c0) ** 2 < radius**2
        data[:, cloud] = rng.integers(7000, 9000)
    # Every other date, the satellite's swath edge crosses the tile: the part
    # beyond a slanted line is nodata in every band.
    if i % 2 == 1:
        edge = size * rng.uniform(0.5, 0.9)
        data[:, cols + 0.3 * rows > edge] = NODATA
    return data


def _write_cog(path: Path, pixels: np.ndarray, descriptions: Sequence[str], date: dt.date) -> None:
    count, height, width = pixels.shape
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": "uint16",
        "crs": CRS,
        "transform": TRANSFORM,
        "nodata": NODATA,
    }
    with MemoryFile() as mem:
        # Stage in memory (to set band names and a date tag), then let GDAL's
        # COG driver lay the file out: tiles, overviews, header first.
        with mem.open(**profile) as staged:
            staged.write(pixels)
            staged.descriptions = tuple(descriptions)
            staged.update_tags(ACQUISITION_DATE=date.isoformat())
        with mem.open() as staged:
            rasterio.shutil.copy(
                staged,
                path,
                driver="COG",
                BLOCKSIZE=128,
                COMPRESS="DEFLATE",
                PREDICTOR="YES",
                OVERVIEW_RESAMPLING="AVERAGE",
                BIGTIFF="NO",
            )


def make_stack(
    out_dir: Path | str,
    *,
    dates: int = 6,
    size: int = 512,
    seed: int = 0,
    separate_bands: bool = False,
) -> list[Path]:
    """Write the stack into ``out_dir`` (created if needed).

    Returns:
        The files written, in date order (for ``separate_bands``, grouped by
        date, in the order B04, B03, B02).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    base = _scene(rng, size)
    written: list[Path] = []
    # GDAL_PAM_ENABLED=NO: no .aux.xml files next to the COGs.
    with warnings.catch_warnings(), rasterio.Env(GDAL_PAM_ENABLED="NO"):
        warnings.simplefilter("ignore")  # GDAL's chatter is not the point here
        for i in range(dates):
            date = FIRST_DATE + i * REVISIT
            stem = f"S2_T33UUU_{date:%Y%m%d}"
            pixels = _date_pixels(rng, base, i)
            if separate_bands:
                for band, name in enumerate(BANDS):
                    path = out / f"{stem}_{name}.tif"
                    _write_cog(path, pixels[band : band + 1], [name], date)
                    written.append(path)
            else:
                path = out / f"{stem}.tif"
                _write_cog(path, pixels, BANDS, date)
                written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="directory to write the COGs into")
    parser.add_argument("--dates", type=int, default=6, help="number of dates (default 6)")
    parser.add_argument("--size", type=int, default=512, help="width = height in pixels")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--separate-bands", action="store_true", help="one file per band, as Sentinel-2 ships"
    )
    args = parser.parse_args(argv)
    paths = make_stack(
        args.out_dir,
        dates=args.dates,
        size=args.size,
        seed=args.seed,
        separate_bands=args.separate_bands,
    )
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
