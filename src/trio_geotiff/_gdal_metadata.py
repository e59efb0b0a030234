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
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Final
from xml.sax.saxutils import unescape

import attrs

_LEADING_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")

__all__ = [
    "GDALMetadata",
    "PAMInfo",
    "merge_metadata",
    "parse_gdal_metadata",
    "parse_nodata",
    "parse_pam",
]


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
        band = _item_band(item.get("sample"))
        if name is None or band == -1:
            continue
        # GDAL escapes values before building the XML, so they come out of the
        # parser still escaped once (CPLES_XML): undo that, as GDAL does.
        value = unescape(item.text or "", {"&quot;": '"', "&apos;": "'"})
        domain = item.get("domain", "")
        role = item.get("role")
        if role is not None and band is not None:
            roles.setdefault(band, {})[role] = value
        elif band is not None:
            bands.setdefault(band, {}).setdefault(domain, {})[name] = value
        elif role is None:
            dataset.setdefault(domain, {})[name] = value
    return GDALMetadata(dataset, bands, roles)


def _item_band(sample: str | None) -> int | None:
    """The 0-based band of an Item's ``sample`` (None: dataset; -1: unusable)."""
    if sample is None:
        return None
    try:
        band = int(sample)
    except ValueError:
        return -1
    return band if band >= 0 else -1


_SPECIAL_FLOATS: Final = {
    "nan": math.nan,
    "-nan": math.nan,
    "+nan": math.nan,
    "inf": math.inf,
    "+inf": math.inf,
    "infinity": math.inf,
    "-inf": -math.inf,
    "-infinity": -math.inf,
}


def parse_nodata(text: str | None) -> float | None:
    """Parse GDAL_NODATA the way GDAL does (``CPLAtof``: leading number, else 0)."""
    s = "" if text is None else text.strip().rstrip("\0").strip()
    if not s:
        return None
    special = _SPECIAL_FLOATS.get(s.lower())
    if special is not None:
        return special
    try:
        return float(s)
    except ValueError:
        pass
    # The leading number, as atof reads it ("12abc" -> 12.0, "abc" -> 0.0).
    match = _LEADING_NUMBER.match(s)
    return float(match.group()) if match else 0.0


@attrs.frozen
class PAMInfo:
    """What a GDAL ``.aux.xml`` (PAM) sidecar adds to a dataset."""

    metadata: GDALMetadata
    srs_wkt: str | None = None
    geotransform: tuple[float, ...] | None = None
    nodata: float | None = None


_PAM_ROLES: Final = (
    ("Description", "description"),
    ("UnitType", "unittype"),
    ("Offset", "offset"),
    ("Scale", "scale"),
    ("ColorInterp", "colorinterp"),
)


def parse_pam(text: str) -> PAMInfo:
    """Parse a GDAL PAM ``.aux.xml`` document (malformed input gives an empty result)."""
    try:
        root = ET.fromstring(text)  # noqa: S314 - expat guards entity expansion
    except ET.ParseError:
        return PAMInfo(GDALMetadata())
    dataset: dict[str, dict[str, str]] = {}
    bands: dict[int, dict[str, dict[str, str]]] = {}
    roles: dict[int, dict[str, str]] = {}
    _read_pam_metadata(root, dataset)
    nodata: float | None = None
    for band_node in root.findall("PAMRasterBand"):
        band = _item_band(band_node.get("band", "") or "x")
        if band is None or band < 1:
            continue
        band -= 1  # PAM numbers bands from 1
        _read_pam_metadata(band_node, bands.setdefault(band, {}))
        for tag, role in _PAM_ROLES:
            child = band_node.find(tag)
            if child is not None and child.text:
                roles.setdefault(band, {})[role] = child.text
        nd = band_node.find("NoDataValue")
        if nd is not None and nd.text and band == 0:
            nodata = parse_nodata(nd.text)
    srs = root.find("SRS")
    return PAMInfo(
        GDALMetadata(dataset, bands, roles),
        srs.text.strip() if srs is not None and srs.text else None,
        _pam_geotransform(root.find("GeoTransform")),
        nodata,
    )


def _read_pam_metadata(node: ET.Element, into: dict[str, dict[str, str]]) -> None:
    for md in node.findall("Metadata"):
        domain = md.get("domain", "")
        for mdi in md.findall("MDI"):
            key = mdi.get("key")
            if key is not None:
                into.setdefault(domain, {})[key] = mdi.text or ""


def _pam_geotransform(node: ET.Element | None) -> tuple[float, ...] | None:
    if node is None or not node.text:
        return None
    try:
        values = tuple(float(v) for v in node.text.split(","))
    except ValueError:
        return None
    return values if len(values) == 6 else None


def merge_metadata(base: GDALMetadata, extra: GDALMetadata) -> GDALMetadata:
    """``base`` with ``extra``'s items added (extra wins on conflicts, as GDAL's PAM does)."""
    dataset = {d: dict(v) for d, v in base.dataset.items()}
    for d, items in extra.dataset.items():
        dataset.setdefault(d, {}).update(items)
    bands = {b: {d: dict(v) for d, v in doms.items()} for b, doms in base.bands.items()}
    for b, doms in extra.bands.items():
        for d, items in doms.items():
            bands.setdefault(b, {}).setdefault(d, {}).update(items)
    roles = {b: dict(v) for b, v in base.roles.items()}
    for b, items in extra.roles.items():
        roles.setdefault(b, {}).update(items)
    return GDALMetadata(dataset, bands, roles)
