"""The ``trio-geotiff`` command: inspect, read and preview GeoTIFFs from any store.

Sub-commands (``trio-geotiff COMMAND --help`` for each):

* ``info``: metadata, as text or (``--json``) as one JSON object keyed like ``rio info``.
* ``read``: a window (or bounds) of some bands of an image or overview, to .npy/.npz/.png.
* ``preview``: a stretched, mask-aware RGBA PNG from the best-fitting overview.
* ``tiles``: the internal block grid of every level.
* ``sample``: the bundled sample COG's info and a preview PNG (the "first command").

Every command runs under ``trio.run``. Errors print one line,
``trio-geotiff: error: <message>``, and exit with 1 (2 for usage errors).
Pillow (the ``cli`` extra) is needed only to write PNGs.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import importlib.resources
import json
import math
import os
import sys
import urllib.parse
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, TypeVar

import numpy as np
import numpy.typing as npt
import outcome
import trio

from . import __version__
from ._enums import ColorInterp
from ._geotiff import GeoTIFF, Overview
from ._window import Window
from .errors import GeoTIFFError, ObjectNotFoundError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

    from obstore.store import ClientConfig, RetryConfig

    from ._array import Array

__all__ = ["main"]

PROG: Final = "trio-geotiff"
SAMPLE_NAME: Final = "sample_cog.tif"
SAMPLE_PREVIEW: Final = "sample_preview.png"
DEFAULT_MAX_SIZE: Final = 1024
_REMOTE_SCHEMES: Final = {
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "az": "azure",
    "adl": "azure",
    "azure": "azure",
    "abfs": "azure",
    "abfss": "azure",
    "http": "http",
    "https": "http",
}
_PROGRESS_INTERVAL: Final = 0.1
# Remote stores: obstore's defaults retry for up to 3 minutes; a command fails sooner.
_MAX_RETRIES: Final = 3
_RETRY_TIMEOUT: Final = dt.timedelta(seconds=30)
T = TypeVar("T")

Level = GeoTIFF | Overview


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 1."""


# -- opening -------------------------------------------------------------------


class Target:
    """Where a file is: its obstore store, its path in the store, and how to name it."""

    def __init__(self, store: Any, path: str, display: str) -> None:
        self.store = store
        self.path = path
        self.display = display


def resolve(
    target: str,
    *,
    no_sign_request: bool = False,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> Target:
    """The store and path for a local path or a URL.

    Local paths (and ``file://`` URLs) use a ``LocalStore`` of the file's
    directory; ``s3://``, ``gs://``, ``az://``/``abfs://`` URLs use obstore's
    ``from_url`` on the URL's directory (credentials from the environment);
    ``http(s)://`` URLs use an ``HTTPStore`` of the URL's directory.

    Raises:
        CLIError: No such local file, or a URL this command cannot use.
    """
    from obstore.store import HTTPStore, LocalStore, from_url  # noqa: PLC0415 - keeps --help fast

    parts = urllib.parse.urlsplit(target)
    scheme = parts.scheme.lower()
    # One-letter schemes are Windows drive letters ("C:\\data\\x.tif").
    if scheme in ("", "file") or len(scheme) == 1:
        local = Path(urllib.parse.unquote(parts.path) if scheme == "file" else target).expanduser()
        if not local.exists():
            raise CLIError(f"{target}: no such file")
        if local.is_dir():
            raise CLIError(f"{target}: is a directory, not a file")
        local = local.resolve()
        return Target(LocalStore(str(local.parent)), local.name, target)
    kind = _REMOTE_SCHEMES.get(scheme)
    if kind is None:
        raise CLIError(
            f"{target}: unsupported URL scheme {parts.scheme!r}"
            " (use a local path, s3://, gs://, az://, abfs:// or http(s)://)"
        )
    if parts.query or parts.fragment:
        raise CLIError(f"{target}: URLs with a query string or fragment are not supported")
    directory, _, name = target.rpartition("/")
    if not name or not parts.netloc or directory.endswith(":/"):
        raise CLIError(f"{target}: the URL must name a file (scheme://host-or-bucket/.../file.tif)")
    retry: RetryConfig = {"max_retries": _MAX_RETRIES, "retry_timeout": _RETRY_TIMEOUT}
    store: Any
    try:
        if kind == "http":
            client: ClientConfig = {"allow_http": True} if scheme == "http" else {}
            store = HTTPStore.from_url(directory + "/", client_options=client, retry_config=retry)
        else:
            options: dict[str, Any] = {}
            client = {}
            if no_sign_request:
                options["skip_signature"] = True
            if kind == "s3":
                if region:
                    options["region"] = region
                if endpoint_url:
                    options["endpoint"] = endpoint_url
                    if endpoint_url.lower().startswith("http://"):
                        client["allow_http"] = True
            store = from_url(
                directory, client_options=client or None, retry_config=retry, **options
            )
    except Exception as exc:  # obstore raises its own errors for bad URLs and config
        raise CLIError(f"{target}: {_first_line(exc)}") from exc
    return Target(store, urllib.parse.unquote(name), target)


async def open_target(target: Target, *, sidecars: bool = False) -> GeoTIFF:
    """Open the GeoTIFF at ``target``."""
    return await GeoTIFF.open(target.path, store=target.store, sidecars=sidecars)


def pick_level(tif: GeoTIFF, overview: int | None, display: str) -> Level:
    """The full image (``overview`` None) or ``tif.overviews[overview]``."""
    if overview is None:
        return tif
    n = len(tif.overviews)
    if not 0 <= overview < n:
        have = f"0..{n - 1}" if n else "none: the file has no overviews"
        raise CLIError(f"{display}: overview {overview} does not exist ({have})")
    return tif.overviews[overview]


# -- metadata --------------------------------------------------------------------


def _epsg(crs: Any) -> int | None:
    try:
        code = crs.to_epsg()
        if code is None and crs.is_bound:
            # A CRS with TOWGS84 parameters: GDAL reports its base CRS's code.
            code = crs.source_crs.to_epsg()
    except Exception:  # noqa: BLE001 - pyproj may fail to identify; then we give WKT
        return None
    return int(code) if code is not None else None


def crs_string(crs: Any) -> str | None:
    """``EPSG:nnnn`` when the CRS has an EPSG code, else its WKT (as ``rio info``)."""
    if crs is None:
        return None
    code = _epsg(crs)
    return f"EPSG:{code}" if code is not None else str(crs.to_wkt())


def _lnglat(tif: GeoTIFF) -> tuple[float, float] | None:
    if tif.crs is None:
        return None
    from pyproj import Transformer  # noqa: PLC0415

    left, bottom, right, top = tif.bounds
    try:
        transformer = Transformer.from_crs(tif.crs, "EPSG:4326", always_xy=True)
        lng, lat = transformer.transform((left + right) / 2, (bottom + top) / 2)
    except Exception:  # noqa: BLE001 - the centre may be outside the CRS's domain
        return None
    if not (math.isfinite(lng) and math.isfinite(lat)):
        return None
    return (float(lng), float(lat))


def mask_kind(tif: GeoTIFF) -> str:
    """How validity is known: "mask" (a mask image), "alpha", "nodata" or "none"."""
    kind = tif.mask_kind
    return kind or "none"


def mask_flags(tif: GeoTIFF) -> list[list[str]]:
    """Per-band GDAL mask flags, as rasterio's ``mask_flag_enums`` names them."""
    kind = mask_kind(tif)
    out = []
    for ci in tif.colorinterp:
        if kind == "mask":
            out.append(["per_dataset"])
        elif kind == "alpha":
            out.append(["all_valid"] if ci is ColorInterp.alpha else ["per_dataset", "alpha"])
        elif kind == "nodata":
            out.append(["nodata"])
        else:
            out.append(["all_valid"])
    return out


def _overview_factor(tif: GeoTIFF, ov: Overview) -> int:
    return round(tif.width / ov.width) if ov.width else 0


def describe(tif: GeoTIFF) -> dict[str, Any]:
    """The metadata as a JSON-ready dict, keyed like ``rio info``'s output."""
    rows, cols = tif.block_shapes[0] if tif.block_shapes else (0, 0)
    info: dict[str, Any] = {
        "driver": "GTiff",
        "path": tif.path,
        "width": tif.width,
        "height": tif.height,
        "count": tif.count,
        "dtype": str(tif.dtype),
        "shape": [tif.height, tif.width],
        "indexes": list(tif.indexes),
        "crs": crs_string(tif.crs),
        "transform": list(tif.transform)[:9],
        "bounds": list(tif.bounds),
        "res": list(tif.res),
        "nodata": tif.nodata,
        "tiled": tif.is_tiled,
        "blockxsize": cols,
        "blockysize": rows,
        "interleave": tif.interleaving.value.lower(),
        "photometric": tif.photometric,
        "colorinterp": [ci.value for ci in tif.colorinterp],
        "mask_kind": mask_kind(tif),
        "mask_flags": mask_flags(tif),
        "descriptions": list(tif.descriptions),
        "units": list(tif.units),
        "scales": list(tif.scales),
        "offsets": list(tif.offsets),
        "overviews": [
            {
                "width": ov.width,
                "height": ov.height,
                "factor": _overview_factor(tif, ov),
                "blockxsize": ov.block_shapes[0][1],
                "blockysize": ov.block_shapes[0][0],
            }
            for ov in tif.overviews
        ],
        "tags": tif.tags(),
    }
    compression = tif.compression
    if compression is not None:
        info["compress"] = compression.value.lower()
    lnglat = _lnglat(tif)
    if lnglat is not None:
        info["lnglat"] = list(lnglat)
    points, gcp_crs = tif.gcps
    if points:
        info["gcps"] = {
            "points": [
                {
                    "id": p.id,
                    "info": p.info,
                    "row": p.row,
                    "col": p.col,
                    "x": p.x,
                    "y": p.y,
                    "z": p.z,
                }
                for p in points
            ],
            "crs": crs_string(gcp_crs),
        }
    return info


def _fmt_num(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{value:.1f}"
    return f"{value:.10g}"


def format_info(tif: GeoTIFF, display: str) -> str:
    """A human-readable summary, in the spirit of ``gdalinfo``."""
    info = describe(tif)
    lines = [display]

    def field(name: str, value: str) -> None:
        label = f"{name}:" if name else ""
        lines.append(f"  {label:<14}{value}")

    field("Size", f"{tif.width} x {tif.height} pixels, {tif.count} band(s) of {tif.dtype}")
    if tif.crs is None:
        field("CRS", "none")
    else:
        code = _epsg(tif.crs)
        field("CRS", f"EPSG:{code} ({tif.crs.name})" if code else f"{tif.crs.name} (no EPSG code)")
    t = tif.transform
    field("Transform", f"| {_fmt_num(t.a)}, {_fmt_num(t.b)}, {_fmt_num(t.c)} |")
    field("", f"| {_fmt_num(t.d)}, {_fmt_num(t.e)}, {_fmt_num(t.f)} |")
    left, bottom, right, top = tif.bounds
    field(
        "Bounds",
        f"left {_fmt_num(left)}, bottom {_fmt_num(bottom)},"
        f" right {_fmt_num(right)}, top {_fmt_num(top)}",
    )
    field("Resolution", f"{_fmt_num(tif.res[0])} x {_fmt_num(tif.res[1])}")
    if "lnglat" in info:
        lng, lat = info["lnglat"]
        field("Centre", f"{lng:.5f}, {lat:.5f} (longitude, latitude)")
    rows, cols = tif.block_shapes[0]
    layout = f"tiled {cols} x {rows}" if tif.is_tiled else f"stripped, {rows} row(s) per strip"
    comp = tif.compression.value if tif.compression is not None else "uncompressed"
    field("Layout", f"{layout}, {comp}, {tif.interleaving.value.lower()}-interleaved")
    field("Photometric", tif.photometric)
    if tif.overviews:
        sizes = ", ".join(
            f"{ov.width} x {ov.height} (1/{_overview_factor(tif, ov)})" for ov in tif.overviews
        )
        field("Overviews", sizes)
    else:
        field("Overviews", "none")
    field("Nodata", "none" if tif.nodata is None else repr(tif.nodata))
    field(
        "Mask",
        {
            "mask": "mask image (internal or .msk)",
            "alpha": "alpha band",
            "nodata": "pixels equal to nodata are masked",
            "none": "none (every pixel valid)",
        }[info["mask_kind"]],
    )
    if tif.gcps[0]:
        field("GCPs", f"{len(tif.gcps[0])} ground control points")
    lines.append("  Bands:")
    for i in range(tif.count):
        parts = [f"    {i + 1:>3}  {tif.colorinterp[i].value:<10}"]
        if tif.descriptions[i]:
            parts.append(f"description={tif.descriptions[i]!r}")
        if tif.units[i]:
            parts.append(f"units={tif.units[i]!r}")
        if tif.scales[i] != 1.0 or tif.offsets[i] != 0.0:
            parts.append(f"scale={tif.scales[i]:g} offset={tif.offsets[i]:g}")
        lines.append(" ".join(parts).rstrip())
    tags = info["tags"]
    if tags:
        lines.append("  Tags:")
        lines.extend(f"    {key}={value}" for key, value in sorted(tags.items()))
    return "\n".join(lines)


def format_tiles(
    tif: GeoTIFF, levels: Sequence[tuple[str, Level]]
) -> tuple[str, list[dict[str, Any]]]:
    """The block grid of each level, as text and as JSON-ready rows."""
    rows_out: list[dict[str, Any]] = []
    for name, level in levels:
        block_rows, block_cols = level.block_shapes[0]
        across = math.ceil(level.width / block_cols) if block_cols else 0
        down = math.ceil(level.height / block_rows) if block_rows else 0
        per_band = tif.interleaving.value == "BAND" and tif.count > 1
        rows_out.append(
            {
                "level": name,
                "width": level.width,
                "height": level.height,
                "tiled": level.is_tiled,
                "blockxsize": block_cols,
                "blockysize": block_rows,
                "blocks_across": across,
                "blocks_down": down,
                "blocks": across * down * (tif.count if per_band else 1),
            }
        )
    header = (
        f"{'level':<12}{'size':>13}  {'kind':<6}{'block':>11}"
        f"  {'across':>6} {'down':>5} {'blocks':>7}"
    )
    lines = [header]
    for r in rows_out:
        size = f"{r['width']}x{r['height']}"
        block = f"{r['blockxsize']}x{r['blockysize']}"
        kind = "tiles" if r["tiled"] else "strips"
        lines.append(
            f"{r['level']:<12}{size:>13}  {kind:<6}{block:>11}  {r['blocks_across']:>6}"
            f" {r['blocks_down']:>5} {r['blocks']:>7}"
        )
    if tif.interleaving.value == "BAND" and tif.count > 1:
        lines.append(
            f"(band-interleaved: each band has its own grid; blocks counts all {tif.count})"
        )
    return "\n".join(lines), rows_out


# -- rendering -------------------------------------------------------------------


def _pil() -> Any:
    try:
        from PIL import Image  # noqa: PLC0415 - Pillow is the optional "cli" extra
    except ImportError as exc:
        raise CLIError(
            "writing PNG files needs Pillow:"
            " pip install 'trio_geotiff[cli]' (or pip install pillow)"
        ) from exc
    return Image


def _stretch(band: npt.NDArray[Any], valid: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8]:
    """Scale the 2nd..98th percentiles of the valid pixels to 0..255."""
    values = band.real if band.dtype.kind == "c" else band
    values = values.astype(np.float64)
    finite = valid & np.isfinite(values)
    if not finite.any():
        return np.zeros(band.shape, dtype=np.uint8)
    lo, hi = np.percentile(values[finite], [2, 98])
    if not hi > lo:
        lo, hi = lo - 0.5, lo + 0.5
    with np.errstate(invalid="ignore"):
        scaled = (values - lo) * (255.0 / (hi - lo))
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    out: npt.NDArray[np.uint8] = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return out


def render_rgba(
    arr: Array,
    colorinterp: Sequence[ColorInterp],
    colormap: dict[int, tuple[int, int, int, int]] | None,
    *,
    stretch: bool,
) -> npt.NDArray[np.uint8]:
    """An RGBA image ``(height, width, 4)`` of an `Array` for display.

    A palette band goes through ``colormap``. Otherwise up to three bands (an
    alpha band is left out: it is the mask) are shown as RGB (one band as
    grey), stretched per band (2nd-98th percentile) when ``stretch`` is set or
    the pixels are not uint8. Pixels where the mask is False are transparent.
    """
    data = arr.data
    h, w = arr.height, arr.width
    valid = arr.mask if arr.mask is not None else np.ones((h, w), dtype=bool)
    out = np.zeros((h, w, 4), dtype=np.uint8)
    if colormap is not None and arr.count >= 1 and data.dtype.kind in "iu":
        size = max(colormap) + 1
        lut = np.zeros((size, 4), dtype=np.uint8)
        for value, rgba in colormap.items():
            lut[value] = rgba
        index = np.clip(data[0], 0, size - 1).astype(np.intp)
        out[:] = lut[index]
        out[..., 3] = np.where(valid, out[..., 3], 0)
        return out
    rgb = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
    if all(ci in colorinterp for ci in rgb):
        shown = [list(colorinterp).index(ci) for ci in rgb]  # e.g. BGR files shown as RGB
    else:
        shown = [i for i, ci in enumerate(colorinterp) if ci is not ColorInterp.alpha] or list(
            range(arr.count)
        )
        shown = shown[:3] if len(shown) >= 3 else shown[:1]
    for channel, band in enumerate(shown):
        if stretch or data.dtype != np.uint8:
            out[..., channel] = _stretch(data[band], valid)
        else:
            out[..., channel] = data[band]
    if len(shown) == 1:
        out[..., 1] = out[..., 0]
        out[..., 2] = out[..., 0]
    out[..., 3] = np.where(valid, 255, 0).astype(np.uint8)
    return out


def write_png(
    path: Path, rgba: npt.NDArray[np.uint8], *, max_size: int | None = None
) -> tuple[int, int]:
    """Write an RGBA array as PNG (RGB when fully opaque), downsampled to ``max_size``.

    Returns:
        The ``(width, height)`` written.
    """
    image_mod = _pil()
    image = image_mod.fromarray(np.ascontiguousarray(rgba), mode=None)
    if max_size is not None and max(image.size) > max_size:
        scale = max_size / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, resample=image_mod.Resampling.BOX)
    if bool(np.all(rgba[..., 3] == 255)):
        image = image.convert("RGB")
    try:
        image.save(path, format="PNG")
    except OSError as exc:
        raise CLIError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    return (int(image.width), int(image.height))


# -- progress --------------------------------------------------------------------


class Progress:
    """A one-line progress indicator on a terminal; silent otherwise."""

    def __init__(
        self, stream: IO[str], label: str, tif: GeoTIFF, *, enabled: bool | None = None
    ) -> None:
        self.stream = stream
        self.label = label
        self.tif = tif
        self.enabled = _isatty(stream) if enabled is None else enabled
        self._width = 0

    def _line(self, elapsed: float) -> str:
        stats = self.tif.statistics()
        return (
            f"{self.label}: {stats.blocks_decoded} blocks decoded,"
            f" {_fmt_bytes(stats.bytes_fetched)} in {stats.requests} requests, {elapsed:.1f} s"
        )

    def _show(self, text: str) -> None:
        pad = max(0, self._width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Redraw the line every 0.1 s until cancelled."""
        task_status.started()
        start = trio.current_time()
        while True:
            self._show(self._line(trio.current_time() - start))
            await trio.sleep(_PROGRESS_INTERVAL)

    def clear(self) -> None:
        """Erase the line."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    async def track(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Await ``fn()`` with the indicator running beside it."""
        if not self.enabled:
            return await fn()
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.run)
                # Captured, so that an error leaves the nursery alone, not in an ExceptionGroup.
                result = await outcome.acapture(fn)
                nursery.cancel_scope.cancel()
        finally:
            self.clear()
        return result.unwrap()


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _fmt_bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


# -- commands --------------------------------------------------------------------


class Context:
    """What the commands write to: stdout and stderr (replaceable in tests)."""

    def __init__(self, stdout: IO[str], stderr: IO[str]) -> None:
        self.stdout = stdout
        self.stderr = stderr

    def out(self, text: str = "") -> None:
        """Write a line to stdout."""
        self.stdout.write(text + "\n")


def _target(args: argparse.Namespace, path: str | None = None) -> Target:
    return resolve(
        path if path is not None else args.path,
        no_sign_request=args.no_sign_request,
        region=args.region,
        endpoint_url=args.endpoint_url,
    )


async def cmd_info(args: argparse.Namespace, ctx: Context) -> None:
    """``info``: print the metadata."""
    target = _target(args)
    tif = await open_target(target, sidecars=args.sidecars)
    if args.json:
        ctx.out(json.dumps(describe(tif), indent=args.indent, sort_keys=True))
    else:
        ctx.out(format_info(tif, target.display))


def _parse_bands(text: str) -> list[int]:
    try:
        bands = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bands must be a comma-separated list of integers, got {text!r}"
        ) from None
    if not bands:
        raise argparse.ArgumentTypeError("bands is empty")
    return bands


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


def _level_name(level: Level, tif: GeoTIFF) -> str:
    if level is tif:
        return "full resolution"
    return f"overview {tif.overviews.index(level)}"


async def cmd_read(args: argparse.Namespace, ctx: Context) -> None:
    """``read``: a window of some bands, to .npy, .npz or .png."""
    out = Path(args.output)
    suffix = out.suffix.lower()
    if suffix not in (".npy", ".npz", ".png"):
        raise CLIError(f"{out}: the output must end in .npy, .npz or .png")
    if suffix == ".png":
        _pil()  # fail before reading when Pillow is missing
    target = _target(args)
    tif = await open_target(target, sidecars=args.sidecars)
    level = pick_level(tif, args.overview, target.display)
    window = _window_for(args, level)
    shown = window or Window(0, 0, level.width, level.height)
    label = f"reading {_level_name(level, tif)}, {shown.width}x{shown.height} pixels"
    progress = Progress(ctx.stderr, label, tif)
    arr = await progress.track(
        functools.partial(level.read, window, indexes=args.bands, boundless=args.boundless)
    )
    if suffix == ".npy":
        _save(out, functools.partial(np.save, out, arr.data))
    elif suffix == ".npz":
        extra: dict[str, Any] = {}
        if arr.mask is not None:
            extra["mask"] = arr.mask
        _save(
            out,
            functools.partial(
                np.savez_compressed,
                out,
                data=arr.data,
                transform=np.array(list(arr.transform)[:6]),
                crs=np.array(crs_string(arr.crs) or ""),
                **extra,
            ),
        )
    else:
        bands = args.bands or list(tif.indexes)
        colorinterp = [tif.colorinterp[b - 1] for b in bands]
        colormap = _colormap_for(tif, bands)
        write_png(out, render_rgba(arr, colorinterp, colormap, stretch=False))
    mask_note = "" if arr.mask is None else f", {int(arr.mask.sum())} valid pixels"
    ctx.out(
        f"wrote {out}: {arr.count} band(s) x {arr.height} x {arr.width} {arr.data.dtype}"
        f" from {_level_name(level, tif)}{mask_note}"
    )


def _save(out: Path, write: Callable[[], object]) -> None:
    try:
        write()
    except OSError as exc:
        raise CLIError(f"{out}: cannot write: {exc.strerror or exc}") from exc


def _colormap_for(
    tif: GeoTIFF, bands: Sequence[int]
) -> dict[int, tuple[int, int, int, int]] | None:
    if list(bands)[:1] == [1] and tif.colorinterp[0] is ColorInterp.palette:
        try:
            return tif.colormap(1)
        except ValueError:
            return None
    return None


def choose_preview_level(tif: GeoTIFF, max_size: int) -> Level:
    """The coarsest level whose longer side is still at least ``max_size``.

    When even the full-resolution image is smaller, that image (the finest
    there is) is used.
    """
    levels: list[Level] = [tif, *tif.overviews]
    big_enough = [lv for lv in levels if max(lv.width, lv.height) >= max_size]
    if not big_enough:
        return tif
    return min(big_enough, key=lambda lv: lv.width * lv.height)


async def render_preview(
    tif: GeoTIFF, out: Path, max_size: int, stderr: IO[str]
) -> tuple[Level, tuple[int, int]]:
    """Read the best level for a ``max_size`` preview and write it as PNG."""
    _pil()
    level = choose_preview_level(tif, max_size)
    label = f"reading {_level_name(level, tif)} ({level.width}x{level.height})"
    progress = Progress(stderr, label, tif)
    arr = await progress.track(functools.partial(level.read, None, masked=True))
    colormap = _colormap_for(tif, tif.indexes)
    rgba = render_rgba(arr, tif.colorinterp, colormap, stretch=True)
    return level, write_png(out, rgba, max_size=max_size)


async def cmd_preview(args: argparse.Namespace, ctx: Context) -> None:
    """``preview``: a stretched, mask-aware PNG from the best-fitting overview."""
    out = Path(args.output)
    if out.suffix.lower() != ".png":
        raise CLIError(f"{out}: the preview is a PNG; name it *.png")
    if args.max_size < 1:
        raise CLIError(f"--max-size must be positive, got {args.max_size}")
    _pil()
    target = _target(args)
    tif = await open_target(target, sidecars=args.sidecars)
    level, (width, height) = await render_preview(tif, out, args.max_size, ctx.stderr)
    ctx.out(
        f"wrote {out}: {width} x {height} PNG"
        f" from {_level_name(level, tif)} ({level.width}x{level.height})"
    )


async def cmd_tiles(args: argparse.Namespace, ctx: Context) -> None:
    """``tiles``: the internal block grid, per level."""
    target = _target(args)
    tif = await open_target(target, sidecars=args.sidecars)
    if args.overview is None:
        levels: list[tuple[str, Level]] = [("full", tif)]
        levels += [(f"overview {i}", ov) for i, ov in enumerate(tif.overviews)]
    else:
        levels = [(f"overview {args.overview}", pick_level(tif, args.overview, target.display))]
    text, rows = format_tiles(tif, levels)
    if args.json:
        ctx.out(json.dumps(rows, indent=args.indent))
    else:
        ctx.out(text)


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
        target = _target(args, str(path))
        target.display = f"{SAMPLE_NAME} (bundled with trio_geotiff)"
        t0 = trio.current_time()
        tif = await open_target(target)
        opened = trio.current_time() - t0
        ctx.out(
            f"trio_geotiff {__version__}: the bundled sample,"
            " a Landsat 7 scene as a Cloud-Optimized GeoTIFF"
        )
        ctx.out(f"(opened in {opened * 1000:.0f} ms with {tif.statistics().requests} request)")
        ctx.out()
        ctx.out(format_info(tif, target.display))
        ctx.out()
        out = Path(args.output)
        t0 = trio.current_time()
        level, (width, height) = await render_preview(tif, out, args.max_size, ctx.stderr)
        took = trio.current_time() - t0
        stats = tif.statistics()
        ctx.out(
            f"Read the {_level_name(level, tif)} image ({level.width} x {level.height})"
            f" in {took * 1000:.0f} ms:"
            f" {stats.blocks_decoded} blocks decoded, {_fmt_bytes(stats.bytes_fetched)} fetched"
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


# -- argument parsing ------------------------------------------------------------


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

    source = argparse.ArgumentParser(add_help=False)
    source.add_argument(
        "path",
        metavar="PATH_OR_URL",
        help="a local path, or s3://bucket/key, gs://bucket/key, az://container/key, abfs://..., https://...",
    )
    remote = argparse.ArgumentParser(add_help=False)
    remote.add_argument(
        "--no-sign-request",
        action="store_true",
        help="send unsigned requests (public buckets on S3, GCS and Azure)",
    )
    remote.add_argument(
        "--region", help="the S3 bucket's region (default: AWS_REGION or AWS_DEFAULT_REGION)"
    )
    remote.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="an S3-compatible endpoint (MinIO, R2...) for s3:// URLs (default: AWS_ENDPOINT_URL)",
    )
    remote.add_argument(
        "--sidecars",
        action="store_true",
        help="also read GDAL sidecars: PATH.ovr, PATH.msk and PATH.aux.xml",
    )
    json_opts = argparse.ArgumentParser(add_help=False)
    json_opts.add_argument(
        "--json", action="store_true", help="print one JSON object instead of text"
    )
    json_opts.add_argument("--indent", type=int, default=None, help="indent the JSON output")

    p = sub.add_parser(
        "info",
        parents=[source, remote, json_opts],
        help="print metadata",
        description="Print size, CRS, transform, bounds, layout, overviews, mask, bands and tags."
        " With --json, one JSON object keyed like 'rio info'.",
    )
    p.set_defaults(func=cmd_info)

    p = sub.add_parser(
        "read",
        parents=[source, remote],
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
        "--bands", type=_parse_bands, help="1-based band indexes, comma-separated (default: all)"
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

    p = sub.add_parser(
        "preview",
        parents=[source, remote],
        help="write a PNG preview",
        description="Read the coarsest level that is at least --max-size pixels across (the full"
        " image when it is smaller), apply the colormap of a palette image or a 2-98%% stretch"
        " per band, make masked pixels transparent and write a PNG no larger than --max-size.",
    )
    p.add_argument("-o", "--output", required=True, metavar="OUT.png", help="the PNG to write")
    p.add_argument(
        "--max-size",
        type=int,
        default=DEFAULT_MAX_SIZE,
        help="longest side in pixels (default 1024)",
    )
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser(
        "tiles",
        parents=[source, remote, json_opts],
        help="show the internal block grid",
        description="Show block size and blocks across/down of the image and each overview.",
    )
    p.add_argument("--overview", type=int, metavar="N", help="only overview N (0 is the finest)")
    p.set_defaults(func=cmd_tiles)

    for name in ("sample", "demo"):
        p = sub.add_parser(
            name,
            help="show the bundled sample COG and write sample_preview.png"
            if name == "sample"
            else "same as sample",
            description="Print the bundled sample COG's metadata"
            " and write a preview PNG in the current directory.",
        )
        p.add_argument(
            "-o",
            "--output",
            default=SAMPLE_PREVIEW,
            help=f"the PNG to write (default {SAMPLE_PREVIEW})",
        )
        p.add_argument(
            "--max-size",
            type=int,
            default=DEFAULT_MAX_SIZE,
            help="longest side in pixels (default 1024)",
        )
        p.set_defaults(
            func=cmd_sample, no_sign_request=False, region=None, endpoint_url=None, sidecars=False
        )
    return parser


# -- entry point -----------------------------------------------------------------


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0].strip() if text else ""
    return line or type(exc).__name__


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (possibly nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup):
        real = [e for e in exc.exceptions if not isinstance(e, trio.Cancelled)]
        exc = (real or list(exc.exceptions))[0]
    return exc


def error_message(exc: BaseException, target: str | None) -> str:
    """The one-line message for an error, naming the file as the user named it."""
    if isinstance(exc, GeoTIFFError):
        reason = _first_line(Exception(exc.reason))
        if isinstance(exc, ObjectNotFoundError):
            reason = "not found"  # obstore's text repeats the URL and the server's answer
        # The library names its keyword arguments; the CLI has flags for them.
        reason = reason.replace("pass boundless=True", "pass --boundless")
        if target is not None and exc.path:
            name = target.rstrip("/").rsplit("/", 1)[-1]
            base = Path(exc.path).name
            if base.startswith(name):  # the file, or one of its sidecars
                return f"{target}{base[len(name) :]}: {reason}"
        return f"{exc.path}: {reason}" if exc.path else reason
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return _first_line(exc)


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run the ``trio-geotiff`` command; return the exit status (0, 1 errors, 2 usage)."""
    ctx = Context(stdout or sys.stdout, stderr or sys.stderr)
    parser = build_parser()
    try:
        # argparse prints --help, --version and usage errors to sys.stdout/stderr.
        with contextlib.redirect_stdout(ctx.stdout), contextlib.redirect_stderr(ctx.stderr):
            args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and usage errors (2)
        return int(exc.code) if isinstance(exc.code, int) else 2
    debug = bool(os.environ.get("TRIO_GEOTIFF_DEBUG"))
    command: Callable[[argparse.Namespace, Context], Awaitable[None]] = args.func
    try:
        trio.run(command, args, ctx)
    except KeyboardInterrupt:
        ctx.stderr.write(f"{PROG}: interrupted\n")
        return 130
    except BaseException as group_or_error:
        failure = _leaf(group_or_error)
        if isinstance(failure, KeyboardInterrupt):
            ctx.stderr.write(f"{PROG}: interrupted\n")
            return 130
        if debug or isinstance(failure, SystemExit):
            raise
        message = error_message(failure, getattr(args, "path", None))
        if not isinstance(failure, (CLIError, GeoTIFFError, OSError, ValueError)):
            message = (
                f"{type(failure).__name__}: {message} (set TRIO_GEOTIFF_DEBUG=1 for a traceback)"
            )
        ctx.stderr.write(f"{PROG}: error: {message}\n")
        return 1
    finally:
        with contextlib.suppress(Exception):
            ctx.stdout.flush()
    return 0
