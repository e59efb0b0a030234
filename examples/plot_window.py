"""Read a window of a Sentinel-2-like COG and plot it as a true-colour PNG.

The input is either one multi-band file (pick red, green and blue with
``--bands``) or three single-band files given in the order red, green, blue,
as Sentinel-2 COGs are published (``B04.tif B03.tif B02.tif``). Each input is
a local path or a URL (``https://...``, ``s3://...``). Without an input, the
bundled sample (a small 3-band Landsat COG) is used, so this runs offline.

The pixels are read with trio_geotiff inside ``trio.run``; the plotting
happens afterwards, in ordinary synchronous code, with matplotlib's Agg
(non-interactive) renderer:

- each band gets a percentile stretch (2-98 % by default) computed over the
  valid pixels only;
- the read's mask becomes the alpha channel, so nodata is transparent in the
  PNG;
- the axes are labelled in CRS coordinates, from the window's transform.

Examples::

    python examples/plot_window.py                              # bundled sample
    python examples/make_stack.py /tmp/s2 --separate-bands --dates 1
    python examples/plot_window.py /tmp/s2/S2_T33UUU_20240305_B0{4,3,2}.tif -o s2.png
    python examples/plot_window.py https://sentinel-cogs.s3.us-west-2.amazonaws.com/\\
sentinel-s2-l2a-cogs/36/Q/WD/2020/7/S2A_36QWD_20200701_0_L2A/TCI.tif --overview 2
"""

from __future__ import annotations

import argparse
import functools
import importlib.resources
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import obstore.store
import trio
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from trio_geotiff import Array, GeoTIFF, Window


def store_and_path(location: str) -> tuple[Any, str]:
    """An obstore store for a local path or URL, and the object's path in it."""
    if "://" in location and not location.startswith("file://"):
        # s3://bucket/dir/x.tif, https://host/dir/x.tif, ...: a store for the
        # directory (credentials, if any, come from the environment).
        directory, _, name = location.rpartition("/")
        return obstore.store.from_url(directory + "/"), name
    path = Path(location.removeprefix("file://")).expanduser().resolve()
    return obstore.store.LocalStore(str(path.parent)), path.name


async def read_rgb(
    locations: Sequence[str],
    *,
    bands: Sequence[int] = (1, 2, 3),
    overview: int | None = None,
    window: Window | None = None,
) -> tuple[np.ndarray, np.ndarray, Array]:
    """Read red, green and blue for one window.

    Returns:
        ``(rgb, valid, first)``: the pixels ``(3, height, width)``, the
        validity mask ``(height, width)`` (True where every input is valid),
        and the first input's `Array` (for its transform and CRS).
    """
    if len(locations) not in (1, 3):
        raise ValueError("give one multi-band file or three single-band files (R, G, B)")

    # Open every input at once: with a COG, each open is a single request.
    tifs: list[GeoTIFF | None] = [None] * len(locations)

    async def open_one(i: int) -> None:
        store, path = store_and_path(locations[i])
        tifs[i] = await GeoTIFF.open(path, store=store)

    async with trio.open_nursery() as nursery:
        for i in range(len(locations)):
            nursery.start_soon(open_one, i)
    opened = [t for t in tifs if t is not None]

    # The full image or one of its overviews (0 = finest). Overviews read
    # exactly like the full image, on their own (coarser) pixel grid.
    levels = [t if overview is None else t.overviews[overview] for t in opened]
    first = levels[0]
    if window is None:
        # Default: up to 512x512 pixels from the middle of the image.
        width, height = min(first.width, 512), min(first.height, 512)
        window = Window((first.width - width) // 2, (first.height - height) // 2, width, height)

    # One band from each of three files, or three bands from one file. All
    # reads run concurrently; masked=True always gives a mask (all True when
    # the file has no nodata value, mask or alpha band).
    arrays: list[Array | None] = [None] * len(levels)

    async def read_one(i: int) -> None:
        indexes = list(bands) if len(levels) == 1 else [1]
        arrays[i] = await levels[i].read(window=window, indexes=indexes, masked=True)

    async with trio.open_nursery() as nursery:
        for i in range(len(levels)):
            nursery.start_soon(read_one, i)
    got = [a for a in arrays if a is not None]

    rgb = np.concatenate([a.data for a in got])
    # A pixel is valid when it is valid in every input (masked=True: never None).
    valid = np.logical_and.reduce([a.mask for a in got if a.mask is not None])
    return rgb, valid, got[0]


def stretch(band: np.ndarray, valid: np.ndarray, percentiles: tuple[float, float]) -> np.ndarray:
    """Scale a band to 0..1 between two percentiles of its valid pixels."""
    if not valid.any():
        return np.zeros(band.shape, dtype=np.float32)
    lo, hi = np.percentile(band[valid], percentiles)
    scaled = (band.astype(np.float32) - lo) / max(hi - lo, 1e-12)
    return np.asarray(np.clip(scaled, 0.0, 1.0))


def plot(
    rgb: np.ndarray,
    valid: np.ndarray,
    arr: Array,
    output: Path,
    *,
    size: tuple[int, int] = (800, 800),
    dpi: int = 100,
    percentiles: tuple[float, float] = (2.0, 98.0),
    title: str = "",
) -> None:
    """Save a true-colour PNG of ``size`` pixels; invalid pixels are transparent."""
    rgba = np.empty((*valid.shape, 4), dtype=np.float32)
    for i in range(3):
        rgba[..., i] = stretch(rgb[i], valid, percentiles)
    rgba[..., 3] = valid  # alpha: 1 where valid, 0 where masked

    # The object-oriented API with the Agg canvas: no pyplot, no global state,
    # no GUI backend, safe in scripts and servers alike.
    fig = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    left, bottom, right, top = arr.bounds
    ax.imshow(rgba, extent=(left, right, bottom, top), interpolation="nearest")
    ax.set_title(title, fontsize=9)
    crs = arr.crs.to_string() if arr.crs is not None else "no CRS"
    ax.set_xlabel(f"x ({crs})")
    ax.set_ylabel("y")
    ax.ticklabel_format(style="plain", useOffset=False)
    ax.tick_params(labelsize=7)
    # transparent=True: no figure or axes background, so masked pixels stay
    # see-through. No bbox_inches="tight", so the PNG is exactly `size`.
    fig.savefig(output, dpi=dpi, transparent=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "inputs", nargs="*", help="one multi-band file, or three single-band files (R G B)"
    )
    parser.add_argument("--bands", type=int, nargs=3, default=[1, 2, 3], metavar=("R", "G", "B"))
    parser.add_argument("--overview", type=int, help="read overview N (0 = finest) instead")
    parser.add_argument(
        "--window",
        type=int,
        nargs=4,
        metavar=("COL", "ROW", "WIDTH", "HEIGHT"),
        help="pixel window of the level read (default: 512x512 in the middle)",
    )
    parser.add_argument("--percentiles", type=float, nargs=2, default=[2.0, 98.0])
    parser.add_argument("--size", type=int, nargs=2, default=[800, 800], metavar=("W", "H"))
    parser.add_argument("-o", "--output", type=Path, default=Path("true_colour.png"))
    args = parser.parse_args(argv)

    window = Window(*args.window) if args.window else None
    with importlib.resources.as_file(
        importlib.resources.files("trio_geotiff") / "data" / "sample_cog.tif"
    ) as sample:
        inputs = args.inputs or [str(sample)]
        rgb, valid, arr = trio.run(
            functools.partial(
                read_rgb, inputs, bands=args.bands, overview=args.overview, window=window
            )
        )

    level = "full resolution" if args.overview is None else f"overview {args.overview}"
    title = f"{Path(inputs[0]).name} ({level}), {arr.width}x{arr.height} px"
    plot(
        rgb,
        valid,
        arr,
        args.output,
        size=tuple(args.size),
        percentiles=tuple(args.percentiles),
        title=title,
    )
    print(
        f"read {arr.width}x{arr.height} px, {valid.mean():.1%} valid;"
        f" wrote {args.output} ({args.size[0]}x{args.size[1]} px)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
