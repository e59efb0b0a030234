"""Pixels for people: RGBA rendering (colormap, band choice, stretch, mask) and PNG output."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from trio_geotiff._array import Array
from trio_geotiff._enums import ColorInterp
from trio_geotiff._geotiff import GeoTIFF

from .context import CLIError
from .info import Level

__all__ = ["choose_preview_level", "colormap_for", "render_rgba", "require_pillow", "write_png"]

_RGB = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)


def require_pillow() -> Any:
    """The ``PIL.Image`` module.

    Raises:
        CLIError: Pillow is not installed (it is the optional ``cli`` extra).
    """
    try:
        from PIL import Image  # noqa: PLC0415 - Pillow is the optional "cli" extra
    except ImportError as exc:
        raise CLIError(
            "writing PNG files needs Pillow:"
            " pip install 'trio_geotiff[cli]' (or pip install pillow)"
        ) from exc
    return Image


def choose_preview_level(tif: GeoTIFF, max_size: int) -> Level:
    """The coarsest level whose longer side is still at least ``max_size``.

    When even the full-resolution image is smaller, that image (the finest
    there is) is used.
    """
    levels: list[Level] = [tif, *tif.overviews]
    big_enough = [lv for lv in levels if max(lv.width, lv.height) >= max_size]
    if not big_enough:
        return tif
    return min(big_enough, key=lambda lv: lv.width * lv.height)


def colormap_for(tif: GeoTIFF, bands: Sequence[int]) -> dict[int, tuple[int, int, int, int]] | None:
    """The colormap to render ``bands`` with: band 1's, when it comes first and is a palette."""
    if list(bands)[:1] == [1] and tif.colorinterp[0] is ColorInterp.palette:
        try:
            return tif.colormap(1)
        except ValueError:
            return None
    return None


def _stretch(band: npt.NDArray[Any], valid: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8]:
    """Scale the 2nd..98th percentiles of the valid pixels to 0..255."""
    values = band.real if band.dtype.kind == "c" else band
    values = values.astype(np.float64)
    finite = valid & np.isfinite(values)
    if not finite.any():
        return np.zeros(band.shape, dtype=np.uint8)
    lo, hi = np.percentile(values[finite], [2, 98])
    if not hi > lo:
        lo, hi = lo - 0.5, lo + 0.5
    with np.errstate(invalid="ignore"):
        scaled = (values - lo) * (255.0 / (hi - lo))
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    out: npt.NDArray[np.uint8] = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return out


def _palette_rgba(
    band: npt.NDArray[Any],
    colormap: dict[int, tuple[int, int, int, int]],
    valid: npt.NDArray[np.bool_],
) -> npt.NDArray[np.uint8]:
    size = max(colormap) + 1
    lut = np.zeros((size, 4), dtype=np.uint8)
    for value, rgba in colormap.items():
        lut[value] = rgba
    out: npt.NDArray[np.uint8] = lut[np.clip(band, 0, size - 1).astype(np.intp)]
    out[..., 3] = np.where(valid, out[..., 3], 0)
    return out


def _shown_bands(colorinterp: Sequence[ColorInterp], count: int) -> list[int]:
    """The 0-based bands shown as R, G, B (three) or as grey (one)."""
    if all(ci in colorinterp for ci in _RGB):
        return [list(colorinterp).index(ci) for ci in _RGB]  # e.g. BGR files shown as RGB
    # An alpha band is the mask, not a colour.
    shown = [i for i, ci in enumerate(colorinterp) if ci is not ColorInterp.alpha]
    shown = shown or list(range(count))
    return shown[:3] if len(shown) >= 3 else shown[:1]


def render_rgba(
    arr: Array,
    colorinterp: Sequence[ColorInterp],
    colormap: dict[int, tuple[int, int, int, int]] | None,
    *,
    stretch: bool,
) -> npt.NDArray[np.uint8]:
    """An RGBA image ``(height, width, 4)`` of an `Array` for display.

    A palette band goes through ``colormap``. Otherwise up to three bands (an
    alpha band is left out: it is the mask) are shown as RGB (one band as
    grey), stretched per band (2nd-98th percentile) when ``stretch`` is set or
    the pixels are not uint8. Pixels where the mask is False are transparent.
    """
    data = arr.data
    h, w = arr.height, arr.width
    valid = arr.mask if arr.mask is not None else np.ones((h, w), dtype=bool)
    if colormap is not None and arr.count >= 1 and data.dtype.kind in "iu":
        return _palette_rgba(data[0], colormap, valid)
    out = np.zeros((h, w, 4), dtype=np.uint8)
    shown = _shown_bands(colorinterp, arr.count)
    for channel, band in enumerate(shown):
        if stretch or data.dtype != np.uint8:
            out[..., channel] = _stretch(data[band], valid)
        else:
            out[..., channel] = data[band]
    if len(shown) == 1:
        out[..., 1] = out[..., 0]
        out[..., 2] = out[..., 0]
    out[..., 3] = np.where(valid, 255, 0).astype(np.uint8)
    return out


def write_png(
    path: Path, rgba: npt.NDArray[np.uint8], *, max_size: int | None = None
) -> tuple[int, int]:
    """Write an RGBA array as PNG (RGB when fully opaque), downsampled to ``max_size``.

    Returns:
        The ``(width, height)`` written.

    Raises:
        CLIError: Pillow is missing, or the file cannot be written.
    """
    image_mod = require_pillow()
    image = image_mod.fromarray(np.ascontiguousarray(rgba), mode=None)
    if max_size is not None and max(image.size) > max_size:
        scale = max_size / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, resample=image_mod.Resampling.BOX)
    if bool(np.all(rgba[..., 3] == 255)):
        image = image.convert("RGB")
    try:
        image.save(path, format="PNG")
    except OSError as exc:
        raise CLIError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    return (int(image.width), int(image.height))
