"""Windowed reads: plan the blocks, fan out fetches and decodes, paste as they land.

One read makes one task group. Each coalesced byte range is one task: it
fetches its bytes from the store, then decodes each of its blocks
in a worker thread that pastes the block straight into the preallocated
output. No list of decoded blocks is ever held, nothing outlives the read,
and the first error cancels the rest and is raised alone (no ExceptionGroup).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, TypeAlias

import anyio
import attrs
import numpy.typing as npt

from ._cache import BlockCache, BlockKey
from ._decode import decode_block
from ._image import ImageInfo
from ._nursery import task_group
from ._runtime import Limiter, decode_slots, run_in_thread
from ._source import ObjectSource, coalesce_ranges
from ._window import Window
from .errors import CorruptFileError, GeoTIFFError, ResourceLimitError

__all__ = ["DEFAULT_MAX_DECODED_BYTES", "ReadContext", "read_samples"]

DEFAULT_MAX_DECODED_BYTES: Final = 4 * 1024**3
"""Default ceiling on the bytes one read may decode (4 GiB)."""


@attrs.frozen
class ReadContext:
    """What every read of one file shares."""

    source: ObjectSource
    byteorder: str
    limiter: Limiter
    max_decoded_bytes: int
    jpeg: str = "fast"
    """YCbCr JPEG decoding: "fast" (libjpeg-turbo) or "gdal" (GDAL's libjpeg 9 output)."""
    cache: BlockCache | None = None
    """Decoded blocks shared by the reads of this file (None: no cache)."""


Block: TypeAlias = "tuple[int, int, int, list[int]]"
"""A block to read: (plane, block row, block column, positions in the output)."""


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

    blocks: list[Block] = []
    ranges: list[tuple[int, int]] = []
    cached: list[tuple[Block, npt.NDArray[Any]]] = []
    waiting: list[tuple[Block, anyio.Event]] = []
    cache = ctx.cache
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
                block = (plane, r, c, positions)
                if cache is not None:
                    hit = cache.get(_key(ctx, info, block))
                    if hit is not None:
                        cached.append((block, hit))
                        continue
                    event = cache.pending(_key(ctx, info, block))
                    if event is not None:
                        waiting.append((block, event))
                        continue
                blocks.append(block)
                ranges.append((offset, offset + count))
    ctx.source.cache_hits += len(cached)
    claimed = [_key(ctx, info, b) for b in blocks] if cache is not None else []
    for key in claimed:
        # Claimed before the first checkpoint: concurrent reads of these blocks
        # wait for this one instead of fetching them again.
        cache.claim(key)  # type: ignore[union-attr]
    try:
        await _run_read(
            ctx, info, window, out, blocks, ranges, cached, waiting, plane_samples, block_bytes
        )
    finally:
        for key in claimed:
            cache.release(key)  # type: ignore[union-attr]


async def _run_read(
    ctx: ReadContext,
    info: ImageInfo,
    window: Window,
    out: npt.NDArray[Any],
    blocks: list[Block],
    ranges: list[tuple[int, int]],
    cached: list[tuple[Block, npt.NDArray[Any]]],
    waiting: list[tuple[Block, anyio.Event]],
    plane_samples: dict[int, list[int]],
    block_bytes: int,
) -> None:
    path = ctx.source.path
    cache = ctx.cache
    bw, bh = info.block_width, info.block_height
    fill_cache = cache is not None and cache.admits(len(blocks) * block_bytes)

    requests = coalesce_ranges(ranges, ctx.source.coalesce_gap, ctx.source.max_request)
    ctx.source.ranges_coalesced += len(ranges) - len(requests)
    slots = decode_slots()

    def paste(block: Block, arr: npt.NDArray[Any]) -> None:
        plane, r, c, positions = block
        _paste(arr, out, window, r * bh, c * bw, positions, plane_samples[plane])

    def decode_and_paste(data: memoryview, block: Block) -> npt.NDArray[Any]:
        top = block[1] * bh
        rows = min(bh, info.height - top) if not info.tiled else bh
        arr = decode_block(path, info, data, ctx.byteorder, rows, jpeg=ctx.jpeg)
        paste(block, arr)
        return arr

    def paste_all(items: list[tuple[Block, npt.NDArray[Any]]]) -> None:
        for block, arr in items:
            paste(block, arr)

    async def decode_one(data: memoryview, block: Block) -> None:
        async with slots, ctx.limiter:
            arr = await run_in_thread(decode_and_paste, data, block)
        ctx.source.blocks_decoded += 1
        if fill_cache:
            assert cache is not None
            cache.put(_key(ctx, info, block), arr)

    async def fetch_request(start: int, end: int, members: list[int]) -> None:
        try:
            data = await ctx.source.fetch(start, end)
            async with task_group() as decodes:
                for i in members:
                    b_start, b_end = ranges[i]
                    decodes.start_soon(decode_one, data[b_start - start : b_end - start], blocks[i])
        finally:
            if cache is not None:
                for i in members:  # wake readers waiting for these blocks
                    cache.release(_key(ctx, info, blocks[i]))

    async def wait_for_other_read(block: Block, event: anyio.Event) -> None:
        await event.wait()
        assert cache is not None
        arr = cache.get(_key(ctx, info, block))
        if arr is None:
            # The other read failed, was cancelled or did not keep it: fetch it.
            idx = info.block_index(block[0], block[1], block[2])
            offset, count = int(info.offsets[idx]), int(info.byte_counts[idx])  # type: ignore[index]
            data = await ctx.source.fetch(offset, offset + count)
            await decode_one(data, block)
        else:
            async with slots:
                await run_in_thread(paste, block, arr)

    async def paste_cached() -> None:
        # Pasting cached blocks is a copy per block: off the event loop.
        async with slots:
            await run_in_thread(paste_all, cached)

    try:
        async with task_group() as group:
            for start, end, members in requests:
                group.start_soon(fetch_request, start, end, members)
            for block, event in waiting:
                group.start_soon(wait_for_other_read, block, event)
            if cached:
                group.start_soon(paste_cached)
    except GeoTIFFError:
        raise
    except Exception as exc:
        raise CorruptFileError(path, f"read failed: {exc!r}") from exc


def _key(ctx: ReadContext, info: ImageInfo, block: Block) -> BlockKey:
    return (ctx.source.token, info.ifd_index, info.block_index(block[0], block[1], block[2]))


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
