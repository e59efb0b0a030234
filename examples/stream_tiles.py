"""Stream every tile of an image and build a histogram in bounded memory.

`open_tile_stream` yields the image's internal tiles one by one, as
``((x, y), Array)`` pairs, while reading a few tiles ahead (``--batch``). The
reader waits when the consumer falls behind, so however large the image, at
most about two batches of tiles are in memory: the one being handed out and
the one being read. Here the consumer folds each tile into a running
histogram (fixed bins, so its size does not grow either) and drops the tile.

Leaving the ``async with`` early, as ``--max-tiles`` does, cancels the reads
still in flight: nothing keeps reading in the background.

The input is a local path or a URL (``https://...``, ``s3://...``); without
one, the bundled sample is used. Examples::

    python examples/stream_tiles.py                        # bundled sample
    python examples/stream_tiles.py /tmp/s2/S2_T33UUU_20240305.tif --bins 20
    python examples/stream_tiles.py scene.tif --overview 0 --max-tiles 10
"""

from __future__ import annotations

import argparse
import functools
import importlib.resources
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import obstore.store
import trio

from trio_geotiff import Array, GeoTIFF


def store_and_path(location: str) -> tuple[Any, str]:
    """An obstore store for a local path or URL, and the object's path in it."""
    if "://" in location and not location.startswith("file://"):
        # s3://bucket/dir/x.tif, https://host/dir/x.tif, ...: a store for the
        # directory (credentials, if any, come from the environment).
        directory, _, name = location.rpartition("/")
        return obstore.store.from_url(directory + "/"), name
    path = Path(location.removeprefix("file://")).expanduser().resolve()
    return obstore.store.LocalStore(str(path.parent)), path.name


@attrs.define
class RunningHistogram:
    """Per-band counts over fixed bins; memory is ``bands x bins`` whatever the image size."""

    edges: np.ndarray
    """Bin edges (``bins + 1`` values), shared by every band."""
    counts: np.ndarray
    """``(bands, bins)`` counts of valid pixels inside the edges."""
    outside: np.ndarray
    """``(bands,)`` valid pixels below or above the edges."""
    masked: int = 0
    """Pixels that are not valid (nodata, mask), in every band."""
    pixels: int = 0
    """Pixels seen (valid or not), per band."""
    tiles: int = 0
    """Tiles folded in."""

    @classmethod
    def empty(cls, bands: int, bins: int, lo: float, hi: float) -> RunningHistogram:
        edges = np.linspace(lo, hi, bins + 1)
        return cls(edges, np.zeros((bands, bins), np.int64), np.zeros(bands, np.int64))

    def add(self, arr: Array) -> None:
        """Fold one tile in (then the tile can be dropped)."""
        valid = arr.mask if arr.mask is not None else np.ones(arr.data.shape[1:], dtype=bool)
        for b in range(arr.count):
            values = arr.data[b][valid]
            counts, _ = np.histogram(values, bins=self.edges)
            self.counts[b] += counts
            self.outside[b] += values.size - counts.sum()
        self.masked += int(valid.size - valid.sum())
        self.pixels += valid.size
        self.tiles += 1

    def percentile(self, band: int, q: float) -> float:
        """The lower edge of the bin holding percentile ``q`` of one band."""
        cumulative = np.cumsum(self.counts[band])
        if cumulative[-1] == 0:
            return float("nan")
        i = int(np.searchsorted(cumulative, q / 100 * cumulative[-1]))
        return float(self.edges[i])


async def tile_histogram(
    store: Any,
    path: str,
    *,
    overview: int | None = None,
    bins: int | None = None,
    value_range: tuple[float, float] | None = None,
    max_tiles: int | None = None,
    batch: int = 8,
) -> tuple[RunningHistogram, int]:
    """Stream the tiles of ``path`` (or of one of its overviews) into a histogram.

    Returns:
        The histogram and the number of tiles in the image.
    """
    tif = await GeoTIFF.open(path, store=store)
    level = tif if overview is None else tif.overviews[overview]
    across, down = level.tile_count

    is_int = np.issubdtype(tif.dtype, np.integer)
    if value_range is None:
        if not is_int:
            raise SystemExit(f"{path}: {tif.dtype} pixels need --range LO HI")
        info = np.iinfo(tif.dtype)
        value_range = (info.min, info.max + 1)  # every integer value falls in a bin
    if bins is None:
        # 8- and 16-bit integers: one bin per value (at most 65536 bins per
        # band), so the percentiles are exact. Otherwise 256 bins.
        span = int(value_range[1] - value_range[0])
        bins = span if is_int and span <= 2**16 else 256
    hist = RunningHistogram.empty(tif.count, bins, *value_range)

    # Tiles arrive in row order. At most `batch` tiles are read ahead.
    async with level.open_tile_stream(batch=batch) as tiles:
        async for (_x, _y), arr in tiles:
            hist.add(arr)
            if max_tiles is not None and hist.tiles >= max_tiles:
                # Leaving the `async with` now cancels the read-ahead in flight.
                break
    return hist, across * down


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", nargs="?", help="a local path or URL (default: bundled sample)")
    parser.add_argument("--overview", type=int, help="stream overview N (0 = finest) instead")
    parser.add_argument(
        "--bins", type=int, help="number of bins (default: one per value for 8/16-bit data)"
    )
    parser.add_argument(
        "--range", type=float, nargs=2, metavar=("LO", "HI"), help="default: the dtype's range"
    )
    parser.add_argument("--max-tiles", type=int, help="stop after this many tiles")
    parser.add_argument("--batch", type=int, default=8, help="tiles read ahead (default 8)")
    args = parser.parse_args(argv)

    with importlib.resources.as_file(
        importlib.resources.files("trio_geotiff") / "data" / "sample_cog.tif"
    ) as sample:
        store, path = store_and_path(args.input or str(sample))
        hist, total = trio.run(
            functools.partial(
                tile_histogram,
                store,
                path,
                overview=args.overview,
                bins=args.bins,
                value_range=tuple(args.range) if args.range else None,
                max_tiles=args.max_tiles,
                batch=args.batch,
            )
        )

    stopped = " (stopped early)" if hist.tiles < total else ""
    print(f"{path}: {hist.tiles} of {total} tiles{stopped}, {hist.pixels} pixels per band")
    print(f"masked (nodata) pixels: {hist.masked}")
    for b in range(hist.counts.shape[0]):
        p2, p50, p98 = (hist.percentile(b, q) for q in (2, 50, 98))
        print(
            f"band {b + 1}: {hist.counts[b].sum()} valid in range, {hist.outside[b]} outside;"
            f" p2 {p2:g}  median {p50:g}  p98 {p98:g}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
