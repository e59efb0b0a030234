"""Numeric codes of the TIFF and GeoTIFF specifications, named once.

`Tag` holds the TIFF tag numbers this library reads (baseline TIFF 6.0,
GeoTIFF 1.1 and GDAL's private tags), `GeoKey` the GeoTIFF 1.1 key ids of the
GeoKeyDirectory, and `Photometric`, `SampleFormat` and `Predictor` the values
of those tags. They
are `enum.IntEnum`, so a member compares equal to the bare number read from a
file and can index a dict of tags keyed by int.
"""

from __future__ import annotations

import enum

__all__ = ["GeoKey", "Photometric", "Predictor", "SampleFormat", "Tag"]


class Tag(enum.IntEnum):
    """TIFF tag numbers."""

    NEW_SUBFILE_TYPE = 254
    IMAGE_WIDTH = 256
    IMAGE_LENGTH = 257
    BITS_PER_SAMPLE = 258
    COMPRESSION = 259
    PHOTOMETRIC = 262
    FILL_ORDER = 266
    IMAGE_DESCRIPTION = 270
    STRIP_OFFSETS = 273
    SAMPLES_PER_PIXEL = 277
    ROWS_PER_STRIP = 278
    STRIP_BYTE_COUNTS = 279
    PLANAR_CONFIGURATION = 284
    PREDICTOR = 317
    COLORMAP = 320
    TILE_WIDTH = 322
    TILE_LENGTH = 323
    TILE_OFFSETS = 324
    TILE_BYTE_COUNTS = 325
    SUB_IFDS = 330
    EXTRA_SAMPLES = 338
    SAMPLE_FORMAT = 339
    JPEG_TABLES = 347
    YCBCR_SUBSAMPLING = 530
    MODEL_PIXEL_SCALE = 33550
    MODEL_TIEPOINT = 33922
    MODEL_TRANSFORMATION = 34264
    GEO_KEY_DIRECTORY = 34735
    GEO_DOUBLE_PARAMS = 34736
    GEO_ASCII_PARAMS = 34737
    GDAL_METADATA = 42112
    GDAL_NODATA = 42113
    LERC_PARAMETERS = 50674


class GeoKey(enum.IntEnum):
    """GeoTIFF 1.1 GeoKey ids (the 1.0 names, without the ``GeoKey`` suffix)."""

    GT_MODEL_TYPE = 1024
    GT_RASTER_TYPE = 1025
    GT_CITATION = 1026
    GEOGRAPHIC_TYPE = 2048
    GEOG_CITATION = 2049
    GEOG_GEODETIC_DATUM = 2050
    GEOG_PRIME_MERIDIAN = 2051
    GEOG_LINEAR_UNITS = 2052
    GEOG_LINEAR_UNIT_SIZE = 2053
    GEOG_ANGULAR_UNITS = 2054
    GEOG_ANGULAR_UNIT_SIZE = 2055
    GEOG_ELLIPSOID = 2056
    GEOG_SEMI_MAJOR_AXIS = 2057
    GEOG_SEMI_MINOR_AXIS = 2058
    GEOG_INV_FLATTENING = 2059
    GEOG_AZIMUTH_UNITS = 2060
    GEOG_PRIME_MERIDIAN_LONG = 2061
    GEOG_TOWGS84 = 2062
    PROJECTED_CS_TYPE = 3072
    PCS_CITATION = 3073
    PROJECTION = 3074
    PROJ_COORD_TRANS = 3075
    PROJ_LINEAR_UNITS = 3076
    PROJ_LINEAR_UNIT_SIZE = 3077
    PROJ_STD_PARALLEL1 = 3078
    PROJ_STD_PARALLEL2 = 3079
    PROJ_NAT_ORIGIN_LONG = 3080
    PROJ_NAT_ORIGIN_LAT = 3081
    PROJ_FALSE_EASTING = 3082
    PROJ_FALSE_NORTHING = 3083
    PROJ_FALSE_ORIGIN_LONG = 3084
    PROJ_FALSE_ORIGIN_LAT = 3085
    PROJ_FALSE_ORIGIN_EASTING = 3086
    PROJ_FALSE_ORIGIN_NORTHING = 3087
    PROJ_CENTER_LONG = 3088
    PROJ_CENTER_LAT = 3089
    PROJ_CENTER_EASTING = 3090
    PROJ_CENTER_NORTHING = 3091
    PROJ_SCALE_AT_NAT_ORIGIN = 3092
    PROJ_SCALE_AT_CENTER = 3093
    PROJ_AZIMUTH_ANGLE = 3094
    PROJ_STRAIGHT_VERT_POLE_LONG = 3095
    PROJ_RECTIFIED_GRID_ANGLE = 3096
    VERTICAL_CS_TYPE = 4096
    VERTICAL_CITATION = 4097
    VERTICAL_DATUM = 4098
    VERTICAL_UNITS = 4099


class Photometric(enum.IntEnum):
    """PhotometricInterpretation (tag 262) values, named as libtiff names them."""

    MINISWHITE = 0
    MINISBLACK = 1
    RGB = 2
    PALETTE = 3
    MASK = 4
    SEPARATED = 5
    YCBCR = 6
    CIELAB = 8
    ICCLAB = 9
    ITULAB = 10
    LOGL = 32844
    LOGLUV = 32845


class SampleFormat(enum.IntEnum):
    """SampleFormat (tag 339) values, named as libtiff names them."""

    UINT = 1
    INT = 2
    IEEEFP = 3
    VOID = 4
    COMPLEXINT = 5
    COMPLEXIEEEFP = 6


class Predictor(enum.IntEnum):
    """Predictor (tag 317) values."""

    NONE = 1
    HORIZONTAL = 2
    FLOATINGPOINT = 3
