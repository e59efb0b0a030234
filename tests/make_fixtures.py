"""Generate small GeoTIFFs covering the TIFF layouts and codecs GDAL writes.

Every file is written with rasterio (GDAL) from deterministic, seeded data
with texture, so reads can be compared with GDAL's own. Usage::

    paths = make_fixtures(tmp_dir)  # {case name: path}, one file per case

`CASES` describes each case (what the tests need to know: lossy tolerance,
expected presence of a mask source); `make_fixtures` skips cases whose codec
the bundled GDAL cannot write (listed in `SKIPPED` after a call, with the reason).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window as RioWindow

__all__ = ["CASES", "SKIPPED", "Case", "make_fixtures"]

WIDTH, HEIGHT = 300, 200
CRS_ = CRS.from_epsg(32631)
TRANSFORM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4500000.0)


@dataclass(frozen=True)
class Case:
    """One fixture file."""

    dtype: str = "uint8"
    count: int = 1
    width: int = WIDTH
    height: int = HEIGHT
    options: dict[str, Any] = field(default_factory=dict)
    """GTiff creation options (TILED, BLOCKXSIZE, COMPRESS, PREDICTOR...)."""
    env: dict[str, Any] = field(default_factory=dict)
    nodata: float | None = None
    photometric: str | None = None
    alpha: bool = False
    """The last band is alpha (ALPHA=YES)."""
    mask: bool = False
    """Write an internal mask."""
    overviews: bool = False
    sparse: bool = False
    """SPARSE_OK=TRUE and write only some blocks."""
    value_bits: int | None = None
    """Restrict values to this many bits (for NBITS)."""
    alpha_binary: bool = False
    """Alpha values are 0 or 255 only (LERC then stores alpha as its validity mask)."""
    nan_per_band: bool = False
    """Besides the nodata pixels, NaNs that differ between bands (float data)."""
    colormap: bool = False
    """Write a colour table (PHOTOMETRIC=PALETTE)."""
    cog: dict[str, Any] | None = None
    """Write a plain GTiff first, then convert it with GDAL's COG driver and these options."""
    tolerance: int = 0
    """Maximum absolute difference allowed against GDAL (lossy codecs)."""
    may_skip: bool = False
    """The codec may be missing from the bundled GDAL: skip the case if it fails."""

    @property
    def has_mask_source(self) -> bool:
        return self.nodata is not None or self.mask or self.alpha


def _tiled(bx: int = 128, by: int = 128, **kw: Any) -> dict[str, Any]:
    return {"TILED": "YES", "BLOCKXSIZE": bx, "BLOCKYSIZE": by, **kw}


def _strips(rows: int = 7, **kw: Any) -> dict[str, Any]:
    return {"TILED": "NO", "BLOCKYSIZE": rows, **kw}


def _build_cases() -> dict[str, Case]:
    c: dict[str, Case] = {}
    # -- layout -------------------------------------------------------------
    c["tiled_none_u8"] = Case(options=_tiled())
    c["strip_none_u8_rps7"] = Case(options=_strips(7))
    c["strip_none_u8_onestrip"] = Case(options={"TILED": "NO", "BLOCKYSIZE": HEIGHT})
    c["strip_deflate_u16_rps13"] = Case(dtype="uint16", options=_strips(13, COMPRESS="DEFLATE"))
    c["tiled_nonsquare_deflate_i16"] = Case(
        dtype="int16", options=_tiled(64, 32, COMPRESS="DEFLATE")
    )
    c["tile_larger_than_image"] = Case(
        width=100, height=60, count=2, dtype="uint16", options=_tiled(256, 256, COMPRESS="DEFLATE")
    )
    c["strip_larger_than_image"] = Case(width=100, height=60, options=_strips(500, COMPRESS="LZW"))
    c["tiled_16_u8_lzw"] = Case(count=2, options=_tiled(16, 16, COMPRESS="LZW"))
    c["tiny_1x1"] = Case(width=1, height=1, count=3, options=_strips(1))
    c["single_row"] = Case(width=300, height=1, dtype="int16", options=_tiled(COMPRESS="DEFLATE"))
    c["single_column_strip"] = Case(width=1, height=200, options=_strips(3, COMPRESS="ZSTD"))
    c["tile_larger_than_image_jpeg"] = Case(
        width=100,
        height=60,
        count=3,
        photometric="RGB",
        tolerance=2,
        options=_tiled(256, 256, COMPRESS="JPEG"),
    )
    c["tile_larger_than_image_ycbcr_jpeg"] = Case(
        width=100,
        height=60,
        count=3,
        photometric="YCBCR",
        tolerance=2,
        options=_tiled(256, 256, COMPRESS="JPEG"),
    )
    c["onestrip_nbits1_wide"] = Case(
        width=3000, height=40, value_bits=1, options={"TILED": "NO", "BLOCKYSIZE": 40, "NBITS": 1}
    )
    c["onestrip_nbits12_3band"] = Case(
        dtype="uint16",
        count=3,
        value_bits=12,
        options={"TILED": "NO", "BLOCKYSIZE": HEIGHT, "NBITS": 12},
    )
    c["onestrip_planar_u16"] = Case(
        dtype="uint16", count=2, options={"TILED": "NO", "BLOCKYSIZE": HEIGHT, "INTERLEAVE": "BAND"}
    )
    c["chunky_u8_3band_lzw"] = Case(count=3, options=_tiled(COMPRESS="LZW", INTERLEAVE="PIXEL"))
    c["chunky_u16_3band_pred2"] = Case(
        dtype="uint16", count=3, options=_tiled(COMPRESS="DEFLATE", PREDICTOR=2, INTERLEAVE="PIXEL")
    )
    c["planar_u16_3band_pred2_tiled"] = Case(
        dtype="uint16", count=3, options=_tiled(COMPRESS="DEFLATE", PREDICTOR=2, INTERLEAVE="BAND")
    )
    c["planar_u16_3band_pred2_strip"] = Case(
        dtype="uint16", count=3, options=_strips(11, COMPRESS="LZW", PREDICTOR=2, INTERLEAVE="BAND")
    )
    c["planar_f32_3band_pred3_tiled"] = Case(
        dtype="float32", count=3, options=_tiled(COMPRESS="DEFLATE", PREDICTOR=3, INTERLEAVE="BAND")
    )
    c["planar_u8_4band_none_strip"] = Case(count=4, options=_strips(9, INTERLEAVE="BAND"))
    # -- byte codecs --------------------------------------------------------
    for codec in ("DEFLATE", "LZW", "PACKBITS", "ZSTD", "LZMA"):
        c[f"codec_{codec.lower()}_u8"] = Case(options=_tiled(COMPRESS=codec))
        c[f"codec_{codec.lower()}_f32_strip"] = Case(
            dtype="float32", options=_strips(16, COMPRESS=codec)
        )
    # -- LERC -----------------------------------------------------------------
    for codec in ("LERC", "LERC_DEFLATE", "LERC_ZSTD"):
        name = codec.lower()
        c[f"codec_{name}_f32"] = Case(dtype="float32", options=_tiled(COMPRESS=codec))
        c[f"codec_{name}_u8_3band"] = Case(count=3, options=_tiled(COMPRESS=codec))
    c["codec_lerc_f32_zerror"] = Case(
        dtype="float32", options=_tiled(COMPRESS="LERC", MAX_Z_ERROR=0.5), tolerance=2
    )
    c["codec_lerc_deflate_i16_zerror"] = Case(
        dtype="int16", options=_tiled(COMPRESS="LERC_DEFLATE", MAX_Z_ERROR=1), tolerance=2
    )
    c["codec_lerc_u16_planar"] = Case(
        dtype="uint16", count=2, options=_tiled(COMPRESS="LERC_ZSTD", INTERLEAVE="BAND")
    )
    c["codec_lerc_f64_strip"] = Case(dtype="float64", options=_strips(32, COMPRESS="LERC"))
    # -- image codecs -------------------------------------------------------
    c["codec_webp_rgb_lossless"] = Case(
        count=3, photometric="RGB", options=_tiled(COMPRESS="WEBP", WEBP_LOSSLESS="TRUE")
    )
    c["codec_webp_rgba_lossless"] = Case(
        count=4,
        photometric="RGB",
        alpha=True,
        options=_tiled(COMPRESS="WEBP", WEBP_LOSSLESS="TRUE"),
    )
    c["codec_webp_rgb_lossy"] = Case(
        count=3, photometric="RGB", options=_tiled(COMPRESS="WEBP", WEBP_LEVEL=80), tolerance=2
    )
    c["codec_webp_rgba_lossy"] = Case(
        count=4,
        photometric="RGB",
        alpha=True,
        options=_tiled(COMPRESS="WEBP", WEBP_LEVEL=80),
        tolerance=2,
    )
    c["codec_jpeg_rgb"] = Case(
        count=3, photometric="RGB", options=_tiled(COMPRESS="JPEG", JPEG_QUALITY=85), tolerance=2
    )
    c["codec_jpeg_rgb_strip"] = Case(
        count=3, photometric="RGB", options=_strips(16, COMPRESS="JPEG"), tolerance=2
    )
    c["codec_jpeg_gray"] = Case(options=_tiled(COMPRESS="JPEG", JPEG_QUALITY=90), tolerance=2)
    c["codec_jpeg_gray_strip_rps24"] = Case(options=_strips(24, COMPRESS="JPEG"), tolerance=2)
    c["codec_jpeg_rgb_planar"] = Case(
        count=3, photometric="RGB", options=_tiled(COMPRESS="JPEG", INTERLEAVE="BAND"), tolerance=2
    )
    c["codec_jpeg_ycbcr"] = Case(
        count=3, photometric="YCBCR", options=_tiled(COMPRESS="JPEG"), tolerance=2
    )
    c["codec_jpeg_ycbcr_strip"] = Case(
        count=3, photometric="YCBCR", options=_strips(32, COMPRESS="JPEG"), tolerance=2
    )
    c["codec_lerc_f32_nan_nodata"] = Case(
        dtype="float32", nodata=float("nan"), options=_tiled(COMPRESS="LERC")
    )
    c["codec_lerc_zstd_f32_2band_nan"] = Case(
        dtype="float32", count=2, nodata=float("nan"), options=_tiled(COMPRESS="LERC_ZSTD")
    )
    c["codec_lerc_f64_nan_planar"] = Case(
        dtype="float64",
        count=2,
        nodata=float("nan"),
        options=_tiled(COMPRESS="LERC", INTERLEAVE="BAND"),
    )
    c["codec_lerc_f32_3band_nan_per_band"] = Case(
        dtype="float32",
        count=3,
        nodata=float("nan"),
        nan_per_band=True,
        options=_tiled(COMPRESS="LERC"),
    )
    c["codec_lerc_f64_2band_nan_per_band_strip"] = Case(
        dtype="float64",
        count=2,
        nodata=float("nan"),
        nan_per_band=True,
        options=_strips(40, COMPRESS="LERC_DEFLATE"),
    )
    c["codec_lerc_rgba_u8_binary_alpha"] = Case(
        count=4, photometric="RGB", alpha=True, alpha_binary=True, options=_tiled(COMPRESS="LERC")
    )
    c["codec_lerc_ga_u8_binary_alpha_strip"] = Case(
        count=2,
        photometric="MINISBLACK",
        alpha=True,
        alpha_binary=True,
        options=_strips(50, COMPRESS="LERC_ZSTD"),
    )
    c["codec_lerc_i16_nodata"] = Case(dtype="int16", nodata=-9999, options=_tiled(COMPRESS="LERC"))
    c["codec_jpeg2000_u8"] = Case(options=_tiled(COMPRESS="JPEG2000"), tolerance=2, may_skip=True)
    c["codec_jxl_u8"] = Case(options=_tiled(COMPRESS="JXL", JXL_LOSSLESS="YES"), may_skip=True)
    # -- predictors ---------------------------------------------------------
    for dt in ("uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64"):
        c[f"pred2_{dt}"] = Case(dtype=dt, options=_tiled(COMPRESS="DEFLATE", PREDICTOR=2))
    c["pred2_int16_strip_rps13"] = Case(
        dtype="int16", options=_strips(13, COMPRESS="LZW", PREDICTOR=2)
    )
    c["pred2_u8_4band_zstd"] = Case(count=4, options=_tiled(COMPRESS="ZSTD", PREDICTOR=2))
    for dt in ("float32", "float64"):
        c[f"pred3_{dt}"] = Case(dtype=dt, options=_tiled(COMPRESS="DEFLATE", PREDICTOR=3))
        c[f"pred3_{dt}_2band_strip"] = Case(
            dtype=dt, count=2, options=_strips(13, COMPRESS="ZSTD", PREDICTOR=3)
        )
    # -- data types ---------------------------------------------------------
    for dt in (
        "uint8",
        "int8",
        "uint16",
        "int16",
        "uint32",
        "int32",
        "uint64",
        "int64",
        "float32",
        "float64",
        "complex64",
        "complex128",
        "complex_int16",
    ):
        c[f"dtype_{dt}"] = Case(dtype=dt, options=_tiled(COMPRESS="DEFLATE"))
    c["dtype_complex64_strip_none"] = Case(dtype="complex64", options=_strips(10))
    # -- NBITS --------------------------------------------------------------
    for bits, dt in ((1, "uint8"), (2, "uint8"), (4, "uint8"), (12, "uint16")):
        c[f"nbits{bits}_tiled"] = Case(dtype=dt, value_bits=bits, options=_tiled(NBITS=bits))
        c[f"nbits{bits}_strip_deflate"] = Case(
            dtype=dt, value_bits=bits, options=_strips(7, NBITS=bits, COMPRESS="DEFLATE")
        )
    c["nbits4_3band_planar"] = Case(
        count=3, value_bits=4, options=_tiled(NBITS=4, INTERLEAVE="BAND", COMPRESS="LZW")
    )
    c["nbits12_3band_chunky"] = Case(
        dtype="uint16", count=3, value_bits=12, options=_strips(5, NBITS=12, INTERLEAVE="PIXEL")
    )
    c["nbits7_u8"] = Case(value_bits=7, options=_strips(6, NBITS=7, COMPRESS="LZW"))
    c["nbits24_u32"] = Case(dtype="uint32", value_bits=24, options=_tiled(NBITS=24))
    c["nbits16_float16"] = Case(dtype="float32", options=_tiled(NBITS=16, COMPRESS="DEFLATE"))
    c["nbits16_float16_pred3"] = Case(
        dtype="float32",
        options=_strips(11, NBITS=16, COMPRESS="DEFLATE", PREDICTOR=3),
        may_skip=True,
    )
    c["nbits24_u32_bigendian_strip"] = Case(
        dtype="uint32",
        value_bits=24,
        options=_strips(7, NBITS=24, ENDIANNESS="BIG", COMPRESS="LZW"),
    )
    c["nbits20_u32"] = Case(dtype="uint32", value_bits=20, options=_strips(7, NBITS=20))
    c["nbits1_width_not_multiple_of_8"] = Case(
        width=101, height=37, value_bits=1, options=_strips(5, NBITS=1)
    )
    # -- byte order and BigTIFF --------------------------------------------
    for dt in ("uint16", "int32", "float32", "float64", "uint64", "complex64"):
        c[f"bigendian_{dt}"] = Case(dtype=dt, options=_tiled(ENDIANNESS="BIG", COMPRESS="DEFLATE"))
    c["bigendian_u16_pred2_planar"] = Case(
        dtype="uint16",
        count=3,
        options=_tiled(ENDIANNESS="BIG", COMPRESS="LZW", PREDICTOR=2, INTERLEAVE="BAND"),
    )
    c["bigendian_f32_pred3"] = Case(
        dtype="float32", options=_tiled(ENDIANNESS="BIG", COMPRESS="DEFLATE", PREDICTOR=3)
    )
    c["bigendian_f64_pred3_strip"] = Case(
        dtype="float64", options=_strips(9, ENDIANNESS="BIG", COMPRESS="ZSTD", PREDICTOR=3)
    )
    c["bigendian_nbits12"] = Case(
        dtype="uint16", value_bits=12, options=_strips(7, ENDIANNESS="BIG", NBITS=12)
    )
    c["bigendian_cint16"] = Case(dtype="complex_int16", options=_strips(9, ENDIANNESS="BIG"))
    c["bigendian_float16"] = Case(dtype="float32", options=_strips(9, NBITS=16, ENDIANNESS="BIG"))
    c["bigtiff_u8_tiled"] = Case(options=_tiled(BIGTIFF="YES", COMPRESS="DEFLATE"))
    c["bigtiff_i16_strip"] = Case(dtype="int16", options=_strips(13, BIGTIFF="YES"))
    c["bigtiff_bigendian_f32_overviews"] = Case(
        dtype="float32",
        overviews=True,
        options=_tiled(BIGTIFF="YES", ENDIANNESS="BIG", COMPRESS="ZSTD"),
    )
    # -- masks, nodata, alpha -----------------------------------------------
    c["nodata_i16"] = Case(dtype="int16", nodata=-9999, options=_tiled(COMPRESS="DEFLATE"))
    c["nodata_u8_3band"] = Case(count=3, nodata=0, options=_tiled(COMPRESS="DEFLATE"))
    c["nodata_i8"] = Case(dtype="int8", nodata=-128, options=_strips(13))
    c["nodata_u32_large"] = Case(dtype="uint32", nodata=4294967295, options=_tiled(COMPRESS="LZW"))
    c["nodata_nan_f32"] = Case(
        dtype="float32", nodata=float("nan"), options=_tiled(COMPRESS="DEFLATE")
    )
    c["nodata_f64_strip"] = Case(dtype="float64", nodata=-1e30, options=_strips(13, COMPRESS="LZW"))
    c["nodata_u16_overviews"] = Case(
        dtype="uint16", nodata=65535, overviews=True, options=_tiled(COMPRESS="DEFLATE")
    )
    c["mask_u8_tiled"] = Case(mask=True, options=_tiled(COMPRESS="DEFLATE"))
    c["mask_u8_3band_strip"] = Case(count=3, mask=True, options=_strips(11, COMPRESS="LZW"))
    c["mask_f32_overviews"] = Case(
        dtype="float32", mask=True, overviews=True, options=_tiled(COMPRESS="DEFLATE")
    )
    c["mask_jpeg_rgb_overviews"] = Case(
        count=3,
        photometric="RGB",
        mask=True,
        overviews=True,
        options=_tiled(COMPRESS="JPEG"),
        tolerance=2,
    )
    c["alpha_rgba_u8"] = Case(
        count=4, photometric="RGB", alpha=True, options=_tiled(COMPRESS="DEFLATE")
    )
    c["alpha_rgba_u8_planar_strip"] = Case(
        count=4, photometric="RGB", alpha=True, options=_strips(13, INTERLEAVE="BAND")
    )
    c["alpha_gray_u8"] = Case(
        count=2, photometric="MINISBLACK", alpha=True, options=_tiled(COMPRESS="LZW")
    )
    c["alpha_gray_u16_overviews"] = Case(
        dtype="uint16",
        count=2,
        photometric="MINISBLACK",
        alpha=True,
        overviews=True,
        options=_tiled(COMPRESS="DEFLATE"),
    )
    # -- photometric --------------------------------------------------------
    c["palette_u8"] = Case(colormap=True, options=_tiled(COMPRESS="DEFLATE"))
    c["miniswhite_u8"] = Case(photometric="MINISWHITE", options=_strips(10))
    # -- COG driver -----------------------------------------------------------
    c["cog_deflate_u16_overviews"] = Case(
        dtype="uint16", count=3, cog={"COMPRESS": "DEFLATE", "PREDICTOR": "YES", "BLOCKSIZE": 64}
    )
    c["cog_jpeg_rgb_mask"] = Case(
        count=3,
        photometric="RGB",
        mask=True,
        tolerance=2,
        cog={"COMPRESS": "JPEG", "BLOCKSIZE": 64, "OVERVIEW_RESAMPLING": "AVERAGE"},
    )
    c["cog_lerc_f32_nodata"] = Case(
        dtype="float32", nodata=-9999, cog={"COMPRESS": "LERC_ZSTD", "BLOCKSIZE": 128}
    )
    c["cog_webp_rgba"] = Case(
        count=4,
        photometric="RGB",
        alpha=True,
        tolerance=2,
        cog={"COMPRESS": "WEBP", "QUALITY": 90, "BLOCKSIZE": 64},
    )
    # -- overviews ----------------------------------------------------------
    c["overviews_u8_tiled"] = Case(overviews=True, options=_tiled(COMPRESS="DEFLATE"))
    c["overviews_u16_3band_strip"] = Case(
        dtype="uint16", count=3, overviews=True, options=_strips(13)
    )
    c["overviews_planar_pred2"] = Case(
        dtype="uint16",
        count=3,
        overviews=True,
        options=_tiled(COMPRESS="DEFLATE", PREDICTOR=2, INTERLEAVE="BAND"),
    )
    # -- sparse -------------------------------------------------------------
    c["sparse_u8"] = Case(sparse=True, options=_tiled(64, 64, COMPRESS="DEFLATE"))
    c["sparse_i16_nodata"] = Case(dtype="int16", nodata=-1, sparse=True, options=_tiled(64, 64))
    c["sparse_planar_u16_3band"] = Case(
        dtype="uint16",
        count=3,
        sparse=True,
        options=_tiled(64, 64, INTERLEAVE="BAND", COMPRESS="LZW"),
    )
    c["sparse_mask_u8"] = Case(mask=True, sparse=True, options=_tiled(64, 64, COMPRESS="DEFLATE"))
    c["sparse_nodata_overviews"] = Case(
        dtype="int16",
        nodata=-5,
        sparse=True,
        overviews=True,
        options=_tiled(64, 64, COMPRESS="DEFLATE"),
    )
    c["sparse_f32_strip"] = Case(dtype="float32", sparse=True, options=_strips(16, COMPRESS="ZSTD"))
    return c


CASES: dict[str, Case] = _build_cases()
SKIPPED: dict[str, str] = {}


def _numpy_dtype(dtype: str) -> np.dtype[Any]:
    return np.dtype("complex64") if dtype == "complex_int16" else np.dtype(dtype)


def _texture(rng: np.random.Generator, count: int, height: int, width: int) -> np.ndarray:
    """Values in [0, 1): smooth waves, a gradient, noise and a few sharp edges, per band."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    bands = []
    for b in range(count):
        fx, fy = rng.uniform(0.02, 0.1, size=2)
        wave = 0.5 + 0.25 * np.sin(xx * fx + b) * np.cos(yy * fy - b)
        grad = 0.15 * (xx / width + yy / height) / 2
        noise = rng.uniform(-0.08, 0.08, size=(height, width))
        v = wave + grad + noise
        v[(xx.astype(int) // 23 + yy.astype(int) // 17) % 5 == 0] += 0.1
        bands.append(np.clip(v, 0.0, 0.999999))
    return np.stack(bands)


def _data(case: Case, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = _texture(rng, case.count, case.height, case.width)
    if case.value_bits is not None:
        return np.floor(t * (1 << case.value_bits)).astype(_numpy_dtype(case.dtype))
    dt = case.dtype
    if dt == "complex_int16":
        t2 = _texture(rng, case.count, case.height, case.width)
        re = np.round((t - 0.5) * 60000)
        im = np.round((t2 - 0.5) * 60000)
        return (re + 1j * im).astype(np.complex64)
    npdt = np.dtype(dt)
    if npdt.kind == "c":
        t2 = _texture(rng, case.count, case.height, case.width)
        return ((t - 0.5) * 1e4 + 1j * (t2 * 3.0)).astype(npdt)
    if npdt.kind == "f":
        v = (t - 0.4) * 2000.0
        v += rng.normal(0.0, 1e-3, size=v.shape)  # low bits everywhere (predictor 3)
        return v.astype(npdt)
    info = np.iinfo(npdt)
    if npdt.itemsize == 8:
        # Use the high bits (values beyond float64's exact range) and the low bits.
        lo, hi = float(info.min) / 2, float(info.max) / 2
        base = (lo + t * (hi - lo)).astype(npdt)
        return base + rng.integers(0, 1000, size=t.shape).astype(npdt)
    return np.floor(float(info.min) + t * (float(info.max) - float(info.min) + 1)).astype(npdt)


def _valid_region(case: Case, rng: np.random.Generator) -> np.ndarray:
    """A validity pattern: a border, a disc and scattered pixels are invalid."""
    h, w = case.height, case.width
    yy, xx = np.mgrid[0:h, 0:w]
    valid = np.ones((h, w), dtype=bool)
    valid[:, : w // 10] = False
    valid[h - h // 8 :, :] = False
    valid[(yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(h, w) / 6) ** 2] = False
    valid[rng.random((h, w)) < 0.02] = False
    return valid


def _write(path: Path, case: Case, seed: int) -> None:
    data = _data(case, seed)
    rng = np.random.default_rng(seed + 1)
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": case.width,
        "height": case.height,
        "count": case.count,
        "dtype": case.dtype,
        "crs": CRS_,
        "transform": TRANSFORM,
        **case.options,
    }
    if case.nodata is not None:
        profile["nodata"] = case.nodata
    if case.photometric is not None:
        profile["PHOTOMETRIC"] = case.photometric
    if case.alpha:
        profile["ALPHA"] = "YES"
    if case.sparse:
        profile["SPARSE_OK"] = "TRUE"

    valid = _valid_region(case, rng)
    if case.nodata is not None:
        fill = np.array(case.nodata).astype(data.dtype)
        data[:, ~valid] = fill
    if case.nan_per_band:
        for b in range(case.count):
            data[b, rng.random(valid.shape) < 0.03 * (b + 1)] = np.nan
    if case.alpha:
        alpha = np.where(valid, 255 if data.dtype == np.uint8 else 65535, 0)
        if not case.alpha_binary:
            alpha[valid & (rng.random(valid.shape) < 0.1)] = 128
        data[-1] = alpha.astype(data.dtype)

    if case.colormap:
        data[:] %= 16
    env = dict(case.env)
    if case.mask:
        env["GDAL_TIFF_INTERNAL_MASK"] = True
    target = path.with_suffix(".src.tif") if case.cog is not None else path
    with rasterio.Env(**env), rasterio.open(target, "w", **profile) as ds:
        if case.colormap:
            ds.write_colormap(
                1, {i: (i * 16, 255 - i * 16, (i * 77) % 256, 255) for i in range(16)}
            )
        if case.sparse:
            _write_sparse(ds, data, case)
        else:
            ds.write(data)
        if case.mask:
            ds.write_mask(np.where(valid, 255, 0).astype(np.uint8))
        if case.overviews:
            ds.build_overviews([2, 4], Resampling.average)
    if case.cog is not None:
        with rasterio.Env(**env):
            rasterio.shutil.copy(target, path, driver="COG", **case.cog)
        target.unlink()


def _write_sparse(ds: Any, data: np.ndarray, case: Case) -> None:
    """Write every other block (plus a checkerboard) and leave the rest unwritten."""
    by = int(case.options["BLOCKYSIZE"])
    bx = (
        int(case.options.get("BLOCKXSIZE", case.width))
        if case.options.get("TILED") == "YES"
        else case.width
    )
    for i, row in enumerate(range(0, case.height, by)):
        for j, col in enumerate(range(0, case.width, bx)):
            if (i + j) % 3 == 1:
                continue
            h = min(by, case.height - row)
            w = min(bx, case.width - col)
            ds.write(data[:, row : row + h, col : col + w], window=RioWindow(col, row, w, h))


def make_fixtures(root: Path, cases: dict[str, Case] | None = None) -> dict[str, Path]:
    """Write one file per case into ``root`` (kept when already there); return name -> path.

    Cases whose codec the bundled GDAL lacks (``may_skip``) are left out and
    recorded in `SKIPPED`.
    """
    root.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for seed, (name, case) in enumerate(sorted((cases or CASES).items())):
        path = root / f"{name}.tif"
        if not path.exists():
            tmp = root / f".{name}.tmp.tif"
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", NotGeoreferencedWarning)
                    _write(tmp, case, seed)
            except (RasterioIOError, rasterio.errors.RasterioError, ValueError) as exc:
                tmp.unlink(missing_ok=True)
                if not case.may_skip:
                    raise
                SKIPPED[name] = f"the bundled GDAL cannot write it: {exc}"
                continue
            wanted = (case.cog or case.options).get("COMPRESS")
            if wanted is not None:
                with rasterio.open(tmp) as ds:
                    got = ds.compression.name.upper() if ds.compression else "NONE"
                if got != wanted:
                    # GDAL only warns when a codec is missing and writes uncompressed.
                    tmp.unlink()
                    if not case.may_skip:
                        raise RuntimeError(f"{name}: asked for {wanted}, GDAL wrote {got}")
                    SKIPPED[name] = f"the bundled GDAL has no {wanted} codec for GeoTIFF"
                    continue
            tmp.replace(path)
        out[name] = path
    return out


if __name__ == "__main__":
    import sys
    import tempfile
    import time

    t0 = time.perf_counter()
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    made = make_fixtures(target)
    print(f"{len(made)} files in {target} in {time.perf_counter() - t0:.2f}s; skipped: {SKIPPED}")
