"""What an opened file looks like in xarray: coordinates, attributes, encoding.

The rules are rioxarray's (``rioxarray.open_rasterio``), so that the two are
interchangeable: pixel-centre ``x``/``y``, ``band`` 1..n, a ``spatial_ref``
coordinate holding the CRS as a CF grid mapping plus GDAL's ``spatial_ref``
WKT and ``GeoTransform``; nodata as ``_FillValue``, scales and offsets as
``scale_factor``/``add_offset`` (or ``scales``/``offsets`` when bands differ),
band descriptions as ``long_name`` and ``units``; tags as numbers when they
parse as numbers.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, Final

import attrs
import numpy as np
import numpy.typing as npt
from affine import Affine
from pyproj import CRS

from trio_geotiff._enums import Interleaving
from trio_geotiff._geotiff import GeoTIFF, Overview

from ._handle import masked_dtype

__all__ = ["Layout", "layout_of"]

GRID_MAPPING: Final = "spatial_ref"
# Attributes GDAL/rasterio put in tags that rioxarray drops (they are
# carried elsewhere: _FillValue, the transform...).
_DROPPED_TAGS: Final = ("_FillValue", "missing_value", "fill_value", "nodata", "nodatavals")
_DROPPED_TAGS_MORE: Final = ("is_tiled", "res")


@attrs.frozen(eq=False)
class Layout:
    """The xarray view of one image: shape, dtype, coords, attrs, encoding."""

    shape: tuple[int, int, int]
    """``(band, y, x)``."""
    dtype: np.dtype[Any]
    """The dtype of the values returned (promoted when masked)."""
    coords: dict[str, Any]
    attrs: dict[str, Any]
    encoding: dict[str, Any]
    block: tuple[int, int, int]
    """``(band, y, x)`` of the internal tiles: the preferred chunks."""
    transform: Affine
    crs: CRS | None


def _numeric(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


def _tag_value(value: str) -> Any:
    if value.startswith("{") and value.endswith("}"):
        items = [v for v in value.strip("{}").split(",") if v.strip()]
        try:
            return np.array([float(v) for v in items]) if items else _numeric(value)
        except ValueError:
            return _numeric(value)
    return _numeric(value)


def _band_attrs(tif: GeoTIFF) -> dict[str, Any]:
    attrs_: dict[str, Any] = {}
    for key, value in {**tif.tags(), **tif.tags(1)}.items():
        attrs_[key.split("NC_GLOBAL#")[-1]] = _tag_value(value)
    for name in (*_DROPPED_TAGS, *_DROPPED_TAGS_MORE):
        attrs_.pop(name, None)
    if tif.nodata is not None:
        attrs_["_FillValue"] = tif.nodata
    if len(set(tif.scales)) > 1:
        attrs_["scales"] = tif.scales
    else:
        attrs_["scale_factor"] = tif.scales[0]
    if len(set(tif.offsets)) > 1:
        attrs_["offsets"] = tif.offsets
    else:
        attrs_["add_offset"] = tif.offsets[0]
    if any(tif.descriptions):
        names = tif.descriptions
        attrs_["long_name"] = names[0] if len(set(names)) == 1 else names
    if any(tif.units):
        attrs_["units"] = tif.units[0] if len(tif.units) == 1 else tif.units
    return attrs_


def _spatial_coords(transform: Affine, width: int, height: int) -> dict[str, Any]:
    a, b, c, d, e, f = transform[:6]
    cols = np.arange(width) + 0.5
    rows = np.arange(height) + 0.5
    if b == 0 and d == 0:
        return {"x": ("x", a * cols + b * 0.5 + c), "y": ("y", d * 0.5 + e * rows + f)}
    grid_c, grid_r = np.meshgrid(cols, rows)
    xc = a * grid_c + b * grid_r + c
    yc = d * grid_c + e * grid_r + f
    return {"xc": (("y", "x"), xc), "yc": (("y", "x"), yc)}


def grid_mapping_attrs(crs: CRS | None, transform: Affine) -> dict[str, Any]:
    """The ``spatial_ref`` coordinate's attributes (CF grid mapping + GDAL's)."""
    attrs_: dict[str, Any] = {}
    if crs is not None:
        try:
            with warnings.catch_warnings():
                # pyproj warns when CF cannot hold a parameter; crs_wkt keeps it.
                warnings.simplefilter("ignore", UserWarning)
                attrs_ = dict(crs.to_cf())
        except KeyError:  # pyproj cannot express some CRSs as CF
            attrs_ = {}
        # With its axes, as GDAL writes it (the same CRS for rasterio and pyproj).
        wkt = crs.to_wkt("WKT1_GDAL", output_axis_rule=True) or crs.to_wkt()
        attrs_["spatial_ref"] = wkt
        attrs_["crs_wkt"] = wkt
    attrs_["GeoTransform"] = " ".join(str(float(v)) for v in transform.to_gdal())
    return attrs_


def layout_of(
    tif: GeoTIFF,
    raster: GeoTIFF | Overview,
    *,
    masked: bool,
    mask_and_scale: bool,
    source: str,
) -> Layout:
    """The xarray view of ``raster`` (``tif`` itself or one of its overviews)."""
    masked = masked or mask_and_scale
    raw = raster.dtype
    dtype = masked_dtype(raw) if masked else raw
    coords: dict[str, Any] = {"band": ("band", np.asarray(raster.indexes, dtype=np.int64))}
    has_gcps = bool(tif.gcps[0]) and not tif.georeferenced
    if not has_gcps:
        coords.update(_spatial_coords(raster.transform, raster.width, raster.height))
    attrs_ = _band_attrs(tif)
    if "_FillValue" in attrs_:
        with contextlib.suppress(OverflowError, ValueError):
            # A nodata the dtype cannot hold (GDAL allows it) stays a float.
            attrs_["_FillValue"] = dtype.type(attrs_["_FillValue"])
    encoding: dict[str, Any] = {}
    if masked:
        encoding["dtype"] = str(raw)
    if mask_and_scale:
        for name in ("scale_factor", "scales", "add_offset", "offsets"):
            if name in attrs_:
                encoding[name] = attrs_.pop(name)
    if masked and "_FillValue" in attrs_:
        encoding["_FillValue"] = attrs_.pop("_FillValue")
    block_h, block_w = raster.block_shapes[0]
    bands = raster.count if tif.interleaving == Interleaving.pixel else 1
    encoding["grid_mapping"] = GRID_MAPPING
    encoding["preferred_chunks"] = {"band": bands, "y": block_h, "x": block_w}
    encoding["source"] = source
    coords[GRID_MAPPING] = ((), 0, grid_mapping_attrs(tif.crs, raster.transform))
    return Layout(
        shape=(raster.count, raster.height, raster.width),
        dtype=dtype,
        coords=coords,
        attrs=attrs_,
        encoding=encoding,
        block=(bands, block_h, block_w),
        transform=raster.transform,
        crs=tif.crs,
    )


def index_1d(key: int | slice, size: int) -> tuple[int, int, int, bool]:
    """``(start, stop, step, squeeze)`` of a basic index along one axis."""
    if isinstance(key, slice):
        start, stop, step = key.indices(size)
        return start, max(start, stop), step, False
    k = int(key)
    return k, k + 1, 1, True


def empty(shape: tuple[int, ...], dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """An empty result of a zero-sized selection."""
    return np.zeros(shape, dtype=dtype)
