"""The result of a read: pixels, validity mask and georeferencing."""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
from affine import Affine
from pyproj import CRS

from ._read import ReadContext, check_ceiling
from ._window import BoundingBox, bounds_of
from .errors import ResourceLimitError

__all__ = ["Array", "allocate"]


def allocate(
    ctx: ReadContext, shape: tuple[int, ...], dtype: npt.DTypeLike, what: str
) -> npt.NDArray[Any]:
    """An uninitialised array for a read, within the file's ceiling.

    The ceiling is checked before anything is allocated, and an allocation
    that fails anyway (an address-space limit, say) is a `ResourceLimitError`
    naming the bytes, never numpy's ``MemoryError``.

    Raises:
        ResourceLimitError: Above ``max_decoded_bytes``, or out of memory.
    """
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    check_ceiling(ctx, nbytes, what)
    try:
        return np.empty(shape, dtype=dtype)
    except MemoryError:
        raise ResourceLimitError(
            ctx.source.path,
            f"{what}: out of memory allocating {nbytes} bytes"
            f" (ceiling {ctx.max_decoded_bytes} bytes, max_decoded_bytes)",
        ) from None


def _check_data(_inst: object, _attr: object, value: object) -> None:
    if not isinstance(value, np.ndarray) or value.ndim != 3:
        raise ValueError("Array.data must be a 3-D numpy array (bands, height, width)")


@attrs.frozen(eq=False)
class Array:
    """Pixels read from a GeoTIFF (or one of its overviews).

    Equality is identity: compare ``data`` and ``mask`` with numpy instead.
    """

    data: npt.NDArray[Any] = attrs.field(validator=_check_data)
    """The pixels, shape ``(bands, height, width)``; writable and owned by you."""
    mask: npt.NDArray[np.bool_] | None = attrs.field()
    """Validity, shape ``(height, width)``, True where valid; None when the file
    has no mask, nodata value or alpha band (and the read stayed inside the image)."""
    transform: Affine
    """The affine transform of the window that was read."""
    crs: CRS | None
    """The coordinate reference system (None when the file has none)."""
    nodata: float | None
    """The nodata value of the file, if any."""

    @mask.validator
    def _check_mask(self, _attr: object, value: npt.NDArray[np.bool_] | None) -> None:
        if value is not None and (value.dtype != np.bool_ or value.shape != self.data.shape[1:]):
            raise ValueError("Array.mask must be a bool array shaped (height, width)")

    @property
    def count(self) -> int:
        """Number of bands."""
        return int(self.data.shape[0])

    @property
    def height(self) -> int:
        """Number of rows."""
        return int(self.data.shape[1])

    @property
    def width(self) -> int:
        """Number of columns."""
        return int(self.data.shape[2])

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(bands, height, width)``."""
        return (self.count, self.height, self.width)

    @property
    def bounds(self) -> BoundingBox:
        """The window's bounds in CRS units (as `GeoTIFF.bounds` computes them)."""
        return bounds_of(self.transform, self.width, self.height)

    def as_masked(self) -> np.ma.MaskedArray[Any, Any]:
        """The data as a `numpy.ma.MaskedArray` (masked where the mask is False)."""
        if self.mask is None:
            return np.ma.MaskedArray(self.data, mask=np.zeros(self.data.shape, dtype=bool))
        full = np.broadcast_to(~self.mask, self.data.shape).copy()
        return np.ma.MaskedArray(self.data, mask=full)
