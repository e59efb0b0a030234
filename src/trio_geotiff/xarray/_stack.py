"""`open_stack`: many files on one grid as one lazy ``(time, band, y, x)`` array.

All headers are fetched concurrently (one task group, the process limiter),
then the dask graph is written directly: one key per file holding its
`FileHandle` (so each header travels to a worker once, not once per chunk),
and one task per chunk that reads the chunk's window from each of its files
concurrently. The graph is linear in chunks; there are no per-tile tasks.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import attrs
import dask.array as da
import numpy as np
import numpy.typing as npt
import xarray as xr
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from trio_geotiff import _blocking
from trio_geotiff._geotiff import GeoTIFF, Overview
from trio_geotiff._window import Window
from trio_geotiff.errors import InvalidArgumentError
from trio_geotiff.xarray._handle import (
    FileHandle,
    ReadSpec,
    open_files,
    read_blocks_async,
    resolve,
)
from trio_geotiff.xarray._layout import Layout, layout_of

__all__ = ["ChunkRead", "open_stack", "read_stack_chunk"]

Chunks = int | str | tuple[Any, ...] | Mapping[str, Any] | None


@attrs.frozen
class ChunkRead:
    """What one chunk task reads: pixel rows and columns, 0-based bands, how."""

    rows: tuple[int, int]
    cols: tuple[int, int]
    bands: tuple[int, int]
    spec: ReadSpec
    dtype: np.dtype[Any]


def read_stack_chunk(handles: Sequence[FileHandle], chunk: ChunkRead) -> npt.NDArray[Any]:
    """One chunk of a stack: ``(file, band, y, x)`` (blocking; a dask task)."""
    (r0, r1), (c0, c1) = chunk.rows, chunk.cols
    window = Window(c0, r0, c1 - c0, r1 - r0)
    return _blocking.run(
        read_blocks_async,
        list(handles),
        window,
        list(range(*chunk.bands)),
        chunk.spec,
        chunk.dtype,
    )


def _check_same_grid(
    path0: str, first: GeoTIFF | Overview, path: str, other: GeoTIFF | Overview
) -> None:
    checks = (
        ("size", (first.width, first.height), (other.width, other.height)),
        ("band count", first.count, other.count),
        ("dtype", first.dtype, other.dtype),
        ("transform", tuple(first.transform)[:6], tuple(other.transform)[:6]),
        ("CRS", first.crs, other.crs),
    )
    for what, want, got in checks:
        if want != got:
            raise InvalidArgumentError(
                path, f"{what} {got} differs from the first file's ({path0}: {want})"
            )


def _normalize_chunks(chunks: Chunks, layout: Layout, n: int) -> tuple[tuple[int, ...], ...]:
    band_block, tile_h, tile_w = layout.block
    shape = (n, *layout.shape)
    names = ("time", "band", "y", "x")
    default: tuple[Any, ...] = (1, band_block, "auto", "auto")
    if chunks is None or chunks in ("auto", {}):
        spec: tuple[Any, ...] = default
    elif isinstance(chunks, Mapping):
        spec = tuple(chunks.get(name, d) for name, d in zip(names, default, strict=True))
    elif isinstance(chunks, int):
        spec = (1, band_block, chunks, chunks)
    else:
        spec = tuple(chunks)
    normalized: tuple[tuple[int, ...], ...] = da.core.normalize_chunks(  # type: ignore[no-untyped-call]
        spec, shape, dtype=layout.dtype, previous_chunks=(1, band_block, tile_h, tile_w)
    )
    return normalized


def _graph(
    name: str,
    handles: Sequence[FileHandle],
    chunks: tuple[tuple[int, ...], ...],
    spec: ReadSpec,
    dtype: np.dtype[Any],
) -> dict[Any, Any]:
    handle_name = f"{name}-handle"
    dsk: dict[Any, Any] = {(handle_name, t): h for t, h in enumerate(handles)}
    starts = [np.concatenate([[0], np.cumsum(c)]).astype(int).tolist() for c in chunks]
    for ti in range(len(chunks[0])):
        keys = [(handle_name, t) for t in range(starts[0][ti], starts[0][ti + 1])]
        for bi in range(len(chunks[1])):
            bands = (starts[1][bi], starts[1][bi + 1])
            for yi in range(len(chunks[2])):
                rows = (starts[2][yi], starts[2][yi + 1])
                for xi in range(len(chunks[3])):
                    cols = (starts[3][xi], starts[3][xi + 1])
                    read = ChunkRead(rows, cols, bands, spec, dtype)
                    dsk[(name, ti, bi, yi, xi)] = (read_stack_chunk, keys, read)
    return dsk


def open_stack(  # noqa: PLR0913 - the documented options
    paths: Sequence[str],
    *,
    store: Any = None,
    dim: str = "time",
    coords: Sequence[Any] | npt.ArrayLike | None = None,
    chunks: Chunks = None,
    overview_level: int | None = None,
    masked: bool = False,
    mask_and_scale: bool = False,
    open_options: dict[str, Any] | None = None,
) -> xr.DataArray:
    """Open files on one grid as one lazy ``(dim, band, y, x)`` dask-backed DataArray.

    Headers are fetched concurrently under the process's limiter; the graph
    carries each file's header, so dask workers never fetch it again.

    Args:
        paths: Local paths or URLs (``s3://``, ``gs://``, ``az://``,
            ``https://``), or paths in ``store``.
        store: An obstore store holding all the paths.
        dim: Name of the stacking dimension.
        coords: Its coordinate values (default ``0..n-1``).
        chunks: Dask chunks: None or ``"auto"`` (one file per chunk, bands as
            stored, ``y``/``x`` multiples of the internal tiles), an int (pixels
            along ``y`` and ``x``), a tuple, or a dict by dimension name
            (``{"time": -1, "y": 512}`` for chunks that span the stack).
        overview_level: Read an overview instead of the full-resolution images.
        masked: Invalid pixels become NaN (as rioxarray's ``masked``).
        mask_and_scale: Masked, and scales and offsets applied.
        open_options: More keyword arguments of `GeoTIFF.open`.

    Returns:
        The stack, with rioxarray's coords and attrs (``spatial_ref``...).

    Raises:
        InvalidArgumentError: No paths, or a file whose size, band count,
            dtype, transform or CRS differs from the first file's (named).
        GeoTIFFError: The first file that fails to open.
    """
    if not paths:
        raise InvalidArgumentError("", "open_stack needs at least one path")
    locations = [resolve(p, store) for p in paths]
    opened = open_files(locations, overview_level=overview_level, options=open_options)
    rasters = [
        tif if overview_level is None else tif.overviews[overview_level] for tif, _ in opened
    ]
    for path, raster in zip(paths[1:], rasters[1:], strict=True):
        _check_same_grid(paths[0], rasters[0], path, raster)
    tif0 = opened[0][0]
    layout = layout_of(
        tif0, rasters[0], masked=masked, mask_and_scale=mask_and_scale, source=paths[0]
    )
    handles = [h for _, h in opened]
    normalized = _normalize_chunks(chunks, layout, len(paths))
    spec = ReadSpec(masked=masked or mask_and_scale, scaled=mask_and_scale)
    name = "open_stack-" + tokenize(
        [(h.store.blob, h.path, h.options, h.overview_level) for h in handles], normalized, spec
    )
    graph = HighLevelGraph.from_collections(
        name, _graph(name, handles, normalized, spec, layout.dtype)
    )
    array = da.Array(graph, name, normalized, dtype=layout.dtype)  # type: ignore[no-untyped-call]
    stack_coords: dict[Hashable, Any] = dict(layout.coords.items())
    stack_coords[dim] = (dim, np.arange(len(paths)) if coords is None else np.asarray(coords))
    result = xr.DataArray(
        array, dims=(dim, "band", "y", "x"), coords=stack_coords, attrs=dict(layout.attrs)
    )
    result.name = None  # not the dask key
    result.encoding = dict(layout.encoding)
    return result
