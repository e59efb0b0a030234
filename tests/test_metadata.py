"""Metadata under rasterio's names: bounds, tags, colormaps, profile, mask flags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from obstore.store import LocalStore

from trio_geotiff import Array, BoundingBox, GeoTIFF, MaskFlags
from trio_geotiff import _crs as crs_module
from trio_geotiff._gdal_metadata import parse_gdal_metadata, parse_nodata, parse_pam
from trio_geotiff.errors import GeoTIFFError, InvalidArgumentError, InvalidWindowError


async def open_cog(cog_dir: Path) -> GeoTIFF:
    return await GeoTIFF.open("cog.tif", store=LocalStore(str(cog_dir)))


def test_bounding_box_is_a_named_tuple_like_rasterios() -> None:
    box = BoundingBox(1.0, 2.0, 3.0, 4.0)
    left, bottom, right, top = box
    assert (left, bottom, right, top) == (1.0, 2.0, 3.0, 4.0)
    assert (box[0], box[-1], box[1:3]) == (1.0, 4.0, (2.0, 3.0))
    assert box == (1.0, 2.0, 3.0, 4.0)
    assert box._asdict() == rasterio.coords.BoundingBox(1.0, 2.0, 3.0, 4.0)._asdict()
    assert box.right == 3.0


async def test_bounds_match_rasterio(cog_dir: Path) -> None:
    tif = await open_cog(cog_dir)
    with rasterio.open(cog_dir / "cog.tif") as ds:
        assert tif.bounds == tuple(ds.bounds)
        assert tif.bounds._fields == ds.bounds._fields


def test_bounds_of_a_rotated_window_cover_all_corners() -> None:
    t = Affine.rotation(30) @ Affine.scale(10, -10)
    arr = Array(data=np.zeros((1, 20, 10)), mask=None, transform=t, crs=None, nodata=None)
    corners = [t @ (c, r) for c in (0, 10) for r in (0, 20)]
    assert tuple(arr.bounds) == (
        min(x for x, _ in corners),
        min(y for _, y in corners),
        max(x for x, _ in corners),
        max(y for _, y in corners),
    )


async def test_profile_and_mask_flags_match_rasterio(cog_dir: Path) -> None:
    tif = await open_cog(cog_dir)
    profile = tif.profile
    with rasterio.open(cog_dir / "cog.tif") as ds:
        want = dict(ds.profile)
        assert list(profile) == list(want)
        for key in ("driver", "dtype", "nodata", "width", "height", "count", "blockxsize"):
            assert profile[key] == want[key], key
        assert profile["transform"] == want["transform"]
        assert profile["tiled"] == want["tiled"]
        assert profile["compress"] == want["compress"]
        assert tif.mask_flag_enums == ds.mask_flag_enums
    assert tif.mask_flag_enums == ([MaskFlags.all_valid],) * 3
    profile["width"] = 1  # a new dict each time
    assert tif.profile["width"] == 2048


async def test_geokeys_are_parsed_once(cog_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    parse = crs_module.parse_geokey_directory

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return parse(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(crs_module, "parse_geokey_directory", counting)
    tif = await open_cog(cog_dir)
    for _ in range(3):
        assert tif.tags()["AREA_OR_POINT"] == "Area"
    assert len(calls) == 1


async def test_colormap_of_a_band_without_one_is_an_argument_error(cog_dir: Path) -> None:
    tif = await open_cog(cog_dir)
    with pytest.raises(InvalidArgumentError, match=r"cog\.tif: band 1 has no colormap") as info:
        tif.colormap(1)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, GeoTIFFError)
    with pytest.raises(InvalidWindowError):
        tif.tags(4)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("-9999", -9999.0),
        (" 12abc", 12.0),
        ("abc", 0.0),
        ("-3.5e2x", -350.0),
        (".5q", 0.5),
        ("", None),
        (None, None),
        ("-inf", -np.inf),
        ("Infinity", np.inf),
    ],
)
def test_gdal_nodata_text_parses_like_atof(text: str | None, value: float | None) -> None:
    assert parse_nodata(text) == value


def test_gdal_nodata_nan() -> None:
    value = parse_nodata("nan\0")
    assert value is not None
    assert np.isnan(value)


def test_gdal_metadata_items_by_domain_band_and_role() -> None:
    meta = parse_gdal_metadata(
        "<GDALMetadata>"
        '<Item name="A">1</Item>'
        '<Item name="B" domain="IMAGE_STRUCTURE">2</Item>'
        '<Item name="C" sample="1">3</Item>'
        '<Item name="SCALE" sample="0" role="scale">0.5</Item>'
        '<Item name="D" sample="-1">ignored</Item>'
        '<Item name="E" sample="x">ignored</Item>'
        '<Item name="Q">&amp;quot;x&amp;quot;</Item>'
        "</GDALMetadata>"
    )
    assert meta.dataset == {"": {"A": "1", "Q": '"x"'}, "IMAGE_STRUCTURE": {"B": "2"}}
    assert meta.bands == {1: {"": {"C": "3"}}}
    assert meta.roles == {0: {"scale": "0.5"}}
    assert parse_gdal_metadata("<not xml") == parse_gdal_metadata(None)


def test_pam_sidecar_fields() -> None:
    pam = parse_pam(
        "<PAMDataset>"
        "<SRS>EPSG:4326</SRS>"
        "<GeoTransform>1, 2, 0, 4, 0, -2</GeoTransform>"
        '<Metadata><MDI key="K">v</MDI></Metadata>'
        '<PAMRasterBand band="1"><NoDataValue>-1</NoDataValue><Scale>2</Scale>'
        '<Metadata domain="D"><MDI key="B">w</MDI></Metadata></PAMRasterBand>'
        '<PAMRasterBand band="0"><Scale>9</Scale></PAMRasterBand>'
        "</PAMDataset>"
    )
    assert pam.srs_wkt == "EPSG:4326"
    assert pam.geotransform == (1.0, 2.0, 0.0, 4.0, 0.0, -2.0)
    assert pam.nodata == -1.0
    assert pam.metadata.dataset == {"": {"K": "v"}}
    assert pam.metadata.bands == {0: {"D": {"B": "w"}}}
    assert pam.metadata.roles == {0: {"scale": "2"}}
    assert (
        parse_pam("<PAMDataset><GeoTransform>1,2</GeoTransform></PAMDataset>").geotransform is None
    )
    assert parse_pam("").metadata == parse_gdal_metadata(None)
