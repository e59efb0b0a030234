"""`GeoTIFF` and `Overview`: the façade over an opened file and its overviews.

Opening lives in `_open` (sidecars, PAM, overview-mask pairing, the frozen
`Dataset`), masks in `_masks`, block reads in `_read`; this module checks
arguments, allocates the output and names things as rasterio does.

Orders follow rasterio (and async-geotiff for tiles): pixel positions are
``(row, col)``, CRS coordinates ``(x, y)``, tiles ``(x, y)`` column first.
The table is in docs/api.md ("Orders"), the one place they are stated.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from functools import cached_property
from typing import Any, Literal, NoReturn, TypeVar, final

import anyio
import anyio.abc
import anyio.lowlevel
import attrs
import numpy as np
import numpy.typing as npt
from affine import Affine
from pyproj import CRS

from . import _metadata, _profile
from ._array import Array, allocate
from ._cache import DEFAULT_CACHE_BYTES, BlockCache
from ._codes import Tag
from ._decode import check_decodable
from ._enums import ColorInterp, Interleaving, MaskFlags
from ._georef import GroundControlPoint
from ._image import PHOTOMETRIC_NAMES, Compression
from ._masks import ImageRef, MaskRule
from ._nursery import gather, task_group
from ._open import DEFAULT_PREFETCH, Dataset, OpenOptions, open_dataset
from ._read import DEFAULT_MAX_DECODED_BYTES
from ._runtime import Limiter, LoopBinding, check_limiter, default_limiter
from ._source import DEFAULT_COALESCE_GAP, HeaderBytes, Statistics
from ._window import BoundingBox, Window, bounds_of
from .errors import InvalidArgumentError, InvalidWindowError

__all__ = ["GeoTIFF", "NoPublicConstructor", "Overview"]

T = TypeVar("T")


class NoPublicConstructor(type):
    """Metaclass of classes that users get from the library, never build.

    ``Cls(...)`` raises `TypeError` (naming how to get one, from the class's
    ``_how_to_get_one``); the library builds instances with ``Cls._create(...)``.
    """

    def __call__(cls, *_args: Any, **_kwargs: Any) -> NoReturn:
        """Refuse direct construction."""
        how = getattr(cls, "_how_to_get_one", "")
        raise TypeError(f"{cls.__module__}.{cls.__qualname__} has no public constructor{how}")

    def _create(cls: type[T], *args: Any, **kwargs: Any) -> T:
        return super().__call__(*args, **kwargs)  # type: ignore[misc,no-any-return]


class _Raster:
    """Shared behaviour of the full-resolution image and its overviews."""

    def __init__(
        self,
        dataset: Dataset,
        binding: LoopBinding,
        pixels: ImageRef,
        mask: ImageRef | None,
        transform: Affine,
    ) -> None:
        """Made by the library only (``Cls(...)`` raises `TypeError`)."""
        self._dataset = dataset
        self._binding = binding
        self._image, self._ctx = pixels
        self._mask_rule = MaskRule(mask, dataset.alpha_sample, dataset.nodata)
        self._transform = transform

    @property
    def path(self) -> str:
        """The path of the object in its store."""
        return self._dataset.path

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
        return self._dataset.count

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
        return self._dataset.crs

    @property
    def nodata(self) -> float | None:
        """The nodata value (may be NaN), or None."""
        return self._dataset.nodata

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
        """CRS coordinates ``(x, y)`` of pixel ``(row, col)`` (``offset``: center, ul, ur, ll, lr).

        Raises:
            InvalidArgumentError: ``offset`` is not one of the five names.
        """
        corners = {"center": (0.5, 0.5), "ul": (0, 0), "ur": (1, 0), "ll": (0, 1), "lr": (1, 1)}
        if offset not in corners:
            raise InvalidArgumentError(self.path, f"offset must be one of {sorted(corners)}")
        dx, dy = corners[offset]
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

    def block_windows(self, bidx: int = 0) -> Iterator[tuple[tuple[int, int], Window]]:
        """The internal blocks as ``((row, col), Window)``, row by row, as rasterio's.

        Windows at the right and bottom edges are clipped to the image. Pass
        them to `read` to read whole blocks.

        Args:
            bidx: 1-based band (every band has the same blocks here); 0 for all.

        Raises:
            InvalidWindowError: ``bidx`` is not 0 or a band index.
        """
        if not (isinstance(bidx, int) and 0 <= bidx <= self.count):
            raise InvalidWindowError(self.path, f"band index {bidx!r} is not in 0..{self.count}")
        across, down = self.tile_count
        return (
            ((row, col), self.tile_window(col, row)) for row in range(down) for col in range(across)
        )

    @property
    def mask_kind(self) -> Literal["mask", "alpha", "nodata"] | None:
        """Where read masks come from, in GDAL's order of precedence.

        ``"mask"``: an internal (or ``.msk``) mask image; ``"alpha"``: an alpha
        band; ``"nodata"``: the nodata value; None: every pixel is valid.
        """
        return self._mask_rule.kind

    async def read(
        self,
        *,
        window: Window | None = None,
        indexes: Sequence[int] | int | None = None,
        boundless: bool = False,
        fill_value: float | None = None,
        masked: bool = False,
    ) -> Array:
        """Read a window of pixels.

        Every argument is a keyword: ``read(1)`` is a `TypeError` (in rasterio
        the first argument is the band index; here it would be a window).

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
            ResourceLimitError: The read would decode more than
                ``max_decoded_bytes``, or its arrays do not fit in memory.
            CorruptFileError: Block data is missing or does not decode.
            UnsupportedError: The file's codec or pixel layout is not supported.
            StoreError: The store failed.

        **Cancellation:** safe to cancel at any point. In-flight range requests
        are aborted (the asyncio tasks behind them are cancelled and awaited),
        running decodes, a few milliseconds each, are waited for, and no task
        or thread is left behind.
        """
        path = self.path
        self._binding.check(path)
        await anyio.lowlevel.checkpoint()
        full = Window(0, 0, self.width, self.height)
        window = full if window is None else window
        if not isinstance(window, Window):
            raise InvalidWindowError(path, f"window must be a Window, got {type(window).__name__}")
        bands = _band_list(path, indexes, self.count)
        inner = window.intersection(full)
        if not boundless and inner != window:
            raise InvalidWindowError(
                path,
                f"{window} is not inside the {self.width}x{self.height} image"
                " (pass boundless=True to read across its edges)",
            )
        dtype = self._image.dtype
        fill = _fill_value(path, fill_value, self.nodata, dtype)
        shape = (len(bands), window.height, window.width)
        data = allocate(self._ctx, shape, dtype, f"reading {window}")
        valid = await self._read_into(data, window, inner, bands, fill)
        if valid is None and masked:
            valid = allocate(self._ctx, shape[1:], np.bool_, f"the mask of {window}")
            valid[...] = True
        return Array(
            data=data,
            mask=valid,
            transform=window.transform(self._transform),
            crs=self.crs,
            nodata=self.nodata,
        )

    async def _read_into(
        self,
        data: npt.NDArray[Any],
        window: Window,
        inner: Window | None,
        bands: list[int],
        fill: Any,
    ) -> npt.NDArray[np.bool_] | None:
        """Fill ``data`` (the whole window); return the validity mask, or None."""
        if inner is None:
            data.fill(fill)
            valid = allocate(self._ctx, data.shape[1:], np.bool_, f"the mask of {window}")
            valid[...] = False
            return valid
        check_decodable(self.path, self._image)
        rows = slice(inner.row_off - window.row_off, inner.row_stop - window.row_off)
        cols = slice(inner.col_off - window.col_off, inner.col_stop - window.col_off)
        if inner != window:
            # Blocks cover the whole inner window: only the frame around it gets the fill.
            _fill_outside(data, rows, cols, fill)
        inner_valid = await self._read_inner(inner, bands, data[:, rows, cols])
        if inner_valid is None and inner == window:
            return None
        valid = allocate(self._ctx, data.shape[1:], np.bool_, f"the mask of {window}")
        valid[...] = False
        valid[rows, cols] = True if inner_valid is None else inner_valid
        return valid

    async def _read_inner(
        self, inner: Window, bands: list[int], dest: npt.NDArray[Any]
    ) -> npt.NDArray[np.bool_] | None:
        """Read ``bands`` of ``inner`` (inside the image) into ``dest``, and the mask."""
        rule = self._mask_rule
        dtype = self._image.dtype
        # Inside the image, missing (sparse) blocks read as nodata, else 0, as in GDAL.
        sparse_fill = _fill_value(self.path, None, self.nodata, dtype)
        needed = rule.samples_needed(bands, self.count)
        if needed == bands:
            target = dest  # decode straight into the output
        else:
            target = allocate(
                self._ctx,
                (len(needed), inner.height, inner.width),
                dtype,
                f"reading {inner} with the {len(needed)} bands its mask needs",
            )
        valid = await rule.read((self._image, self._ctx), inner, needed, target, sparse_fill)
        if target is not dest:
            position = {sample: k for k, sample in enumerate(needed)}
            for k, band in enumerate(bands):
                dest[k] = target[position[band]]
        return valid

    @property
    def tile_count(self) -> tuple[int, int]:
        """``(columns, rows)`` of internal blocks (tiles, or strips as one column)."""
        return (self._image.blocks_across, self._image.blocks_down)

    def tile_window(self, x: int, y: int) -> Window:
        """The pixels of internal block ``(x, y)`` (column, row), clipped to the image.

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
        self._binding.check(self.path)
        return await self.read(window=self.tile_window(x, y), indexes=indexes)

    async def fetch_tiles(
        self, xy: Sequence[tuple[int, int]], *, indexes: Sequence[int] | int | None = None
    ) -> list[Array]:
        """Read several internal blocks ``(x, y)`` concurrently, in the order given.

        Raises:
            InvalidWindowError: One of the pairs is not a block of this image
                (checked for all of them before anything is fetched).

        **Cancellation:** cancelling cancels every tile's read; nothing keeps running.
        """
        self._binding.check(self.path)
        windows = [self.tile_window(x, y) for x, y in xy]
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
            InvalidArgumentError: ``batch`` is below 1.

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
            raise InvalidArgumentError(self.path, f"batch must be >= 1, got {batch}")
        self._binding.check(self.path)
        return _tile_stream(self, order, indexes, batch)


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


def _fill_outside(data: npt.NDArray[Any], rows: slice, cols: slice, fill: Any) -> None:
    """Fill the frame of ``data`` around ``[rows, cols]`` (the part outside the image)."""
    data[:, : rows.start] = fill
    data[:, rows.stop :] = fill
    data[:, rows, : cols.start] = fill
    data[:, rows, cols.stop :] = fill


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
        fits = math.isfinite(value) and np.iinfo(dtype).min <= value <= np.iinfo(dtype).max
        if not fits:
            if fill is not None:
                raise InvalidWindowError(path, f"fill_value {fill} does not fit {dtype}")
            return dtype.type(0)
        return dtype.type(int(value))
    return dtype.type(value)


@final
class Overview(_Raster, metaclass=NoPublicConstructor):
    """A reduced-resolution image of a `GeoTIFF` (from `GeoTIFF.overviews`).

    Reads and metadata work as on the full-resolution image; the transform is
    the full image's, scaled to this overview's size.
    """

    _how_to_get_one = ": take one from `GeoTIFF.overviews`"

    def __repr__(self) -> str:
        return f"<Overview {self.path!r} {self.width}x{self.height}>"


@final
class GeoTIFF(_Raster, metaclass=NoPublicConstructor):
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

    _how_to_get_one = ": use `await GeoTIFF.open(path, store=store)` to open a GeoTIFF"

    @classmethod
    async def open(  # noqa: PLR0913 - rasterio-style keyword options
        cls,
        path: str,
        *,
        store: Any,
        prefetch: int = DEFAULT_PREFETCH,
        limiter: Limiter | None = None,
        coalesce_gap: int = DEFAULT_COALESCE_GAP,
        max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
        sidecars: bool = False,
        jpeg: Literal["fast", "gdal"] = "gdal",
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        header: HeaderBytes | None = None,
    ) -> GeoTIFF:
        """Open a GeoTIFF from an obstore store.

        Args:
            path: The object's path inside the store.
            store: An obstore store (``LocalStore``, ``MemoryStore``, ``HTTPStore``,
                ``S3Store``, ``GCSStore``, ``AzureStore``).
            prefetch: Bytes read in the first request (at least 16); a COG's
                whole header fits in the default 32 KiB, so opening takes one request.
            limiter: Bounds every request (header and sidecars included) and
                decode in flight for this file; share one to bound many files.
                An ``anyio.CapacityLimiter`` (under trio also a
                ``trio.CapacityLimiter``). Default: 16 tokens for this file.
            coalesce_gap: Block byte ranges closer than this are fetched in one request.
            max_decoded_bytes: Ceiling on the bytes one read may decode.
            sidecars: Also look for GDAL's ``.ovr``, ``.msk`` (and ``.msk.ovr``)
                and ``.aux.xml`` beside the file, as GDAL does for local files
                (off by default: on object stores each lookup is a request).
                One that cannot be used is ignored, as GDAL ignores it (with a
                `RuntimeWarning` when it is broken or the store refused it).
            jpeg: How subsampled YCbCr JPEG is decoded. "gdal" (default):
                GDAL's pixels bit for bit, through the IJG libjpeg 9 that
                GDAL's wheels use (the ``jpeglib`` package), 1.5 to 2 ms per
                512² tile. "fast": libjpeg-turbo, as tifffile, Pillow and
                browsers do, a few times faster but up to ~120 off at sharp
                chroma edges. See docs/jpeg.md.
            cache_bytes: The most decoded blocks this file may keep in the
                process-wide cache, whose budget is `set_cache_budget`
                (256 MiB by default): a per-file cap inside it (default
                128 MiB; 0 keeps this file out of the cache). Reads larger
                than a quarter of the cap (or of the budget, if smaller)
                do not fill it.
            header: The header bytes of this object from `GeoTIFF.header`
                (e.g. fetched by another process): the file opens without a
                request. Sidecars are still looked up when asked for.

        Returns:
            The opened file.

        Raises:
            InvalidArgumentError: ``prefetch``, ``coalesce_gap`` or ``jpeg`` is
                out of range.
            ObjectNotFoundError: No such object.
            NotATIFFError: The object is not a TIFF.
            CorruptFileError: The TIFF structure is broken.
            UnsupportedError: The sample type cannot be represented.
            StoreError: The store failed.
            EventLoopError: Not called from trio or asyncio, or ``limiter`` is
                of a kind the running library cannot use.

        **Cancellation:** safe to cancel; in-flight requests are aborted.
        """
        binding = LoopBinding()
        binding.check(path)
        options = OpenOptions(
            limiter=default_limiter() if limiter is None else check_limiter(path, limiter),
            prefetch=prefetch,
            coalesce_gap=coalesce_gap,
            max_decoded_bytes=max_decoded_bytes,
            sidecars=sidecars,
            jpeg=jpeg,
            cache=BlockCache(cache_bytes) if cache_bytes else None,
            header=header,
        )
        options.check(path)
        dataset = await open_dataset(path, store, options)
        return cls._create(dataset, binding)

    def __init__(self, dataset: Dataset, binding: LoopBinding) -> None:
        """Made by `GeoTIFF.open` only (``GeoTIFF(...)`` raises `TypeError`)."""
        transform = dataset.transform if dataset.transform is not None else Affine.identity()
        super().__init__(dataset, binding, (dataset.image, dataset.ctx), dataset.mask, transform)
        self._overviews = tuple(
            Overview._create(  # noqa: SLF001 - the one place overviews are made
                dataset, binding, (ov.image, ov.ctx), ov.mask, ov.transform
            )
            for ov in dataset.overviews
        )

    def __repr__(self) -> str:
        return f"<GeoTIFF {self.path!r} {self.width}x{self.height}x{self.count} {self.dtype}>"

    # -- metadata ---------------------------------------------------------

    @property
    def overviews(self) -> tuple[Overview, ...]:
        """Reduced-resolution images in GDAL's order (``overview_level`` 0 first)."""
        return self._overviews

    @property
    def georeferenced(self) -> bool:
        """True when the file has a geotransform (False: `transform` is the identity)."""
        return self._dataset.transform is not None

    @property
    def gcps(self) -> tuple[list[GroundControlPoint], CRS | None]:
        """Ground control points and their CRS, as rasterio's ``gcps`` (empty when none)."""
        return (list(self._dataset.gcps), self._dataset.gcp_crs)

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
            self._dataset.meta,
            has_colormap=self._dataset.ifd.tags.get(Tag.COLORMAP) is not None,
            count=self.count,
        )

    def colormap(self, bidx: int) -> dict[int, tuple[int, int, int, int]]:
        """The band's colour table as ``{value: (r, g, b, a)}``, as rasterio gives it.

        Raises:
            InvalidArgumentError: The band has no colour table (also a `ValueError`,
                as rasterio raises).
        """
        if bidx != 1 or self.colorinterp[0] is not ColorInterp.palette:
            raise InvalidArgumentError(self.path, f"band {bidx} has no colormap")
        colormap = _metadata.colormap(self._image, self._dataset.ifd)
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
        return tuple(self._role(b, "description") for b in range(self.count))

    @property
    def units(self) -> tuple[str | None, ...]:
        """Per-band units (None when unset)."""
        return tuple(self._role(b, "unittype") for b in range(self.count))

    def _role(self, band: int, role: str) -> str | None:
        return self._dataset.meta.roles.get(band, {}).get(role) or None

    def _role_float(self, band: int, role: str, default: float) -> float:
        text = self._role(band, role)
        try:
            return float(text) if text else default
        except ValueError:
            return default

    def tags(self, bidx: int = 0, ns: str | None = None) -> dict[str, str]:
        """Metadata tags of the dataset (``bidx=0``) or of a band, in domain ``ns``.

        The default domain includes GDAL's ``AREA_OR_POINT`` and the TIFF
        baseline text tags (``TIFFTAG_*``), as rasterio reports them.

        Raises:
            InvalidWindowError: ``bidx`` is not 0 or a band index.
        """
        domain = ns or ""
        meta = self._dataset.meta
        if bidx:
            if not 1 <= bidx <= self.count:
                raise InvalidWindowError(self.path, f"band index {bidx} is not in 1..{self.count}")
            return dict(meta.bands.get(bidx - 1, {}).get(domain, {}))
        tags = meta.dataset.get(domain, {})
        if domain:
            return dict(tags)
        return _metadata.default_domain_tags(tags, self._dataset.ifd, self._dataset.geokeys)

    @property
    def profile(self) -> dict[str, Any]:
        """The file's metadata and layout as rasterio's ``profile`` (a new dict)."""
        return _profile.profile(self)

    @property
    def mask_flag_enums(self) -> tuple[list[MaskFlags], ...]:
        """Each band's mask flags, as rasterio's ``mask_flag_enums``."""
        return _profile.mask_flag_enums(self)

    def statistics(self) -> Statistics:
        """Counters for this file: requests, bytes, coalesced ranges, blocks decoded.

        Summed over every object read for it: the file, and its ``.ovr``,
        ``.msk`` and ``.msk.ovr`` sidecars when they are used.
        """
        snapshots = [source.statistics() for source in self._dataset.sources]
        return Statistics(
            **{
                field.name: sum(getattr(s, field.name) for s in snapshots)
                for field in attrs.fields(Statistics)
            }
        )

    def header(self) -> HeaderBytes:
        """The metadata bytes fetched to open this file: pass them to `open` elsewhere.

        Small and picklable (usually the 32 KiB prefetch): another process
        (a dask worker, say) opens the same object from them without a request.
        """
        return self._dataset.ctx.source.header()
