"""Decoded blocks: one byte budget for the whole process, shared by every file.

Why a cache: windows that share tiles (a viewer panning, many small windows)
would otherwise fetch and decode the same tiles again; GDAL's block cache is
why rasterio needs about half the requests of the async readers for 200
random small windows.

Why one budget (GDAL's ``GDAL_CACHEMAX`` model): a service that opens a
thousand files must not hold a thousand caches. `set_cache_budget` bounds
the decoded bytes kept for all files together (256 MiB by default); each
file may also be capped lower (``GeoTIFF.open(cache_bytes=)``) or kept out.
The store of blocks is guarded by a ``threading.Lock``: several threads may
each run their own event loop, and their files share the budget.

What stays per file: the *claims*. A read claims the blocks it fetches, and
other reads of the same file that need one of them wait for that fetch
instead of starting their own. Those waits are events of the event loop the
file lives in, so they belong to the file's `BlockCache` handle, never to the
process-wide store. This module is the one place that decides what a read
takes from the cache, what it claims, and whether it fills the cache.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Final

import anyio
import numpy as np
import numpy.typing as npt

from .errors import InvalidArgumentError

__all__ = [
    "DEFAULT_CACHE_BUDGET",
    "DEFAULT_CACHE_BYTES",
    "BlockCache",
    "BlockKey",
    "ReadClaim",
    "cache_budget",
    "set_cache_budget",
]

DEFAULT_CACHE_BUDGET: Final = 256 * 1024 * 1024
"""Decoded bytes kept for all files of the process together, by default."""
DEFAULT_CACHE_BYTES: Final = 128 * 1024 * 1024
"""Most of the process budget one file may hold, by default."""

BlockKey = tuple[int, int, int]
"""(source token, IFD index, block index)."""

_owners = itertools.count(1)


def _nbytes(arr: npt.NDArray[Any]) -> int:
    return int(arr.nbytes)


class _ProcessBlocks:
    """The process-wide LRU of decoded blocks, one lock around everything."""

    def __init__(self, budget: int) -> None:
        self._lock = threading.Lock()
        self.budget = budget
        self.nbytes = 0
        self._entries: OrderedDict[BlockKey, tuple[int, npt.NDArray[Any]]] = OrderedDict()
        self._by_owner: dict[int, OrderedDict[BlockKey, None]] = {}
        self._owner_bytes: dict[int, int] = {}
        # Owners whose handle was collected. Filled by weakref callbacks, which
        # may run inside a locked section (a GC during a put), so they only
        # append here and the next locked call drops the blocks.
        self._dead: list[int] = []

    def get(self, key: BlockKey) -> npt.NDArray[Any] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            self._by_owner[entry[0]].move_to_end(key)
            return entry[1]

    def put(self, owner: int, cap: int, key: BlockKey, arr: npt.NDArray[Any]) -> None:
        size = _nbytes(arr)
        with self._lock:
            self._drop_dead()
            if size > min(cap, self.budget) or key in self._entries:
                return
            self._entries[key] = (owner, arr)
            self._by_owner.setdefault(owner, OrderedDict())[key] = None
            self._owner_bytes[owner] = self._owner_bytes.get(owner, 0) + size
            self.nbytes += size
            owned = self._by_owner[owner]
            while self._owner_bytes[owner] > cap:
                self._evict(next(iter(owned)))
            while self.nbytes > self.budget:
                self._evict(next(iter(self._entries)))

    def set_budget(self, budget: int) -> None:
        with self._lock:
            self.budget = budget
            self._drop_dead()
            while self.nbytes > self.budget:
                self._evict(next(iter(self._entries)))

    def forget(self, owner: int) -> None:
        self._dead.append(owner)

    def owner_bytes(self, owner: int) -> int:
        with self._lock:
            return self._owner_bytes.get(owner, 0)

    def _evict(self, key: BlockKey) -> None:
        owner, arr = self._entries.pop(key)
        owned = self._by_owner[owner]
        del owned[key]
        size = _nbytes(arr)
        self.nbytes -= size
        self._owner_bytes[owner] -= size
        if not owned:
            del self._by_owner[owner], self._owner_bytes[owner]

    def _drop_dead(self) -> None:
        while self._dead:
            owned = self._by_owner.get(self._dead.pop())
            for key in list(owned or ()):
                self._evict(key)


_BLOCKS: Final = _ProcessBlocks(DEFAULT_CACHE_BUDGET)


def set_cache_budget(nbytes: int) -> None:
    """Set the bytes of decoded blocks kept for all open files of the process.

    One budget for every file, as GDAL's ``GDAL_CACHEMAX``: least recently
    used blocks are evicted first, whichever file they belong to. Lowering
    it evicts at once; 0 keeps nothing. Thread-safe.

    Args:
        nbytes: The budget in bytes (default 256 MiB).

    Raises:
        InvalidArgumentError: ``nbytes`` is not an integer >= 0.
    """
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 0:
        raise InvalidArgumentError("", f"cache budget must be an integer >= 0, got {nbytes!r}")
    _BLOCKS.set_budget(nbytes)


def cache_budget() -> int:
    """The bytes of decoded blocks the process may keep (see `set_cache_budget`)."""
    return _BLOCKS.budget


def cached_bytes() -> int:
    """Bytes of decoded blocks held now, for all files together."""
    return _BLOCKS.nbytes


def own_memory(arr: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``arr``, copied if it is a view into a larger buffer (a whole request's bytes).

    The cache counts ``arr.nbytes``: a view would keep its base alive uncounted.
    """
    base: object = arr
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    if isinstance(base, np.ndarray) and base.nbytes <= arr.nbytes:
        return arr
    if isinstance(base, (bytes, bytearray)) and len(base) <= arr.nbytes:
        return arr  # a codec's own output buffer
    return arr.copy()


class BlockCache:
    """A file's handle on the process-wide cache: its cap and its pending fetches.

    Not thread-safe itself: used from the tasks of the event loop the file
    was opened in (the process-wide store it uses is).
    """

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        """A handle whose file may hold at most ``max_bytes`` of the process budget."""
        if max_bytes < 0:
            raise InvalidArgumentError("", f"cache_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self._owner = next(_owners)
        self._pending: dict[BlockKey, anyio.Event] = {}
        weakref.finalize(self, _BLOCKS.forget, self._owner)

    @property
    def nbytes(self) -> int:
        """Decoded bytes this file holds in the process cache now."""
        return _BLOCKS.owner_bytes(self._owner)

    def admits(self, read_bytes: int) -> bool:
        """Whether a read decoding ``read_bytes`` should fill the cache.

        Reads larger than a quarter of the budget do not (scan resistance:
        one big read would evict everything and hold its output twice).
        """
        return 0 < read_bytes <= min(self.max_bytes, _BLOCKS.budget) // 4

    def get(self, key: BlockKey) -> npt.NDArray[Any] | None:
        """The cached block (made most recent), or None."""
        return _BLOCKS.get(key)

    def put(self, key: BlockKey, arr: npt.NDArray[Any]) -> None:
        """Keep a decoded block (read-only from now on), evicting the least recent."""
        arr.flags.writeable = False
        _BLOCKS.put(self._owner, self.max_bytes, key, arr)

    def pending(self, key: BlockKey) -> anyio.Event | None:
        """The event of a read already fetching this block, if any."""
        return self._pending.get(key)

    def lookup(
        self, token: int, ifd: int, indices: Iterable[int]
    ) -> tuple[dict[int, npt.NDArray[Any]], dict[int, anyio.Event]]:
        """The blocks among ``indices`` that are cached, and those another read is fetching."""
        hits: dict[int, npt.NDArray[Any]] = {}
        waits: dict[int, anyio.Event] = {}
        for idx in indices:
            key = (token, ifd, idx)
            arr = _BLOCKS.get(key)
            if arr is not None:
                hits[idx] = arr
                continue
            event = self._pending.get(key)
            if event is not None:
                waits[idx] = event
        return hits, waits

    def claim(self, token: int, ifd: int, indices: Iterable[int], read_bytes: int) -> ReadClaim:
        """Claim the blocks a read fetches; other reads of them wait for it.

        Call before the read's first checkpoint, and `ReadClaim.release_all`
        when it ends however it ends.
        """
        claimed = []
        for idx in indices:
            key = (token, ifd, idx)
            self._pending[key] = anyio.Event()
            claimed.append(idx)
        return ReadClaim(self, token, ifd, claimed, fills=self.admits(read_bytes))

    def release(self, key: BlockKey) -> None:
        """The caller's fetch of the block ended (done, failed or cancelled)."""
        event = self._pending.pop(key, None)
        if event is not None:
            event.set()


class ReadClaim:
    """What one read holds in its file's cache: its claims and whether it fills it."""

    __slots__ = ("_cache", "_claimed", "_ifd", "_token", "fills")

    def __init__(
        self, cache: BlockCache | None, token: int, ifd: int, claimed: list[int], *, fills: bool
    ) -> None:
        """Made by `BlockCache.claim` (or with no cache: claims nothing, keeps nothing)."""
        self._cache = cache
        self._token = token
        self._ifd = ifd
        self._claimed = claimed
        self.fills = fills and cache is not None
        """Whether the blocks this read decodes are kept."""

    def get(self, idx: int) -> npt.NDArray[Any] | None:
        """The cached block ``idx`` of this read's image, or None."""
        return None if self._cache is None else self._cache.get((self._token, self._ifd, idx))

    def put(self, idx: int, arr: npt.NDArray[Any]) -> None:
        """Keep decoded block ``idx`` if this read fills the cache."""
        if self.fills:
            assert self._cache is not None
            self._cache.put((self._token, self._ifd, idx), arr)

    def release(self, indices: Iterable[int]) -> None:
        """These blocks' fetch ended: wake the reads waiting for them."""
        if self._cache is not None:
            for idx in indices:
                self._cache.release((self._token, self._ifd, idx))

    def release_all(self) -> None:
        """The read ended (done, failed or cancelled): release every claim left."""
        self.release(self._claimed)
        self._claimed = []
