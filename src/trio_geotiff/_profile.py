"""rasterio's ``profile`` and ``mask_flag_enums``, computed from an opened file.

Pure functions of a `GeoTIFF`'s metadata: no I/O, no awaits. `GeoTIFF.profile`
and `GeoTIFF.mask_flag_enums` call them; the ``trio-geotiff info`` command
reports them. Each follows what rasterio 1.4 (GDAL) reports for the same file,
quirks included, and tests/test_profile.py checks that on the whole corpus.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from ._enums import ColorInterp, MaskFlags
from ._image import Compression

if TYPE_CHECKING:
    from ._geotiff import GeoTIFF

__all__ = ["mask_flag_enums", "profile"]

# The members of rasterio's `Compression` enum: rasterio gives these in lower
# case and keeps GDAL's upper-case name for any other codec ("OJPEG", "SGILOG").
_RASTERIO_CODECS: Final = frozenset(
    {
        "CCITTFAX3",
        "CCITTFAX4",
        "CCITTRLE",
        "DEFLATE",
        "JPEG",
        "JPEG2000",
        "LERC",
        "LERC_DEFLATE",
        "LERC_ZSTD",
        "LZMA",
        "LZW",
        "NONE",
        "PACKBITS",
        "WEBP",
        "ZSTD",
    }
)

# GDAL names LERC by the codec that wraps it (LercParameters' second value).
_LERC_WRAPPED: Final = {1: "LERC_DEFLATE", 2: "LERC_ZSTD"}

# rasterio's ``photometric`` is GDAL's SOURCE_COLOR_SPACE, which GDAL sets only
# for the colour spaces it converts from; other interpretations are absent.
_SOURCE_COLOR_SPACES: Final = {
    "YCBCR": "ycbcr",
    "SEPARATED": "cmyk",
    "CIELAB": "cielab",
    "ICCLAB": "icclab",
    "ITULAB": "itulab",
}


def profile(tif: GeoTIFF) -> dict[str, Any]:
    """The file's metadata and layout as rasterio's ``DatasetReader.profile``.

    The keys, in rasterio's order: ``driver`` (always "GTiff"), ``dtype``
    (numpy's name), ``nodata``, ``width``, ``height``, ``count``, ``crs``
    (a ``pyproj.CRS`` or None, where rasterio gives its own CRS), ``transform``
    (an ``Affine``), ``blockxsize``, ``blockysize``, ``tiled``, then
    ``compress`` (only when compressed: rasterio's lower-case name, or GDAL's
    upper-case one for codecs rasterio does not name), ``interleave`` ("pixel" or "band")
    and ``photometric`` (only for YCbCr, CMYK and CIE L*a*b* images).

    As in rasterio, ``tiled`` is whether a block is narrower or wider than
    the image: a tiled file whose single column of tiles is exactly as wide
    as the image reports False.

    Args:
        tif: An opened file.

    Returns:
        A new dict, which the caller may change.
    """
    rows, cols = tif.block_shapes[0]
    out: dict[str, Any] = {
        "driver": "GTiff",
        "dtype": str(tif.dtype),
        "nodata": tif.nodata,
        "width": tif.width,
        "height": tif.height,
        "count": tif.count,
        "crs": tif.crs,
        "transform": tif.transform,
        "blockxsize": cols,
        "blockysize": rows,
        "tiled": cols != tif.width,
    }
    compress = _compress(tif)
    if compress is not None:
        out["compress"] = compress
    out["interleave"] = tif.interleaving.value.lower()
    photometric = _SOURCE_COLOR_SPACES.get(tif.photometric)
    if photometric is not None:
        out["photometric"] = photometric
    return out


def _compress(tif: GeoTIFF) -> str | None:
    if tif.compression is None:
        return None
    name = tif.compression.value
    if tif.compression is Compression.LERC:
        params = tif._image.lerc_parameters or ()  # noqa: SLF001 - the library's own raster
        name = _LERC_WRAPPED.get(params[1] if len(params) > 1 else 0, name)
    return name.lower() if name in _RASTERIO_CODECS else name


def mask_flag_enums(tif: GeoTIFF) -> tuple[list[MaskFlags], ...]:
    """Each band's mask flags, as rasterio's ``DatasetReader.mask_flag_enums``.

    They follow `GeoTIFF.mask_kind`: a mask image gives ``[per_dataset]``; an
    alpha band gives ``[per_dataset, alpha]`` to the other bands and
    ``[all_valid]`` to itself; a nodata value gives ``[nodata]``; no mask
    gives ``[all_valid]``.

    Args:
        tif: An opened file.

    Returns:
        One new list per band, in band order.
    """
    kind = tif.mask_kind
    flags: list[list[MaskFlags]] = []
    for interp in tif.colorinterp:
        if kind == "mask":
            flags.append([MaskFlags.per_dataset])
        elif kind == "alpha" and interp is not ColorInterp.alpha:
            flags.append([MaskFlags.per_dataset, MaskFlags.alpha])
        elif kind == "nodata":
            flags.append([MaskFlags.nodata])
        else:
            flags.append([MaskFlags.all_valid])
    return tuple(flags)
