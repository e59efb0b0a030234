"""The metadata reports: ``info --json`` (keyed like ``rio info``), ``info`` text, ``tiles``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

from trio_geotiff._geotiff import GeoTIFF, Overview
from trio_geotiff._profile import mask_flag_enums, profile

__all__ = ["Level", "crs_string", "describe", "format_info", "format_tiles", "mask_kind"]

Level = GeoTIFF | Overview

_MASK_TEXT: Final = {
    "mask": "mask image (internal or .msk)",
    "alpha": "alpha band",
    "nodata": "pixels equal to nodata are masked",
    "none": "none (every pixel valid)",
}


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
    from pyproj import Transformer  # noqa: PLC0415 - keeps `--help` fast

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
    return tif.mask_kind or "none"


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
        "mask_flags": [[flag.name for flag in flags] for flags in mask_flag_enums(tif)],
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
    compress = profile(tif).get("compress")
    if compress is not None:
        info["compress"] = compress.lower()
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


def _field(name: str, value: str) -> str:
    label = f"{name}:" if name else ""
    return f"  {label:<14}{value}"


def _georef_lines(tif: GeoTIFF) -> list[str]:
    if tif.crs is None:
        crs = "none"
    else:
        code = _epsg(tif.crs)
        crs = f"EPSG:{code} ({tif.crs.name})" if code else f"{tif.crs.name} (no EPSG code)"
    t = tif.transform
    left, bottom, right, top = tif.bounds
    lines = [
        _field("CRS", crs),
        _field("Transform", f"| {_fmt_num(t.a)}, {_fmt_num(t.b)}, {_fmt_num(t.c)} |"),
        _field("", f"| {_fmt_num(t.d)}, {_fmt_num(t.e)}, {_fmt_num(t.f)} |"),
        _field(
            "Bounds",
            f"left {_fmt_num(left)}, bottom {_fmt_num(bottom)},"
            f" right {_fmt_num(right)}, top {_fmt_num(top)}",
        ),
        _field("Resolution", f"{_fmt_num(tif.res[0])} x {_fmt_num(tif.res[1])}"),
    ]
    lnglat = _lnglat(tif)
    if lnglat is not None:
        lines.append(_field("Centre", f"{lnglat[0]:.5f}, {lnglat[1]:.5f} (longitude, latitude)"))
    return lines


def _layout_lines(tif: GeoTIFF) -> list[str]:
    rows, cols = tif.block_shapes[0]
    layout = f"tiled {cols} x {rows}" if tif.is_tiled else f"stripped, {rows} row(s) per strip"
    comp = tif.compression.value if tif.compression is not None else "uncompressed"
    overviews = ", ".join(
        f"{ov.width} x {ov.height} (1/{_overview_factor(tif, ov)})" for ov in tif.overviews
    )
    lines = [
        _field("Layout", f"{layout}, {comp}, {tif.interleaving.value.lower()}-interleaved"),
        _field("Photometric", tif.photometric),
        _field("Overviews", overviews or "none"),
        _field("Nodata", "none" if tif.nodata is None else repr(tif.nodata)),
        _field("Mask", _MASK_TEXT[mask_kind(tif)]),
    ]
    if tif.gcps[0]:
        lines.append(_field("GCPs", f"{len(tif.gcps[0])} ground control points"))
    return lines


def _band_lines(tif: GeoTIFF) -> list[str]:
    lines = ["  Bands:"]
    for i in range(tif.count):
        parts = [f"    {i + 1:>3}  {tif.colorinterp[i].value:<10}"]
        if tif.descriptions[i]:
            parts.append(f"description={tif.descriptions[i]!r}")
        if tif.units[i]:
            parts.append(f"units={tif.units[i]!r}")
        if tif.scales[i] != 1.0 or tif.offsets[i] != 0.0:
            parts.append(f"scale={tif.scales[i]:g} offset={tif.offsets[i]:g}")
        lines.append(" ".join(parts).rstrip())
    tags = tif.tags()
    if tags:
        lines.append("  Tags:")
        lines.extend(f"    {key}={value}" for key, value in sorted(tags.items()))
    return lines


def format_info(tif: GeoTIFF, display: str) -> str:
    """A human-readable summary, in the spirit of ``gdalinfo``."""
    size = f"{tif.width} x {tif.height} pixels, {tif.count} band(s) of {tif.dtype}"
    lines = [display, _field("Size", size)]
    lines += _georef_lines(tif)
    lines += _layout_lines(tif)
    lines += _band_lines(tif)
    return "\n".join(lines)


def _grid_row(tif: GeoTIFF, name: str, level: Level) -> dict[str, Any]:
    block_rows, block_cols = level.block_shapes[0]
    across = math.ceil(level.width / block_cols) if block_cols else 0
    down = math.ceil(level.height / block_rows) if block_rows else 0
    per_band = tif.interleaving.value == "BAND" and tif.count > 1
    return {
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


def format_tiles(
    tif: GeoTIFF, levels: Sequence[tuple[str, Level]]
) -> tuple[str, list[dict[str, Any]]]:
    """The block grid of each level, as text and as JSON-ready rows."""
    rows = [_grid_row(tif, name, level) for name, level in levels]
    header = (
        f"{'level':<12}{'size':>13}  {'kind':<6}{'block':>11}"
        f"  {'across':>6} {'down':>5} {'blocks':>7}"
    )
    lines = [header]
    for r in rows:
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
    return "\n".join(lines), rows
