"""Every file of ../shared/corpus against rasterio (GDAL): metadata and pixels.

Files GDAL opens must open here with equal metadata; files GDAL rejects and
broken files must raise our own error. Pixels must be equal (lossy codecs:
within 2), except for the formats listed in UNSUPPORTED, which must raise
`UnsupportedError`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyproj
import pytest
from obstore.store import LocalStore

from corpus import CORPUS, oracle, params, tiff_entries
from trio_geotiff import GeoTIFF, Window
from trio_geotiff.errors import GeoTIFFError, NotATIFFError, UnsupportedError

pytestmark = pytest.mark.corpus

# Read by GDAL through libtiff conversions or codecs we do not carry; each
# must raise UnsupportedError on read (metadata still matches).
UNSUPPORTED = {
    "image-tiff/fax4.tiff": "CCITT Group 4 fax",
    "libtiff/testfax3_bug_513.tiff": "CCITT Group 3 fax",
    "pillow/compression.tif": "CCITT RLE",
    "image-tiff/logluv-3c-16b.tiff": "SGILog (LogLuv)",
    "libtiff/ojpeg_chewey_subsamp21_multi_strip.tiff": "old-style JPEG (OJPEG)",
    "image-tiff/tiled-cmyk-i8.tif": "CMYK, which GDAL converts to RGBA",
    "pillow/tiff_tiled_cmyk_jpeg.tif": "CMYK JPEG, which GDAL converts to RGBA",
    "pillow/hopper.Lab.tif": "CIELab, which GDAL converts to RGBA",
    "image-tiff/ycbcr-cat.tif": "YCbCr without JPEG compression",
}
# GDAL opens these only partly (its CRS import fails); we open them with crs=None.
CRS_REFUSED = {"georust-geotiff/merc.tif", "node-gdal-async/unsupported-srs.tif"}
# Subsampled YCbCr JPEG: GDAL's libjpeg path differs (see docs/design.md).
YCBCR_JPEG = {
    e["path"]
    for e in tiff_entries()
    if e.get("tiff", {}).get("ifds")
    and e["tiff"]["ifds"][0].get("photometric") == "YCBCR"
    and e["tiff"]["ifds"][0].get("compression_code") == 7
}
LOSSY = {"JPEG", "YCbCr JPEG", "WEBP", "LERC", "JPEG2000"}


def store() -> LocalStore:
    return LocalStore(str(CORPUS))


def _nodata_equal(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


def _dtype_name(tif: GeoTIFF, rio_dtype: str) -> str:
    # rasterio names complex int16 "complex_int16" and reads it as complex64.
    return (
        "complex_int16"
        if rio_dtype == "complex_int16" and tif.dtype == np.complex64
        else str(tif.dtype)
    )


@pytest.mark.parametrize("entry", params(tiff_entries()))
async def test_metadata_matches_gdal(entry: dict[str, Any]) -> None:
    rel = entry["path"]
    if entry.get("opens") is not True and rel not in CRS_REFUSED:
        with pytest.raises(GeoTIFFError):
            await GeoTIFF.open(rel, store=store(), sidecars=True)
        return
    tif = await GeoTIFF.open(rel, store=store(), sidecars=True)
    if rel in CRS_REFUSED:
        assert tif.crs is None
        assert (tif.width, tif.height, tif.count) == (
            entry["width"],
            entry["height"],
            entry["count"],
        )
        return
    with oracle(rel) as ds:
        assert (tif.width, tif.height, tif.count) == (ds.width, ds.height, ds.count)
        assert _dtype_name(tif, ds.dtypes[0]) == ds.dtypes[0]
        assert tif.shape == ds.shape
        assert tif.block_shapes == tuple(tuple(b) for b in ds.block_shapes)
        assert _nodata_equal(tif.nodata, ds.nodata)
        if ds.crs is None:
            assert tif.crs is None
        else:
            assert tif.crs is not None
            assert tif.crs == pyproj.CRS.from_wkt(ds.crs.to_wkt())
        assert tif.transform.almost_equals(
            ds.transform, precision=1e-9 * max(1.0, *map(abs, ds.transform))
        )
        assert np.allclose(tuple(tif.bounds), tuple(ds.bounds), rtol=1e-9)
        assert np.allclose(tif.res, ds.res, rtol=1e-9)
        row, col = tif.height // 3, tif.width // 2
        for offset in ("center", "ul", "lr"):
            assert np.allclose(
                tif.xy(row, col, offset=offset), ds.xy(row, col, offset=offset), rtol=1e-12
            )
        x, y = tif.xy(row, col)
        assert tif.index(x, y) == ds.index(x, y)
        assert [c.value for c in tif.colorinterp] == [c.name for c in ds.colorinterp]
        assert tif.scales == ds.scales
        assert tif.offsets == ds.offsets
        assert tif.descriptions == ds.descriptions
        assert tif.units == tuple(u or None for u in ds.units)
        rio_comp = ds.compression
        rio_comp = getattr(rio_comp, "value", rio_comp)
        assert (tif.compression.value if tif.compression else None) == rio_comp
        assert tif.interleaving.value == ds.interleaving.value
        if 262 in entry["tiff"]["ifds"][0]["tag_codes"]:
            assert tif.photometric == entry["photometric"]
        if tif.colorinterp[0].value == "palette":
            assert tif.colormap(1) == ds.colormap(1)
        gcps, gcp_crs = ds.gcps
        ours, _ = tif.gcps
        assert len(ours) == len(gcps)
        for a, b in zip(ours, gcps, strict=True):
            assert (a.row, a.col, a.x, a.y) == pytest.approx((b.row, b.col, b.x, b.y))
        del gcp_crs
        ours_tags = tif.tags()
        for key, value in ds.tags().items():
            assert ours_tags.get(key) == value, key
        for band in tif.indexes:
            assert tif.tags(band) == ds.tags(band)
        factors = ds.overviews(1)
    assert len(tif.overviews) == len(factors)
    sizes = []
    for level in range(len(factors)):
        with oracle(rel, overview_level=level) as ods:
            sizes.append((ods.width, ods.height))
    assert [(o.width, o.height) for o in tif.overviews] == sizes  # in GDAL's order
    for ov in tif.overviews:
        assert ov.transform.almost_equals(
            tif.transform @ tif.transform.scale(tif.width / ov.width, tif.height / ov.height)
        )


def _windows(width: int, height: int, block: tuple[int, int]) -> list[Window]:
    """The whole image when small; else windows crossing block edges and the far corner."""
    if width * height <= 1024 * 1024:
        return [Window(0, 0, width, height)]
    bh, bw = block
    w, h = min(width, 300), min(height, 300)
    cross = Window(max(0, min(bw - 37, width - w)), max(0, min(bh - 41, height - h)), w, h)
    corner = Window(width - w, height - h, w, h)
    return [cross, corner]


def _compare(rel: str, ours: Any, ref: np.ndarray, lossy: bool) -> None:
    assert ours.shape == ref.shape, rel
    if lossy:
        diff = np.abs(ours.astype(np.float64) - ref.astype(np.float64))
        assert float(diff.max(initial=0)) <= 2, f"{rel}: max difference {diff.max()}"
    elif ours.dtype.kind in "fc":
        np.testing.assert_array_equal(ours, ref)  # NaNs compare equal here
    else:
        assert np.array_equal(ours, ref), f"{rel}: {np.count_nonzero(ours != ref)} pixels differ"


def _read_params() -> list[Any]:
    out = []
    for p in params(
        [
            e
            for e in tiff_entries()
            if e.get("opens") is True and not e.get("gdal", {}).get("read_error")
        ]
    ):
        entry = p.values[0]
        marks = list(p.marks)
        out.append(pytest.param(entry, marks=marks, id=p.id))
    return out


@pytest.mark.parametrize("entry", _read_params())
async def test_pixels_and_masks_match_gdal(entry: dict[str, Any]) -> None:
    rel = entry["path"]
    # YCbCr JPEG is compared in GDAL-exact mode; the fast mode is bounded below.
    tif = await GeoTIFF.open(
        rel, store=store(), sidecars=True, jpeg="gdal" if rel in YCBCR_JPEG else "fast"
    )
    if rel in UNSUPPORTED:
        with pytest.raises(UnsupportedError):
            await tif.read(window=Window(0, 0, 1, 1))
        return
    lossy = entry.get("compression") in LOSSY
    with oracle(rel) as ds:
        for window in _windows(tif.width, tif.height, tif.block_shapes[0]):
            arr = await tif.read(window=window, masked=True)
            from rasterio.windows import Window as RioWindow

            rw = RioWindow(window.col_off, window.row_off, window.width, window.height)
            _compare(rel, arr.data, ds.read(window=rw), lossy)
            assert arr.mask is not None
            assert np.array_equal(arr.mask, ds.dataset_mask(window=rw) > 0), f"{rel}: mask differs"
            assert arr.transform.almost_equals(ds.window_transform(rw))
        # A band subset (last band first) and a boundless window over the corner.
        if tif.count > 1:
            sub = await tif.read(
                window=Window(0, 0, min(64, tif.width), min(64, tif.height)), indexes=[tif.count, 1]
            )
            rw = RioWindow(0, 0, min(64, tif.width), min(64, tif.height))
            _compare(rel, sub.data, ds.read([ds.count, 1], window=rw), lossy)
        bw = Window(tif.width - 10, tif.height - 10, 30, 20)
        arr = await tif.read(window=bw, boundless=True, fill_value=0)
        if tif.transform.is_rectilinear:
            # (rasterio's boundless reads of rotated rasters go through a warped VRT.)
            ref = ds.read(
                window=RioWindow(bw.col_off, bw.row_off, bw.width, bw.height),
                boundless=True,
                fill_value=0,
            )
            _compare(rel, arr.data, ref, lossy)
        assert arr.mask is not None
        assert not arr.mask[10:, :].any()
        assert not arr.mask[:, 10:].any()
    # The first overview, whole (small) or its top-left corner.
    if tif.overviews:
        ov = tif.overviews[0]
        with oracle(rel, overview_level=0) as ods:
            assert (ods.width, ods.height) == (ov.width, ov.height)
            w = Window(0, 0, min(ov.width, 512), min(ov.height, 512))
            arr = await ov.read(window=w, masked=True)
            rw = RioWindow(0, 0, w.width, w.height)
            _compare(rel, arr.data, ods.read(window=rw), lossy)
            assert np.array_equal(arr.mask, ods.dataset_mask(window=rw) > 0), (
                f"{rel}: overview mask differs"
            )


@pytest.mark.parametrize(
    "entry",
    params(
        [
            e
            for e in tiff_entries()
            if e.get("opens") is True and e.get("gdal", {}).get("read_error")
        ]
    ),
)
async def test_files_gdal_cannot_read_raise_our_error(entry: dict[str, Any]) -> None:
    rel = entry["path"]
    tif = await GeoTIFF.open(rel, store=store(), sidecars=True)
    with pytest.raises(GeoTIFFError):
        await tif.read()


@pytest.mark.parametrize("entry", params([e for e in tiff_entries() if e.get("opens") is None]))
async def test_non_tiffs_raise_not_a_tiff(entry: dict[str, Any]) -> None:
    with pytest.raises(NotATIFFError):
        await GeoTIFF.open(entry["path"], store=store())


@pytest.mark.parametrize(
    "entry",
    params(
        [e for e in tiff_entries() if e["path"] in YCBCR_JPEG and not e["gdal"].get("read_error")]
    ),
)
async def test_fast_ycbcr_jpeg_differs_from_gdal_within_the_documented_bound(
    entry: dict[str, Any],
) -> None:
    rel = entry["path"]
    tif = await GeoTIFF.open(rel, store=store())
    window = _windows(tif.width, tif.height, tif.block_shapes[0])[0]
    arr = await tif.read(window=window)
    from rasterio.windows import Window as RioWindow

    with oracle(rel) as ds:
        ref = ds.read(window=RioWindow(window.col_off, window.row_off, window.width, window.height))
    diff = np.abs(arr.data.astype(np.int16) - ref.astype(np.int16))
    assert int(diff.max()) <= 128  # chroma at sharp edges only (docs/jpeg.md)
    assert float(np.mean(diff <= 2)) >= 0.6
