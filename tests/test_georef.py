"""Tests for trio_geotiff._georef: geotransforms and GCPs from GeoTIFF tags."""

from __future__ import annotations

import math

import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus import CORPUS, gtiff_paths, open_oracle, raw_tags, require_corpus
from trio_geotiff._crs import parse_geokey_directory
from trio_geotiff._georef import GroundControlPoint, gcps_from_tiepoints, transform_from_tags
from trio_geotiff.errors import CorruptFileError

# --------------------------------------------------------------------------
# Hand-built tags

MATRIX = (2.0, 0.5, 0.0, 10.0, 0.3, -3.0, 0.0, 20.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)


def test_scale_and_tiepoint() -> None:
    t = transform_from_tags(
        pixel_scale=(2.0, 3.0, 0.0),
        tiepoints=(1.0, 1.0, 0.0, 100.0, 200.0, 0.0),
        transformation=None,
        pixel_is_point=False,
    )
    assert t == Affine(2.0, 0.0, 98.0, 0.0, -3.0, 203.0)


def test_negative_y_scale_still_points_down() -> None:
    t = transform_from_tags(
        pixel_scale=(2.0, -3.0, 0.0),
        tiepoints=(0.0, 0.0, 0.0, 100.0, 200.0, 0.0),
        transformation=None,
        pixel_is_point=False,
    )
    assert t == Affine(2.0, 0.0, 100.0, 0.0, -3.0, 200.0)


def test_pixel_is_point_shifts_half_a_pixel() -> None:
    t = transform_from_tags(
        pixel_scale=(2.0, 2.0, 0.0),
        tiepoints=(0.0, 0.0, 0.0, -1.0, 53.0, 0.0),
        transformation=None,
        pixel_is_point=True,
    )
    assert t == Affine(2.0, 0.0, -2.0, 0.0, -2.0, 54.0)


def test_matrix_with_rotation() -> None:
    t = transform_from_tags(
        pixel_scale=None, tiepoints=None, transformation=MATRIX, pixel_is_point=False
    )
    assert t == Affine(2.0, 0.5, 10.0, 0.3, -3.0, 20.0)


def test_matrix_pixel_is_point() -> None:
    t = transform_from_tags(
        pixel_scale=None, tiepoints=None, transformation=MATRIX, pixel_is_point=True
    )
    assert t is not None
    assert t.almost_equals(Affine(2.0, 0.5, 10.0 - 1.25, 0.3, -3.0, 20.0 + 1.35))


def test_scale_without_tiepoint_has_zero_origin() -> None:
    t = transform_from_tags(
        pixel_scale=(2.0, 3.0, 0.0), tiepoints=None, transformation=MATRIX, pixel_is_point=False
    )
    assert t == Affine(2.0, 0.0, 0.0, 0.0, -3.0, 0.0)


def test_nothing_means_none() -> None:
    assert (
        transform_from_tags(
            pixel_scale=None, tiepoints=None, transformation=None, pixel_is_point=False
        )
        is None
    )


def test_tiepoints_only_give_gcps() -> None:
    ties = (0.0, 0.0, 0.0, 10.0, 20.0, 1.0, 5.0, 6.0, 0.0, 11.0, 19.0, 2.0)
    assert (
        transform_from_tags(
            pixel_scale=None, tiepoints=ties, transformation=None, pixel_is_point=False
        )
        is None
    )
    gcps = gcps_from_tiepoints(ties, None, None)
    assert gcps == [
        GroundControlPoint(row=0.0, col=0.0, x=10.0, y=20.0, z=1.0, id="1", info=""),
        GroundControlPoint(row=6.0, col=5.0, x=11.0, y=19.0, z=2.0, id="2", info=""),
    ]
    shifted = gcps_from_tiepoints(ties, None, None, pixel_is_point=True)
    assert shifted is not None
    assert (shifted[1].row, shifted[1].col) == (6.5, 5.5)


def test_no_gcps_with_scale_or_matrix() -> None:
    ties = (0.0, 0.0, 0.0, 10.0, 20.0, 0.0)
    assert gcps_from_tiepoints(ties, (1.0, 1.0, 0.0), None) is None
    assert gcps_from_tiepoints(ties, None, MATRIX) is None
    assert gcps_from_tiepoints(None, None, None) is None


@pytest.mark.parametrize(
    ("scale", "ties", "matrix", "why"),
    [
        ((1.0,), None, None, "ModelPixelScaleTag"),
        ((0.0, 1.0, 0.0), (0.0,) * 6, None, "zero scale"),
        ((1.0, 0.0, 0.0), (0.0,) * 6, None, "zero scale"),
        ((1.0, 1.0, 0.0), (0.0,) * 5, None, "multiple of 6"),
        (None, (), None, "multiple of 6"),
        (None, None, (1.0,) * 15, "not 16"),
        ((math.inf, 1.0, 0.0), (0.0,) * 6, None, "non-finite"),
        (None, (0.0, 0.0, 0.0, math.nan, 0.0, 0.0), None, "non-finite"),
        (None, None, (math.nan,) * 16, "non-finite"),
    ],
)
def test_nonsense_raises_corrupt(
    scale: tuple[float, ...] | None,
    ties: tuple[float, ...] | None,
    matrix: tuple[float, ...] | None,
    why: str,
) -> None:
    with pytest.raises(CorruptFileError, match=why):
        transform_from_tags(
            pixel_scale=scale, tiepoints=ties, transformation=matrix, pixel_is_point=False, path="x"
        )
    with pytest.raises(CorruptFileError, match=why):
        gcps_from_tiepoints(ties, scale, matrix, path="x")


_floats = st.floats(allow_nan=True, allow_infinity=True)


@settings(max_examples=300, deadline=None)
@given(
    scale=st.none() | st.lists(_floats, max_size=4),
    ties=st.none() | st.lists(_floats, max_size=13),
    matrix=st.none() | st.lists(_floats, min_size=15, max_size=17),
    pip=st.booleans(),
)
def test_garbage_only_raises_corrupt(
    scale: list[float] | None, ties: list[float] | None, matrix: list[float] | None, pip: bool
) -> None:
    try:
        t = transform_from_tags(
            pixel_scale=scale, tiepoints=ties, transformation=matrix, pixel_is_point=pip
        )
        g = gcps_from_tiepoints(ties, scale, matrix, pixel_is_point=pip)
    except CorruptFileError:
        return
    assert t is None or isinstance(t, Affine)
    assert g is None or all(isinstance(p, GroundControlPoint) for p in g)


# --------------------------------------------------------------------------
# Oracle: every corpus file against rasterio.


@pytest.mark.parametrize("rel", gtiff_paths())
def test_georef_matches_rasterio(rel: str) -> None:
    require_corpus()  # skips when the corpus is missing
    path = CORPUS / rel
    tags = raw_tags(path)
    if tags is None:
        pytest.skip("tifffile cannot read this (deliberately broken) file")
    pixel_is_point = False
    if 34735 in tags:
        keys = parse_geokey_directory(tags[34735], tags.get(34736), tags.get(34737), path=rel)
        pixel_is_point = keys.get(1025) == 2
    scale, ties, matrix = tags.get(33550), tags.get(33922), tags.get(34264)
    ours = transform_from_tags(
        pixel_scale=scale,
        tiepoints=ties,
        transformation=matrix,
        pixel_is_point=pixel_is_point,
        path=rel,
    )
    gcps = gcps_from_tiepoints(ties, scale, matrix, pixel_is_point=pixel_is_point, path=rel)
    try:
        ds = open_oracle(path)
    except Exception as exc:
        pytest.skip(f"rasterio cannot open this broken file: {exc}")
    with ds:
        their_transform = ds.transform
        their_gcps = ds.gcps[0]
    # rasterio reports the identity when GDAL has no geotransform.
    assert (ours if ours is not None else Affine.identity()).almost_equals(
        their_transform, precision=1e-9
    )
    mine = [(g.row, g.col, g.x, g.y, g.z, g.id, g.info) for g in gcps or []]
    theirs = [(g.row, g.col, g.x, g.y, g.z, g.id, g.info or "") for g in their_gcps]
    assert mine == theirs
