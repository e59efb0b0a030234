"""The argument parser: one builder per sub-command, sharing the source and remote options."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeAlias

from trio_geotiff import __version__

from .commands import (
    DEFAULT_MAX_SIZE,
    SAMPLE_PREVIEW,
    cmd_info,
    cmd_preview,
    cmd_read,
    cmd_sample,
    cmd_tiles,
)
from .context import PROG

__all__ = ["build_parser", "parse_bands"]

# ``add_parser`` of the sub-commands' action: (name, **options) -> the new parser.
_AddParser: TypeAlias = Callable[..., argparse.ArgumentParser]


def parse_bands(text: str) -> list[int]:
    """``--bands``: "3,1" -> [3, 1] (1-based; checked against the file later)."""
    try:
        bands = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bands must be a comma-separated list of integers, got {text!r}"
        ) from None
    if not bands:
        raise argparse.ArgumentTypeError("bands is empty")
    return bands


def _source_options() -> argparse.ArgumentParser:
    source = argparse.ArgumentParser(add_help=False)
    source.add_argument(
        "path",
        metavar="PATH_OR_URL",
        help="a local path, or s3://bucket/key, gs://bucket/key, az://container/key,"
        " abfs://..., https://...",
    )
    source.add_argument(
        "--no-sign-request",
        action="store_true",
        help="send unsigned requests (public buckets on S3, GCS and Azure)",
    )
    source.add_argument(
        "--region", help="the S3 bucket's region (default: AWS_REGION or AWS_DEFAULT_REGION)"
    )
    source.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="an S3-compatible endpoint (MinIO, R2...) for s3:// URLs (default: AWS_ENDPOINT_URL)",
    )
    source.add_argument(
        "--sidecars",
        action="store_true",
        help="also read GDAL sidecars: PATH.ovr, PATH.msk and PATH.aux.xml",
    )
    return source


def _json_options() -> argparse.ArgumentParser:
    json_opts = argparse.ArgumentParser(add_help=False)
    json_opts.add_argument(
        "--json", action="store_true", help="print one JSON object instead of text"
    )
    json_opts.add_argument("--indent", type=int, default=None, help="indent the JSON output")
    return json_opts


def _add_info(add: _AddParser, source: argparse.ArgumentParser) -> None:
    p = add(
        "info",
        parents=[source, _json_options()],
        help="print metadata",
        description="Print size, CRS, transform, bounds, layout, overviews, mask, bands and tags."
        " With --json, one JSON object keyed like 'rio info'.",
    )
    p.set_defaults(func=cmd_info)


def _add_read(add: _AddParser, source: argparse.ArgumentParser) -> None:
    p = add(
        "read",
        parents=[source],
        help="read a window to .npy, .npz or .png",
        description="Read a window (default: everything) of some bands of the image or of one"
        " overview and save it: .npy (the (bands, rows, cols) array), .npz (data, mask,"
        " transform, crs) or .png (8-bit display rendering; needs Pillow).",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--window",
        nargs=4,
        type=int,
        metavar=("COL", "ROW", "WIDTH", "HEIGHT"),
        help="pixel window (in the chosen level's pixels)",
    )
    where.add_argument(
        "--bounds",
        nargs=4,
        type=float,
        metavar=("LEFT", "BOTTOM", "RIGHT", "TOP"),
        help="bounds in the file's CRS (the pixels covering them are read)",
    )
    p.add_argument(
        "--bands", type=parse_bands, help="1-based band indexes, comma-separated (default: all)"
    )
    p.add_argument(
        "--overview", type=int, metavar="N", help="read overview N (0 is the finest) instead"
    )
    p.add_argument(
        "--boundless", action="store_true", help="allow windows that cross the image's edges"
    )
    p.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="OUT.npy, OUT.npz or OUT.png"
    )
    p.set_defaults(func=cmd_read)


def _add_preview(add: _AddParser, source: argparse.ArgumentParser) -> None:
    p = add(
        "preview",
        parents=[source],
        help="write a PNG preview",
        description="Read the coarsest level that is at least --max-size pixels across (the full"
        " image when it is smaller), apply the colormap of a palette image or a 2-98%% stretch"
        " per band, make masked pixels transparent and write a PNG no larger than --max-size.",
    )
    p.add_argument("-o", "--output", required=True, metavar="OUT.png", help="the PNG to write")
    _add_max_size(p)
    p.set_defaults(func=cmd_preview)


def _add_tiles(add: _AddParser, source: argparse.ArgumentParser) -> None:
    p = add(
        "tiles",
        parents=[source, _json_options()],
        help="show the internal block grid",
        description="Show block size and blocks across/down of the image and each overview.",
    )
    p.add_argument("--overview", type=int, metavar="N", help="only overview N (0 is the finest)")
    p.set_defaults(func=cmd_tiles)


def _add_sample(add: _AddParser, name: str, help_text: str) -> None:
    p = add(
        name,
        help=help_text,
        description="Print the bundled sample COG's metadata"
        " and write a preview PNG in the current directory.",
    )
    p.add_argument(
        "-o",
        "--output",
        default=SAMPLE_PREVIEW,
        help=f"the PNG to write (default {SAMPLE_PREVIEW})",
    )
    _add_max_size(p)
    p.set_defaults(
        func=cmd_sample, no_sign_request=False, region=None, endpoint_url=None, sidecars=False
    )


def _add_max_size(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-size",
        type=int,
        default=DEFAULT_MAX_SIZE,
        help=f"longest side in pixels (default {DEFAULT_MAX_SIZE})",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``trio-geotiff`` command."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Inspect, read and preview GeoTIFFs and COGs"
        " (local files or object-store URLs).",
        epilog="Run 'trio-geotiff sample' for a first look. Docs: see the project's docs/ site.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    source = _source_options()
    _add_info(sub.add_parser, source)
    _add_read(sub.add_parser, source)
    _add_preview(sub.add_parser, source)
    _add_tiles(sub.add_parser, source)
    _add_sample(
        sub.add_parser, "sample", "show the bundled sample COG and write sample_preview.png"
    )
    _add_sample(sub.add_parser, "demo", "same as sample")
    return parser
