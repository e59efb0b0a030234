"""Build the bundled sample COG, ``src/trio_geotiff/data/sample_cog.tif``.

The source is rasterio's ``tests/data/RGB.byte.tif`` (a Landsat 7 subset, CC0;
see ``src/trio_geotiff/data/README.md``), taken from the shared corpus. The
output is a Cloud-Optimized GeoTIFF: 256x256 tiles, DEFLATE with horizontal
differencing (predictor 2), internal overviews at factors 2 and 4, nodata 0
and EPSG:32618 preserved.

Run from the repository root (needs rasterio, i.e. GDAL, at build time only)::

    python tests/make_sample.py [SOURCE] [DEST]
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import rasterio
import rasterio.shutil
from rasterio.io import MemoryFile

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("TRIO_GEOTIFF_CORPUS", ROOT.parent / "shared" / "corpus"))
SOURCE = CORPUS / "rasterio" / "RGB.byte.tif"
DEST = ROOT / "src" / "trio_geotiff" / "data" / "sample_cog.tif"

TAGS = {
    "TIFFTAG_IMAGEDESCRIPTION": "trio_geotiff sample COG: Landsat 7 subset (rasterio tests/data/RGB.byte.tif, CC0 1.0)",
    "TIFFTAG_SOFTWARE": "trio_geotiff tests/make_sample.py (GDAL COG driver)",
}


def build(source: Path, dest: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # GDAL_PAM_ENABLED=NO: neither read the source's .aux.xml statistics nor
        # write a .aux.xml next to the output; the sample is one self-contained file.
        with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(source) as src:
            if src.crs is None or src.crs.to_epsg() != 32618 or src.nodata != 0:
                raise SystemExit(f"{source}: expected EPSG:32618 with nodata 0")
            profile = src.profile | {"driver": "GTiff", "tiled": False}
            with MemoryFile() as mem:
                # Stage in memory to add provenance tags, then let the COG driver lay it out.
                with mem.open(**profile) as staged:
                    staged.write(src.read())
                    staged.update_tags(**TAGS)
                    staged.colorinterp = src.colorinterp
                with mem.open() as staged:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.unlink(missing_ok=True)
                    rasterio.shutil.copy(
                        staged,
                        dest,
                        driver="COG",
                        BLOCKSIZE=256,
                        COMPRESS="DEFLATE",
                        PREDICTOR="YES",  # horizontal differencing (2) for integer samples
                        LEVEL=9,
                        OVERVIEWS="IGNORE_EXISTING",
                        OVERVIEW_COUNT=2,  # factors 2 and 4
                        OVERVIEW_RESAMPLING="AVERAGE",
                        BIGTIFF="NO",
                    )


def check(dest: Path) -> None:
    with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(dest) as ds:
        assert ds.profile["tiled"]
        assert ds.block_shapes[0] == (256, 256), ds.block_shapes
        assert ds.compression is not None, ds.compression
        assert ds.compression.name == "deflate", ds.compression
        assert ds.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR", "2") == "2"
        assert ds.overviews(1) == [2, 4], ds.overviews(1)
        assert ds.nodata == 0
        assert ds.crs.to_epsg() == 32618
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG", ds.tags(ns="IMAGE_STRUCTURE")
        print(
            f"wrote {dest} ({dest.stat().st_size // 1024} KiB): {ds.width}x{ds.height}x{ds.count}"
            f" {ds.dtypes[0]}, overviews {ds.overviews(1)}, {ds.crs}"
        )


def main(argv: list[str]) -> None:
    source = Path(argv[1]) if len(argv) > 1 else SOURCE
    dest = Path(argv[2]) if len(argv) > 2 else DEST
    if not source.is_file():
        raise SystemExit(f"source not found: {source}")
    build(source, dest)
    check(dest)


if __name__ == "__main__":
    main(sys.argv)
