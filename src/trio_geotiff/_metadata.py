"""Metadata as GDAL reports it: georeferencing, colour interpretation, colour tables, tags.

Pure functions over parsed IFDs; `_open` calls them once when a file opens
(the GeoKeys are parsed once there, and passed in).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
from affine import Affine
from pyproj import CRS

from . import _crs, _georef
from ._codes import GeoKey, Photometric, Tag
from ._enums import ColorInterp
from ._gdal_metadata import GDALMetadata
from ._image import ImageInfo
from ._tiff import IFD
from .errors import CorruptFileError

# TIFF baseline tags GDAL reports as dataset metadata ("TIFFTAG_*").
TIFFTAG_NAMES: Final[Mapping[int, str]] = {
    269: "TIFFTAG_DOCUMENTNAME",
    270: "TIFFTAG_IMAGEDESCRIPTION",
    305: "TIFFTAG_SOFTWARE",
    306: "TIFFTAG_DATETIME",
    315: "TIFFTAG_ARTIST",
    316: "TIFFTAG_HOSTCOMPUTER",
    33432: "TIFFTAG_COPYRIGHT",
}
# EPSG unit codes GDAL names when it reports VerticalUnitsGeoKey.
VERTICAL_UNITS: Final[Mapping[int, str]] = {9001: "metre", 9002: "foot", 9003: "US survey foot"}
RESOLUTION_UNITS: Final[Mapping[int, str]] = {
    1: "1 (unitless)",
    2: "2 (pixels/inch)",
    3: "3 (pixels/cm)",
}


def geokeys(path: str, ifd: IFD) -> dict[int, Any]:
    """The IFD's GeoKeys by id ({} when absent or broken, as GDAL ignores them)."""
    directory = ifd.get_ints(Tag.GEO_KEY_DIRECTORY)
    if directory is None:
        return {}
    try:
        return dict(
            _crs.parse_geokey_directory(
                directory,
                ifd.get_floats(Tag.GEO_DOUBLE_PARAMS),
                ifd.get_str(Tag.GEO_ASCII_PARAMS),
                path=path,
            )
        )
    except CorruptFileError:
        return {}


def pixel_is_point(keys: Mapping[int, Any]) -> bool:
    """True when GTRasterTypeGeoKey says RasterPixelIsPoint."""
    return bool(keys.get(GeoKey.GT_RASTER_TYPE) == 2)


def georeference(
    path: str, ifd: IFD, keys: Mapping[int, Any]
) -> tuple[CRS | None, Affine | None, Sequence[_georef.GroundControlPoint]]:
    """CRS, transform (None when not georeferenced) and GCPs of an IFD, as GDAL reads them.

    Args:
        path: The object's path, for messages.
        ifd: The image's IFD (its georeferencing tags).
        keys: Its GeoKeys, from `geokeys`.
    """
    try:
        crs = _crs.crs_from_geokeys(keys) if keys else None
    except CorruptFileError:
        crs = None
    pixel_scale = ifd.get_floats(Tag.MODEL_PIXEL_SCALE)
    tiepoints = ifd.get_floats(Tag.MODEL_TIEPOINT)
    transformation = ifd.get_floats(Tag.MODEL_TRANSFORMATION)
    try:
        transform = _georef.transform_from_tags(
            pixel_scale=pixel_scale,
            tiepoints=tiepoints,
            transformation=transformation,
            pixel_is_point=pixel_is_point(keys),
            path=path,
        )
        gcps = (
            _georef.gcps_from_tiepoints(
                tiepoints,
                pixel_scale,
                transformation,
                pixel_is_point=pixel_is_point(keys),
                path=path,
            )
            or []
        )
    except CorruptFileError:
        transform, gcps = None, []
    return crs, transform, gcps


def crs_from_wkt(wkt: str) -> CRS | None:
    """A CRS from WKT (a PAM sidecar's), or None when PROJ refuses it."""
    try:
        return CRS.from_wkt(wkt)
    except Exception:  # noqa: BLE001 - pyproj raises CRSError and others; PAM SRS is optional
        return None


def band_count(image: ImageInfo) -> int:
    """Bands as GDAL counts them."""
    if image.photometric == Photometric.CIELAB:
        return 4  # GDAL converts CIELab to RGBA
    return image.samples


def alpha_sample(image: ImageInfo, meta: GDALMetadata) -> int | None:
    """The sample GDAL uses as the dataset's alpha mask, if any."""
    interp = colorinterp(image, meta, has_colormap=False, count=band_count(image))
    for i, ci in enumerate(interp):
        if ci is ColorInterp.alpha and i < image.samples:
            return i
    return None


def colorinterp(
    image: ImageInfo, meta: GDALMetadata, *, has_colormap: bool, count: int
) -> tuple[ColorInterp, ...]:
    """Each band's colour interpretation, by GDAL's GTiff rules."""
    photometric = image.photometric
    integer = image.sample_format in (1, 2, 4)
    base: list[ColorInterp]
    if photometric in (Photometric.RGB, Photometric.YCBCR):
        base = [ColorInterp.red, ColorInterp.green, ColorInterp.blue] if image.samples >= 3 else []
    elif (
        photometric in (Photometric.SEPARATED, Photometric.CIELAB)
        and image.bits == 8
        and count >= 4
    ):
        base = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    elif photometric == Photometric.PALETTE or (
        photometric in (Photometric.MINISBLACK, Photometric.MINISWHITE)
        and integer
        and (
            has_colormap
            or image.bits == 1
            or (photometric == Photometric.MINISWHITE and image.bits <= 8)
        )
    ):
        base = [ColorInterp.palette]
    elif photometric in (Photometric.MINISBLACK, Photometric.MINISWHITE):
        base = [ColorInterp.gray]
    else:
        base = []
    out: list[ColorInterp] = []
    for band in range(count):
        if band < len(base):
            ci = base[band]
        else:
            extra_index = band - max(len(base), 1) if base else band - 1
            extra = (
                image.extra_samples[extra_index]
                if 0 <= extra_index < len(image.extra_samples)
                else 0
            )
            ci = ColorInterp.alpha if extra in (1, 2) else ColorInterp.undefined
            if not base and band == 0:
                ci = ColorInterp.undefined
        role = meta.roles.get(band, {}).get("colorinterp")
        if role:
            ci = ColorInterp.from_gdal_name(role)
        out.append(ci)
    return tuple(out)


def colormap(image: ImageInfo, ifd: IFD) -> dict[int, tuple[int, int, int, int]]:
    """The colour table as GDAL gives it (its grey ramp when the file has none)."""
    values = ifd.get_ints(Tag.COLORMAP)
    n = 1 << min(image.bits, 16)
    if values is not None and len(values) >= 3 * n:
        red, green, blue = values[:n], values[n : 2 * n], values[2 * n : 3 * n]
        # GDAL: 16-bit entries are scaled to 8 bits unless every one already fits.
        scale = 257 if max(values[: 3 * n]) > 255 else 1
        return {i: (red[i] // scale, green[i] // scale, blue[i] // scale, 255) for i in range(n)}
    # 1-bit and MINISWHITE images get GDAL's implicit grey ramp.
    invert = image.photometric == Photometric.MINISWHITE
    out = {}
    for i in range(n):
        level = round(i * 255 / (n - 1)) if n > 1 else 255
        if invert:
            level = 255 - level
        out[i] = (level, level, level, 255)
    return out


def default_domain_tags(
    metadata: Mapping[str, str], ifd: IFD, keys: Mapping[int, Any]
) -> dict[str, str]:
    """The default metadata domain as GDAL reports it.

    The GDAL_METADATA items, overridden by the TIFF text tags (``TIFFTAG_*``),
    plus ``AREA_OR_POINT`` from the GeoKeys when the metadata lacks it.
    """
    tags = dict(metadata)
    for code, name in TIFFTAG_NAMES.items():
        text = ifd.get_str(code, strict=True)
        if text is not None:
            tags[name] = text
    for code, name in ((282, "TIFFTAG_XRESOLUTION"), (283, "TIFFTAG_YRESOLUTION")):
        values = ifd.get_floats(code)
        if values:
            # libtiff keeps resolutions as 32-bit floats; GDAL prints %.8g.
            tags[name] = f"{float(np.float32(values[0])):.8g}"
    for code, name in ((280, "TIFFTAG_MINSAMPLEVALUE"), (281, "TIFFTAG_MAXSAMPLEVALUE")):
        value = ifd.get_int(code)
        if value is not None:
            tags[name] = str(value)
    unit = ifd.get_int(296)
    if unit is not None:
        tags["TIFFTAG_RESOLUTIONUNIT"] = RESOLUTION_UNITS.get(unit, str(unit))
    if Tag.GEO_KEY_DIRECTORY in ifd.tags:
        tags.setdefault("AREA_OR_POINT", "Point" if pixel_is_point(keys) else "Area")
    return tags
