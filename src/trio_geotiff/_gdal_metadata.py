"""GDAL's private TIFF tags: GDAL_METADATA (42112) and GDAL_NODATA (42113).

GDAL stores dataset and band metadata as a small XML document::

    <GDALMetadata>
      <Item name="AREA_OR_POINT">Area</Item>
      <Item name="STATISTICS_MEAN" sample="0">12.5</Item>
      <Item name="SCALE" sample="0" role="scale">0.01</Item>
    </GDALMetadata>

Items with a ``role`` carry band properties (scale, offset, description,
unittype, colorinterp); the others are tags in a metadata domain ("" is the
default domain).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping

import attrs

__all__ = ["GDALMetadata", "parse_gdal_metadata", "parse_nodata"]


@attrs.frozen
class GDALMetadata:
    """Metadata parsed from a GDAL_METADATA tag."""

    dataset: Mapping[str, Mapping[str, str]] = attrs.field(factory=dict)
    """Dataset tags by domain ("" is the default domain)."""
    bands: Mapping[int, Mapping[str, Mapping[str, str]]] = attrs.field(factory=dict)
    """Band tags by 0-based band, then by domain."""
    roles: Mapping[int, Mapping[str, str]] = attrs.field(factory=dict)
    """Band properties by 0-based band: role -> text."""


def parse_gdal_metadata(text: str | None) -> GDALMetadata:
    """Parse the GDAL_METADATA XML. Malformed XML is ignored (as GDAL warns and goes on)."""
    if not text:
        return GDALMetadata()
    try:
        root = ET.fromstring(text.strip().rstrip("\0"))  # noqa: S314 - bounded, expat guards entities
    except ET.ParseError:
        return GDALMetadata()
    dataset: dict[str, dict[str, str]] = {}
    bands: dict[int, dict[str, dict[str, str]]] = {}
    roles: dict[int, dict[str, str]] = {}
    for item in root.iter("Item"):
        name = item.get("name")
        if name is None:
            continue
        value = item.text or ""
        domain = item.get("domain", "")
        sample = item.get("sample")
        role = item.get("role")
        band: int | None = None
        if sample is not None:
            try:
                band = int(sample)
            except ValueError:
                continue
            if band < 0:
                continue
        if role is not None and band is not None:
            roles.setdefault(band, {})[role] = value
        elif band is not None:
            bands.setdefault(band, {}).setdefault(domain, {})[name] = value
        elif role is None:
            dataset.setdefault(domain, {})[name] = value
    return GDALMetadata(dataset, bands, roles)


def parse_nodata(text: str | None) -> float | None:
    """Parse GDAL_NODATA the way GDAL does (``CPLAtof``: leading number, else 0)."""
    if text is None:
        return None
    s = text.strip().rstrip("\0").strip()
    if not s:
        return None
    low = s.lower()
    if low in ("nan", "-nan", "+nan"):
        return math.nan
    if low in ("inf", "+inf", "infinity"):
        return math.inf
    if low in ("-inf", "-infinity"):
        return -math.inf
    try:
        return float(s)
    except ValueError:
        pass
    # Leading numeric prefix, as atof reads it.
    end = 0
    for i in range(len(s), 0, -1):
        try:
            float(s[:i])
        except ValueError:
            continue
        end = i
        break
    return float(s[:end]) if end else 0.0
