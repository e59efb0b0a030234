"""The sub-commands: each is ``async def cmd_x(args, ctx)``, run by `app.main` under trio."""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.resources
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, Any, Final

import numpy as np
import trio

from trio_geotiff import __version__
from trio_geotiff._geotiff import GeoTIFF
from trio_geotiff._window import Window

from .context import CLIError, Context
from .info import Level, crs_string, describe, format_info, format_tiles
from .progress import Progress, fmt_bytes
from .render import choose_preview_level, colormap_for, render_rgba, require_pillow, write_png
from .stores import Location, resolve

__all__ = [
    "DEFAULT_MAX_SIZE",
    "SAMPLE_NAME",
    "SAMPLE_PREVIEW",
    "cmd_info",
    "cmd_preview",
    "cmd_read",
    "cmd_sample",
    "cmd_tiles",
]

SAMPLE_NAME: Final = "sample_cog.tif"
SAMPLE_PREVIEW: Final = "sample_preview.png"
DEFAULT_MAX_SIZE: Final = 1024


def _location(args: argparse.Namespace, path: str | None = None) -> Location:
    return resolve(
        path if path is not None else args.path,
        no_sign_request=args.no_sign_request,
        region=args.region,
        endpoint_url=args.endpoint_url,
    )


async def _open(where: Location, *, sidecars: bool = False) -> GeoTIFF:
    return await GeoTIFF.open(where.path, store=where.store, sidecars=sidecars)


def _pick_level(tif: GeoTIFF, overview: int | None, display: str) -> Level:
    """The full image (``overview`` None) or ``tif.overviews[overview]``."""
    if overview is None:
        return tif
    n = len(tif.overviews)
    if not 0 <= overview < n:
        have = f"0..{n - 1}" if n else "none: the file has no overviews"
        raise CLIError(f"{display}: overview {overview} does not exist ({have})")
    return tif.overviews[overview]


def _level_name(level: Level, tif: GeoTIFF) -> str:
    if level is tif:
        return "full resolution"
    return f"overview {tif.overviews.index(level)}"


async def cmd_info(args: argparse.Namespace, ctx: Context) -> None:
    """``info``: print the metadata."""
    where = _location(args)
    tif = await _open(where, sidecars=args.sidecars)
    if args.json:
        ctx.out(json.dumps(describe(tif), indent=args.indent, sort_keys=True))
    else:
        ctx.out(format_info(tif, where.display))


def _window_for(args: argparse.Namespace, level: Level) -> Window | None:
    if args.window is not None:
        col, row, width, height = args.window
        if width <= 0 or height <= 0:
            raise CLIError(f"--window: width and height must be positive, got {width} x {height}")
        return Window(col, row, width, height)
    if args.bounds is not None:
        left, bottom, right, top = args.bounds
        if not (left < right and bottom < top):
            raise CLIError(
                "--bounds: expected LEFT BOTTOM RIGHT TOP with left < right and bottom < top"
            )
        try:
            window = Window.from_bounds(left, bottom, right, top, level.transform)
        except ValueError as exc:
            raise CLIError(f"--bounds: {exc}") from exc
        if window.width == 0 or window.height == 0:
            raise CLIError("--bounds: the bounds cover no pixel")
        return window
    return None


def _save(out: Path, write: Callable[[], object]) -> None:
    try:
        write()
    except OSError as exc:
        raise CLIError(f"{out}: cannot write: {exc.strerror or exc}") from exc


async def cmd_read(args: argparse.Namespace, ctx: Context) -> None:
    """``read``: a window of some bands, to .npy, .npz or .png."""
    out = Path(args.output)
    suffix = out.suffix.lower()
    if suffix not in (".npy", ".npz", ".png"):
        raise CLIError(f"{out}: the output must end in .npy, .npz or .png")
    if suffix == ".png":
        require_pillow()  # fail before reading when Pillow is missing
    where = _location(args)
    tif = await _open(where, sidecars=args.sidecars)
    level = _pick_level(tif, args.overview, where.display)
    window = _window_for(args, level)
    shown = window or Window(0, 0, level.width, level.height)
    label = f"reading {_level_name(level, tif)}, {shown.width}x{shown.height} pixels"
    arr = await Progress(ctx.stderr, label, tif).track(
        functools.partial(level.read, window=window, indexes=args.bands, boundless=args.boundless)
    )
    if suffix == ".npy":
        _save(out, functools.partial(np.save, out, arr.data))
    elif suffix == ".npz":
        extra: dict[str, Any] = {} if arr.mask is None else {"mask": arr.mask}
        transform = np.array(list(arr.transform)[:6])
        crs = np.array(crs_string(arr.crs) or "")
        _save(
            out,
            functools.partial(
                np.savez_compressed, out, data=arr.data, transform=transform, crs=crs, **extra
            ),
        )
    else:
        bands = args.bands or list(tif.indexes)
        colorinterp = [tif.colorinterp[b - 1] for b in bands]
        write_png(out, render_rgba(arr, colorinterp, colormap_for(tif, bands), stretch=False))
    mask_note = "" if arr.mask is None else f", {int(arr.mask.sum())} valid pixels"
    ctx.out(
        f"wrote {out}: {arr.count} band(s) x {arr.height} x {arr.width} {arr.data.dtype}"
        f" from {_level_name(level, tif)}{mask_note}"
    )


async def _render_preview(
    tif: GeoTIFF, out: Path, max_size: int, stderr: IO[str]
) -> tuple[Level, tuple[int, int]]:
    """Read the best level for a ``max_size`` preview and write it as PNG."""
    require_pillow()
    level = choose_preview_level(tif, max_size)
    label = f"reading {_level_name(level, tif)} ({level.width}x{level.height})"
    arr = await Progress(stderr, label, tif).track(functools.partial(level.read, masked=True))
    rgba = render_rgba(arr, tif.colorinterp, colormap_for(tif, tif.indexes), stretch=True)
    return level, write_png(out, rgba, max_size=max_size)


async def cmd_preview(args: argparse.Namespace, ctx: Context) -> None:
    """``preview``: a stretched, mask-aware PNG from the best-fitting overview."""
    out = Path(args.output)
    if out.suffix.lower() != ".png":
        raise CLIError(f"{out}: the preview is a PNG; name it *.png")
    if args.max_size < 1:
        raise CLIError(f"--max-size must be positive, got {args.max_size}")
    require_pillow()
    tif = await _open(_location(args), sidecars=args.sidecars)
    level, (width, height) = await _render_preview(tif, out, args.max_size, ctx.stderr)
    ctx.out(
        f"wrote {out}: {width} x {height} PNG"
        f" from {_level_name(level, tif)} ({level.width}x{level.height})"
    )


async def cmd_tiles(args: argparse.Namespace, ctx: Context) -> None:
    """``tiles``: the internal block grid, per level."""
    where = _location(args)
    tif = await _open(where, sidecars=args.sidecars)
    if args.overview is None:
        levels: list[tuple[str, Level]] = [("full", tif)]
        levels += [(f"overview {i}", ov) for i, ov in enumerate(tif.overviews)]
    else:
        levels = [(f"overview {args.overview}", _pick_level(tif, args.overview, where.display))]
    text, rows = format_tiles(tif, levels)
    ctx.out(json.dumps(rows, indent=args.indent) if args.json else text)


@contextlib.asynccontextmanager
async def _sample_path() -> AsyncIterator[Path]:
    resource = importlib.resources.files("trio_geotiff") / "data" / SAMPLE_NAME
    if not resource.is_file():
        raise CLIError(f"the bundled sample {SAMPLE_NAME} is missing from this installation")
    with importlib.resources.as_file(resource) as path:
        yield Path(path)


async def cmd_sample(args: argparse.Namespace, ctx: Context) -> None:
    """``sample``: the bundled sample COG's info and a preview PNG in the current directory."""
    async with _sample_path() as path:
        where = _location(args, str(path))._replace(
            display=f"{SAMPLE_NAME} (bundled with trio_geotiff)"
        )
        t0 = trio.current_time()
        tif = await _open(where)
        opened = trio.current_time() - t0
        ctx.out(
            f"trio_geotiff {__version__}: the bundled sample,"
            " a Landsat 7 scene as a Cloud-Optimized GeoTIFF"
        )
        ctx.out(f"(opened in {opened * 1000:.0f} ms with {tif.statistics().requests} request)")
        ctx.out()
        ctx.out(format_info(tif, where.display))
        ctx.out()
        out = Path(args.output)
        t0 = trio.current_time()
        level, (width, height) = await _render_preview(tif, out, args.max_size, ctx.stderr)
        took = trio.current_time() - t0
        stats = tif.statistics()
        ctx.out(
            f"Read the {_level_name(level, tif)} image ({level.width} x {level.height})"
            f" in {took * 1000:.0f} ms:"
            f" {stats.blocks_decoded} blocks decoded, {fmt_bytes(stats.bytes_fetched)} fetched"
            f" in {stats.requests} requests."
        )
        ctx.out(
            f"Wrote {out} ({width} x {height}, transparent where nodata):"
            " open it in an image viewer."
        )
        ctx.out()
        ctx.out(
            "Next: trio-geotiff info PATH_OR_URL   (local files, s3://, gs://, az://, https://)"
        )
        ctx.out("      trio-geotiff --help             (read, preview, tiles)")
