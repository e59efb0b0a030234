"""Tests for trio_geotiff._crs: geokey decoding and CRS building."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pyproj
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus import CORPUS, gtiff_paths, open_oracle, raw_tags, require_corpus
from trio_geotiff._crs import crs_from_geokeys, parse_geokey_directory
from trio_geotiff.errors import CorruptFileError


def directory(*entries: tuple[int, int, int, int]) -> list[int]:
    out = [1, 1, 0, len(entries)]
    for entry in entries:
        out.extend(entry)
    return out


# --------------------------------------------------------------------------
# parse_geokey_directory


def test_parse_all_three_locations() -> None:
    d = directory((1024, 0, 1, 1), (1026, 34737, 6, 0), (2057, 34736, 1, 1), (2062, 34736, 3, 0))
    keys = parse_geokey_directory(d, [1.0, 6378137.0, 3.0], "hello|")
    assert keys == {1024: 1, 1026: "hello", 2057: 6378137.0, 2062: (1.0, 6378137.0, 3.0)}


def test_parse_strips_nuls_and_tolerates_missing_pipe() -> None:
    d = directory((1026, 34737, 4, 0), (2049, 34737, 3, 4))
    keys = parse_geokey_directory(d, None, "ab\x00|WGS")
    assert keys == {1026: "ab", 2049: "WGS"}


def test_parse_skips_zero_padding_and_unknown_locations() -> None:
    # RGB2.byte.tif style trailing all-zero entry; a key stored in tag 33550.
    d = directory((1024, 0, 1, 2), (3072, 33550, 1, 0), (0, 0, 0, 0))
    assert parse_geokey_directory(d, None, None) == {1024: 2}


@pytest.mark.parametrize(
    ("raw", "doubles", "ascii", "why"),
    [
        ([1, 1, 0], None, None, "header"),
        ([2, 1, 0, 0], None, None, "version"),
        ([1, 1, 0, 2, 1024, 0, 1, 1], None, None, "declares 2 keys"),
        (directory((2057, 34736, 1, 0)), None, None, "missing"),
        (directory((2057, 34736, 2, 0)), [1.0], None, "doubles"),
        (directory((2057, 34736, 0, 0)), [1.0], None, "doubles"),
        (directory((1026, 34737, 9, 0)), None, "abc|", "characters"),
        (directory((1026, 34737, 1, 0)), None, None, "missing"),
        ([1, 1, 0, 1, 1024, 0, 1, 70000], None, None, "SHORT"),
        ([1, 1, 0, 1, 1024, 0, 1, -1], None, None, "SHORT"),
    ],
)
def test_parse_rejects_broken_directories(
    raw: list[int],
    doubles: list[float] | None,
    ascii: str | None,  # noqa: A002
    why: str,
) -> None:
    with pytest.raises(CorruptFileError, match=why) as info:
        parse_geokey_directory(raw, doubles, ascii, path="x.tif")
    assert info.value.path == "x.tif"


@settings(max_examples=300, deadline=None)
@given(
    raw=st.lists(st.integers(min_value=-2, max_value=70000), max_size=40)
    | st.lists(
        st.sampled_from([0, 1, 2, 3, 4, 1024, 2048, 3072, 34736, 34737, 32767]), max_size=40
    ),
    doubles=st.none() | st.lists(st.floats(allow_nan=True), max_size=6),
    ascii=st.none() | st.text(max_size=20),
)
def test_garbage_directories_only_raise_corrupt(
    raw: list[int],
    doubles: list[float] | None,
    ascii: str | None,  # noqa: A002
) -> None:
    if len(raw) >= 4 and raw[0] != 1 and raw[0] >= 0:
        raw = [1, *raw[1:]]
    try:
        keys = parse_geokey_directory(raw, doubles, ascii)
    except CorruptFileError:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = crs_from_geokeys(keys)
    assert result is None or isinstance(result, pyproj.CRS)


@settings(max_examples=200, deadline=None)
@given(
    keys=st.dictionaries(
        st.sampled_from(
            [
                1024,
                1026,
                2048,
                2049,
                2050,
                2051,
                2054,
                2055,
                2056,
                2057,
                2058,
                2059,
                2061,
                2062,
                3072,
                3073,
                3074,
                3075,
                3076,
                3077,
                3078,
                3080,
                3081,
                3082,
                3092,
                4096,
            ]
        ),
        st.integers(min_value=0, max_value=65535)
        | st.floats()
        | st.text(max_size=12)
        | st.tuples(st.floats(), st.floats(), st.floats()),
        max_size=10,
    )
)
def test_random_key_sets_never_crash(keys: dict[int, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = crs_from_geokeys(keys)
    assert result is None or isinstance(result, pyproj.CRS)


# --------------------------------------------------------------------------
# crs_from_geokeys on hand-built keys


def test_no_keys_no_crs() -> None:
    assert crs_from_geokeys({}) is None


def test_epsg_projected() -> None:
    crs = crs_from_geokeys({1024: 1, 1025: 1, 3072: 32613, 3076: 9001})
    assert crs == pyproj.CRS.from_epsg(32613)


def test_epsg_geographic() -> None:
    crs = crs_from_geokeys({1024: 2, 1025: 1, 2048: 4326, 2054: 9102})
    assert crs == pyproj.CRS.from_epsg(4326)


def test_pcs_without_model_type_is_projected() -> None:
    assert crs_from_geokeys({3072: 2193}) == pyproj.CRS.from_epsg(2193)


def test_user_defined_transverse_mercator() -> None:
    keys = {
        1024: 1,
        2048: 4326,
        3072: 32767,
        3074: 32767,
        3075: 1,
        3076: 9001,
        3080: -75.0,
        3081: 0.0,
        3082: 500000.0,
        3083: 0.0,
        3092: 0.9996,
    }
    crs = crs_from_geokeys(keys)
    assert crs is not None
    assert crs.equals(pyproj.CRS.from_epsg(32618))


def test_projection_code_without_coord_trans() -> None:
    # ProjectionGeoKey 16018 = UTM zone 18N, on a WGS 84 ellipsoid datum.
    keys = {1024: 1, 2048: 4326, 3072: 32767, 3074: 16018}
    crs = crs_from_geokeys(keys)
    assert crs is not None
    assert crs.equals(pyproj.CRS.from_epsg(32618))


def test_linear_units_override_km() -> None:
    crs = crs_from_geokeys({1024: 1, 3072: 32064, 3076: 9036})
    assert crs is not None
    assert crs.axis_info[0].unit_conversion_factor == 1000.0
    assert crs.to_authority() is None  # no longer EPSG:32064 (US feet)


def test_esri_pe_string() -> None:
    wkt = pyproj.CRS.from_epsg(5070).to_wkt(version="WKT1_ESRI")
    crs = crs_from_geokeys({1024: 32767, 3073: "ESRI PE String = " + wkt})
    assert crs is not None
    assert crs.equals(pyproj.CRS.from_epsg(5070))


def test_geocentric() -> None:
    crs = crs_from_geokeys({1024: 3, 2048: 4326})
    assert crs is not None
    assert crs.is_geocentric


def test_vertical_keys_dropped_like_gdal() -> None:
    # GDAL reports only the horizontal part (GTIFF_REPORT_COMPD_CS=NO).
    assert crs_from_geokeys({1024: 1, 3072: 32631, 4096: 5773}) == pyproj.CRS.from_epsg(32631)


def test_mercator_1sp_off_equator_gives_no_crs() -> None:
    keys = {1024: 1, 2048: 4267, 3072: 32767, 3075: 7, 3080: -90.0, 3081: 30.0, 3092: 0.8}
    assert crs_from_geokeys(keys) is None


def test_local_cs_when_model_unknown() -> None:
    crs = crs_from_geokeys({1024: 32767, 1026: "my grid"})
    assert crs is not None
    assert crs.is_engineering


# --------------------------------------------------------------------------
# Oracle: every corpus file against rasterio.

# Files GDAL itself can't give a CRS to: PROJ refuses Mercator 1SP with a
# non-zero latitude of origin. We return None, like rasterio's crs.
NO_CRS_BY_DECISION = {"georust-geotiff/merc.tif", "node-gdal-async/unsupported-srs.tif"}


@pytest.mark.parametrize("rel", gtiff_paths())
def test_crs_matches_rasterio(rel: str) -> None:
    require_corpus()  # skips when the corpus is missing
    path = CORPUS / rel
    tags = raw_tags(path)
    if tags is None:
        pytest.skip("tifffile cannot read this (deliberately broken) file")
    try:
        ds = open_oracle(path)
    except Exception as exc:
        pytest.skip(f"rasterio cannot open this broken file: {exc}")
    with ds:
        theirs = ds.crs
        if theirs is None and ds.gcps[0]:
            # With GCPs GDAL puts the CRS on the GCPs, not on the dataset.
            theirs = ds.gcps[1]
    if 34735 in tags:
        keys = parse_geokey_directory(tags[34735], tags.get(34736), tags.get(34737), path=rel)
        ours = crs_from_geokeys(keys)
    else:
        ours = None
    if rel in NO_CRS_BY_DECISION:
        assert ours is None
        assert theirs is None
        return
    if theirs is None:
        assert ours is None
        return
    assert ours is not None
    expected = pyproj.CRS.from_user_input(theirs.to_wkt())
    # Every corpus file compares exactly equal (pyproj equality); none needs
    # the ignore_axis_order fallback at the moment.
    assert ours == expected, f"{ours.to_wkt()}\n!=\n{expected.to_wkt()}"


def test_corpus_has_the_non_epsg_files() -> None:
    names = {Path(e["path"]).name for e in require_corpus()}
    assert {"cea.tif", "GeogPrimeMeridianGeoKey.tif", "test_esri_wkt.tif"} <= names
