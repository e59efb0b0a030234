"""The plan of one windowed read, as a value: pure code, no I/O, no event loop.

`plan_read` decides everything a read will do before it does any of it:
which blocks (tiles or strips) the window touches, which of them come from
the decoded-block cache, which another read of the same file is already
fetching, which this read fetches and decodes itself, how their byte ranges
are coalesced into requests, which parts of the output are filled because
their block is sparse, and how many bytes the read decodes. `_read` runs the
plan; the two can be tested apart.
"""

from __future__ import annotations

from collections.abc import Container, Iterator, Sequence
from typing import Protocol

import attrs

from ._image import ImageInfo
from ._window import Window
from .errors import CorruptFileError

__all__ = [
    "Block",
    "CacheState",
    "Fill",
    "ObjectFacts",
    "ReadPlan",
    "Request",
    "coalesce_ranges",
    "plan_read",
    "touched_blocks",
]


class ObjectFacts(Protocol):
    """What planning needs to know of the object holding the blocks (an `ObjectSource`)."""

    @property
    def path(self) -> str:
        """For error messages."""

    @property
    def size(self) -> int:
        """The object's size in bytes."""

    @property
    def coalesce_gap(self) -> int:
        """Ranges at most this far apart share one request."""

    @property
    def max_request(self) -> int:
        """Longest coalesced request."""


@attrs.frozen
class CacheState:
    """What the file's cache holds for a read's blocks, by block index."""

    cached: Container[int] = ()
    """Blocks whose decoded pixels the cache holds."""
    waiting: Container[int] = ()
    """Blocks another read is fetching (and that are not cached)."""


_NOTHING_CACHED = CacheState()


@attrs.frozen
class Block:
    """One stored block the read needs, and where its pixels go."""

    index: int
    """Position of the block in the IFD's offsets and byte counts."""
    plane: int
    row: int
    """Block row (strip number for strips)."""
    col: int
    rows: int
    """Rows the block decodes to (a final strip may be short; tiles keep their padding)."""
    start: int
    end: int
    """Bytes ``[start, end)`` to fetch: the block's range, clamped to the object's end."""
    positions: tuple[int, ...]
    """Output sample positions this block fills."""
    samples: tuple[int, ...]
    """Sample index inside the block for each position."""


@attrs.frozen
class Fill:
    """A rectangle of the output (window coordinates) whose block is sparse."""

    positions: tuple[int, ...]
    row0: int
    row1: int
    col0: int
    col1: int


@attrs.frozen
class Request:
    """One range request: bytes ``[start, end)`` holding the blocks ``members``."""

    start: int
    end: int
    members: tuple[int, ...]
    """Indices into `ReadPlan.fetch`."""


@attrs.frozen
class ReadPlan:
    """Everything one read will do, decided before it does any of it."""

    window: Window
    block_width: int
    block_height: int
    fetch: tuple[Block, ...]
    """Blocks this read fetches and decodes (and claims in the cache)."""
    cached: tuple[Block, ...]
    """Blocks already decoded in the cache: pasted, not fetched."""
    waiting: tuple[Block, ...]
    """Blocks another read of the file is fetching: this read waits for them."""
    requests: tuple[Request, ...]
    """The byte ranges of `fetch`, coalesced."""
    fills: tuple[Fill, ...]
    """Output rectangles of sparse blocks (byte count 0)."""
    decoded_bytes: int
    """Bytes of every stored block the window touches, decoded whole."""

    @property
    def block_count(self) -> int:
        """Stored blocks the read needs (fetched, cached or awaited)."""
        return len(self.fetch) + len(self.cached) + len(self.waiting)


def _targets(
    info: ImageInfo, samples: Sequence[int]
) -> list[tuple[int, tuple[int, ...], tuple[int, ...]]]:
    """``(plane, output positions, samples inside the block)`` per plane read."""
    if info.planar:
        # With planar data, the sample index inside a block is always 0.
        return [(s, (k,), (0,)) for k, s in enumerate(samples)]
    return [(0, tuple(range(len(samples))), tuple(samples))]


def _grid(info: ImageInfo, window: Window) -> tuple[range, range]:
    bw, bh = info.block_width, info.block_height
    rows = range(window.row_off // bh, (window.row_stop - 1) // bh + 1)
    cols = range(window.col_off // bw, (window.col_stop - 1) // bw + 1)
    return rows, cols


def touched_blocks(info: ImageInfo, window: Window, samples: Sequence[int]) -> Iterator[int]:
    """Indices of the blocks (stored or sparse) that ``window`` touches."""
    rows, cols = _grid(info, window)
    for plane, _, _ in _targets(info, samples):
        for r in rows:
            for c in cols:
                yield info.block_index(plane, r, c)


def block_bytes(info: ImageInfo, rows: int) -> int:
    """Bytes of one decoded block of ``rows`` rows."""
    return info.block_width * rows * info.samples_per_block * max(info.dtype.itemsize, 1)


def plan_read(
    info: ImageInfo,
    window: Window,
    samples: Sequence[int],
    source: ObjectFacts,
    known: CacheState = _NOTHING_CACHED,
) -> ReadPlan:
    """Plan reading ``samples`` of ``window`` (inside the image) of ``info``.

    Args:
        info: The image to read (its offsets and byte counts must be set).
        window: The window, already clipped to the image.
        samples: 0-based sample indices; output position ``k`` gets ``samples[k]``.
        source: The object holding the blocks: its path, size and how its
            ranges are coalesced.
        known: The blocks the cache holds and those another read is fetching.

    Returns:
        The plan.

    Raises:
        CorruptFileError: No block tables, a block with data at offset 0, a
            block starting past the end of the object, or one running past it
            that GDAL would not read either (see `_byte_range`).
    """
    offsets, counts = info.offsets, info.byte_counts
    if offsets is None or counts is None:
        raise CorruptFileError(
            source.path, f"IFD {info.ifd_index} has no block offsets or byte counts"
        )
    bw, bh = info.block_width, info.block_height
    rows, cols = _grid(info, window)
    lists: tuple[list[Block], list[Block], list[Block]] = ([], [], [])
    fills: list[Fill] = []
    decoded = 0
    for plane, positions, block_samples in _targets(info, samples):
        for r in rows:
            for c in cols:
                idx = info.block_index(plane, r, c)
                if counts[idx] == 0:  # sparse, as GDAL defines it: no bytes stored
                    fills.append(_fill(window, info, r, c, positions))
                    continue
                n_rows = bh if info.tiled else min(bh, info.height - r * bh)
                start, end = _byte_range(source, info, idx, n_rows)
                decoded += block_bytes(info, n_rows)
                block = Block(idx, plane, r, c, n_rows, start, end, positions, block_samples)
                lists[0 if idx in known.cached else 1 if idx in known.waiting else 2].append(block)
    hit, wait, fetch = lists
    merged = coalesce_ranges(
        [(b.start, b.end) for b in fetch], source.coalesce_gap, source.max_request
    )
    return ReadPlan(
        window=window,
        block_width=bw,
        block_height=bh,
        fetch=tuple(fetch),
        cached=tuple(hit),
        waiting=tuple(wait),
        requests=tuple(Request(s, e, tuple(m)) for s, e, m in merged),
        fills=tuple(fills),
        decoded_bytes=decoded,
    )


def _byte_range(source: ObjectFacts, info: ImageInfo, idx: int, rows: int) -> tuple[int, int]:
    """The bytes to fetch for a stored block of ``rows`` rows: GDAL's rules for bad tables."""
    offsets, counts = info.offsets, info.byte_counts
    assert offsets is not None
    assert counts is not None
    offset, count = int(offsets[idx]), int(counts[idx])
    path, size = source.path, source.size
    where = f"block {idx} of IFD {info.ifd_index}"
    if offset == 0:
        # Offset 0 is the TIFF header: a block "stored" there is a broken
        # table, not a sparse block (GDAL fails the read too).
        raise CorruptFileError(path, f"{where} has {count} bytes at offset 0 (the TIFF header)")
    if offset >= size:
        raise CorruptFileError(
            path, f"{where} starts at byte {offset}, past the end of the {size}-byte object"
        )
    end = offset + count
    if end <= size:
        return offset, end
    # A byte count running past the end. GDAL (libtiff) reads an uncompressed
    # block when the bytes its pixels need are there, and fails any other:
    # a compressed block must be whole (measured with rasterio 1.4.4, local
    # and over HTTP, for DEFLATE, LZW, ZSTD, JPEG, LZMA and PackBits).
    if info.compression_code == 1 and offset + _raw_bytes(info, rows) <= size:
        return offset, size
    raise CorruptFileError(
        path,
        f"{where} at bytes {offset}..{end} runs past the end of the {size}-byte object"
        " (truncated file?)",
    )


def _raw_bytes(info: ImageInfo, rows: int) -> int:
    """Bytes of an uncompressed block of ``rows`` rows in the file (rows are byte-aligned)."""
    return rows * -(-info.block_width * info.samples_per_block * info.bits // 8)


def _fill(window: Window, info: ImageInfo, row: int, col: int, positions: tuple[int, ...]) -> Fill:
    bw, bh = info.block_width, info.block_height
    top, left = row * bh, col * bw
    return Fill(
        positions,
        max(top, window.row_off) - window.row_off,
        min(top + bh, window.row_stop) - window.row_off,
        max(left, window.col_off) - window.col_off,
        min(left + bw, window.col_stop) - window.col_off,
    )


def coalesce_ranges(
    ranges: Sequence[tuple[int, int]], gap: int, max_request: int
) -> list[tuple[int, int, list[int]]]:
    """Merge byte ranges closer than ``gap`` into requests of at most ``max_request`` bytes.

    Args:
        ranges: ``(start, end)`` pairs, in any order.
        gap: Ranges separated by at most this many bytes are merged.
        max_request: A merge never makes a request longer than this (a single
            range longer than it stays whole).

    Returns:
        ``(start, end, members)`` per request, in file order, where members
        index ``ranges``.
    """
    order = sorted(range(len(ranges)), key=lambda i: ranges[i])
    merged: list[tuple[int, int, list[int]]] = []
    for i in order:
        start, end = ranges[i]
        if merged:
            m_start, m_end, members = merged[-1]
            if start - m_end <= gap and max(end, m_end) - m_start <= max_request:
                members.append(i)
                merged[-1] = (m_start, max(end, m_end), members)
                continue
        merged.append((start, end, [i]))
    return merged
