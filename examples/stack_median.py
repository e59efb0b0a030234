"""A cloud-free composite: the per-pixel median over time of a stack, on a dask cluster.

`trio_geotiff.xarray.open_stack` opens every file's header concurrently and
returns one lazy ``(time, band, y, x)`` array; each dask worker reads its
chunks with trio_geotiff (one event loop, one limiter and one HTTP client per
worker process, no header fetched twice). Nodata becomes NaN
(``mask_and_scale=True``), so the median of a pixel only uses the dates where
it is valid. Chunks span the whole time axis, as a median over time needs.

The input is a local directory (every ``*.tif`` in it, in name order) or a
list of files or URLs (``https://...``, ``s3://...``). Make a stack with::

    python examples/make_stack.py /tmp/s2 --dates 12
    python examples/stack_median.py /tmp/s2 --output median.npy

``--workers 0`` runs on dask's threaded scheduler instead of a `LocalCluster`;
``--scheduler tcp://host:8786`` uses an existing cluster (the code is the same).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from distributed import Client, LocalCluster

from trio_geotiff.xarray import open_stack


def inputs(locations: Sequence[str]) -> list[str]:
    """Every ``*.tif`` of a directory (in name order), or the locations as given."""
    if len(locations) == 1 and Path(locations[0]).is_dir():
        found = sorted(str(p.resolve()) for p in Path(locations[0]).glob("*.tif"))
        if not found:
            raise SystemExit(f"{locations[0]}: no .tif files")
        return found
    return list(locations)


def median_composite(paths: Sequence[str], *, rows_per_chunk: int = 256) -> Any:
    """The lazy median over time (an xarray DataArray ``(band, y, x)``, float)."""
    stack = open_stack(
        paths,
        mask_and_scale=True,
        chunks={"time": -1, "y": rows_per_chunk, "x": -1},
    )
    return stack.median("time", skipna=True)


def run(paths: Sequence[str], *, workers: int, scheduler: str | None) -> np.ndarray:
    """Compute the composite on a cluster (or the threaded scheduler when workers is 0)."""
    composite = median_composite(paths)
    if scheduler is None and workers == 0:
        return np.asarray(composite.compute(scheduler="threads").values)
    if scheduler is not None:
        with Client(scheduler) as client:
            return np.asarray(client.compute(composite).result().values)
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        return np.asarray(client.compute(composite).result().values)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", help="a directory of COGs, or files/URLs")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    parser.add_argument("--scheduler", help="address of an existing dask scheduler")
    parser.add_argument("--output", type=Path, help="save the composite as .npy")
    args = parser.parse_args(argv)
    paths = inputs(args.inputs)
    t0 = time.perf_counter()
    result = run(paths, workers=args.workers, scheduler=args.scheduler)
    elapsed = time.perf_counter() - t0
    print(f"median of {len(paths)} files: {result.shape} {result.dtype} in {elapsed:.2f} s")
    print(f"valid pixels: {np.isfinite(result).mean():.1%}")
    if args.output is not None:
        np.save(args.output, result)
        print(f"saved {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
