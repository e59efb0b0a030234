"""Turn GeoTIFF georeferencing tags into an affine transform or GCPs.

Pure functions, no I/O. They follow GDAL's GTiff driver (with its default
configuration) so that the results match what rasterio reports:

* ModelPixelScaleTag (33550) + ModelTiepointTag (33922): the first tiepoint
  anchors a north-up transform; the Y scale is always applied downwards.
  A scale without a tiepoint gives a transform with a zero origin.
* otherwise ModelTransformationTag (34264): the 4x4 matrix gives the affine
  coefficients, rotation included.
* otherwise several tiepoints: no transform, but ground control points.

With PixelIsPoint raster space (GTRasterTypeGeoKey = 2), GDAL shifts the
transform by half a pixel (and the GCPs by +0.5 pixel/line) so that it keeps
describing pixel corners.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import attrs
from affine import Affine

from trio_geotiff.errors import CorruptFileError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["GroundControlPoint", "gcps_from_tiepoints", "transform_from_tags"]


@attrs.frozen
class GroundControlPoint:
    """A tiepoint between raster and model space, like rasterio's.

    Attributes:
        row: Line (y) position in the raster, in pixels.
        col: Pixel (x) position in the raster, in pixels.
        x: Model-space x.
        y: Model-space y.
        z: Model-space z (0.0 when the file gives none).
        id: Identifier; GDAL numbers the tiepoints from "1".
        info: Free text; always "" for GeoTIFF.
    """

    row: float
    col: float
    x: float
    y: float
    z: float = 0.0
    id: str = ""
    info: str = ""


def _check(values: Sequence[float] | None, name: str, path: str) -> tuple[float, ...] | None:
    if values is None:
        return None
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise CorruptFileError(path, f"{name} holds a value that is not a number") from exc
    if not all(math.isfinite(v) for v in out):
        raise CorruptFileError(path, f"{name} holds a non-finite value")
    return out


def _validated(
    pixel_scale: Sequence[float] | None,
    tiepoints: Sequence[float] | None,
    transformation: Sequence[float] | None,
    path: str,
) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None, tuple[float, ...] | None]:
    scale = _check(pixel_scale, "ModelPixelScaleTag", path)
    ties = _check(tiepoints, "ModelTiepointTag", path)
    matrix = _check(transformation, "ModelTransformationTag", path)
    if scale is not None:
        if len(scale) not in (2, 3):
            raise CorruptFileError(path, f"ModelPixelScaleTag has {len(scale)} values, not 3")
        if scale[0] == 0 or scale[1] == 0:
            raise CorruptFileError(path, f"ModelPixelScaleTag has a zero scale: {scale}")
    if ties is not None and (len(ties) == 0 or len(ties) % 6 != 0):
        raise CorruptFileError(
            path, f"ModelTiepointTag has {len(ties)} values, not a positive multiple of 6"
        )
    if matrix is not None and len(matrix) != 16:
        raise CorruptFileError(path, f"ModelTransformationTag has {len(matrix)} values, not 16")
    return scale, ties, matrix


def transform_from_tags(
    *,
    pixel_scale: Sequence[float] | None,
    tiepoints: Sequence[float] | None,
    transformation: Sequence[float] | None,
    pixel_is_point: bool,
    path: str = "",
) -> Affine | None:
    """Compute the pixel-to-model affine transform, as GDAL does.

    Args:
        pixel_scale: ModelPixelScaleTag (33550) values, if present.
        tiepoints: ModelTiepointTag (33922) values, if present.
        transformation: ModelTransformationTag (34264) values, if present.
        pixel_is_point: Whether GTRasterTypeGeoKey is RasterPixelIsPoint.
        path: The file path, for error messages.

    Returns:
        The transform mapping (col, row) of pixel corners to model
        coordinates, or None when GDAL would report no geotransform (no
        tags, or tiepoints only: see `gcps_from_tiepoints`).

    Raises:
        CorruptFileError: A tag has the wrong length, a non-finite value or
            a zero scale.
    """
    scale, ties, matrix = _validated(pixel_scale, tiepoints, transformation, path)
    if scale is not None:
        sx = scale[0]
        # GDAL always points rows downwards (GTIFF_HONOUR_NEGATIVE_SCALEY=NO).
        sy = -abs(scale[1])
        if ties is None:
            # GDAL keeps the scale with a zero origin, and neither falls back
            # to the matrix nor applies the PixelIsPoint shift.
            return Affine(sx, 0.0, 0.0, 0.0, sy, 0.0)
        i, j, _k, x, y, _z = ties[:6]
        transform = Affine(sx, 0.0, x - i * sx, 0.0, sy, y - j * sy)
    elif matrix is not None:
        transform = Affine(matrix[0], matrix[1], matrix[3], matrix[4], matrix[5], matrix[7])
    else:
        return None
    if pixel_is_point:
        # The tags locate pixel centres; move the origin to the corner.
        transform = transform @ Affine.translation(-0.5, -0.5)
    return transform


def gcps_from_tiepoints(
    tiepoints: Sequence[float] | None,
    pixel_scale: Sequence[float] | None,
    transformation: Sequence[float] | None,
    *,
    pixel_is_point: bool = False,
    path: str = "",
) -> list[GroundControlPoint] | None:
    """Return the tiepoints as GCPs where GDAL reports GCPs.

    GDAL reports GCPs when there is neither a ModelPixelScaleTag nor a
    ModelTransformationTag to build a transform from, whatever the number of
    tiepoints.

    Args:
        tiepoints: ModelTiepointTag (33922) values, if present.
        pixel_scale: ModelPixelScaleTag (33550) values, if present.
        transformation: ModelTransformationTag (34264) values, if present.
        pixel_is_point: Whether GTRasterTypeGeoKey is RasterPixelIsPoint;
            GDAL then moves each GCP by half a pixel and line.
        path: The file path, for error messages.

    Returns:
        The GCPs, or None when GDAL reports none.

    Raises:
        CorruptFileError: A tag has the wrong length or a non-finite value.
    """
    scale, ties, matrix = _validated(pixel_scale, tiepoints, transformation, path)
    if ties is None or scale is not None or matrix is not None:
        return None
    shift = 0.5 if pixel_is_point else 0.0
    return [
        GroundControlPoint(
            row=ties[n + 1] + shift,
            col=ties[n] + shift,
            x=ties[n + 3],
            y=ties[n + 4],
            z=ties[n + 5],
            id=str(n // 6 + 1),
            info="",
        )
        for n in range(0, len(ties), 6)
    ]
