"""Read the same bounds from a time series of GeoTIFFs and take a per-pixel median.

A typical "stack" job: many acquisitions of one place, one window from each,
combined per pixel. A per-pixel median over time drops clouds and fills the
gaps where a date has no data. Here:

- `open_many` opens every file concurrently, and `read_many` reads the same
  *bounds* (CRS coordinates, turned into each file's own window) from all of
  them concurrently;
- one `trio.CapacityLimiter`, shared by all the files, bounds the requests and
  decodes in flight for the whole job, however many files there are;
- nodata (and any mask) is respected: the median of a pixel only uses the
  dates where it is valid.

The input is a local directory (every ``*.tif`` in it, in name order) or a
list of files or URLs in one directory (``https://...``, ``s3://...``).
Without an input the bundled sample is used as a stack of one, which runs
offline but is not much of a time series; make a real one with::

    python examples/make_stack.py /tmp/s2
    python examples/many_files.py /tmp/s2 --band 1 --output median.npz
"""

from __future__ import annotations

import argparse
import functools
import importlib.resources
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import obstore.store
import trio

from trio_geotiff import open_many, read_many


def store_and_paths(locations: Sequence[str]) -> tuple[Any, list[str]]:
    """One obstore store for the inputs' directory, and their paths in it."""
    if len(locations) == 1 and Path(locations[0]).is_dir():
        directory = Path(locations[0]).resolve()
        names = sorted(p.name for p in directory.glob("*.tif"))
        if not names:
            raise SystemExit(f"{directory}: no .tif files")
        return obstore.store.LocalStore(str(directory)), names
    parents = {loc.rpartition("/")[0] if "://" in loc else "" for loc in locations}
    if len(parents) != 1:
        raise SystemExit("the files must all be in one directory (one store)")
    if "://" in locations[0]:
        # s3://bucket/dir/, https://host/dir/, ...: credentials come from the environment.
        return obstore.store.from_url(parents.pop() + "/"), [
            loc.rpartition("/")[2] for loc in locations
        ]
    paths = [Path(loc).resolve() for loc in locations]
    if len({p.parent for p in paths}) != 1:
        raise SystemExit("the files must all be in one directory (one store)")
    return obstore.store.LocalStore(str(paths[0].parent)), [p.name for p in paths]


async def median_of_stack(
    store: Any,
    paths: Sequence[str],
    *,
    bounds: tuple[float, float, float, float] | None = None,
    band: int | None = None,
    concurrency: int = 8,
) -> tuple[np.ma.MaskedArray, tuple[float, float, float, float], list[float]]:
    """The per-pixel median over time of ``bounds`` in every file.

    Args:
        store: The obstore store holding the files.
        paths: The files, one per date.
        bounds: ``(left, bottom, right, top)`` in the files' CRS (default: the
            middle half of the first file).
        band: Read only this 1-based band (default: all bands).
        concurrency: Requests and decodes in flight, across all files.

    Returns:
        ``(median, bounds, valid_fraction)``: the median as a masked array
        ``(bands, height, width)`` (masked where no date is valid), the bounds
        read, and the fraction of valid pixels in each date.
    """
    # One limiter for the whole stack: at most `concurrency` requests or
    # decodes run at once, whether the stack has 5 files or 500.
    limiter = trio.CapacityLimiter(concurrency)
    files = await open_many(paths, store=store, limiter=limiter)

    if bounds is None:
        left, bottom, right, top = files[0].bounds
        dx, dy = (right - left) / 4, (top - bottom) / 4
        bounds = (left + dx, bottom + dy, right - dx, top - dy)

    # The same bounds from every file. boundless=True: a file that does not
    # cover all of the bounds gives masked fill there instead of an error.
    arrays = await read_many(files, bounds=bounds, indexes=[band] if band else None, boundless=True)
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise SystemExit(f"the files are on different pixel grids: {sorted(shapes)}")

    # as_masked() applies each date's mask to all its bands; numpy's masked
    # median then skips the invalid dates of each pixel.
    stack = np.ma.stack([a.as_masked() for a in arrays])  # (dates, bands, height, width)
    valid = [float(a.mask.mean()) if a.mask is not None else 1.0 for a in arrays]
    return np.ma.median(stack, axis=0), bounds, valid


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="*", help="a directory, or files/URLs in one directory")
    parser.add_argument("--bounds", type=float, nargs=4, metavar=("LEFT", "BOTTOM", "RIGHT", "TOP"))
    parser.add_argument("--band", type=int, help="read only this band (default: all)")
    parser.add_argument("--concurrency", type=int, default=8, help="shared limit (default 8)")
    parser.add_argument("-o", "--output", type=Path, help="save the median to this .npz file")
    args = parser.parse_args(argv)

    with importlib.resources.as_file(
        importlib.resources.files("trio_geotiff") / "data" / "sample_cog.tif"
    ) as sample:
        store, paths = store_and_paths(args.inputs or [str(sample)])
        start = time.perf_counter()
        median, bounds, valid = trio.run(
            functools.partial(
                median_of_stack,
                store,
                paths,
                bounds=tuple(args.bounds) if args.bounds else None,
                band=args.band,
                concurrency=args.concurrency,
            )
        )
        elapsed = time.perf_counter() - start

    bands, height, width = median.shape
    print(f"{len(paths)} file(s), bounds {tuple(round(b, 3) for b in bounds)}")
    print(f"window {width}x{height} px, {bands} band(s), read in {elapsed:.2f} s")
    for path, fraction in zip(paths, valid, strict=True):
        print(f"  {path}: {fraction:.1%} valid")
    gaps = int(np.ma.getmaskarray(median)[0].sum())
    print(f"pixels with no valid date: {gaps} of {width * height}")
    for b in range(bands):
        m = median[b]
        print(f"median band {b + 1}: min {m.min():.1f}  mean {m.mean():.1f}  max {m.max():.1f}")
    if args.output:
        # .npz: the median (masked pixels filled with 0) and its validity.
        np.savez(args.output, median=median.filled(0), valid=~np.ma.getmaskarray(median))
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
