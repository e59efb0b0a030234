"""Pixel windows and bounding boxes: small frozen values, no I/O."""

from __future__ import annotations

import math
from typing import NamedTuple

import attrs
from affine import Affine

from .errors import InvalidArgumentError

__all__ = ["BoundingBox", "Window", "bounds_of"]


def _non_negative(_inst: object, attr: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise InvalidArgumentError("", f"Window {attr.name} must be >= 0, got {value}")


def _is_int(_inst: object, attr: attrs.Attribute[int], value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{attr.name} must be an int, got {type(value).__name__}")


@attrs.frozen
class Window:
    """A rectangle of pixels: ``Window(col_off, row_off, width, height)``.

    Offsets may be negative or reach past the image (for boundless reads);
    width and height are never negative. Windows hold ints only: go through
    `Window.from_bounds` for coordinates.

    Example:
        >>> w = Window(10, 20, 256, 128)
        >>> w.toslices()
        (slice(20, 148, None), slice(10, 266, None))
    """

    col_off: int = attrs.field(validator=_is_int)
    """Column of the window's left edge."""
    row_off: int = attrs.field(validator=_is_int)
    """Row of the window's top edge."""
    width: int = attrs.field(validator=[_is_int, _non_negative])
    """Number of columns."""
    height: int = attrs.field(validator=[_is_int, _non_negative])
    """Number of rows."""

    @classmethod
    def from_slices(cls, rows: tuple[int, int], cols: tuple[int, int]) -> Window:
        """A window from ``(row_start, row_stop)`` and ``(col_start, col_stop)``."""
        return cls(cols[0], rows[0], cols[1] - cols[0], rows[1] - rows[0])

    @classmethod
    def from_bounds(
        cls,
        left: float,
        bottom: float,
        right: float,
        top: float,
        transform: Affine,
    ) -> Window:
        """The smallest window of whole pixels covering the bounds.

        Pixel edges within 1e-6 of a pixel of the bounds count as on them, so
        bounds computed from a transform map back to the same window.

        Raises:
            InvalidArgumentError: The transform is rotated or degenerate, or a
                bound is not a finite number (also a `ValueError`, as rasterio
                raises).
        """
        if transform.b != 0 or transform.d != 0 or transform.a == 0 or transform.e == 0:
            raise InvalidArgumentError(
                "", "Window.from_bounds needs a north-up, non-degenerate transform"
            )
        inverse = ~transform
        xs, ys = [], []
        for x, y in ((left, top), (right, bottom)):
            col, row = inverse @ (x, y)
            xs.append(col)
            ys.append(row)
        if not all(math.isfinite(v) for v in (*xs, *ys)):
            raise InvalidArgumentError(
                "", f"bounds {(left, bottom, right, top)} do not map to a window of whole pixels"
            )
        eps = 1e-6
        col0 = math.floor(min(xs) + eps)
        col1 = math.ceil(max(xs) - eps)
        row0 = math.floor(min(ys) + eps)
        row1 = math.ceil(max(ys) - eps)
        return cls(col0, row0, max(col1 - col0, 0), max(row1 - row0, 0))

    @property
    def col_stop(self) -> int:
        """One past the last column."""
        return self.col_off + self.width

    @property
    def row_stop(self) -> int:
        """One past the last row."""
        return self.row_off + self.height

    def toslices(self) -> tuple[slice, slice]:
        """``(row_slice, col_slice)`` for indexing a ``(rows, cols)`` array."""
        return slice(self.row_off, self.row_stop), slice(self.col_off, self.col_stop)

    def intersection(self, other: Window) -> Window | None:
        """The overlap of two windows, or None when they do not overlap."""
        col0 = max(self.col_off, other.col_off)
        row0 = max(self.row_off, other.row_off)
        col1 = min(self.col_stop, other.col_stop)
        row1 = min(self.row_stop, other.row_stop)
        if col1 <= col0 or row1 <= row0:
            return None
        return Window(col0, row0, col1 - col0, row1 - row0)

    def transform(self, parent: Affine) -> Affine:
        """The affine transform of this window inside an image with ``parent``."""
        return parent @ Affine.translation(self.col_off, self.row_off)


class BoundingBox(NamedTuple):
    """Bounds in CRS units, as rasterio orders them: ``(left, bottom, right, top)``.

    A named tuple, as rasterio's: it unpacks, indexes and compares like a tuple.

    Example:
        >>> left, bottom, right, top = BoundingBox(0.0, -10.0, 20.0, 0.0)
        >>> BoundingBox(0.0, -10.0, 20.0, 0.0)[2]
        20.0
    """

    left: float
    """Smallest x (for a north-up image)."""
    bottom: float
    """Smallest y (for a north-up image)."""
    right: float
    """Largest x (for a north-up image)."""
    top: float
    """Largest y (for a north-up image)."""


def bounds_of(transform: Affine, width: int, height: int) -> BoundingBox:
    """The bounds of a ``width`` x ``height`` raster, computed as rasterio does.

    Without rotation the edges are taken as the transform gives them (so the
    identity transform of an image without georeferencing gives
    ``bottom > top``, as in rasterio); with rotation, the envelope of the
    four corners.
    """
    t = transform
    if t.b == 0 and t.d == 0:
        return BoundingBox(t.c, t.f + t.e * height, t.c + t.a * width, t.f)
    corners = [t @ (c, r) for c, r in ((0, 0), (0, height), (width, height), (width, 0))]
    xs = [x for x, _ in corners]
    ys = [y for _, y in corners]
    return BoundingBox(min(xs), min(ys), max(xs), max(ys))
