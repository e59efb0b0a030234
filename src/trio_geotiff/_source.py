"""One object in a store: its size, its header bytes, and counted range fetches.

Every request for the object — the header, metadata past it, blocks — is made
here, under the file's limiter: that is what bounds the requests in flight at
the server, for opens as much as for reads.
"""

from __future__ import annotations

import itertools
from typing import Any, Final

import attrs

from . import _store
from ._plan import coalesce_ranges
from ._runtime import Limiter

__all__ = ["HeaderBytes", "ObjectSource", "Statistics", "coalesce_ranges"]

# Ranges closer than this are fetched in one request: a request costs more
# than this many bytes of transfer on object stores (~20-80 ms latency).
DEFAULT_COALESCE_GAP: Final = 64 * 1024
# No single request larger than this (keeps memory per in-flight task bounded).
DEFAULT_MAX_REQUEST: Final = 32 * 1024 * 1024
_MIN_HEADER_CHUNK: Final = 16 * 1024
_tokens = itertools.count(1)


@attrs.frozen
class Statistics:
    """Counters of one opened GeoTIFF (all overviews included)."""

    requests: int
    """Range requests sent to the store (the header fetch included)."""
    bytes_fetched: int
    """Bytes received from the store."""
    ranges_coalesced: int
    """Block byte ranges that were merged into a neighbour's request."""
    blocks_decoded: int
    """Tiles or strips decoded."""
    cache_hits: int
    """Blocks served from the decoded-block cache."""


def _check_segments(
    _instance: object, _attribute: object, value: tuple[tuple[int, bytes], ...]
) -> None:
    if not value or value[0][0] != 0:
        raise ValueError("header segments must start with the bytes at offset 0")


@attrs.frozen
class HeaderBytes:
    """The bytes of an object's metadata that were fetched, to reopen it without requests.

    Small and picklable: a worker process given one parses the header again
    instead of fetching it.
    """

    size: int = attrs.field(validator=attrs.validators.ge(0))
    """The object's size in bytes."""
    segments: tuple[tuple[int, bytes], ...] = attrs.field(validator=_check_segments)
    """``(offset, bytes)`` pairs, the first at offset 0 (the prefetched head)."""


@attrs.define(eq=False)
class ObjectSource:
    """An object in a store, read through the asyncio portal, with counters."""

    store: Any
    path: str
    size: int
    head: bytes
    """The first bytes of the object (the prefetched header)."""
    limiter: Limiter
    """Held around every request for this object."""
    coalesce_gap: int = DEFAULT_COALESCE_GAP
    max_request: int = DEFAULT_MAX_REQUEST
    requests: int = 0
    bytes_fetched: int = 0
    ranges_coalesced: int = 0
    blocks_decoded: int = 0
    cache_hits: int = 0
    token: int = attrs.field(factory=lambda: next(_tokens))
    """Unique per opened object (cache keys; ``id()`` could be reused)."""
    _extra: dict[int, bytes] = attrs.field(factory=dict)
    """Metadata chunks fetched after the prefetch, by start offset."""

    @classmethod
    async def open(cls, store: Any, path: str, prefetch: int, limiter: Limiter) -> ObjectSource:
        """Fetch the object's first ``prefetch`` bytes and learn its size (one request)."""
        async with limiter:
            head, size = await _store.fetch_head(store, path, prefetch)
        return cls(
            store=store,
            path=path,
            size=size,
            head=head,
            limiter=limiter,
            requests=1,
            bytes_fetched=len(head),
        )

    @classmethod
    def from_header(
        cls, store: Any, path: str, header: HeaderBytes, limiter: Limiter
    ) -> ObjectSource:
        """An object whose header bytes are already known (no request is made)."""
        (_, head), *extra = header.segments
        return cls(
            store=store,
            path=path,
            size=header.size,
            head=head,
            limiter=limiter,
            extra=dict(extra),
        )

    def header(self) -> HeaderBytes:
        """The metadata bytes fetched so far (enough to parse the object again)."""
        return HeaderBytes(self.size, ((0, self.head), *sorted(self._extra.items())))

    async def read_header(self, start: int, end: int) -> bytes:
        """Bytes of the metadata area, served from what was already fetched when possible."""
        if end <= len(self.head):
            return self.head[start:end]
        for seg_start, seg in self._extra.items():
            if seg_start <= start and end <= seg_start + len(seg):
                return seg[start - seg_start : end - seg_start]
        # Metadata beyond the prefetch (non-COG files often keep IFDs at the
        # end): read a prefetch-sized chunk, since an IFD's values sit close
        # together and one request beats one per tag.
        chunk_end = min(self.size, max(end, start + len(self.head), start + _MIN_HEADER_CHUNK))
        seg = bytes(await self.fetch(start, chunk_end))
        self._extra[start] = seg
        return seg[: end - start]

    async def fetch(self, start: int, end: int) -> memoryview:
        """Fetch bytes ``[start, end)`` under the limiter, counted."""
        async with self.limiter:
            data = await _store.fetch_range(self.store, self.path, start, end)
        self.requests += 1
        self.bytes_fetched += end - start
        return memoryview(data)

    def statistics(self) -> Statistics:
        """A snapshot of the counters."""
        return Statistics(
            requests=self.requests,
            bytes_fetched=self.bytes_fetched,
            ranges_coalesced=self.ranges_coalesced,
            blocks_decoded=self.blocks_decoded,
            cache_hits=self.cache_hits,
        )
