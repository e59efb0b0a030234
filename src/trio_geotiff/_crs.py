"""Decode GeoTIFF geokeys and turn them into a `pyproj.CRS`.

Two pure functions, no I/O:

* `parse_geokey_directory` decodes the raw GeoKeyDirectoryTag (34735),
  GeoDoubleParamsTag (34736) and GeoAsciiParamsTag (34737) into a flat
  ``{key_id: value}`` mapping, validating the structure.
* `crs_from_geokeys` builds the CRS the way GDAL does (libgeotiff's
  ``GTIFGetDefn`` normalisation followed by GDAL's GTiff driver), so that the
  result is equivalent to what rasterio reports for the same file.

The CRS is assembled as WKT1 in GDAL's dialect and parsed by PROJ (through
pyproj): rasterio hands PROJ the same dialect, so names and parameter
conventions go through the same parser on both sides. See ``docs/crs.md``.
"""

from __future__ import annotations

import math
import re
from functools import cache, lru_cache
from typing import TYPE_CHECKING, NamedTuple

import pyproj

# The public pyproj.crs namespace re-exports these without declaring them.
from pyproj._crs import CoordinateOperation, Datum, Ellipsoid, PrimeMeridian
from pyproj.exceptions import CRSError

from trio_geotiff.errors import CorruptFileError

from ._codes import GeoKey, Tag

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["GeoKeyValue", "crs_from_geokeys", "parse_geokey_directory"]

GeoKeyValue = int | float | str | tuple[float, ...]


_USER_DEFINED = 32767

# GTModelTypeGeoKey values (key ids are `_codes.GeoKey`).
_MODEL_PROJECTED = 1
_MODEL_GEOGRAPHIC = 2
_MODEL_GEOCENTRIC = 3

_ESRI_PE_PREFIX = "ESRI PE String = "

# Fallback chains libgeotiff uses when a projection asks for "the" origin
# latitude, longitude, false easting... (GTIFFetchProjParms).
_LAT_KEYS = (GeoKey.PROJ_NAT_ORIGIN_LAT, GeoKey.PROJ_FALSE_ORIGIN_LAT, GeoKey.PROJ_CENTER_LAT)
_LON_KEYS = (GeoKey.PROJ_NAT_ORIGIN_LONG, GeoKey.PROJ_FALSE_ORIGIN_LONG, GeoKey.PROJ_CENTER_LONG)
_FE_KEYS = (GeoKey.PROJ_FALSE_EASTING, GeoKey.PROJ_CENTER_EASTING, GeoKey.PROJ_FALSE_ORIGIN_EASTING)
_FN_KEYS = (
    GeoKey.PROJ_FALSE_NORTHING,
    GeoKey.PROJ_CENTER_NORTHING,
    GeoKey.PROJ_FALSE_ORIGIN_NORTHING,
)
_K_KEYS = (GeoKey.PROJ_SCALE_AT_NAT_ORIGIN, GeoKey.PROJ_SCALE_AT_CENTER)
_CENTER_LAT_KEYS = (
    GeoKey.PROJ_CENTER_LAT,
    GeoKey.PROJ_NAT_ORIGIN_LAT,
    GeoKey.PROJ_FALSE_ORIGIN_LAT,
)
_CENTER_LON_KEYS = (
    GeoKey.PROJ_CENTER_LONG,
    GeoKey.PROJ_NAT_ORIGIN_LONG,
    GeoKey.PROJ_FALSE_ORIGIN_LONG,
)
_CENTER_FE_KEYS = (
    GeoKey.PROJ_CENTER_EASTING,
    GeoKey.PROJ_FALSE_EASTING,
    GeoKey.PROJ_FALSE_ORIGIN_EASTING,
)
_CENTER_FN_KEYS = (
    GeoKey.PROJ_CENTER_NORTHING,
    GeoKey.PROJ_FALSE_NORTHING,
    GeoKey.PROJ_FALSE_ORIGIN_NORTHING,
)
_ORIGIN_LAT_KEYS = (
    GeoKey.PROJ_FALSE_ORIGIN_LAT,
    GeoKey.PROJ_NAT_ORIGIN_LAT,
    GeoKey.PROJ_CENTER_LAT,
)
_ORIGIN_LON_KEYS = (
    GeoKey.PROJ_FALSE_ORIGIN_LONG,
    GeoKey.PROJ_NAT_ORIGIN_LONG,
    GeoKey.PROJ_CENTER_LONG,
)
_ORIGIN_FE_KEYS = (
    GeoKey.PROJ_FALSE_ORIGIN_EASTING,
    GeoKey.PROJ_FALSE_EASTING,
    GeoKey.PROJ_CENTER_EASTING,
)
_ORIGIN_FN_KEYS = (
    GeoKey.PROJ_FALSE_ORIGIN_NORTHING,
    GeoKey.PROJ_FALSE_NORTHING,
    GeoKey.PROJ_CENTER_NORTHING,
)


def parse_geokey_directory(
    directory: Sequence[int],
    doubles: Sequence[float] | None,
    ascii: str | None,  # noqa: A002 - the tag's name, part of the API
    *,
    path: str = "",
) -> dict[int, GeoKeyValue]:
    """Decode a GeoKeyDirectoryTag and its parameter tags.

    Args:
        directory: The SHORT values of tag 34735: a 4-value header
            (version, revision, minor revision, key count) then 4 values per
            key (key id, tag location, count, value or offset).
        doubles: The values of GeoDoubleParamsTag (34736), if present.
        ascii: The value of GeoAsciiParamsTag (34737), if present.
        path: The file path, for error messages.

    Returns:
        ``{key_id: value}``: an int for keys stored in the directory itself,
        a float (count 1) or tuple of floats for 34736, a str for 34737
        (trailing ``|`` and NULs removed). Keys pointing at any other tag are
        skipped, as libgeotiff skips them.

    Raises:
        CorruptFileError: The directory is malformed.
    """
    values = _checked_directory(directory, path)
    params = _ParamTags(doubles, ascii, path)
    keys: dict[int, GeoKeyValue] = {}
    for i in range(values[3]):
        key_id, location, n, offset = values[4 + 4 * i : 8 + 4 * i]
        if key_id == 0:
            # Some writers (older ESRI tools) pad the directory with an
            # all-zero entry; libgeotiff ignores it.
            continue
        value = params.value(_Entry(key_id, location, n, offset))
        if value is not None:
            keys[key_id] = value
    return keys


def _checked_directory(directory: Sequence[int], path: str) -> list[int]:
    """The directory's values, once its header and size are known to be sound."""
    values = list(directory)
    if len(values) < 4:
        raise CorruptFileError(
            path, f"GeoKeyDirectoryTag has {len(values)} values, fewer than its 4-value header"
        )
    for v in values:
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 0xFFFF:
            raise CorruptFileError(path, f"GeoKeyDirectoryTag holds {v!r}, not a SHORT")
    version, _revision, _minor, count = values[:4]
    if version != 1:
        raise CorruptFileError(path, f"GeoKeyDirectoryTag version is {version}, not 1")
    if len(values) < 4 + 4 * count:
        raise CorruptFileError(
            path,
            f"GeoKeyDirectoryTag declares {count} keys but holds only {(len(values) - 4) // 4}",
        )
    return values


class _Entry(NamedTuple):
    """One key of the directory: where its value is, and how many there are."""

    key_id: int
    location: int
    n: int
    offset: int


class _ParamTags:
    """GeoDoubleParamsTag and GeoAsciiParamsTag, read by directory entries."""

    def __init__(self, doubles: Sequence[float] | None, ascii: str | None, path: str) -> None:  # noqa: A002
        self._doubles = tuple(float(d) for d in doubles) if doubles is not None else None
        self._ascii = ascii
        self._path = path

    def value(self, entry: _Entry) -> GeoKeyValue | None:
        """The entry's value; None for a tag libgeotiff does not resolve."""
        if entry.location == 0:
            # The value lives in the offset field itself; count must be 1
            # but libgeotiff only reads the one SHORT, so don't insist.
            return entry.offset
        if entry.location == Tag.GEO_DOUBLE_PARAMS:
            return self._double(entry)
        if entry.location == Tag.GEO_ASCII_PARAMS:
            return self._text(entry)
        # libgeotiff only resolves these three locations; a key stored in
        # some other tag is silently unusable, not fatal.
        return None

    def _double(self, entry: _Entry) -> float | tuple[float, ...]:
        key_id, _, n, offset = entry
        dbl = self._doubles
        if dbl is None:
            raise CorruptFileError(
                self._path, f"GeoKey {key_id} points to GeoDoubleParamsTag, which is missing"
            )
        if n == 0 or offset + n > len(dbl):
            raise CorruptFileError(
                self._path,
                f"GeoKey {key_id} reads doubles [{offset}, {offset + n}) "
                f"of a GeoDoubleParamsTag holding {len(dbl)}",
            )
        return dbl[offset] if n == 1 else dbl[offset : offset + n]

    def _text(self, entry: _Entry) -> str:
        key_id, _, n, offset = entry
        text = self._ascii
        if text is None:
            raise CorruptFileError(
                self._path, f"GeoKey {key_id} points to GeoAsciiParamsTag, which is missing"
            )
        if offset + n > len(text):
            raise CorruptFileError(
                self._path,
                f"GeoKey {key_id} reads characters [{offset}, {offset + n}) "
                f"of a GeoAsciiParamsTag holding {len(text)}",
            )
        # The count includes the '|' terminator; some writers leave it out.
        return text[offset : offset + n].replace("\x00", "").removesuffix("|")


# --------------------------------------------------------------------------
# Small typed accessors on the key mapping.


def _short(keys: Mapping[int, GeoKeyValue], key: int) -> int | None:
    v = keys.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _double(keys: Mapping[int, GeoKeyValue], key: int) -> float | None:
    v = keys.get(key)
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, tuple) and v and math.isfinite(v[0]):
        return v[0]
    return None


def _doubles(keys: Mapping[int, GeoKeyValue], key: int) -> tuple[float, ...] | None:
    v = keys.get(key)
    if isinstance(v, float):
        return (v,)
    if isinstance(v, tuple):
        return v
    return None


def _ascii(keys: Mapping[int, GeoKeyValue], key: int) -> str | None:
    v = keys.get(key)
    return v if isinstance(v, str) else None


def _first(keys: Mapping[int, GeoKeyValue], chain: Sequence[int], default: float = 0.0) -> float:
    for k in chain:
        v = _double(keys, k)
        if v is not None:
            return v
    return default


# --------------------------------------------------------------------------
# EPSG look-ups (cached: the PROJ database is slow to query).


@cache
def _units_by_code() -> dict[int, tuple[str, float, str]]:
    out: dict[int, tuple[str, float, str]] = {}
    for unit in pyproj.database.get_units_map(auth_name="EPSG").values():
        try:
            code = int(unit.code)
        except ValueError:
            continue
        out[code] = (unit.name, unit.conv_factor, unit.category)
    return out


def _linear_unit(code: int) -> tuple[str, float] | None:
    u = _units_by_code().get(code)
    return (u[0], u[1]) if u is not None and u[2] == "linear" else None


# GDAL's SRS_UA_DEGREE_CONV: the degree as WKT1 prints it.
_DEGREE = 0.0174532925199433

# Names and sizes (in degrees) of the common angular units as GDAL gets them
# from libgeotiff (a grad is exactly 0.9 degree): the factors in pyproj's unit
# map are rounded, and GDAL's WKT1 would differ in the last digits.
_ANGLES_IN_DEGREES = {
    9101: ("radian", 180 / math.pi),
    9102: ("degree", 1.0),
    9103: ("arc-minute", 1 / 60),
    9104: ("arc-second", 1 / 3600),
    9105: ("grad", 180 / 200),
    9106: ("gon", 180 / 200),
    9107: ("degree", 1.0),
    9108: ("degree", 1.0),
    9109: ("microradian", 180 / (math.pi * 1e6)),
    9110: ("degree", 1.0),
    9122: ("degree", 1.0),
}


def _angular_unit(code: int) -> tuple[str, float] | None:
    """(name, size in degrees) of an EPSG angular unit, as libgeotiff has it."""
    known = _ANGLES_IN_DEGREES.get(code)
    if known is None:
        u = _units_by_code().get(code)
        if u is None or u[2] != "angular":
            return None
        known = (u[0], u[1] * 180 / math.pi)
    return known


@cache
def _epsg_crs(code: int) -> pyproj.CRS | None:
    try:
        return pyproj.CRS.from_epsg(code)
    except CRSError:
        return None


@cache
def _epsg_datum(code: int) -> Datum | None:
    try:
        return Datum.from_epsg(code)
    except CRSError:
        return None


@cache
def _epsg_ellipsoid(code: int) -> Ellipsoid | None:
    try:
        return Ellipsoid.from_epsg(code)
    except CRSError:
        return None


@cache
def _epsg_prime_meridian(code: int) -> PrimeMeridian | None:
    try:
        return PrimeMeridian.from_epsg(code)
    except CRSError:
        return None


@cache
def _official_datum_name(name: str) -> str | None:
    # GDAL maps ESRI-style names ("D_North_American_1983") to the EPSG name.
    try:
        return Datum.from_name(name, auth_name="EPSG").name
    except CRSError:
        return None


@cache
def _official_ellipsoid_name(name: str) -> str | None:
    # Likewise for ellipsoids ("GRS_1980" -> "GRS 1980").
    try:
        return Ellipsoid.from_name(name, auth_name="EPSG").name
    except CRSError:
        return None


# --------------------------------------------------------------------------
# WKT1 helpers.


def _q(name: str) -> str:
    # WKT1 has no escape for '"'; GDAL would write it doubled.
    return '"' + name.replace('"', '""') + '"'


def _num(v: float) -> str:
    return repr(float(v))


def _authority(code: int | None) -> str:
    return f',AUTHORITY["EPSG","{code}"]' if code is not None else ""


def _parse_geog_citation(citation: str) -> dict[str, str]:
    """Split "GCS Name = x|Datum = y|Ellipsoid = z|Primem = w|" citations."""
    out: dict[str, str] = {}
    if "=" not in citation:
        out["gcs"] = citation
        return out
    labels = {
        "gcs name": "gcs",
        "datum": "datum",
        "ellipsoid": "ellipsoid",
        "primem": "pm",
        "aunits": "aunits",
    }
    for part in citation.split("|"):
        if "=" not in part:
            continue
        label, _, value = part.partition("=")
        field = labels.get(label.strip().lower())
        if field is not None and value.strip():
            out[field] = value.strip()
    return out


def _degrees(pm: PrimeMeridian) -> float:
    return pm.longitude * float(pm.unit_conversion_factor) * 180 / math.pi


class _Geog:
    """The normalised geographic part, as GTIFGetDefn and then GDAL leave it.

    ``None`` names are the ones libgeotiff cannot look up (user-defined
    codes); GDAL then writes "unknown" or "unnamed" in their place.
    """

    def __init__(self) -> None:
        self.gcs_code: int | None = None
        self.name: str | None = None
        self.datum_code: int | None = None
        self.datum_name: str | None = None
        self.ellipsoid_name: str | None = None
        # EPSG codes GDAL writes as AUTHORITY nodes (known ones only).
        self.datum_epsg: int | None = None
        self.ellipsoid_epsg: int | None = None
        self.semi_major = 0.0
        self.semi_minor = 0.0
        self.inv_flattening = 0.0
        # GDAL reads GeogInvFlatteningGeoKey as is only when the ellipsoid
        # is named by the citation; otherwise it derives 1/f from a and b.
        self.ellipsoid_from_citation = False
        self.pm_user_defined = True
        self.pm_name: str | None = None
        self.pm_long = 0.0  # degrees
        self.angular_name: str | None = None
        # libgeotiff holds the unit's size in degrees; GDAL multiplies it by
        # its printed degree, and the last digits of WKT1 follow from that.
        self.angular_degrees = 1.0
        self.towgs84: tuple[float, ...] | None = None

    def wkt_parts(self) -> tuple[str, str, str]:
        """Return (DATUM[...], PRIMEM[...], UNIT[...]) WKT1 nodes."""
        towgs = ""
        if self.towgs84 is not None:
            towgs = ",TOWGS84[" + ",".join(_num(v) for v in self.towgs84) + "]"
        datum = (
            f"DATUM[{_q(self.datum_name or 'unnamed')},"
            f"SPHEROID[{_q(self.ellipsoid_name or 'unnamed')},"
            f"{_num(self.semi_major)},{_num(self.inv_flattening)}"
            f"{_authority(self.ellipsoid_epsg)}]{towgs}{_authority(self.datum_epsg)}]"
        )
        # GDAL calls an unnamed meridian at 0 Greenwich.
        pm_name = self.pm_name or ("Greenwich" if self.pm_long == 0 else "unnamed")
        # WKT1 gives the meridian in the GEOGCS's angular unit.
        pm = f"PRIMEM[{_q(pm_name)},{_num(self.pm_long / self.angular_degrees)}]"
        radians = self.angular_degrees * _DEGREE
        unit = f"UNIT[{_q(self.angular_name or 'unknown')},{_num(radians)}]"
        return datum, pm, unit

    def wkt(self, *, axes: bool) -> str:
        """The GEOGCS node, with lat/long axes when it stands alone."""
        datum, pm, unit = self.wkt_parts()
        axis = ',AXIS["Latitude",NORTH],AXIS["Longitude",EAST]' if axes else ""
        return f"GEOGCS[{_q(self.name or 'unknown')},{datum},{pm},{unit}{axis}]"


def _has_vertical(keys: Mapping[int, GeoKeyValue]) -> bool:
    """Whether GDAL would build a compound CRS from the vertical keys."""
    codes = [_short(keys, k) or 0 for k in (4096, 4098, 4099)]
    if not any(codes) or any(c > _USER_DEFINED for c in codes):
        return False
    vcs = codes[0]
    if vcs in (0, _USER_DEFINED):
        return True
    crs = _epsg_crs(vcs)
    return crs is not None and crs.is_vertical


def _build_geog(keys: Mapping[int, GeoKeyValue], gcs_from_pcs: int | None) -> _Geog:
    """Normalise the geographic keys the way libgeotiff + GDAL do.

    libgeotiff (GTIFGetDefn) starts from the GCS code, lets the datum,
    ellipsoid and prime-meridian keys override it, then the semi-axes and
    longitude values. GDAL then takes names from the GeogCitation when the
    GCS is not an EPSG code, and derives the inverse flattening.
    """
    g = _Geog()
    gcs = _short(keys, GeoKey.GEOGRAPHIC_TYPE)
    _geog_from_gcs(g, gcs if gcs is not None else gcs_from_pcs)
    _geog_angular_units(g, keys)
    _geog_datum(g, keys)
    _geog_ellipsoid(g, keys)
    _geog_prime_meridian(g, keys)
    if g.gcs_code is None:
        _geog_citation(g, keys)
    _geog_finish(g, keys)
    return g


def _geog_from_gcs(g: _Geog, gcs: int | None) -> None:
    crs = _epsg_crs(gcs) if gcs is not None and gcs != _USER_DEFINED else None
    if crs is None or not crs.is_geographic or crs.datum is None:
        return
    g.gcs_code = gcs
    g.name = crs.name
    # libgeotiff names the datum, not PROJ's ensemble ("... ensemble").
    g.datum_name = crs.datum.name.removesuffix(" ensemble")
    g.datum_code = g.datum_epsg = _code_of(crs.datum)
    e = crs.ellipsoid
    if e is not None:
        g.ellipsoid_name = e.name
        g.ellipsoid_epsg = _code_of(e)
        g.semi_major, g.semi_minor = e.semi_major_metre, e.semi_minor_metre
    pm = crs.prime_meridian
    if pm is not None:
        g.pm_user_defined = False
        g.pm_name = pm.name
        g.pm_long = _degrees(pm)
    axis = crs.axis_info[0] if crs.axis_info else None
    if axis is not None and axis.unit_auth_code == "EPSG" and axis.unit_code.isdigit():
        known = _angular_unit(int(axis.unit_code))
        if known is not None:
            g.angular_name, g.angular_degrees = known


def _geog_angular_units(g: _Geog, keys: Mapping[int, GeoKeyValue]) -> None:
    code = _short(keys, GeoKey.GEOG_ANGULAR_UNITS)
    if code is None:
        return
    known = _angular_unit(code) if code != _USER_DEFINED else None
    if known is None:
        # GDAL cannot name it and keeps the previous size: it reads
        # GeogAngularUnitSizeGeoKey only for a unit named by the citation.
        g.angular_name = None
    else:
        g.angular_name, g.angular_degrees = known


def _geog_datum(g: _Geog, keys: Mapping[int, GeoKeyValue]) -> None:
    code = _short(keys, GeoKey.GEOG_GEODETIC_DATUM)
    if code is None:
        return
    g.datum_code = code
    g.datum_name = g.datum_epsg = None
    datum = _epsg_datum(code) if code != _USER_DEFINED else None
    if datum is None:
        return
    # The datum brings its ellipsoid, but not its prime meridian: in
    # libgeotiff that comes from the GCS or the prime-meridian key only.
    g.datum_name = datum.name
    g.datum_epsg = code
    e = datum.ellipsoid
    if e is not None:
        g.ellipsoid_name = e.name
        g.ellipsoid_epsg = _code_of(e)
        g.semi_major, g.semi_minor = e.semi_major_metre, e.semi_minor_metre


def _geog_ellipsoid(g: _Geog, keys: Mapping[int, GeoKeyValue]) -> None:
    code = _short(keys, GeoKey.GEOG_ELLIPSOID)
    if code is not None:
        e = _epsg_ellipsoid(code) if code != _USER_DEFINED else None
        g.ellipsoid_name = e.name if e is not None else None
        g.ellipsoid_epsg = code if e is not None else None
        if e is not None:
            g.semi_major, g.semi_minor = e.semi_major_metre, e.semi_minor_metre
    a = _double(keys, GeoKey.GEOG_SEMI_MAJOR_AXIS)
    if a is not None:
        g.semi_major = a
    b = _double(keys, GeoKey.GEOG_SEMI_MINOR_AXIS)
    if b is not None:
        g.semi_minor = b
    rf = _double(keys, GeoKey.GEOG_INV_FLATTENING)
    if rf is not None:
        g.semi_minor = g.semi_major * (1 - 1 / rf) if rf != 0 else g.semi_major


def _geog_prime_meridian(g: _Geog, keys: Mapping[int, GeoKeyValue]) -> None:
    code = _short(keys, GeoKey.GEOG_PRIME_MERIDIAN)
    if code is not None:
        pm = _epsg_prime_meridian(code) if code != _USER_DEFINED else None
        g.pm_user_defined = pm is None
        g.pm_name = pm.name if pm is not None else None
        if pm is not None:
            g.pm_long = _degrees(pm)
    if g.pm_user_defined:
        # Only a user-defined meridian reads the longitude key, given in
        # GeogAngularUnits.
        lon = _double(keys, GeoKey.GEOG_PRIME_MERIDIAN_LONG)
        if lon is not None:
            g.pm_long = lon * g.angular_degrees


def _geog_citation(g: _Geog, keys: Mapping[int, GeoKeyValue]) -> None:
    """Names from a "GCS Name = ...|Datum = ...|" citation (GDAL's rule)."""
    cit = _ascii(keys, GeoKey.GEOG_CITATION)
    if not cit:
        return
    parsed = _parse_geog_citation(cit)
    g.name = parsed.get("gcs", g.name)
    g.datum_name = parsed.get("datum", g.datum_name)
    if "ellipsoid" in parsed:
        g.ellipsoid_name = parsed["ellipsoid"]
        g.ellipsoid_from_citation = True
    if "pm" in parsed:
        g.pm_name = parsed["pm"]
        # GDAL then reads the longitude key as is, unconverted.
        lon = _double(keys, GeoKey.GEOG_PRIME_MERIDIAN_LONG)
        g.pm_long = lon if lon is not None else g.pm_long
    if "aunits" in parsed:
        g.angular_name = parsed["aunits"]
        radians = _double(keys, GeoKey.GEOG_ANGULAR_UNIT_SIZE)
        g.angular_degrees = radians / _DEGREE if radians else g.angular_degrees


def _geog_finish(g: _Geog, keys: Mapping[int, GeoKeyValue]) -> None:
    if g.datum_name is not None and "_" in g.datum_name:
        # GDAL (>= 3.5) turns ESRI names ("D_North_American_1983") into EPSG
        # names, and otherwise keeps the name as written: no WKT1 massaging.
        g.datum_name = _official_datum_name(g.datum_name) or g.datum_name
    if g.ellipsoid_from_citation and g.ellipsoid_name and "_" in g.ellipsoid_name:
        g.ellipsoid_name = _official_ellipsoid_name(g.ellipsoid_name) or g.ellipsoid_name
    if not g.name:
        g.name = g.datum_name or "unknown"
    g.inv_flattening = _inverse_flattening(g, _double(keys, GeoKey.GEOG_INV_FLATTENING))
    if g.semi_major == 0.0:
        # GDAL's fallback for an ellipsoid it cannot retrieve.
        g.ellipsoid_name = "unretrievable - using WGS84"
        g.semi_major = _WGS84_A
    tw = _doubles(keys, GeoKey.GEOG_TOWGS84)
    # GDAL strips TOWGS84 when the datum has an EPSG code
    # (StripTOWGS84IfKnownDatum) -- but only on a plain CRS: with vertical keys
    # it is then a compound CRS, left alone, and the vertical part is dropped
    # only afterwards by the GTiff driver.
    keep = _has_vertical(keys) or g.datum_code is None or g.datum_code == _USER_DEFINED
    if tw is not None and len(tw) in (3, 7) and all(math.isfinite(v) for v in tw) and keep:
        g.towgs84 = (*tw, *(0.0,) * (7 - len(tw)))


_WGS84_A = 6378137.0
_WGS84_RF = 298.257223563


def _inverse_flattening(g: _Geog, rf_key: float | None) -> float:
    """1/f as GDAL reports it: from a and b unless the citation named the ellipsoid."""
    a, b = g.semi_major, g.semi_minor
    if a == 0.0:
        return _WGS84_RF
    if g.ellipsoid_from_citation and rf_key:
        return rf_key
    if abs(a - b) < 0.1 or b <= 0 or b > a:
        # GDAL's OSRCalcInvFlattening: a sphere, or axes it cannot use.
        return 0.0
    rf = a / (a - b)
    # GDAL snaps a computed WGS 84 flattening to the official value.
    if abs(a - _WGS84_A) < 1e-10 and abs(rf - _WGS84_RF) < 1e-10:
        return _WGS84_RF
    return rf


def _code_of(obj: Datum | Ellipsoid | PrimeMeridian) -> int | None:
    ids = obj.to_json_dict().get("id")
    if isinstance(ids, dict) and ids.get("authority") == "EPSG":
        code = ids.get("code")
        if isinstance(code, int):
            return code
    return None


# --------------------------------------------------------------------------
# Projections: ProjCoordTransGeoKey -> WKT1 PROJECTION + PARAMETERs.


class _Param(NamedTuple):
    """One WKT1 parameter: the GeoKeys it is read from, first present wins."""

    name: str
    keys: tuple[int, ...]
    default: float = 0.0
    # OGR's SetMercator2SP drops a zero latitude of origin.
    omit_if_zero: bool = False


class _Method(NamedTuple):
    """A coordinate transformation as GDAL writes it in WKT1."""

    name: str
    params: tuple[_Param, ...]


_NATURAL_ORIGIN = (_Param("latitude_of_origin", _LAT_KEYS), _Param("central_meridian", _LON_KEYS))
_SCALE = _Param("scale_factor", _K_KEYS, 1.0)
_SCALE_AT_CENTRE = _Param(
    "scale_factor", (GeoKey.PROJ_SCALE_AT_CENTER, GeoKey.PROJ_SCALE_AT_NAT_ORIGIN), 1.0
)
_FALSE_EN = (_Param("false_easting", _FE_KEYS), _Param("false_northing", _FN_KEYS))
_CENTRE_FALSE_EN = (
    _Param("false_easting", _CENTER_FE_KEYS),
    _Param("false_northing", _CENTER_FN_KEYS),
)
_ORIGIN_FALSE_EN = (
    _Param("false_easting", _ORIGIN_FE_KEYS),
    _Param("false_northing", _ORIGIN_FN_KEYS),
)
_CENTRE = (
    _Param("latitude_of_center", _CENTER_LAT_KEYS),
    _Param("longitude_of_center", _CENTER_LON_KEYS),
)
_CENTRE_AS_ORIGIN = (
    _Param("latitude_of_origin", _CENTER_LAT_KEYS),
    _Param("central_meridian", _CENTER_LON_KEYS),
)
_TWO_PARALLELS = (
    _Param("standard_parallel_1", (GeoKey.PROJ_STD_PARALLEL1,)),
    _Param("standard_parallel_2", (GeoKey.PROJ_STD_PARALLEL2,)),
)
_AZIMUTH = _Param("azimuth", (GeoKey.PROJ_AZIMUTH_ANGLE,))


def _natural_origin_scaled(name: str) -> _Method:
    return _Method(name, (*_NATURAL_ORIGIN, _SCALE, *_FALSE_EN))


def _centred(name: str) -> _Method:
    return _Method(name, (*_CENTRE, *_CENTRE_FALSE_EN))


def _centred_as_origin(name: str) -> _Method:
    return _Method(name, (*_CENTRE_AS_ORIGIN, *_CENTRE_FALSE_EN))


def _natural_origin(name: str) -> _Method:
    return _Method(name, (*_NATURAL_ORIGIN, *_FALSE_EN))


def _pseudo_cylindrical(name: str, meridian: str) -> _Method:
    return _Method(name, (_Param(meridian, _CENTER_LON_KEYS), *_CENTRE_FALSE_EN))


def _hotine(name: str) -> _Method:
    rectified = _Param("rectified_grid_angle", (GeoKey.PROJ_RECTIFIED_GRID_ANGLE,), 90.0)
    return _Method(name, (*_CENTRE, _AZIMUTH, rectified, _SCALE_AT_CENTRE, *_CENTRE_FALSE_EN))


def _conic(name: str, latitude: str, longitude: str) -> _Method:
    origin = (_Param(latitude, _ORIGIN_LAT_KEYS), _Param(longitude, _ORIGIN_LON_KEYS))
    return _Method(name, (*_TWO_PARALLELS, *origin, *_ORIGIN_FALSE_EN))


# Mercator has two entries: GDAL picks 2SP when ProjStdParallel1GeoKey is set.
_MERCATOR_2SP = _Method(
    "Mercator_2SP",
    (
        _Param("standard_parallel_1", (GeoKey.PROJ_STD_PARALLEL1,)),
        _Param("latitude_of_origin", _LAT_KEYS, omit_if_zero=True),
        _Param("central_meridian", _LON_KEYS),
        *_FALSE_EN,
    ),
)
_CT_MERCATOR = 7

# GeoTIFF CT_* code -> WKT1 method and the GeoKeys of its parameters (GDAL's
# GTIFGetOGISDefnAsOSR with libgeotiff's GTIFFetchProjParms fallbacks).
_PROJECTIONS: dict[int, _Method] = {
    1: _natural_origin_scaled("Transverse_Mercator"),
    3: _hotine("Hotine_Oblique_Mercator"),
    4: _Method(
        "Laborde_Oblique_Mercator", (*_CENTRE, _AZIMUTH, _SCALE_AT_CENTRE, *_CENTRE_FALSE_EN)
    ),
    _CT_MERCATOR: _natural_origin_scaled("Mercator_1SP"),
    8: _conic("Lambert_Conformal_Conic_2SP", "latitude_of_origin", "central_meridian"),
    9: _natural_origin_scaled("Lambert_Conformal_Conic_1SP"),
    10: _centred("Lambert_Azimuthal_Equal_Area"),
    11: _conic("Albers_Conic_Equal_Area", "latitude_of_center", "longitude_of_center"),
    12: _centred("Azimuthal_Equidistant"),
    13: _conic("Equidistant_Conic", "latitude_of_center", "longitude_of_center"),
    14: _natural_origin_scaled("Stereographic"),
    15: _Method(
        "Polar_Stereographic",
        (
            _NATURAL_ORIGIN[0],
            _Param("central_meridian", (GeoKey.PROJ_STRAIGHT_VERT_POLE_LONG, *_LON_KEYS)),
            _SCALE,
            *_FALSE_EN,
        ),
    ),
    16: _natural_origin_scaled("Oblique_Stereographic"),
    17: _Method(
        "Equirectangular",
        (
            *_CENTRE_AS_ORIGIN,
            _Param("standard_parallel_1", (GeoKey.PROJ_STD_PARALLEL1,)),
            *_FALSE_EN,
        ),
    ),
    18: _natural_origin("Cassini_Soldner"),
    19: _centred_as_origin("Gnomonic"),
    # GDAL's SetMC has no latitude: PROJ's Miller takes only a centre meridian.
    20: _pseudo_cylindrical("Miller_Cylindrical", "longitude_of_center"),
    21: _centred_as_origin("Orthographic"),
    22: _natural_origin("Polyconic"),
    23: _pseudo_cylindrical("Robinson", "central_meridian"),
    24: _pseudo_cylindrical("Sinusoidal", "longitude_of_center"),
    25: _pseudo_cylindrical("VanDerGrinten", "central_meridian"),
    26: _natural_origin("New_Zealand_Map_Grid"),
    27: _natural_origin_scaled("Transverse_Mercator_South_Orientated"),
    28: _Method(
        "Cylindrical_Equal_Area",
        (
            _Param("standard_parallel_1", (GeoKey.PROJ_STD_PARALLEL1,)),
            _NATURAL_ORIGIN[1],
            *_FALSE_EN,
        ),
    ),
    9815: _hotine("Hotine_Oblique_Mercator_Azimuth_Center"),
}


def _projection_wkt(ct: int, keys: Mapping[int, GeoKeyValue]) -> str | None:
    """WKT1 PROJECTION and PARAMETER nodes for a coordinate transformation.

    Angular values stay in GeogAngularUnits, linear ones in ProjLinearUnits:
    in GDAL's WKT1 both are read in the units of the enclosing nodes.
    Returns None for a method GDAL does not map.
    """
    method = _PROJECTIONS.get(ct)
    if method is None:
        return None
    if ct == _CT_MERCATOR and _double(keys, GeoKey.PROJ_STD_PARALLEL1) is not None:
        method = _MERCATOR_2SP
    values = [(p.name, _first(keys, p.keys, p.default)) for p in method.params]
    if method.name == "Mercator_1SP" and values[0][1] != 0:
        # Mercator (variant A) is defined on the equator only; GDAL builds
        # the CRS but PROJ then refuses to export it, and the file ends up
        # with no CRS. Say so up front.
        raise CRSError("Mercator 1SP with a non-zero latitude of origin")
    body = ",".join(
        f"PARAMETER[{_q(name)},{_num(value)}]"
        for (name, value), param in zip(values, method.params, strict=True)
        if not (param.omit_if_zero and value == 0)
    )
    return f"PROJECTION[{_q(method.name)}],{body}"


# --------------------------------------------------------------------------
# The CRS builder.


def crs_from_geokeys(keys: Mapping[int, GeoKeyValue]) -> pyproj.CRS | None:
    """Build the CRS described by decoded geokeys, as GDAL would (memoised).

    Files that share their geokeys (a stack of scenes) share one CRS object:
    pyproj CRSs are immutable, and building one costs ~0.15 ms of an open.
    See `_build_crs` for the rules.
    """
    try:
        key = tuple(sorted(keys.items()))
        hash(key)
    except TypeError:  # a value that cannot be hashed: build it each time
        return _build_crs(keys)
    return _cached_crs(key)


@lru_cache(maxsize=256)
def _cached_crs(key: tuple[tuple[int, GeoKeyValue], ...]) -> pyproj.CRS | None:
    return _build_crs(dict(key))


def _build_crs(keys: Mapping[int, GeoKeyValue]) -> pyproj.CRS | None:
    """Build the CRS described by decoded geokeys, as GDAL would.

    Args:
        keys: The output of `parse_geokey_directory`.

    Returns:
        The CRS, or None when the keys describe none or describe one PROJ
        cannot represent (GDAL then reports no CRS either). This function
        never raises for a CRS it cannot build. Vertical keys are ignored, as
        GDAL's GTiff driver strips the vertical part unless
        GTIFF_REPORT_COMPD_CS is set.
    """
    if not keys:
        return None
    try:
        built = _wkt_from_geokeys(keys)
        if built is None:
            return None
        crs = built if isinstance(built, pyproj.CRS) else pyproj.CRS.from_wkt(built)
        # PROJ accepts some definitions it cannot express (Mercator 1SP with a
        # non-zero latitude of origin); GDAL then fails to export them.
        # No look-up of a code-less CRS by its name: GDAL 3.10 makes none.
        return crs if crs.to_wkt() else None
    except CRSError:
        # Decision (docs/crs.md): keys PROJ refuses give no CRS rather than a
        # failed open, matching rasterio's crs=None for the same files.
        return None


def _wkt_from_geokeys(keys: Mapping[int, GeoKeyValue]) -> str | pyproj.CRS | None:
    model = _short(keys, GeoKey.GT_MODEL_TYPE)
    pcs = _short(keys, GeoKey.PROJECTED_CS_TYPE)
    if model in (None, _USER_DEFINED) and pcs is not None and pcs != _USER_DEFINED:
        # GDAL ticket #3019: a PCS code without a model type means projected.
        model = _MODEL_PROJECTED
    if model == _MODEL_PROJECTED:
        return _projected(keys)
    if model == _MODEL_GEOGRAPHIC:
        return _geographic(keys)
    if model == _MODEL_GEOCENTRIC:
        return _geocentric(keys)
    return _local(keys)


def _esri_pe(citation: str | None) -> str | None:
    """The WKT of an "ESRI PE String = ..." citation."""
    if citation is None or _ESRI_PE_PREFIX not in citation:
        return None
    return citation[citation.index(_ESRI_PE_PREFIX) + len(_ESRI_PE_PREFIX) :]


def _local(keys: Mapping[int, GeoKeyValue]) -> str:
    """No usable model type: an ESRI PE string, else a LOCAL_CS."""
    pe = _esri_pe(_ascii(keys, GeoKey.PCS_CITATION))
    if pe is not None:
        return pe
    name = _ascii(keys, GeoKey.GT_CITATION) or _ascii(keys, GeoKey.GEOG_CITATION) or "unnamed"
    return f"LOCAL_CS[{_q(name)},{_proj_linear_unit(keys, None)}]"


def _geocentric(keys: Mapping[int, GeoKeyValue]) -> str:
    name = _ascii(keys, GeoKey.GT_CITATION) or _ascii(keys, GeoKey.GEOG_CITATION) or "unnamed"
    datum, pm, _unit = _build_geog(keys, None).wkt_parts()
    unit = _proj_linear_unit(keys, None)
    return (
        f"GEOCCS[{_q(name)},{datum},{pm},{unit},"
        'AXIS["Geocentric X",OTHER],AXIS["Geocentric Y",OTHER],AXIS["Geocentric Z",NORTH]]'
    )


def _geographic(keys: Mapping[int, GeoKeyValue]) -> str | pyproj.CRS:
    g = _build_geog(keys, None)
    epsg = _epsg_crs(g.gcs_code) if g.gcs_code is not None else None
    # GDAL takes a dynamic-datum geographic CRS (WGS 84 among them) whole
    # from EPSG, whatever the other geographic keys say.
    if epsg is not None and (_only_gcs_code(keys) or _is_dynamic(epsg)):
        return epsg
    return g.wkt(axes=True)


def _projected(keys: Mapping[int, GeoKeyValue]) -> str | pyproj.CRS:
    pcs = _short(keys, GeoKey.PROJECTED_CS_TYPE)
    epsg_pcs = _epsg_crs(pcs) if pcs is not None and pcs != _USER_DEFINED else None
    if epsg_pcs is not None and not epsg_pcs.is_projected:
        epsg_pcs = None
    overrides = (
        GeoKey.PROJECTION,
        GeoKey.PROJ_COORD_TRANS,
        GeoKey.GEOGRAPHIC_TYPE,
        GeoKey.GEOG_GEODETIC_DATUM,
        GeoKey.GEOG_ELLIPSOID,
    )
    if epsg_pcs is not None and all(k not in keys for k in overrides):
        # GDAL imports the PCS straight from EPSG when it is (nearly) the only
        # key, honouring only an overridden ProjLinearUnitsGeoKey.
        return _with_linear_units(epsg_pcs, keys)

    gcs_from_pcs = None
    if epsg_pcs is not None and epsg_pcs.geodetic_crs is not None:
        gcs_from_pcs = _code_of_crs(epsg_pcs.geodetic_crs)
    g = _build_geog(keys, gcs_from_pcs)
    unit = _proj_linear_unit(keys, epsg_pcs)
    name = epsg_pcs.name if epsg_pcs is not None else _projected_name(keys)
    pe = _esri_pe(name)
    if pe is not None:
        return pe
    ct = _short(keys, GeoKey.PROJ_COORD_TRANS)
    proj = _projection_wkt(ct, keys) if ct is not None else None
    if proj is not None:
        # No AXIS: PROJ then picks the method's natural axes (west/south for
        # the south-oriented TM), as it does for GDAL's WKT.
        return f"PROJCS[{_q(name)},{g.wkt(axes=False)},{proj},{unit}]"
    conversion = _conversion(keys, epsg_pcs) if ct is None else None
    if conversion is None:
        # GDAL falls back to a LOCAL_CS named after the projected CRS.
        return f"LOCAL_CS[{_q(name)},{unit}]"
    return _projected_from_json(name, g, conversion, unit)


def _projected_name(keys: Mapping[int, GeoKeyValue]) -> str:
    name = _ascii(keys, GeoKey.PCS_CITATION) or ""
    if not name or name.lower().startswith("lunits = "):
        # A citation holding only the unit: GDAL names the CRS from GTCitation.
        name = _ascii(keys, GeoKey.GT_CITATION) or "unnamed"
    return name


def _conversion(
    keys: Mapping[int, GeoKeyValue], epsg_pcs: pyproj.CRS | None
) -> dict[str, object] | None:
    """The PROJJSON conversion when no ProjCoordTransGeoKey is given.

    libgeotiff takes it from ProjectionGeoKey (an EPSG conversion code),
    else from the PCS code.
    """
    proj_code = _short(keys, GeoKey.PROJECTION)
    if proj_code is not None and proj_code != _USER_DEFINED:
        conversion = _epsg_conversion(proj_code)
        if conversion is not None:
            return conversion
    if epsg_pcs is None:
        return None
    conv = epsg_pcs.to_json_dict().get("conversion")
    return conv if isinstance(conv, dict) else None


def _epsg_conversion(code: int) -> dict[str, object] | None:
    try:
        op = CoordinateOperation.from_epsg(code)
    except CRSError:
        return None
    doc = op.to_json_dict()
    return doc if doc.get("type") == "Conversion" else None


def _projected_from_json(
    name: str, g: _Geog, conversion: dict[str, object], unit_wkt: str
) -> pyproj.CRS:
    """Assemble a projected CRS from a PROJJSON conversion."""
    base = pyproj.CRS.from_wkt(g.wkt(axes=True)).to_json_dict()
    m = re.fullmatch(r'UNIT\["((?:[^"]|"")*)",([^\]]+)\]', unit_wkt)
    unit: object = "metre"
    if m is not None and float(m.group(2)) != 1.0:
        unit = {
            "type": "LinearUnit",
            "name": m.group(1).replace('""', '"'),
            "conversion_factor": float(m.group(2)),
        }
    conv = dict(conversion)
    conv.pop("id", None)
    conv.pop("$schema", None)
    doc: dict[str, object] = {
        "type": "ProjectedCRS",
        "name": name,
        "base_crs": base,
        "conversion": conv,
        "coordinate_system": {
            "subtype": "Cartesian",
            "axis": [
                {"name": "Easting", "abbreviation": "E", "direction": "east", "unit": unit},
                {"name": "Northing", "abbreviation": "N", "direction": "north", "unit": unit},
            ],
        },
    }
    if base.get("type") == "BoundCRS":
        # TOWGS84 on the datum: keep it on the projected CRS.
        bound = dict(base)
        doc["base_crs"] = bound["source_crs"]
        return pyproj.CRS.from_json_dict(
            {
                "type": "BoundCRS",
                "source_crs": doc,
                "target_crs": bound["target_crs"],
                "transformation": bound["transformation"],
            }
        )
    return pyproj.CRS.from_json_dict(doc)


def _is_dynamic(crs: pyproj.CRS) -> bool:
    """Whether the CRS's datum is dynamic (or an ensemble with dynamic members)."""
    datum = crs.datum
    if datum is None:
        return False
    if datum.type_name == "Dynamic Geodetic Reference Frame":
        return True
    members = datum.to_json_dict().get("members")
    if not isinstance(members, list):
        return False
    for member in members:
        ident = member.get("id") if isinstance(member, dict) else None
        code = ident.get("code") if isinstance(ident, dict) else None
        if isinstance(code, int):
            d = _epsg_datum(code)
            if d is not None and d.type_name == "Dynamic Geodetic Reference Frame":
                return True
    return False


def _only_gcs_code(keys: Mapping[int, GeoKeyValue]) -> bool:
    overrides = (
        GeoKey.GEOG_GEODETIC_DATUM,
        GeoKey.GEOG_ELLIPSOID,
        GeoKey.GEOG_PRIME_MERIDIAN,
        GeoKey.GEOG_SEMI_MAJOR_AXIS,
        GeoKey.GEOG_SEMI_MINOR_AXIS,
        GeoKey.GEOG_INV_FLATTENING,
        GeoKey.GEOG_PRIME_MERIDIAN_LONG,
        GeoKey.GEOG_TOWGS84,
        GeoKey.GEOG_ANGULAR_UNITS,
    )
    return all(k not in keys for k in overrides)


def _code_of_crs(crs: pyproj.CRS) -> int | None:
    auth = crs.to_authority(min_confidence=100)
    if auth is not None and auth[0] == "EPSG":
        return int(auth[1])
    return None


def _proj_linear_unit(keys: Mapping[int, GeoKeyValue], epsg_pcs: pyproj.CRS | None) -> str:
    code = _short(keys, GeoKey.PROJ_LINEAR_UNITS)
    if code is None:
        if epsg_pcs is not None and epsg_pcs.axis_info:
            ax = epsg_pcs.axis_info[0]
            return f"UNIT[{_q(ax.unit_name)},{_num(ax.unit_conversion_factor)}]"
        # No unit at all: GDAL writes libgeotiff's default, 1 m named "unknown".
        return 'UNIT["unknown",1]'
    if code == _USER_DEFINED:
        size = _double(keys, GeoKey.PROJ_LINEAR_UNIT_SIZE)
        return f'UNIT["unknown",{_num(size or 1.0)}]'
    known = _linear_unit(code)
    if known is None:
        return 'UNIT["unknown",1]'
    return f"UNIT[{_q(known[0])},{_num(known[1])}]"


def _with_linear_units(crs: pyproj.CRS, keys: Mapping[int, GeoKeyValue]) -> pyproj.CRS:
    """Apply an overriding ProjLinearUnitsGeoKey to an EPSG projected CRS."""
    code = _short(keys, GeoKey.PROJ_LINEAR_UNITS)
    if code is None or not crs.axis_info:
        return crs
    if code == _USER_DEFINED:
        size = _double(keys, GeoKey.PROJ_LINEAR_UNIT_SIZE)
        if not size:
            return crs
        unit_name, factor = "unknown", size
    else:
        known = _linear_unit(code)
        if known is None:
            return crs
        unit_name, factor = known
    current = crs.axis_info[0].unit_conversion_factor
    if abs(current - factor) <= 1e-15 * factor:
        return crs
    # Re-express the axes in the file's unit; PROJJSON keeps each parameter's
    # own unit, so the false easting/northing need no conversion here.
    doc = crs.to_json_dict()
    doc.pop("id", None)
    unit = {"type": "LinearUnit", "name": unit_name, "conversion_factor": factor}
    for axis in doc.get("coordinate_system", {}).get("axis", []):
        axis["unit"] = unit
    return pyproj.CRS.from_json_dict(doc)
