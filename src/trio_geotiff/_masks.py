"""Read masks as GDAL makes them: a mask image, an alpha band, or the nodata value.

GDAL's order of precedence (`MaskRule.kind`): an internal or ``.msk`` mask
image of the same size, else an alpha band, else the nodata value, else
every pixel is valid. The nodata comparison follows GDAL's equality rules
(`is_nodata`), and the dataset mask is computed band by band: a read never
holds a ``(bands, height, width)`` boolean temporary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, TypeAlias

import attrs
import numpy as np
import numpy.typing as npt

from ._array import allocate
from ._decode import check_decodable
from ._image import ImageInfo
from ._nursery import task_group
from ._read import ReadContext, read_samples
from ._runtime import decode_slots, run_in_thread
from ._window import Window
from .errors import ResourceLimitError

__all__ = [
    "ImageRef",
    "MaskKind",
    "MaskRule",
    "is_nodata",
    "nodata_validity",
    "pair_mask",
]

ImageRef: TypeAlias = "tuple[ImageInfo, ReadContext]"
"""An image and the read state of the file that holds it (main file or sidecar)."""

MaskKind: TypeAlias = Literal["mask", "alpha", "nodata"] | None


def pair_mask(image: ImageInfo, masks: Sequence[ImageRef]) -> ImageRef | None:
    """The first mask image of ``image``'s size (GDAL pairs masks by size)."""
    for mask in masks:
        if (mask[0].width, mask[0].height) == (image.width, image.height):
            return mask
    return None


@attrs.frozen
class MaskRule:
    """Where one raster's read masks come from, and how to compute them."""

    image: ImageRef | None
    """The mask image (internal, in a ``.ovr`` or a ``.msk`` file), if any."""
    alpha_sample: int | None
    """0-based sample of an alpha band used as the dataset mask."""
    nodata: float | None
    """The nodata value."""

    @property
    def kind(self) -> MaskKind:
        """``"mask"``, ``"alpha"``, ``"nodata"`` or None, in GDAL's order of precedence."""
        if self.image is not None:
            return "mask"
        if self.alpha_sample is not None:
            return "alpha"
        if self.nodata is not None:
            return "nodata"
        return None

    def samples_needed(self, bands: Sequence[int], count: int) -> list[int]:
        """The 0-based samples to read: ``bands`` first, then what the mask needs."""
        needed = list(dict.fromkeys(bands))
        kind = self.kind
        if kind == "alpha" and self.alpha_sample not in needed:
            needed.append(self.alpha_sample)  # type: ignore[arg-type]
        elif kind == "nodata":
            needed = list(dict.fromkeys([*needed, *range(count)]))
        return needed

    async def read(
        self,
        pixels: ImageRef,
        window: Window,
        samples: list[int],
        out: npt.NDArray[Any],
        fill: Any,
    ) -> npt.NDArray[np.bool_] | None:
        """Read ``samples`` of ``window`` into ``out``; return the mask (None: all valid).

        Raises:
            ResourceLimitError: The mask does not fit in memory or the ceiling.
            CorruptFileError, UnsupportedError, StoreError: As `read_samples`.
        """
        image, ctx = pixels
        if self.image is not None:
            return await self._read_with_image(pixels, window, samples, out, fill)
        await read_samples(ctx, image, window, samples, out, fill)
        if self.alpha_sample is not None:
            return _nonzero(ctx, out[samples.index(self.alpha_sample)], window)
        if self.nodata is None:
            return None
        # A full pass over the pixels: off the event loop.
        try:
            async with decode_slots():
                return await run_in_thread(nodata_validity, out, self.nodata)
        except MemoryError:
            # The mask and a few band-sized temporaries of the comparison.
            nbytes = window.width * window.height * (1 + 4 * out.dtype.itemsize)
            raise ResourceLimitError(
                ctx.source.path,
                f"the nodata mask of {window}: out of memory allocating about {nbytes} bytes"
                f" (ceiling {ctx.max_decoded_bytes} bytes, max_decoded_bytes)",
            ) from None

    async def _read_with_image(
        self,
        pixels: ImageRef,
        window: Window,
        samples: list[int],
        out: npt.NDArray[Any],
        fill: Any,
    ) -> npt.NDArray[np.bool_]:
        assert self.image is not None
        image, ctx = pixels
        mask_image, mask_ctx = self.image
        check_decodable(mask_ctx.source.path, mask_image)
        mask_out = allocate(
            mask_ctx, (1, window.height, window.width), mask_image.dtype, f"the mask of {window}"
        )
        # Pixels and mask in parallel; the first error cancels the other read.
        async with task_group() as group:
            group.start_soon(read_samples, ctx, image, window, samples, out, fill)
            group.start_soon(read_samples, mask_ctx, mask_image, window, [0], mask_out, 0)
        return _nonzero(mask_ctx, mask_out[0], window)


def _nonzero(ctx: ReadContext, band: npt.NDArray[Any], window: Window) -> npt.NDArray[np.bool_]:
    """``band != 0`` into a mask allocated within the ceiling."""
    valid = allocate(ctx, band.shape, np.bool_, f"the mask of {window}")
    np.not_equal(band, 0, out=valid)
    return valid


def nodata_validity(values: npt.NDArray[Any], nodata: float) -> npt.NDArray[np.bool_]:
    """True where any band differs from nodata (GDAL's per-dataset nodata mask).

    Band by band: the temporaries are ``(height, width)``, never
    ``(bands, height, width)``.
    """
    valid = np.zeros(values.shape[1:], dtype=np.bool_)
    for band in values:
        equal = is_nodata(band, nodata)
        np.logical_not(equal, out=equal)
        valid |= equal
    return valid


def is_nodata(values: npt.NDArray[Any], nodata: float) -> npt.NDArray[np.bool_]:
    """Where ``values`` equal ``nodata`` by GDAL's rules (a new array, writable)."""
    if values.dtype.kind == "c":
        values = values.real  # GDAL compares complex samples by their real part
    if values.dtype.kind in "iub":
        return _is_integer_nodata(values, nodata)
    if math.isnan(nodata):
        return np.asarray(np.isnan(values), dtype=np.bool_)
    target = values.dtype.type(nodata)
    if math.isinf(target):
        return np.asarray(values == target, dtype=np.bool_)
    # GDAL's ARE_REAL_EQUAL: relative difference below 2 float32 epsilons, for
    # float64 too (a float32-rounded nodata written to a float64 file matches).
    eps = np.finfo(np.float32).eps
    with np.errstate(over="ignore", invalid="ignore"):
        near = np.asarray(
            np.abs(values - target) < eps * np.abs(values + target) * 2, dtype=np.bool_
        )
    near |= values == target
    return near


def _is_integer_nodata(values: npt.NDArray[Any], nodata: float) -> npt.NDArray[np.bool_]:
    if (
        values.dtype.kind == "b"
        or not math.isfinite(nodata)
        or not float(nodata).is_integer()
        or not np.iinfo(values.dtype).min <= nodata <= np.iinfo(values.dtype).max
    ):
        return np.zeros(values.shape, dtype=np.bool_)  # no pixel can equal it
    return np.asarray(values == values.dtype.type(int(nodata)), dtype=np.bool_)
