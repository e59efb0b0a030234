"""Windowed reads: run a `ReadPlan` in one task group, pasting blocks as they land.

`_plan.plan_read` decides what a read does; this module does it. Each
coalesced request is one task: it fetches its bytes, then decodes each of
its blocks in a worker thread that pastes the block straight into the
preallocated output. Cached blocks and sparse fills are pasted in one more
thread; blocks another read is fetching are awaited. No list of decoded
blocks is ever held (a decoded block lives in its thread until it is pasted,
or in the cache), nothing outlives the read, and the first error cancels the
rest and is raised alone.

Errors: codec errors are mapped where blocks are decoded (`_decode`), store
errors where bytes are fetched (`_store`); an allocation failure here is a
`ResourceLimitError`; anything else is a bug and passes through unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import anyio
import attrs
import numpy as np
import numpy.typing as npt

from ._cache import BlockCache, ReadClaim, own_memory
from ._decode import Block as DecodedBlock
from ._decode import decode
from ._image import ImageInfo
from ._nursery import task_group
from ._plan import Block, CacheState, ReadPlan, block_bytes, plan_read, touched_blocks
from ._runtime import Limiter, decode_slots, run_in_thread
from ._source import ObjectSource
from ._window import Window
from .errors import ResourceLimitError

__all__ = ["DEFAULT_MAX_DECODED_BYTES", "ReadContext", "check_ceiling", "read_samples"]

DEFAULT_MAX_DECODED_BYTES: Final = 4 * 1024**3
"""Default ceiling on the bytes one read may decode (4 GiB)."""

# Copies of cached blocks and sparse fills up to this size are made on the
# event loop: a 256 KiB copy takes ~20 us, a hop to a worker thread and back
# costs more than that (and much more when the cores are busy).
_INLINE_PASTE_BYTES: Final = 256 * 1024


@attrs.frozen
class ReadContext:
    """What every read of one file shares."""

    source: ObjectSource
    byteorder: str
    limiter: Limiter
    max_decoded_bytes: int
    jpeg: str = "gdal"
    """YCbCr JPEG decoding: "gdal" (GDAL's libjpeg 9 output) or "fast" (libjpeg-turbo)."""
    cache: BlockCache | None = None
    """This file's handle on the process-wide decoded-block cache (None: not cached)."""


def check_ceiling(ctx: ReadContext, nbytes: int, what: str) -> None:
    """Refuse work that would decode more than the configured ceiling."""
    if nbytes > ctx.max_decoded_bytes:
        raise ResourceLimitError(
            ctx.source.path,
            f"{what} would decode {nbytes} bytes, above the ceiling of"
            f" {ctx.max_decoded_bytes} bytes (max_decoded_bytes)",
        )


def _out_of_memory(ctx: ReadContext, what: str, nbytes: int) -> ResourceLimitError:
    return ResourceLimitError(
        ctx.source.path,
        f"out of memory: {what} needs {nbytes} bytes (ceiling {ctx.max_decoded_bytes}"
        " bytes, max_decoded_bytes)",
    )


async def read_samples(  # noqa: PLR0913, RUF100 (the façade's interface)
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
        fill: Value for the pixels of sparse blocks (byte count 0).

    Raises:
        ResourceLimitError: The whole blocks the window touches would decode
            more than ``max_decoded_bytes`` (checked before any I/O), or
            memory ran out.
        CorruptFileError: Missing or out-of-range block data, or undecodable bytes.
        StoreError: The store failed.

    **Cancellation:** cancelling stops every request in flight (through the
    portal) and waits for running decodes (milliseconds) before returning.
    """
    source, cache = ctx.source, ctx.cache
    check_ceiling(ctx, block_bytes(info, info.block_height), "one block")
    hits: dict[int, npt.NDArray[Any]] = {}
    waits: dict[int, anyio.Event] = {}
    if cache is not None and info.offsets is not None:
        hits, waits = cache.lookup(
            source.token, info.ifd_index, touched_blocks(info, window, samples)
        )
    plan = plan_read(info, window, samples, source, CacheState(hits, waits))
    check_ceiling(ctx, plan.decoded_bytes, f"reading {window} ({plan.block_count} whole blocks)")
    source.cache_hits += len(plan.cached)
    source.ranges_coalesced += len(plan.fetch) - len(plan.requests)
    indices = [b.index for b in plan.fetch]
    # Claimed before the first checkpoint: concurrent reads of these blocks
    # wait for this one instead of fetching them again.
    claim = (
        cache.claim(source.token, info.ifd_index, indices, plan.decoded_bytes)
        if cache is not None
        else ReadClaim(None, 0, 0, [], fills=False)
    )
    try:
        await _Execution(ctx, info, plan, out, fill, claim, hits, waits).run()
    finally:
        claim.release_all()


@attrs.define(eq=False)
class _Execution:
    """One run of a plan: the tasks of one read and what they share."""

    ctx: ReadContext
    info: ImageInfo
    plan: ReadPlan
    out: npt.NDArray[Any]
    fill: Any
    claim: ReadClaim
    hits: dict[int, npt.NDArray[Any]]
    waits: dict[int, anyio.Event]
    slots: anyio.CapacityLimiter = attrs.field(factory=decode_slots)

    async def run(self) -> None:
        plan = self.plan
        known = plan.cached or plan.fills
        if known and self._copy_bytes() <= _INLINE_PASTE_BYTES:
            self._paste_cached_and_fill()
            known = ()
        async with task_group() as group:
            for request in plan.requests:
                group.start_soon(self._fetch_request, request.start, request.end, request.members)
            for block in plan.waiting:
                group.start_soon(self._wait_for, block)
            if known:
                group.start_soon(self._paste_known)

    def _copy_bytes(self) -> int:
        """Bytes of the output the cached blocks and sparse fills write."""
        pixels = sum(self._block_pixels(b) for b in self.plan.cached)
        for f in self.plan.fills:
            pixels += max(f.row1 - f.row0, 0) * max(f.col1 - f.col0, 0) * len(f.positions)
        return pixels * self.out.itemsize

    def _block_pixels(self, block: Block) -> int:
        """Output pixels (all positions) that ``block`` writes."""
        plan, window = self.plan, self.plan.window
        top, left = block.row * plan.block_height, block.col * plan.block_width
        rows = min(top + block.rows, window.row_stop) - max(top, window.row_off)
        cols = min(left + plan.block_width, window.col_stop) - max(left, window.col_off)
        return max(rows, 0) * max(cols, 0) * len(block.positions)

    async def _fetch_request(self, start: int, end: int, members: tuple[int, ...]) -> None:
        blocks = [self.plan.fetch[i] for i in members]
        try:
            data = await self.ctx.source.fetch(start, end)
            if len(blocks) == 1:  # most requests: no inner task group
                await self._decode(data[blocks[0].start - start : blocks[0].end - start], blocks[0])
                return
            async with task_group() as decodes:
                for b in blocks:
                    decodes.start_soon(self._decode, data[b.start - start : b.end - start], b)
        finally:
            self.claim.release(b.index for b in blocks)  # wake reads waiting for them

    async def _decode(self, data: memoryview, block: Block) -> None:
        async with self.slots, self.ctx.limiter:
            arr = await run_in_thread(self._decode_and_paste, data, block)
        self.ctx.source.blocks_decoded += 1
        if arr is not None:
            self.claim.put(block.index, arr)

    def _decode_and_paste(self, data: memoryview, block: Block) -> npt.NDArray[Any] | None:
        # In a worker thread. The block is dropped here unless the cache keeps
        # it: one decoded block per decoding thread at a time.
        ctx, info = self.ctx, self.info
        what = DecodedBlock(ctx.source.path, info, block.rows, block.index, ctx.byteorder, ctx.jpeg)
        dest = None if self.claim.fills else self._destination(block)
        try:
            arr = decode(what, data, dest)
            if arr is not dest:
                self._paste(block, arr)
            return own_memory(arr) if self.claim.fills else None
        except ResourceLimitError as exc:  # the codec boundary's: add the read's ceiling
            raise ResourceLimitError(
                exc.path, f"{exc.reason} (ceiling {ctx.max_decoded_bytes} bytes, max_decoded_bytes)"
            ) from exc
        except MemoryError as exc:
            where = f"block {block.index} of IFD {info.ifd_index}"
            raise _out_of_memory(ctx, where, block_bytes(info, block.rows)) from exc

    async def _wait_for(self, block: Block) -> None:
        await self.waits[block.index].wait()
        arr = self.claim.get(block.index)
        if arr is None:
            # The other read failed, was cancelled or did not keep it: fetch it.
            data = await self.ctx.source.fetch(block.start, block.end)
            await self._decode(data, block)
        elif self._block_pixels(block) * self.out.itemsize <= _INLINE_PASTE_BYTES:
            self._paste(block, arr)
        else:
            async with self.slots:
                await run_in_thread(self._paste, block, arr)

    async def _paste_known(self) -> None:
        # Cached blocks and sparse fills are a copy each: off the event loop.
        async with self.slots:
            await run_in_thread(self._paste_cached_and_fill)

    def _paste_cached_and_fill(self) -> None:
        for block in self.plan.cached:
            self._paste(block, self.hits[block.index])
        for f in self.plan.fills:
            if f.row1 > f.row0 and f.col1 > f.col0:
                self.out[_index(f.positions), f.row0 : f.row1, f.col0 : f.col1] = self.fill

    def _destination(self, block: Block) -> npt.NDArray[Any] | None:
        """The output as a (rows, cols, samples) view, if the whole block lands in it in order."""
        plan, window = self.plan, self.plan.window
        top, left = block.row * plan.block_height, block.col * plan.block_width
        positions = _index(block.positions)
        if (
            top < window.row_off
            or top + block.rows > window.row_stop
            or left < window.col_off
            or left + plan.block_width > window.col_stop
            or block.samples != tuple(range(self.info.samples_per_block))
            or not isinstance(positions, slice)
        ):
            return None
        rows = slice(top - window.row_off, top - window.row_off + block.rows)
        cols = slice(left - window.col_off, left - window.col_off + plan.block_width)
        return self.out[positions, rows, cols].transpose(1, 2, 0)

    def _paste(self, block: Block, arr: npt.NDArray[Any]) -> None:
        """Copy the part of ``arr`` (rows, cols, samples) inside the window into ``out``."""
        window = self.plan.window
        top, left = block.row * self.plan.block_height, block.col * self.plan.block_width
        r0 = max(top, window.row_off)
        r1 = min(top + arr.shape[0], window.row_stop)
        c0 = max(left, window.col_off)
        c1 = min(left + arr.shape[1], window.col_stop)
        if r1 <= r0 or c1 <= c0:
            return
        sub = arr[r0 - top : r1 - top, c0 - left : c1 - left]
        dst_rows = slice(r0 - window.row_off, r1 - window.row_off)
        dst_cols = slice(c0 - window.col_off, c1 - window.col_off)
        # One copy for all the block's samples (a per-sample loop cost 56% of
        # a read of a 4,096-sample file); slices keep both sides views.
        self.out[_index(block.positions), dst_rows, dst_cols] = np.moveaxis(
            sub[:, :, _index(block.samples)], 2, 0
        )


def _index(indices: tuple[int, ...]) -> slice | list[int]:
    """A slice for consecutive indices (indexing with it is a view), else the list."""
    first = indices[0]
    if indices == tuple(range(first, first + len(indices))):
        return slice(first, first + len(indices))
    return list(indices)
