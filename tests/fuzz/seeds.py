"""Seed files for the fuzzers: small corpus GeoTIFFs plus a few written with rasterio."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

CORPUS = Path(
    os.environ.get("TRIO_GEOTIFF_CORPUS", Path(__file__).resolve().parents[3] / "shared" / "corpus")
)
MAX_SEED_BYTES = 96 * 1024
"""Corpus files above this are not used as seeds (each case reads the whole file)."""
_SIDECARS = (".aux.xml",)


def corpus_manifest() -> list[dict[str, Any]]:
    """The corpus manifest, or [] when the corpus is absent."""
    path = CORPUS / "manifest.json"
    if not path.is_file():
        return []
    entries: list[dict[str, Any]] = json.loads(path.read_text())
    return entries


def is_broken(entry: dict[str, Any]) -> bool:
    """Corpus files known not to open, or marked corrupt."""
    if entry["path"].endswith(_SIDECARS):
        return False
    return entry.get("opens") in (False, None) or any(
        "corrupt" in f for f in entry.get("features", [])
    )


def corpus_seeds(max_bytes: int = MAX_SEED_BYTES) -> list[tuple[str, bytes]]:
    """(name, bytes) of the small TIFFs of the corpus ([] when it is absent)."""
    out = []
    for entry in corpus_manifest():
        if entry["path"].endswith(_SIDECARS) or entry.get("size", 0) > max_bytes:
            continue
        path = CORPUS / entry["path"]
        if path.is_file():
            out.append((entry["path"], path.read_bytes()))
    return out


# name -> (array shape (bands, rows, cols), dtype, creation options, extras)
_GENERATED: dict[str, tuple[tuple[int, int, int], str, dict[str, Any], dict[str, Any]]] = {
    "cog-deflate-ovr-mask": (
        (1, 96, 80),
        "uint16",
        {"driver": "COG", "compress": "DEFLATE", "blocksize": 32, "overview_count": 2},
        {"mask": True},
    ),
    "cog-jpeg-rgb": (
        (3, 64, 64),
        "uint8",
        {"driver": "COG", "compress": "JPEG", "blocksize": 32, "overview_count": 1},
        {},
    ),
    "tiled-lzw-pred2": (
        (2, 50, 70),
        "int16",
        {"tiled": True, "blockxsize": 32, "blockysize": 16, "compress": "LZW", "predictor": 2},
        {"overviews": [2]},
    ),
    "tiled-zstd-float-pred3": (
        (1, 40, 48),
        "float32",
        {"tiled": True, "blockxsize": 16, "blockysize": 16, "compress": "ZSTD", "predictor": 3},
        {"nodata": -9999.0},
    ),
    "stripped-none": ((3, 37, 29), "uint8", {"blockysize": 8}, {}),
    "stripped-packbits-palette": (
        (1, 33, 41),
        "uint8",
        {"compress": "PACKBITS", "blockysize": 5},
        {"colormap": True},
    ),
    "planar-deflate": (
        (3, 30, 40),
        "uint8",
        {
            "interleave": "band",
            "compress": "DEFLATE",
            "tiled": True,
            "blockxsize": 16,
            "blockysize": 16,
        },
        {},
    ),
    "bigtiff-deflate": (
        (1, 40, 40),
        "float64",
        {
            "BIGTIFF": "YES",
            "compress": "DEFLATE",
            "tiled": True,
            "blockxsize": 16,
            "blockysize": 16,
        },
        {"overviews": [2]},
    ),
    "bigendian-stripped": ((2, 21, 33), "uint16", {"ENDIANNESS": "BIG", "blockysize": 4}, {}),
    "bigendian-tiled-lzw": (
        (1, 40, 40),
        "int32",
        {"ENDIANNESS": "BIG", "compress": "LZW", "tiled": True, "blockxsize": 16, "blockysize": 16},
        {},
    ),
    "webp-rgba": (
        (4, 32, 32),
        "uint8",
        {"compress": "WEBP", "tiled": True, "blockxsize": 16, "blockysize": 16},
        {},
    ),
    "nbits12-deflate": ((1, 20, 30), "uint16", {"NBITS": 12, "compress": "DEFLATE"}, {}),
}


GENERATED_DIR = Path(__file__).resolve().parents[1] / ".generated" / "fuzz-seeds"
"""Where `generated_seeds` keeps the files it writes (between runs)."""


def all_seeds() -> list[tuple[str, bytes]]:
    """The fuzzers' seed files: the generated ones, then the small corpus files."""
    return generated_seeds(GENERATED_DIR) + corpus_seeds()


def generated_seeds(cache: Path) -> list[tuple[str, bytes]]:
    """(name, bytes) of files written with rasterio into ``cache`` (kept between runs)."""
    cache.mkdir(parents=True, exist_ok=True)
    out = []
    for name, spec in _GENERATED.items():
        path = cache / f"{name}.tif"
        if not path.is_file():
            try:
                _write(path, *spec)
            except Exception as exc:  # a codec the bundled GDAL lacks: skip the seed
                warnings.warn(f"fuzz seed {name} not written: {exc}", RuntimeWarning, stacklevel=1)
                continue
        out.append((f"generated/{name}", path.read_bytes()))
    return out


def _write(
    path: Path,
    shape: tuple[int, int, int],
    dtype: str,
    options: dict[str, Any],
    extras: dict[str, Any],
) -> None:
    import rasterio
    import rasterio.shutil
    from affine import Affine
    from rasterio.enums import Resampling

    bands, rows, cols = shape
    rng = np.random.default_rng(len(path.name))
    yy, xx = np.mgrid[0:rows, 0:cols]
    base = (xx * 3 + yy * 5) % 200 + rng.integers(0, 20, size=(rows, cols))
    data = np.stack([base + 10 * b for b in range(bands)]).astype(dtype)
    if dtype.startswith("float"):
        data[:, :2, :2] = -9999.0
    options = dict(options)
    driver = options.pop("driver", "GTiff")
    profile = {
        "driver": "GTiff",
        "width": cols,
        "height": rows,
        "count": bands,
        "dtype": dtype,
        "crs": "EPSG:32631",
        "transform": Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4500000.0),
    }
    if "nodata" in extras:
        profile["nodata"] = extras["nodata"]
    tmp = path.with_suffix(".tmp.tif") if driver == "COG" else path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
            gtiff_options = {} if driver == "COG" else options
            with rasterio.open(tmp, "w", **profile, **gtiff_options) as ds:
                ds.write(data)
                if extras.get("mask"):
                    mask = np.full((rows, cols), 255, np.uint8)
                    mask[: rows // 3, : cols // 3] = 0
                    ds.write_mask(mask)
                if extras.get("colormap"):
                    ds.write_colormap(1, {i: (i, 255 - i, (7 * i) % 256, 255) for i in range(256)})
                if extras.get("overviews"):
                    ds.build_overviews(extras["overviews"], Resampling.nearest)
            if driver == "COG":
                rasterio.shutil.copy(tmp, path, driver="COG", **options)
                tmp.unlink()
