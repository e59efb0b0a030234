"""Windowed reads: plan the blocks, fan out fetches and decodes, paste as they land.

One read makes one trio nursery. Each coalesced byte range is one task: it
fetches its bytes through the asyncio portal, then decodes each of its blocks
in a worker thread that pastes the block straight into the preallocated
output. No list of decoded blocks is ever held, nothing outlives the read,
and the first error cancels the rest and is raised alone (no ExceptionGroup).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import attrs
import numpy.typing as npt
import trio

from ._decode import decode_block
from ._image import ImageInfo
from ._source import ObjectSource, coalesce_ranges
from ._window import Window
from .errors import CorruptFileError, GeoTIFFError, ResourceLimitError

__all__ = ["DEFAULT_MAX_DECODED_BYTES", "ReadContext", "read_samples"]

DEFAULT_MAX_DECODED_BYTES: Final = 4 * 1024**3
"""Default ceiling on the bytes one read may decode (4 GiB)."""

# Decoding is CPU-bound: more threads than cores only adds memory. One
# limiter per trio run (a RunVar), shared by every file that run reads.
_DECODE_THREADS: Final = max(os.cpu_count() or 1, 1)
_decode_limiter: trio.lowlevel.RunVar[trio.CapacityLimiter] = trio.lowlevel.RunVar(
    "trio_geotiff_decode_limiter"
)


def _get_decode_limiter() -> trio.CapacityLimiter:
    try:
        return _decode_limiter.get()
    except LookupError:
        limiter = trio.CapacityLimiter(_DECODE_THREADS)
        _decode_limiter.set(limiter)
        return limiter


@attrs.frozen
class ReadContext:
    """What every read of one file shares."""

    source: ObjectSource
    byteorder: str
    limiter: trio.CapacityLimiter
    max_decoded_bytes: int
    jpeg: str = "fast"
    """YCbCr JPEG decoding: "fast" (libjpeg-turbo) or "gdal" (GDAL's libjpeg 9 output)."""


class _FirstError:
    """Runs child tasks; the first failure cancels the rest and is kept to re-raise."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self.error: BaseException | None = None

    def start_soon(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        self.nursery.start_soon(self._guard, fn, *args)

    async def _guard(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        try:
            await fn(*args)
        except Exception as exc:  # noqa: BLE001 - recorded, re-raised alone by the parent
            if self.error is None:
                self.error = exc
            self.nursery.cancel_scope.cancel()


def check_ceiling(ctx: ReadContext, nbytes: int, what: str) -> None:
    """Refuse work that would decode more than the configured ceiling."""
    if nbytes > ctx.max_decoded_bytes:
        raise ResourceLimitError(
            ctx.source.path,
            f"{what} would decode {nbytes} bytes, above the ceiling of"
            f" {ctx.max_decoded_bytes} bytes (max_decoded_bytes)",
        )


async def read_samples(
    ctx: ReadContext,
    info: ImageInfo,
    window: Window,
    samples: Sequence[int],
    out: npt.NDArray[Any],
    fill: Any,
) -> None:
    """Read ``samples`` (0-based) of ``window`` (inside the image) into ``out``.

    Args:
        ctx: The file's shared read state.
        info: The image (full resolution, overview or mask) to read.
        window: The window, already clipped to the image.
        samples: 0-based sample indices; ``out[k]`` receives ``samples[k]``.
        out: Preallocated ``(len(samples), window.height, window.width)`` array
            (may be a view); every pixel of it is written.
        fill: Value for the pixels of sparse blocks (offset and byte count 0).

    Raises:
        CorruptFileError: Missing or out-of-range block data, or undecodable bytes.
        StoreError: The store failed.

    **Cancellation:** cancelling stops every request in flight (through the
    portal) and waits for running decodes (milliseconds) before returning.
    """
    path = ctx.source.path
    if info.offsets is None or info.byte_counts is None:
        raise CorruptFileError(path, f"IFD {info.ifd_index} has no block offsets or byte counts")
    bw, bh = info.block_width, info.block_height
    block_bytes = bw * bh * info.samples_per_block * max(info.dtype.itemsize, 1)
    check_ceiling(ctx, block_bytes, f"one {bw}x{bh} block")
    col0, col1 = window.col_off // bw, (window.col_stop - 1) // bw
    row0, row1 = window.row_off // bh, (window.row_stop - 1) // bh
    if info.planar:
        planes = [(s, [k]) for k, s in enumerate(samples)]
        # With planar data, the sample index inside a block is always 0.
        plane_samples: dict[int, list[int]] = {s: [0] for s in samples}
    else:
        planes = [(0, list(range(len(samples))))]
        plane_samples = {0: list(samples)}

    blocks: list[tuple[int, int, int, list[int]]] = []  # (plane, row, col, out positions)
    ranges: list[tuple[int, int]] = []
    size = ctx.source.size
    for plane, positions in planes:
        for r in range(row0, row1 + 1):
            for c in range(col0, col1 + 1):
                idx = info.block_index(plane, r, c)
                offset = int(info.offsets[idx])
                count = int(info.byte_counts[idx])
                if count == 0 or offset == 0:
                    _fill_block(out, window, r * bh, c * bw, bh, bw, positions, fill)
                    continue
                if offset + count > size:
                    raise CorruptFileError(
                        path,
                        f"block {idx} of IFD {info.ifd_index} at bytes {offset}..{offset + count}"
                        f" lies beyond the end of the {size}-byte object",
                    )
                blocks.append((plane, r, c, positions))
                ranges.append((offset, offset + count))

    requests = coalesce_ranges(ranges, ctx.source.coalesce_gap, ctx.source.max_request)
    ctx.source.ranges_coalesced += len(ranges) - len(requests)
    decode_limiter = _get_decode_limiter()

    def decode_and_paste(data: memoryview, block: tuple[int, int, int, list[int]]) -> None:
        plane, r, c, positions = block
        top = r * bh
        rows = min(bh, info.height - top) if not info.tiled else bh
        arr = decode_block(path, info, data, ctx.byteorder, rows, jpeg=ctx.jpeg)
        _paste(arr, out, window, top, c * bw, positions, plane_samples[plane])

    async def decode_one(data: memoryview, block: tuple[int, int, int, list[int]]) -> None:
        async with ctx.limiter:
            await trio.to_thread.run_sync(decode_and_paste, data, block, limiter=decode_limiter)
        ctx.source.blocks_decoded += 1

    async def fetch_request(start: int, end: int, members: list[int], runner: _FirstError) -> None:
        async with ctx.limiter:
            data = await ctx.source.fetch(start, end)
        for i in members:
            b_start, b_end = ranges[i]
            runner.start_soon(decode_one, data[b_start - start : b_end - start], blocks[i])

    async with trio.open_nursery() as nursery:
        runner = _FirstError(nursery)
        for start, end, members in requests:
            runner.start_soon(fetch_request, start, end, members, runner)
    if runner.error is not None:
        if isinstance(runner.error, GeoTIFFError):
            raise runner.error
        raise CorruptFileError(path, f"read failed: {runner.error!r}") from runner.error


def _fill_block(
    out: npt.NDArray[Any],
    window: Window,
    top: int,
    left: int,
    bh: int,
    bw: int,
    positions: list[int],
    fill: Any,
) -> None:
    """Fill the part of a sparse (unstored) block inside ``window``."""
    r0 = max(top, window.row_off) - window.row_off
    r1 = min(top + bh, window.row_stop) - window.row_off
    c0 = max(left, window.col_off) - window.col_off
    c1 = min(left + bw, window.col_stop) - window.col_off
    if r1 > r0 and c1 > c0:
        for pos in positions:
            out[pos, r0:r1, c0:c1] = fill


def _paste(
    block: npt.NDArray[Any],
    out: npt.NDArray[Any],
    window: Window,
    top: int,
    left: int,
    positions: list[int],
    block_samples: list[int],
) -> None:
    """Copy the part of ``block`` (rows, cols, samples) inside ``window`` into ``out``."""
    r0 = max(top, window.row_off)
    r1 = min(top + block.shape[0], window.row_stop)
    c0 = max(left, window.col_off)
    c1 = min(left + block.shape[1], window.col_stop)
    if r1 <= r0 or c1 <= c0:
        return
    sub = block[r0 - top : r1 - top, c0 - left : c1 - left]
    dst_rows = slice(r0 - window.row_off, r1 - window.row_off)
    dst_cols = slice(c0 - window.col_off, c1 - window.col_off)
    for pos, sample in zip(positions, block_samples, strict=True):
        out[pos, dst_rows, dst_cols] = sub[:, :, sample]
