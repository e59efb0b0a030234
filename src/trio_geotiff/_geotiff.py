"""`GeoTIFF` and `Overview`: opened files and their reduced-resolution images."""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import AsyncIterator, Callable, Sequence
from functools import cached_property
from typing import Any, Final, Literal, TypeAlias, final

import anyio
import anyio.abc
import anyio.lowlevel
import attrs
import numpy as np
import numpy.typing as npt
from affine import Affine
from pyproj import CRS

from . import _georef, _metadata, _store
from ._array import Array
from ._cache import DEFAULT_CACHE_BYTES, BlockCache
from ._decode import check_decodable
from ._enums import ColorInterp, Interleaving
from ._gdal_metadata import (
    GDALMetadata,
    PAMInfo,
    merge_metadata,
    parse_gdal_metadata,
    parse_nodata,
    parse_pam,
)
from ._image import (
    PHOTOMETRIC_NAMES,
    Compression,
    ImageInfo,
    describe_ifd,
)
from ._nursery import gather, task_group
from ._read import DEFAULT_MAX_DECODED_BYTES, ReadContext, check_ceiling, read_samples
from ._runtime import (
    Limiter,
    LoopBinding,
    check_limiter,
    decode_slots,
    default_limiter,
    run_in_thread,
)
from ._source import DEFAULT_COALESCE_GAP, HeaderBytes, ObjectSource, Statistics
from ._tiff import IFD, parse_tiff
from ._window import BoundingBox, Window, bounds_of
from .errors import (
    GeoTIFFError,
    InvalidWindowError,
    ObjectNotFoundError,
)

__all__ = ["GeoTIFF", "Overview"]

DEFAULT_PREFETCH: Final = 32 * 1024

_MAX_AUX_XML: Final = 4 * 1024 * 1024


_MaskRef: TypeAlias = "tuple[ImageInfo, ReadContext]"


@attrs.frozen
class _Opened:
    """A parsed TIFF object: its read state and IFDs."""

    ctx: ReadContext
    ifds: Sequence[IFD]


@attrs.frozen
class _FileState:
    """What a GeoTIFF and all its overviews share."""

    path: str
    ctx: ReadContext
    """The main file's read state (statistics, limiter, ceiling)."""
    crs: CRS | None
    nodata: float | None
    count: int
    alpha_sample: int | None
    """0-based sample index of an alpha band used as the dataset mask."""
    binding: LoopBinding
    """The event loop the file was opened in (the only one that may read it)."""


class _Raster:
    """Shared behaviour of the full-resolution image and its overviews."""

    _file: _FileState
    _image: ImageInfo
    _ctx: ReadContext
    """Read state of the file holding ``_image`` (the main file or a .ovr sidecar)."""
    _mask: _MaskRef | None
    _transform: Affine

    @property
    def path(self) -> str:
        """The path of the object in its store."""
        return self._file.path

    @property
    def width(self) -> int:
        """Number of columns."""
        return self._image.width

    @property
    def height(self) -> int:
        """Number of rows."""
        return self._image.height

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``."""
        return (self._image.height, self._image.width)

    @property
    def count(self) -> int:
        """Number of bands."""
        return self._file.count

    @property
    def indexes(self) -> tuple[int, ...]:
        """1-based band indexes, ``(1, ..., count)``."""
        return tuple(range(1, self.count + 1))

    @property
    def dtype(self) -> np.dtype[Any]:
        """The numpy dtype of the pixels a read returns."""
        return self._image.dtype

    @property
    def crs(self) -> CRS | None:
        """The coordinate reference system, or None when the file has none."""
        return self._file.crs

    @property
    def nodata(self) -> float | None:
        """The nodata value (may be NaN), or None."""
        return self._file.nodata

    @property
    def transform(self) -> Affine:
        """Pixel-to-CRS affine transform (identity when not georeferenced, as rasterio)."""
        return self._transform

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size ``(x, y)`` in CRS units, both positive for a north-up image."""
        t = self._transform
        if t.b == 0 and t.d == 0:
            return (abs(t.a), abs(t.e))
        return (math.hypot(t.a, t.d), math.hypot(t.b, t.e))

    @property
    def bounds(self) -> BoundingBox:
        """``BoundingBox(left, bottom, right, top)`` of the image, as rasterio computes it.

        For a north-up image ``left < right`` and ``bottom < top``; like
        rasterio, the edges are taken as the transform gives them otherwise
        (e.g. the identity transform of an image without georeferencing).
        """
        return bounds_of(self._transform, self.width, self.height)

    @property
    def block_shapes(self) -> tuple[tuple[int, int], ...]:
        """``(rows, cols)`` of the internal blocks, one per band."""
        shape = (self._image.block_height, self._image.block_width)
        return (shape,) * self.count

    @property
    def is_tiled(self) -> bool:
        """True for tiled images, False for stripped ones."""
        return self._image.tiled

    def xy(self, row: float, col: float, offset: str = "center") -> tuple[float, float]:
        """CRS coordinates of a pixel (``offset``: center, ul, ur, ll, lr)."""
        dx, dy = {"center": (0.5, 0.5), "ul": (0, 0), "ur": (1, 0), "ll": (0, 1), "lr": (1, 1)}[
            offset
        ]
        x, y = self._transform @ (col + dx, row + dy)
        return (x, y)

    def index(
        self, x: float, y: float, op: Callable[[float], float] = math.floor
    ) -> tuple[int, int]:
        """``(row, col)`` of the pixel containing CRS point ``(x, y)``."""
        col, row = ~self._transform @ (x, y)
        # Guard against 0.99999999 from float noise, as rasterio does.
        eps = 1e-9
        return (int(op(row + eps)), int(op(col + eps)))

    async def read(
        self,
        window: Window | None = None,
        *,
        indexes: Sequence[int] | int | None = None,
        boundless: bool = False,
        fill_value: float | None = None,
        masked: bool = False,
    ) -> Array:
        """Read a window of pixels.

        Args:
            window: The pixels to read; None reads the whole image.
            indexes: 1-based band index or indexes (default: all bands).
            boundless: Allow a window that crosses or lies outside the image;
                pixels outside are ``fill_value`` and masked.
            fill_value: Value for pixels outside the image (default: nodata,
                else 0). Sparse blocks inside the image read as nodata, else 0.
            masked: Always return a mask (all True when the file has none).

        Returns:
            An `Array` with ``data`` shaped ``(bands, height, width)``.

        Raises:
            InvalidWindowError: The window is not inside the image (and not
                ``boundless``), or a band index is out of range.
            ResourceLimitError: The read would decode more than ``max_decoded_bytes``.
            CorruptFileError: Block data is missing or does not decode.
            UnsupportedError: The file's codec or pixel layout is not supported.
            StoreError: The store failed.

        **Cancellation:** safe to cancel at any point. In-flight range requests
        are aborted (the asyncio tasks behind them are cancelled and awaited),
        running decodes, a few milliseconds each, are waited for, and no task
        or thread is left behind.
        """
        file = self._file
        path = file.path
        file.binding.check(path)
        await anyio.lowlevel.checkpoint()
        full = Window(0, 0, self.width, self.height)
        if window is None:
            window = full
        if not isinstance(window, Window):
            raise InvalidWindowError(path, f"window must be a Window, got {type(window).__name__}")
        bands = _band_list(path, indexes, self.count)
        inner = window.intersection(full)
        if not boundless and (inner is None or inner != window):
            raise InvalidWindowError(
                path,
                f"{window} is not inside the {self.width}x{self.height} image"
                " (pass boundless=True to read across its edges)",
            )
        dtype = self._image.dtype
        fill = _fill_value(path, fill_value, file.nodata, dtype)
        # Inside the image, missing (sparse) blocks read as nodata, else 0, as in GDAL.
        inner_fill = _fill_value(path, None, file.nodata, dtype)
        check_ceiling(
            self._ctx,
            len(bands) * window.width * window.height * dtype.itemsize,
            f"reading {window}",
        )
        # Blocks cover the whole inner window, so only the part outside the
        # image needs the fill: no pass over the output on the trio thread.
        data = np.empty((len(bands), window.height, window.width), dtype=dtype)
        valid: npt.NDArray[np.bool_] | None = None
        if inner is None:
            data.fill(fill)
            valid = np.zeros((window.height, window.width), dtype=bool)
        else:
            check_decodable(path, self._image)
            if inner != window:
                data.fill(fill)
            mask_kind = self._mask_kind()
            # Samples to fetch: the requested ones, plus what the mask needs.
            needed = list(dict.fromkeys(bands))
            if mask_kind == "alpha" and file.alpha_sample not in needed:
                needed.append(file.alpha_sample)  # type: ignore[arg-type]
            if mask_kind == "nodata":
                needed = list(dict.fromkeys(needed + list(range(self.count))))
            check_ceiling(
                self._ctx,
                len(needed) * inner.width * inner.height * dtype.itemsize,
                f"reading {window} with the {len(needed)} bands its mask needs",
            )
            r0, c0 = inner.row_off - window.row_off, inner.col_off - window.col_off
            rows, cols = slice(r0, r0 + inner.height), slice(c0, c0 + inner.width)
            if needed == bands:
                target = data[:, rows, cols]  # decode straight into the output
            else:
                target = np.empty((len(needed), inner.height, inner.width), dtype=dtype)
            inner_valid = await self._read_inner(inner, needed, target, mask_kind, inner_fill)
            if target.base is not data:
                pos = {s: k for k, s in enumerate(needed)}
                for k, b in enumerate(bands):
                    data[k, rows, cols] = target[pos[b]]
            if inner_valid is not None or inner != window:
                valid = np.zeros((window.height, window.width), dtype=bool)
                valid[rows, cols] = True if inner_valid is None else inner_valid
        if valid is None and masked:
            valid = np.ones((window.height, window.width), dtype=bool)
        return Array(
            data=data,
            mask=valid,
            transform=window.transform(self._transform),
            crs=file.crs,
            nodata=file.nodata,
        )

    @property
    def tile_count(self) -> tuple[int, int]:
        """``(columns, rows)`` of internal blocks (tiles, or strips as one column)."""
        return (self._image.blocks_across, self._image.blocks_down)

    def tile_window(self, x: int, y: int) -> Window:
        """The pixels of internal block ``(x, y)``, clipped to the image.

        Raises:
            InvalidWindowError: ``(x, y)`` is not a block of this image.
        """
        across, down = self.tile_count
        if not (isinstance(x, int) and isinstance(y, int) and 0 <= x < across and 0 <= y < down):
            raise InvalidWindowError(
                self.path, f"tile ({x}, {y}) is outside the {across}x{down} tile grid"
            )
        bw, bh = self._image.block_width, self._image.block_height
        col, row = x * bw, y * bh
        return Window(col, row, min(bw, self.width - col), min(bh, self.height - row))

    async def fetch_tile(
        self, x: int, y: int, *, indexes: Sequence[int] | int | None = None
    ) -> Array:
        """Read internal block ``(x, y)`` (column, row), clipped to the image.

        The `Array` carries the tile's own transform. Indices are checked
        before anything is fetched.

        Raises:
            InvalidWindowError: ``(x, y)`` is not a block of this image.

        **Cancellation:** as `read`.
        """
        return await self.read(window=self.tile_window(x, y), indexes=indexes)

    async def fetch_tiles(
        self, xy: Sequence[tuple[int, int]], *, indexes: Sequence[int] | int | None = None
    ) -> list[Array]:
        """Read several internal blocks concurrently, in the order given.

        Raises:
            InvalidWindowError: One of the pairs is not a block of this image
                (checked for all of them before anything is fetched).

        **Cancellation:** cancelling cancels every tile's read; nothing keeps running.
        """
        windows = [self.tile_window(x, y) for x, y in xy]
        self._file.binding.check(self.path)
        return await gather(
            [functools.partial(self.read, window=w, indexes=indexes) for w in windows]
        )

    def open_tile_stream(
        self,
        tiles: Sequence[tuple[int, int]] | None = None,
        *,
        indexes: Sequence[int] | int | None = None,
        batch: int = 8,
    ) -> contextlib.AbstractAsyncContextManager[
        anyio.abc.ObjectReceiveStream[tuple[tuple[int, int], Array]]
    ]:
        """Stream internal blocks as ``((x, y), Array)`` pairs, in order.

        Use as ``async with tif.open_tile_stream() as tiles: async for (x, y), arr in tiles``.
        At most ``batch`` tiles are read ahead of the consumer (backpressure:
        memory stays bounded however slow the consumer is). Leaving the
        ``async with`` early cancels the reads in flight.

        Args:
            tiles: ``(x, y)`` pairs to stream (default: every block, row by row).
            indexes: 1-based bands to read (default: all).
            batch: How many tiles are read concurrently ahead of the consumer.

        Raises:
            InvalidWindowError: A pair is not a block of this image.

        **Cancellation:** exiting the block or cancelling the consumer cancels
        the producer task and its reads; no task outlives the ``async with``.
        """
        across, down = self.tile_count
        order = (
            list(tiles)
            if tiles is not None
            else [(x, y) for y in range(down) for x in range(across)]
        )
        for x, y in order:
            self.tile_window(x, y)  # validate before anything starts
        if batch < 1:
            raise ValueError("batch must be >= 1")
        return _tile_stream(self, order, indexes, batch)

    @property
    def mask_kind(self) -> Literal["mask", "alpha", "nodata"] | None:
        """Where read masks come from, in GDAL's order of precedence.

        ``"mask"``: an internal (or ``.msk``) mask image; ``"alpha"``: an alpha
        band; ``"nodata"``: the nodata value; None: every pixel is valid.
        """
        return self._mask_kind()  # type: ignore[return-value]

    def _mask_kind(self) -> str | None:
        if self._mask is not None:
            return "mask"
        if self._file.alpha_sample is not None:
            return "alpha"
        if self._file.nodata is not None:
            return "nodata"
        return None

    async def _read_inner(
        self,
        window: Window,
        samples: list[int],
        out: npt.NDArray[Any],
        mask_kind: str | None,
        fill: Any,
    ) -> npt.NDArray[np.bool_] | None:
        ctx = self._ctx
        if mask_kind != "mask":
            await read_samples(ctx, self._image, window, samples, out, fill)
            if mask_kind == "alpha":
                return out[samples.index(self._file.alpha_sample)] != 0  # type: ignore[arg-type,no-any-return]
            if mask_kind == "nodata":
                nodata = self._file.nodata
                assert nodata is not None
                # A full pass over the pixels: off the event loop.
                async with decode_slots():
                    return await run_in_thread(_nodata_validity, out, nodata)
            return None
        assert self._mask is not None
        mask_image, mask_ctx = self._mask
        check_decodable(mask_ctx.source.path, mask_image)
        mask_out = np.empty((1, window.height, window.width), dtype=mask_image.dtype)
        # Pixels and mask in parallel; the first error cancels the other read.
        async with task_group() as group:
            group.start_soon(read_samples, ctx, self._image, window, samples, out, fill)
            group.start_soon(read_samples, mask_ctx, mask_image, window, [0], mask_out, 0)
        return np.asarray(mask_out[0] != 0, dtype=np.bool_)


@contextlib.asynccontextmanager
async def _tile_stream(
    raster: _Raster,
    order: list[tuple[int, int]],
    indexes: Sequence[int] | int | None,
    batch: int,
) -> AsyncIterator[anyio.abc.ObjectReceiveStream[tuple[tuple[int, int], Array]]]:
    send, receive = anyio.create_memory_object_stream[tuple[tuple[int, int], Array]]()

    async def produce() -> None:
        # The stream has no buffer: a batch is read, then handed out tile by
        # tile; the next batch is read once the consumer took the last one.
        async with send:
            for start in range(0, len(order), batch):
                chunk = order[start : start + batch]
                arrays = await raster.fetch_tiles(chunk, indexes=indexes)
                for xy, arr in zip(chunk, arrays, strict=True):
                    await send.send((xy, arr))

    async with task_group() as group, receive:
        group.start_soon(produce)
        try:
            yield receive
        finally:
            group.cancel_scope.cancel()


def _nodata_validity(values: npt.NDArray[Any], nodata: float) -> npt.NDArray[np.bool_]:
    """True where any band differs from nodata (GDAL's per-dataset nodata mask)."""
    return np.asarray(~np.all(_is_nodata(values, nodata), axis=0), dtype=np.bool_)


def _is_nodata(values: npt.NDArray[Any], nodata: float) -> npt.NDArray[np.bool_]:
    """Where ``values`` equal ``nodata`` by GDAL's rules."""
    if values.dtype.kind == "c":
        values = values.real  # GDAL compares complex samples by their real part
    if values.dtype.kind in "iub":
        limits = np.iinfo(values.dtype) if values.dtype.kind != "b" else None
        if (
            limits is None
            or not math.isfinite(nodata)
            or not float(nodata).is_integer()
            or not limits.min <= nodata <= limits.max
        ):
            return np.zeros(values.shape, dtype=np.bool_)  # no pixel can equal it
        return np.asarray(values == values.dtype.type(int(nodata)), dtype=np.bool_)
    if math.isnan(nodata):
        return np.asarray(np.isnan(values), dtype=np.bool_)
    target = values.dtype.type(nodata)
    if math.isinf(target):
        return np.asarray(values == target, dtype=np.bool_)
    # GDAL's ARE_REAL_EQUAL: relative difference below 2 float32 epsilons, for
    # float64 too (a float32-rounded nodata written to a float64 file matches).
    eps = np.finfo(np.float32).eps
    with np.errstate(over="ignore", invalid="ignore"):
        near = np.abs(values - target) < eps * np.abs(values + target) * 2
    return np.asarray((values == target) | near, dtype=np.bool_)


def _band_list(path: str, indexes: Sequence[int] | int | None, count: int) -> list[int]:
    if indexes is None:
        return list(range(count))
    items = [indexes] if isinstance(indexes, int) else list(indexes)
    if not items:
        raise InvalidWindowError(path, "indexes is empty")
    out = []
    for i in items:
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool) or not 1 <= i <= count:
            raise InvalidWindowError(path, f"band index {i!r} is not in 1..{count}")
        out.append(int(i) - 1)
    return out


def _fill_value(path: str, fill: float | None, nodata: float | None, dtype: np.dtype[Any]) -> Any:
    value = fill if fill is not None else nodata
    if value is None:
        return dtype.type(0)
    if dtype.kind in "iu":
        if math.isnan(value) or math.isinf(value):
            if fill is not None:
                raise InvalidWindowError(path, f"fill_value {fill} does not fit {dtype}")
            return dtype.type(0)
        info = np.iinfo(dtype)
        if not info.min <= value <= info.max:
            if fill is not None:
                raise InvalidWindowError(path, f"fill_value {fill} does not fit {dtype}")
            return dtype.type(0)
        return dtype.type(int(value))
    return dtype.type(value)


@final
class Overview(_Raster):
    """A reduced-resolution image of a `GeoTIFF` (from `GeoTIFF.overviews`).

    Reads and metadata work as on the full-resolution image; the transform is
    the full image's, scaled to this overview's size.
    """

    def __init__(
        self,
        file: _FileState,
        image: ImageInfo,
        ctx: ReadContext,
        mask: _MaskRef | None,
        transform: Affine,
    ) -> None:
        """Made by `GeoTIFF.open`; not meant to be built directly."""
        self._file = file
        self._image = image
        self._ctx = ctx
        self._mask = mask
        self._transform = transform

    def __repr__(self) -> str:
        return f"<Overview {self.path!r} {self.width}x{self.height}>"


@final
class GeoTIFF(_Raster):
    """An opened GeoTIFF: metadata named as rasterio names it, and async reads.

    Build one with ``await GeoTIFF.open(path, store=store)``.

    Example:
        ```python
        import trio
        from obstore.store import LocalStore
        from trio_geotiff import GeoTIFF, Window

        async def main():
            tif = await GeoTIFF.open("scene.tif", store=LocalStore("/data"))
            arr = await tif.read(window=Window(0, 0, 256, 256))
            print(tif.crs, arr.data.shape)

        trio.run(main)
        ```
    """

    _ifd: IFD
    _meta: GDALMetadata
    _gcps: Sequence[_georef.GroundControlPoint]
    _gcp_crs: CRS | None
    _georeferenced: bool
    _overviews: tuple[Overview, ...]

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        """Not public: use `GeoTIFF.open`."""
        raise TypeError("use `await GeoTIFF.open(path, store=store)` to open a GeoTIFF")

    @classmethod
    async def open(
        cls,
        path: str,
        *,
        store: Any,
        prefetch: int = DEFAULT_PREFETCH,
        limiter: Limiter | None = None,
        coalesce_gap: int = DEFAULT_COALESCE_GAP,
        max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
        sidecars: bool = False,
        jpeg: Literal["fast", "gdal"] = "fast",
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        header: HeaderBytes | None = None,
    ) -> GeoTIFF:
        """Open a GeoTIFF from an obstore store.

        Args:
            path: The object's path inside the store.
            store: An obstore store (``LocalStore``, ``MemoryStore``, ``HTTPStore``,
                ``S3Store``, ``GCSStore``, ``AzureStore``).
            prefetch: Bytes read in the first request; a COG's whole header
                fits in the default 32 KiB, so opening takes one request.
            limiter: Bounds the requests (the header's included) and decodes
                in flight for this file; share one limiter between files to
                bound them together. An ``anyio.CapacityLimiter``, or under
                trio a ``trio.CapacityLimiter``. Default: a new limiter of 16
                tokens for this file.
            coalesce_gap: Block byte ranges closer than this are fetched in one request.
            max_decoded_bytes: Ceiling on the bytes one read may decode.
            sidecars: Also look for GDAL's external overviews (``path + ".ovr"``)
                and mask (``path + ".msk"``), as GDAL does for local files. Off by
                default: on object stores each lookup is a request.
            jpeg: How subsampled YCbCr JPEG is decoded. "fast" (default):
                libjpeg-turbo, as tifffile, Pillow and browsers do; differs from
                GDAL by up to ~120 at sharp chroma edges. "gdal": GDAL's exact
                output (its libjpeg 9 upsamples chroma in the DCT domain),
                about 25x slower. See docs/jpeg.md.
            cache_bytes: Budget of the decoded-block cache shared by this
                file's reads (default 128 MiB; 0 turns it off). Reads larger
                than a quarter of it do not fill it.
            header: The header bytes of this object from `GeoTIFF.header`
                (e.g. fetched by another process): the file opens without a
                request. Sidecars are still looked up when asked for.

        Returns:
            The opened file.

        Raises:
            ObjectNotFoundError: No such object.
            NotATIFFError: The object is not a TIFF.
            CorruptFileError: The TIFF structure is broken.
            UnsupportedError: The sample type cannot be represented.
            StoreError: The store failed.
            EventLoopError: Not called from trio or asyncio, or ``limiter`` is
                of a kind the running library cannot use.

        **Cancellation:** safe to cancel; an in-flight request is aborted.
        """
        if prefetch < 16:
            raise ValueError("prefetch must be at least 16 bytes")
        if coalesce_gap < 0:
            raise ValueError("coalesce_gap must be >= 0")
        if jpeg not in ("fast", "gdal"):
            raise ValueError(f'jpeg must be "fast" or "gdal", got {jpeg!r}')
        binding = LoopBinding()
        binding.check(path)
        limiter = default_limiter() if limiter is None else check_limiter(path, limiter)
        cache = BlockCache(cache_bytes) if cache_bytes else None
        found: dict[str, _Opened | None] = {}

        async def open_one(key: str, object_path: str, *, optional: bool) -> None:
            try:
                if header is not None and key == "main":
                    source = ObjectSource.from_header(store, object_path, header, limiter)
                else:
                    source = await ObjectSource.open(store, object_path, prefetch, limiter)
            except ObjectNotFoundError:
                if not optional:
                    raise
                found[key] = None
                return
            source.coalesce_gap = coalesce_gap
            structure = await parse_tiff(object_path, source.size, source.read_header)
            ctx = ReadContext(source, structure.byteorder, limiter, max_decoded_bytes, jpeg, cache)
            found[key] = _Opened(ctx, structure.ifds)

        async def open_aux() -> None:
            try:
                async with limiter:
                    head, _size = await _store.fetch_head(store, path + ".aux.xml", _MAX_AUX_XML)
            except ObjectNotFoundError:
                return
            found_pam.append(parse_pam(head.decode("utf-8", errors="replace")))

        found_pam: list[PAMInfo] = []
        # The main file and its sidecars are fetched concurrently: sidecars
        # cost requests, not latency.
        async with task_group() as group:
            group.start_soon(functools.partial(open_one, "main", path, optional=False))
            if sidecars:
                group.start_soon(functools.partial(open_one, "ovr", path + ".ovr", optional=True))
                group.start_soon(functools.partial(open_one, "msk", path + ".msk", optional=True))
                group.start_soon(open_aux)
        main = found["main"]
        assert main is not None
        return cls._from_structure(
            main, found.get("ovr"), found.get("msk"), found_pam[0] if found_pam else None, binding
        )

    @classmethod
    def _from_structure(
        cls,
        main_file: _Opened,
        ovr_file: _Opened | None,
        msk_file: _Opened | None,
        pam: PAMInfo | None,
        binding: LoopBinding,
    ) -> GeoTIFF:
        ctx = main_file.ctx
        path = ctx.source.path
        main_ifd = main_file.ifds[0]
        main = describe_ifd(path, main_ifd, 0)
        meta = parse_gdal_metadata(main_ifd.get_str(42112))
        nodata = parse_nodata(main_ifd.get_str(42113))
        count = _metadata.band_count(main)
        alpha = _metadata.alpha_sample(main, meta)
        keys_crs, transform, gcps = _metadata.georeference(path, main_ifd)
        if pam is not None:
            # GDAL's PAM sidecar fills what the TIFF lacks and adds metadata.
            meta = merge_metadata(meta, pam.metadata)
            nodata = nodata if nodata is not None else pam.nodata
            if keys_crs is None and pam.srs_wkt:
                keys_crs = _metadata.crs_from_wkt(pam.srs_wkt)
            if transform is None and pam.geotransform is not None:
                transform = Affine.from_gdal(*pam.geotransform)
        vertical_units = _metadata.VERTICAL_UNITS.get(_metadata.geokeys(path, main_ifd).get(4099))  # type: ignore[arg-type]
        if vertical_units is not None:
            # GDAL reports VerticalUnitsGeoKey as every band's unit type.
            extra_roles = {b: {"unittype": vertical_units} for b in range(count)}
            meta = merge_metadata(GDALMetadata({}, {}, extra_roles), meta)
        # With GCPs (and no transform) GDAL attaches the CRS to the GCPs only.
        crs = None if gcps and transform is None else keys_crs
        self = object.__new__(cls)
        self._gcp_crs = keys_crs if gcps else None
        self._ifd = main_ifd
        self._image = main
        self._ctx = ctx
        self._meta = meta
        self._gcps = gcps
        self._georeferenced = transform is not None
        self._transform = transform if transform is not None else Affine.identity()
        self._file = _FileState(path, ctx, crs, nodata, count, alpha, binding)

        # Internal images: overviews are reduced-resolution IFDs (in the main
        # chain or SubIFDs of the first image) shaped like the main image.
        internal = _describe_rest(main_file, start=1)
        masks: list[_MaskRef] = [(im, ctx) for im in internal if im.is_mask]
        overviews: list[tuple[ImageInfo, ReadContext]] = [
            (im, ctx) for im in internal if im.is_reduced and not im.is_mask
        ]
        if ovr_file is not None:
            # An external .ovr holds overviews (and their masks) in its main chain.
            external = _describe_rest(ovr_file, start=0)
            overviews += [(im, ovr_file.ctx) for im in external if not im.is_mask]
            masks += [(im, ovr_file.ctx) for im in external if im.is_mask]
        if msk_file is not None:
            # A .msk sidecar: every IFD is a mask (full resolution first).
            masks += [(im, msk_file.ctx) for im in _describe_rest(msk_file, start=0)]
        overviews = [
            (im, c)
            for im, c in overviews
            if im.samples == main.samples
            and im.dtype == main.dtype
            and im.width <= main.width
            and im.height <= main.height
        ]
        overviews.sort(key=lambda pair: -pair[0].width)
        self._mask = _pair_mask(main, masks)
        self._overviews = tuple(
            Overview(
                self._file,
                im,
                c,
                _pair_mask(im, masks),
                self._transform @ Affine.scale(main.width / im.width, main.height / im.height),
            )
            for im, c in overviews
        )
        return self

    def __repr__(self) -> str:
        return f"<GeoTIFF {self.path!r} {self.width}x{self.height}x{self.count} {self.dtype}>"

    # -- metadata ---------------------------------------------------------

    @property
    def overviews(self) -> tuple[Overview, ...]:
        """Reduced-resolution images, finest to coarsest."""
        return self._overviews

    @property
    def georeferenced(self) -> bool:
        """True when the file has a geotransform (False: `transform` is the identity)."""
        return self._georeferenced

    @property
    def gcps(self) -> tuple[list[_georef.GroundControlPoint], CRS | None]:
        """Ground control points and their CRS, as rasterio's ``gcps`` (empty when none)."""
        return (list(self._gcps), self._gcp_crs)

    @property
    def compression(self) -> Compression | None:
        """The compression, or None for uncompressed files (as rasterio)."""
        comp = self._image.compression
        return None if comp is Compression.NONE else comp

    @property
    def interleaving(self) -> Interleaving:
        """``PIXEL`` when bands are interleaved per pixel, else ``BAND``."""
        if self.count > 1 and not self._image.planar:
            return Interleaving.pixel
        return Interleaving.band

    @property
    def photometric(self) -> str:
        """The TIFF PhotometricInterpretation name ("MINISBLACK", "RGB", "YCBCR"...)."""
        code = self._image.photometric
        return PHOTOMETRIC_NAMES.get(code, str(code))

    @cached_property
    def colorinterp(self) -> tuple[ColorInterp, ...]:
        """Colour interpretation of each band, as GDAL reports it."""
        return _metadata.colorinterp(
            self._image,
            self._meta,
            has_colormap=self._ifd.tags.get(320) is not None,
            count=self.count,
        )

    def colormap(self, bidx: int) -> dict[int, tuple[int, int, int, int]]:
        """The band's colour table as ``{value: (r, g, b, a)}``, as rasterio gives it.

        Raises:
            ValueError: The band has no colour table.
        """
        if bidx != 1 or self.colorinterp[0] is not ColorInterp.palette:
            raise ValueError(f"{self.path}: band {bidx} has no colormap")
        colormap = _metadata.colormap(self._image, self._ifd)
        nodata = self.nodata
        if nodata is not None and not math.isnan(nodata) and float(nodata).is_integer():
            # GDAL makes the nodata entry transparent.
            entry = colormap.get(int(nodata))
            if entry is not None:
                colormap[int(nodata)] = (*entry[:3], 0)
        return colormap

    @property
    def scales(self) -> tuple[float, ...]:
        """Per-band scale factors (1.0 when unset)."""
        return tuple(self._role_float(b, "scale", 1.0) for b in range(self.count))

    @property
    def offsets(self) -> tuple[float, ...]:
        """Per-band offsets (0.0 when unset)."""
        return tuple(self._role_float(b, "offset", 0.0) for b in range(self.count))

    @property
    def descriptions(self) -> tuple[str | None, ...]:
        """Per-band descriptions (None when unset)."""
        return tuple(
            self._meta.roles.get(b, {}).get("description") or None for b in range(self.count)
        )

    @property
    def units(self) -> tuple[str | None, ...]:
        """Per-band units (None when unset)."""
        return tuple(self._meta.roles.get(b, {}).get("unittype") or None for b in range(self.count))

    def _role_float(self, band: int, role: str, default: float) -> float:
        text = self._meta.roles.get(band, {}).get(role)
        try:
            return float(text) if text else default
        except ValueError:
            return default

    def tags(self, bidx: int = 0, ns: str | None = None) -> dict[str, str]:
        """Metadata tags of the dataset (``bidx=0``) or of a band, in domain ``ns``.

        The default domain includes GDAL's ``AREA_OR_POINT`` and the TIFF
        baseline text tags (``TIFFTAG_*``), as rasterio reports them.
        """
        domain = ns or ""
        if bidx:
            if not 1 <= bidx <= self.count:
                raise InvalidWindowError(self.path, f"band index {bidx} is not in 1..{self.count}")
            return dict(self._meta.bands.get(bidx - 1, {}).get(domain, {}))
        tags = dict(self._meta.dataset.get(domain, {}))
        if domain == "":
            for code, name in _metadata.TIFFTAG_NAMES.items():
                text = self._ifd.get_str(code, strict=True)
                if text is not None:
                    tags[name] = text
            for code, name in ((282, "TIFFTAG_XRESOLUTION"), (283, "TIFFTAG_YRESOLUTION")):
                values = self._ifd.get_floats(code)
                if values:
                    # libtiff keeps resolutions as 32-bit floats; GDAL prints %.8g.
                    tags[name] = f"{float(np.float32(values[0])):.8g}"
            for code, name in ((280, "TIFFTAG_MINSAMPLEVALUE"), (281, "TIFFTAG_MAXSAMPLEVALUE")):
                value = self._ifd.get_int(code)
                if value is not None:
                    tags[name] = str(value)
            unit = self._ifd.get_int(296)
            if unit is not None:
                tags["TIFFTAG_RESOLUTIONUNIT"] = _metadata.RESOLUTION_UNITS.get(unit, str(unit))
            if 34735 in self._ifd.tags:
                tags.setdefault("AREA_OR_POINT", "Point" if self._pixel_is_point() else "Area")
        return tags

    def _pixel_is_point(self) -> bool:
        keys = _metadata.geokeys(self.path, self._ifd)
        return keys.get(1025) == 2

    def statistics(self) -> Statistics:
        """Counters for this file: requests, bytes, coalesced ranges, blocks decoded."""
        return self._file.ctx.source.statistics()

    def header(self) -> HeaderBytes:
        """The metadata bytes fetched to open this file: pass them to `open` elsewhere.

        Small and picklable (usually the 32 KiB prefetch): another process
        (a dask worker, say) opens the same object from them without a request.
        """
        return self._file.ctx.source.header()


def _pair_mask(image: ImageInfo, masks: Sequence[_MaskRef]) -> _MaskRef | None:
    for m in masks:
        if m[0].width == image.width and m[0].height == image.height:
            return m
    return None


def _describe_rest(opened: _Opened, start: int) -> list[ImageInfo]:
    out = []
    path = opened.ctx.source.path
    for i, ifd in enumerate(opened.ifds[start:], start=start):
        if ifd.parent not in (None, 0):
            continue
        try:
            out.append(describe_ifd(path, ifd, i))
        except GeoTIFFError:
            continue  # a broken secondary IFD is ignored, as GDAL ignores it
    return out
