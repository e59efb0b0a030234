"""A byte-bounded LRU of decoded blocks, shared by the reads of one file.

Why: windows that share tiles (a viewer panning, many small windows) would
otherwise fetch and decode the same tiles again; GDAL's block cache is why
rasterio needs about half the requests of the async readers for 200 random
small windows. Readers of a block another read is already fetching wait for
that fetch instead of starting their own. Reads larger than a quarter of the
budget do not fill the cache (scan resistance: one big read would evict
everything and hold its whole output twice).

Not thread-safe: used from the tasks of the event loop the file was opened in.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Final

import anyio
import numpy.typing as npt

__all__ = ["DEFAULT_CACHE_BYTES", "BlockCache", "BlockKey"]

DEFAULT_CACHE_BYTES: Final = 128 * 1024 * 1024

BlockKey = tuple[int, int, int]
"""(source token, IFD index, block index)."""


class BlockCache:
    """LRU of decoded blocks, bounded by ``max_bytes``; 0 disables it."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        """Make an empty cache holding at most ``max_bytes`` of decoded pixels."""
        if max_bytes < 0:
            raise ValueError("cache size must be >= 0")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[BlockKey, npt.NDArray[Any]] = OrderedDict()
        self._bytes = 0
        self._pending: dict[BlockKey, anyio.Event] = {}

    def admits(self, read_bytes: int) -> bool:
        """Whether a read decoding ``read_bytes`` should fill the cache."""
        return 0 < read_bytes <= self.max_bytes // 4

    def get(self, key: BlockKey) -> npt.NDArray[Any] | None:
        """The cached block (made most recent), or None."""
        arr = self._entries.get(key)
        if arr is not None:
            self._entries.move_to_end(key)
        return arr

    def put(self, key: BlockKey, arr: npt.NDArray[Any]) -> None:
        """Keep a decoded block (read-only from now on), evicting the least recent."""
        if arr.nbytes > self.max_bytes or key in self._entries:
            return
        arr.flags.writeable = False
        self._entries[key] = arr
        self._bytes += arr.nbytes
        while self._bytes > self.max_bytes:
            _, old = self._entries.popitem(last=False)
            self._bytes -= old.nbytes

    def pending(self, key: BlockKey) -> anyio.Event | None:
        """The event of a read already fetching this block, if any."""
        return self._pending.get(key)

    def claim(self, key: BlockKey) -> None:
        """Mark a block as being fetched by the caller (others will wait for it)."""
        self._pending[key] = anyio.Event()

    def release(self, key: BlockKey) -> None:
        """The caller's fetch of the block ended (done, failed or cancelled)."""
        event = self._pending.pop(key, None)
        if event is not None:
            event.set()
