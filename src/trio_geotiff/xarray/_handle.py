"""Handles: what a dask graph carries to read a file anywhere, and the reads themselves.

A `FileHandle` pickles small: the path, the store's configuration (its pickle)
and the header bytes the client already fetched. A worker process turns it
back into an opened `GeoTIFF` without a request, once per process: opened
files and stores are kept per process by `_blocking`, because obstore stores
rebuild their HTTP client (and connection pool) when unpickled.
"""

from __future__ import annotations

import functools
import os
import pickle
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Final, TypeVar

import attrs
import numpy as np
import numpy.typing as npt

from trio_geotiff import _blocking
from trio_geotiff._enums import ColorInterp
from trio_geotiff._geotiff import GeoTIFF, Overview
from trio_geotiff._masks import is_nodata
from trio_geotiff._nursery import gather
from trio_geotiff._source import HeaderBytes
from trio_geotiff._window import Window
from trio_geotiff.errors import InvalidArgumentError

__all__ = [
    "FileHandle",
    "StoreRef",
    "masked_dtype",
    "open_file",
    "open_files",
    "read_block",
    "resolve",
]

T = TypeVar("T")

# Opened files kept per process (least recently used dropped past this).
_MAX_OPEN_FILES: Final = 4096
_FILES_KEY: Final = "trio_geotiff.xarray.files"
_stores_lock = threading.Lock()
_stores: dict[bytes, Any] = {}


def _forget_stores_in_child() -> None:
    global _stores_lock  # noqa: PLW0603 - per-process cache
    _stores.clear()
    _stores_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_stores_in_child)


@attrs.frozen(eq=False)
class StoreRef:
    """An obstore store by its configuration; one store object per process and config."""

    blob: bytes
    """The store's pickle (its configuration): the identity of the store."""

    @classmethod
    def of(cls, store: Any) -> StoreRef:
        """The reference of ``store`` (which this process will keep using)."""
        try:
            blob = pickle.dumps(store)
        except Exception as exc:
            raise InvalidArgumentError(
                "", f"the store must pickle to be used by dask workers: {exc}"
            ) from exc
        with _stores_lock:
            _stores.setdefault(blob, store)
        return cls(blob)

    def get(self) -> Any:
        """This process's store for the configuration (unpickled on first use)."""
        with _stores_lock:
            store = _stores.get(self.blob)
            if store is None:
                store = pickle.loads(self.blob)  # noqa: S301 - our own pickle of a store
                _stores[self.blob] = store
        return store


def _options_field(
    value: dict[str, Any] | tuple[tuple[str, Any], ...],
) -> tuple[tuple[str, Any], ...]:
    items = value.items() if isinstance(value, dict) else value
    return tuple(sorted(items))


@attrs.frozen(eq=False)
class FileHandle:
    """Everything needed to read one file in any process, without a header request."""

    path: str
    """The object's path in the store."""
    store: StoreRef
    header: HeaderBytes
    """The header bytes fetched when the client opened the file."""
    overview_level: int | None = attrs.field(default=None)
    """None for the full-resolution image, else the index in `GeoTIFF.overviews`."""
    options: tuple[tuple[str, Any], ...] = attrs.field(default=(), converter=_options_field)
    """More keyword arguments of `GeoTIFF.open` (``jpeg``, ``cache_bytes``...)."""

    @property
    def key(self) -> tuple[bytes, str, tuple[tuple[str, Any], ...]]:
        """Identity of the opened file in a process."""
        return (self.store.blob, self.path, self.options)


def resolve(url_or_path: str, store: Any = None) -> tuple[Any, str]:
    """The store and path of a local path or URL (or of ``path`` in ``store``)."""
    if store is not None:
        return store, url_or_path
    try:
        from trio_geotiff._cli.stores import resolve as resolve_url  # noqa: PLC0415 - optional module
    except ImportError:  # pragma: no cover - the CLI package is always installed
        return _local_store(url_or_path)
    location = resolve_url(url_or_path)
    return location.store, location.path


def _local_store(path: str) -> tuple[Any, str]:
    from pathlib import Path  # noqa: PLC0415

    from obstore.store import LocalStore  # noqa: PLC0415

    local = Path(path).expanduser().resolve()
    return LocalStore(str(local.parent)), local.name


async def _opened(
    store: StoreRef,
    path: str,
    options: tuple[tuple[str, Any], ...],
    header: HeaderBytes | None,
) -> GeoTIFF:
    """The process's opened file (opened now if needed); runs on the process loop."""
    files: OrderedDict[Any, GeoTIFF] = _blocking.process_state().setdefault(
        _FILES_KEY, OrderedDict()
    )
    key = (store.blob, path, options)
    tif = files.get(key)
    if tif is not None:
        files.move_to_end(key)
        return tif
    tif = await GeoTIFF.open(
        path, store=store.get(), limiter=_blocking.limiter(), header=header, **dict(options)
    )
    # Another call may have opened it meanwhile: keep the first.
    tif = files.setdefault(key, tif)
    while len(files) > _MAX_OPEN_FILES:
        files.popitem(last=False)
    return tif


def _raster(tif: GeoTIFF, overview_level: int | None) -> GeoTIFF | Overview:
    if overview_level is None:
        return tif
    if not 0 <= overview_level < len(tif.overviews):
        raise InvalidArgumentError(
            tif.path,
            f"overview_level {overview_level} is not in 0..{len(tif.overviews) - 1}"
            if tif.overviews
            else f"overview_level {overview_level}: the file has no overviews",
        )
    return tif.overviews[overview_level]


def open_file(
    path: str,
    store: Any,
    *,
    overview_level: int | None = None,
    options: dict[str, Any] | None = None,
) -> tuple[GeoTIFF, FileHandle]:
    """Open one file (blocking): the opened file and its handle."""
    return open_files([(store, path)], overview_level=overview_level, options=options)[0]


def open_files(
    locations: Sequence[tuple[Any, str]],
    *,
    overview_level: int | None = None,
    options: dict[str, Any] | None = None,
) -> list[tuple[GeoTIFF, FileHandle]]:
    """Open ``(store, path)`` files concurrently under the process limiter (blocking)."""
    refs: dict[int, StoreRef] = {}
    pairs = []
    for store, path in locations:
        ref = refs.get(id(store))
        if ref is None:
            ref = refs[id(store)] = StoreRef.of(store)
        pairs.append((ref, path))
    opts = _options_field(options or {})
    return _blocking.run(_open_all, pairs, opts, overview_level)


async def _open_all(
    pairs: list[tuple[StoreRef, str]],
    options: tuple[tuple[str, Any], ...],
    overview_level: int | None,
) -> list[tuple[GeoTIFF, FileHandle]]:
    tifs = await gather([functools.partial(_opened, ref, p, options, None) for ref, p in pairs])
    out = []
    for tif, (ref, path) in zip(tifs, pairs, strict=True):
        _raster(tif, overview_level)  # a bad level fails at open, naming the file
        out.append((tif, FileHandle(path, ref, tif.header(), overview_level, options)))
    return out


def masked_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The type masked pixels are returned in (NaN for invalid), as xarray promotes."""
    if dtype.kind == "c":
        return np.dtype(np.complex128) if dtype.itemsize > 8 else np.dtype(np.complex64)
    if dtype.kind == "f" and dtype.itemsize >= 4:
        return dtype
    small = dtype.kind == "f" or dtype.itemsize <= 2
    return np.dtype(np.float32) if small else np.dtype(np.float64)


@attrs.frozen
class ReadSpec:
    """How a block is returned: raw, masked (NaN where invalid) or masked and scaled."""

    masked: bool = False
    scaled: bool = False


async def read_block_async(
    handle: FileHandle, window: Window, bands: Sequence[int], spec: ReadSpec
) -> npt.NDArray[Any]:
    """Read ``bands`` (0-based) of ``window`` from the handle's image; on the process loop."""
    tif = await _opened(handle.store, handle.path, handle.options, handle.header)
    raster = _raster(tif, handle.overview_level)
    indexes = [b + 1 for b in bands]
    kind = raster.mask_kind if spec.masked else None
    arr = await raster.read(window=window, indexes=indexes, masked=kind in ("mask", "alpha"))
    if not spec.masked:
        return arr.data
    data = arr.data.astype(masked_dtype(arr.data.dtype))
    if kind == "nodata":
        assert arr.nodata is not None
        data[is_nodata(arr.data, arr.nodata)] = np.nan  # per band, as rasterio masks
    elif arr.mask is not None:
        # GDAL's alpha band is itself all valid; the other bands use it as mask.
        alpha = tif.colorinterp.index(ColorInterp.alpha) if kind == "alpha" else -1
        for k, b in enumerate(bands):
            if b != alpha:
                data[k, ~arr.mask] = np.nan
    if spec.scaled:
        scales, offsets = tif.scales, tif.offsets
        for k, b in enumerate(bands):
            if scales[b] != 1.0 or offsets[b] != 0.0:
                data[k] = data[k] * scales[b] + offsets[b]
    return data


async def read_blocks_async(
    handles: Sequence[FileHandle],
    window: Window,
    bands: Sequence[int],
    spec: ReadSpec,
    dtype: np.dtype[Any],
) -> npt.NDArray[Any]:
    """The same window of many files, stacked ``(file, band, y, x)``; reads run concurrently."""
    out = np.empty((len(handles), len(bands), window.height, window.width), dtype=dtype)

    async def one(i: int) -> None:
        # Copied in as each read ends, so its own array is freed at once.
        out[i] = await read_block_async(handles[i], window, bands, spec)

    await gather([functools.partial(one, i) for i in range(len(handles))])
    return out


def read_block(
    handle: FileHandle, window: Window, bands: Sequence[int], spec: ReadSpec
) -> npt.NDArray[Any]:
    """Blocking `read_block_async` (from any thread but the loop's)."""
    return _blocking.run(read_block_async, handle, window, list(bands), spec)
