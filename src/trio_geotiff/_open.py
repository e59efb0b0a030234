"""Opening a GeoTIFF: the object and its sidecars, parsed once into a `Dataset`.

`open_dataset` fetches the main object and, when asked, GDAL's sidecars
(``.ovr`` overviews, ``.msk`` mask and its ``.msk.ovr`` overviews, ``.aux.xml``
PAM metadata) concurrently,
then describes the file once: GeoKeys, georeferencing, GDAL metadata merged
with PAM, the overviews in GDAL's order and each raster's mask image. The
`Dataset` is frozen; `GeoTIFF` and `Overview` only read it.

A sidecar that cannot be used (empty, not a TIFF, broken, or refused by the
store) is ignored, as GDAL ignores it; a warning says so when the sidecar
exists but is broken or could not be fetched.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs
from affine import Affine
from pyproj import CRS

from . import _metadata, _store
from ._cache import BlockCache
from ._codes import GeoKey, Tag
from ._gdal_metadata import (
    GDALMetadata,
    PAMInfo,
    merge_metadata,
    parse_gdal_metadata,
    parse_nodata,
    parse_pam,
)
from ._georef import GroundControlPoint
from ._image import ImageInfo, describe_ifd
from ._masks import ImageRef, pair_mask
from ._nursery import task_group
from ._read import ReadContext
from ._runtime import Limiter
from ._source import HeaderBytes, ObjectSource
from ._tiff import IFD, parse_tiff
from .errors import (
    CorruptFileError,
    GeoTIFFError,
    InvalidArgumentError,
    NotATIFFError,
    ObjectNotFoundError,
    ResourceLimitError,
    StoreError,
    UnsupportedError,
)

__all__ = [
    "DEFAULT_PREFETCH",
    "Dataset",
    "OpenOptions",
    "OverviewInfo",
    "open_dataset",
]

DEFAULT_PREFETCH: Final = 32 * 1024
"""Bytes of the first request: a COG's whole header fits."""

_MAX_AUX_XML: Final = 4 * 1024 * 1024
# GDAL opens at most this many overviews of one file (a guard against hostile files).
_MAX_OVERVIEWS: Final = 30
# A sidecar that exists but cannot be used is skipped, as GDAL skips it.
_UNUSABLE: Final = (CorruptFileError, UnsupportedError, StoreError, ResourceLimitError)


@attrs.frozen(kw_only=True)
class OpenOptions:
    """How `open_dataset` fetches, and how the file's reads behave."""

    limiter: Limiter
    prefetch: int
    coalesce_gap: int
    max_decoded_bytes: int
    sidecars: bool
    jpeg: str
    cache: BlockCache | None
    header: HeaderBytes | None

    def check(self, path: str) -> None:
        """Refuse options the file cannot be opened with.

        Raises:
            InvalidArgumentError: An option is out of its range.
        """
        if self.prefetch < 16:
            raise InvalidArgumentError(
                path, f"prefetch must be at least 16 bytes, got {self.prefetch}"
            )
        if self.coalesce_gap < 0:
            raise InvalidArgumentError(path, f"coalesce_gap must be >= 0, got {self.coalesce_gap}")
        if self.jpeg not in ("fast", "gdal"):
            raise InvalidArgumentError(path, f'jpeg must be "fast" or "gdal", got {self.jpeg!r}')


@attrs.frozen
class _Opened:
    """A parsed TIFF object: its read state and IFDs."""

    ctx: ReadContext
    ifds: Sequence[IFD]


@attrs.frozen
class _Sidecars:
    ovr: _Opened | None = None
    msk: _Opened | None = None
    msk_ovr: _Opened | None = None
    """The ``.msk``'s own overviews (``path.msk.ovr``), which GDAL writes beside it."""
    pam: PAMInfo | None = None


@attrs.frozen(eq=False)
class OverviewInfo:
    """One overview: its image, the file holding it, its mask image and transform."""

    image: ImageInfo
    ctx: ReadContext
    mask: ImageRef | None
    transform: Affine


@attrs.frozen(eq=False)
class Dataset:
    """Everything known about an opened file, computed once at open."""

    path: str
    ifd: IFD
    """The full-resolution image's IFD."""
    image: ImageInfo
    ctx: ReadContext
    """The main object's read state (limiter, ceiling, cache)."""
    geokeys: Mapping[int, Any]
    """The GeoKeys of the main image, parsed once."""
    crs: CRS | None
    transform: Affine | None
    """None when the file has no geotransform."""
    gcps: tuple[GroundControlPoint, ...]
    gcp_crs: CRS | None
    meta: GDALMetadata
    """GDAL_METADATA merged with the PAM sidecar's metadata."""
    nodata: float | None
    count: int
    alpha_sample: int | None
    """0-based sample of an alpha band used as the dataset mask."""
    mask: ImageRef | None
    """The full-resolution image's mask image."""
    overviews: tuple[OverviewInfo, ...]
    """Overviews in GDAL's order."""
    sources: tuple[ObjectSource, ...]
    """Every object read for this file: the main one, then the sidecars used."""


async def open_dataset(path: str, store: Any, options: OpenOptions) -> Dataset:
    """Fetch and parse the object (and its sidecars when asked) concurrently.

    Raises:
        ObjectNotFoundError, NotATIFFError, CorruptFileError, UnsupportedError,
        StoreError: From the main object only; sidecars that fail are skipped.
    """
    found: dict[str, Any] = {}

    async def main() -> None:
        found["main"] = await _open_tiff(store, path, options, options.header)

    async def sidecar(key: str, suffix: str) -> None:
        found[key] = await _open_sidecar(store, path + suffix, options)

    async def mask_sidecars() -> None:
        await sidecar("msk", ".msk")
        if found["msk"] is not None:
            # Its overviews: looked up only when there is a .msk (rare), so
            # that a plain file costs no extra request.
            await sidecar("msk_ovr", ".msk.ovr")

    async def pam() -> None:
        found["pam"] = await _open_pam(store, path + ".aux.xml", options.limiter)

    if not options.sidecars:
        await main()  # nothing to run beside it: no task group to set up (~30 µs)
    else:
        # The main file and its sidecars are fetched concurrently: sidecars
        # cost requests, not latency.
        async with task_group() as group:
            group.start_soon(main)
            group.start_soon(functools.partial(sidecar, "ovr", ".ovr"))
            group.start_soon(mask_sidecars)
            group.start_soon(pam)
    sidecars = _Sidecars(found.get("ovr"), found.get("msk"), found.get("msk_ovr"), found.get("pam"))
    return describe(found["main"], sidecars)


async def _open_tiff(
    store: Any, path: str, options: OpenOptions, header: HeaderBytes | None
) -> _Opened:
    if header is not None:
        source = ObjectSource.from_header(store, path, header, options.limiter)
    else:
        source = await ObjectSource.open(store, path, options.prefetch, options.limiter)
    source.coalesce_gap = options.coalesce_gap
    structure = await parse_tiff(path, source.size, source.read_header)
    ctx = ReadContext(
        source,
        structure.byteorder,
        options.limiter,
        options.max_decoded_bytes,
        options.jpeg,
        options.cache,
    )
    return _Opened(ctx, structure.ifds)


async def _open_sidecar(store: Any, path: str, options: OpenOptions) -> _Opened | None:
    """A ``.ovr`` or ``.msk`` sidecar, or None when absent or unusable."""
    try:
        return await _open_tiff(store, path, options, None)
    except (ObjectNotFoundError, NotATIFFError):
        return None  # absent, empty or not a TIFF: GDAL passes over it silently
    except _UNUSABLE as exc:
        _warn_unusable(path, exc)
        return None


async def _open_pam(store: Any, path: str, limiter: Limiter) -> PAMInfo | None:
    """The ``.aux.xml`` sidecar, or None when absent or unusable."""
    try:
        async with limiter:
            head, _size = await _store.fetch_head(store, path, _MAX_AUX_XML)
    except (ObjectNotFoundError, NotATIFFError):
        return None  # absent or empty (malformed XML parses to nothing, as in GDAL)
    except StoreError as exc:
        _warn_unusable(path, exc)
        return None
    return parse_pam(head.decode("utf-8", errors="replace"))


def _warn_unusable(path: str, exc: GeoTIFFError) -> None:
    warnings.warn(
        f"{path}: sidecar ignored ({type(exc).__name__}: {exc.reason})",
        RuntimeWarning,
        stacklevel=2,
    )


def describe(main: _Opened, sidecars: _Sidecars) -> Dataset:
    """The dataset description: GeoKeys parsed once, PAM merged, overviews in GDAL's order."""
    ctx = main.ctx
    path = ctx.source.path
    ifd = main.ifds[0]
    image = describe_ifd(path, ifd, 0)
    keys = _metadata.geokeys(path, ifd)
    crs, transform, gcps = _metadata.georeference(path, ifd, keys)
    meta = parse_gdal_metadata(ifd.get_str(Tag.GDAL_METADATA))
    nodata = parse_nodata(ifd.get_str(Tag.GDAL_NODATA))
    count = _metadata.band_count(image)
    alpha = _metadata.alpha_sample(image, meta)
    if sidecars.pam is not None:
        meta, nodata, crs, transform = _merge_pam(sidecars.pam, meta, nodata, crs, transform)
    meta = _with_vertical_units(meta, keys, count)
    internal = _secondary_images(main, with_first=False)
    ovr = _secondary_images(sidecars.ovr, with_first=True)
    masks = _mask_images(internal, ovr, sidecars)
    base = transform if transform is not None else Affine.identity()
    overviews = tuple(
        OverviewInfo(
            ov,
            ov_ctx,
            pair_mask(ov, masks),
            base @ Affine.scale(image.width / ov.width, image.height / ov.height),
        )
        for ov, ov_ctx in _overview_images(image, internal, ovr)
    )
    used = (sidecars.ovr, sidecars.msk, sidecars.msk_ovr)
    sources = [ctx.source] + [opened.ctx.source for opened in used if opened is not None]
    return Dataset(
        path=path,
        ifd=ifd,
        image=image,
        ctx=ctx,
        geokeys=keys,
        # With GCPs (and no transform) GDAL attaches the CRS to the GCPs only.
        crs=None if gcps and transform is None else crs,
        transform=transform,
        gcps=tuple(gcps),
        gcp_crs=crs if gcps else None,
        meta=meta,
        nodata=nodata,
        count=count,
        alpha_sample=alpha,
        mask=pair_mask(image, masks),
        overviews=overviews,
        sources=tuple(sources),
    )


def _merge_pam(
    pam: PAMInfo,
    meta: GDALMetadata,
    nodata: float | None,
    crs: CRS | None,
    transform: Affine | None,
) -> tuple[GDALMetadata, float | None, CRS | None, Affine | None]:
    """GDAL's PAM sidecar fills what the TIFF lacks and adds metadata."""
    meta = merge_metadata(meta, pam.metadata)
    nodata = nodata if nodata is not None else pam.nodata
    if crs is None and pam.srs_wkt:
        crs = _metadata.crs_from_wkt(pam.srs_wkt)
    if transform is None and pam.geotransform is not None:
        transform = Affine.from_gdal(*pam.geotransform)
    return meta, nodata, crs, transform


def _with_vertical_units(meta: GDALMetadata, keys: Mapping[int, Any], count: int) -> GDALMetadata:
    units = _metadata.VERTICAL_UNITS.get(keys.get(GeoKey.VERTICAL_UNITS))  # type: ignore[arg-type]
    if units is None:
        return meta
    # GDAL reports VerticalUnitsGeoKey as every band's unit type.
    extra_roles = {b: {"unittype": units} for b in range(count)}
    return merge_metadata(GDALMetadata({}, {}, extra_roles), meta)


def _scan_order(ifds: Sequence[IFD]) -> list[tuple[int, IFD]]:
    """The IFDs after the first that GDAL considers, in the order it scans them.

    GDAL visits the SubIFDs of the first image in the order its SubIFDs tag
    lists them (not the chains that continue from them), then the rest of
    the main chain; a later IFD that has SubIFDs of its own is not an
    overview or a mask of the main image.
    """
    by_offset = {ifd.offset: (i, ifd) for i, ifd in enumerate(ifds) if ifd.parent == 0}
    listed = dict.fromkeys(ifds[0].get_ints(Tag.SUB_IFDS) or ())
    subs = [by_offset[offset] for offset in listed if offset in by_offset]
    chain = [
        (i, ifd)
        for i, ifd in enumerate(ifds)
        if i > 0 and ifd.parent is None and not ifd.get_ints(Tag.SUB_IFDS)
    ]
    return subs + chain


def _secondary_images(opened: _Opened | None, *, with_first: bool) -> list[ImageRef]:
    """The images after the first (with it for a ``.ovr``), in GDAL's scan order, described once."""
    if opened is None:
        return []
    order = _scan_order(opened.ifds)
    if with_first:
        order = [(0, opened.ifds[0]), *order]
    return [(im, opened.ctx) for im in _describe(opened, order)]


def _describe(opened: _Opened, ifds: Sequence[tuple[int, IFD]]) -> list[ImageInfo]:
    out = []
    path = opened.ctx.source.path
    for i, ifd in ifds:
        try:
            out.append(describe_ifd(path, ifd, i))
        except GeoTIFFError:
            continue  # a broken secondary IFD is ignored, as GDAL ignores it
    return out


def _overview_images(
    main: ImageInfo, internal: list[ImageRef], ovr: list[ImageRef]
) -> list[ImageRef]:
    """Overviews as GDAL lists them: the internal ones, else those of the ``.ovr``.

    Internal ones in scan order (not sorted by size); a ``.ovr`` is used only
    when the file has no internal overview, its first image first.
    """
    found = [(im, ctx) for im, ctx in internal if im.is_reduced and not im.is_mask]
    if not found:
        found = [
            (im, ctx)
            for k, (im, ctx) in enumerate(ovr)
            if not im.is_mask and (k == 0 or im.is_reduced)
        ]
    usable = [
        (im, ctx)
        for im, ctx in found
        if im.samples == main.samples
        and im.dtype == main.dtype
        and im.width <= main.width
        and im.height <= main.height
    ]
    return usable[:_MAX_OVERVIEWS]


def _mask_images(
    internal: list[ImageRef], ovr: list[ImageRef], sidecars: _Sidecars
) -> list[ImageRef]:
    """Mask images in the order GDAL pairs them: internal, ``.ovr``'s, then ``.msk``'s."""
    masks = [(im, ctx) for im, ctx in (*internal, *ovr) if im.is_mask]
    for msk in (sidecars.msk, sidecars.msk_ovr):
        if msk is not None:
            # A .msk sidecar (and its .msk.ovr): every image of the main chain
            # is a mask, full resolution first.
            chain = [(i, ifd) for i, ifd in enumerate(msk.ifds) if ifd.parent is None]
            masks += [(im, msk.ctx) for im in _describe(msk, chain)]
    return masks
