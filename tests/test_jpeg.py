"""JPEG blocks decode like GDAL (rasterio is the oracle), tile by tile."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trio_geotiff._jpeg import decode_jpeg
from trio_geotiff.errors import CorruptFileError

rasterio = pytest.importorskip("rasterio")
tifffile = pytest.importorskip("tifffile")
Window = pytest.importorskip("rasterio.windows").Window

logging.getLogger("tifffile").setLevel(logging.CRITICAL)

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"

# Allowed |difference| from GDAL per file. 0 where the reconstruction is
# bit-exact; 1 where a block extends past the image edge (stripped file whose
# width is not a multiple of 16), so part of its chroma is never seen.
CORPUS_FILES: dict[str, int] = {
    # YCbCr 4:2:0: libjpeg-turbo's fancy upsampling vs IJG libjpeg's 16x16 IDCT.
    "cogeotiff/be_cog.tiff": 0,
    "image-tiff/quad-tile.jpg.tiff": 0,
    "image-tiff/tiled-jpeg-ycbcr.tif": 1,
    "pillow/tiff_tiled_ycbcr_jpeg_2x2_sampling.tif": 0,
    "rasterio/cogeo.tif": 0,
    "rio-cogeo/image_geos.tif": 0,
    "rio-tiler/cog_hirise_mars.tif": 0,
    "rio-tiler/cog_rgb.tif": 0,
    "docker-lambda/cog_jpeg.tif": 0,
    # No chroma subsampling: libjpeg-turbo alone matches.
    "node-gdal-async/sample_jpeg.tif": 0,
    "image-tiff/tiled-jpeg-rgb-u8.tif": 0,
    "cogeotiff/cog.tiff": 0,
    "rasterio/alpha.tif": 0,
}


def _compare_with_gdal(path: Path) -> int:
    """Decode every block of the first image with decode_jpeg; max |diff| vs GDAL."""
    worst = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with tifffile.TiffFile(path) as tif, rasterio.open(path) as ds:
            page: Any = tif.pages[0]
            assert page.compression == 7, "not a JPEG-compressed image"
            if page.is_tiled:
                bw, bh = page.tilewidth, page.tilelength
            else:
                bw, bh = page.imagewidth, page.rowsperstrip or page.imagelength
            per_row = -(-page.imagewidth // bw)
            fh = tif.filehandle
            for index, (offset, count) in enumerate(
                zip(page.dataoffsets, page.databytecounts, strict=True)
            ):
                fh.seek(offset)
                data = fh.read(count)
                arr = decode_jpeg(
                    data,
                    tables=page.jpegtables,
                    photometric=int(page.photometric),
                    samples=page.samplesperpixel,
                    subsampling=tuple(page.subsampling or (2, 2)),
                    path=str(path),
                )
                assert arr.dtype == np.uint8
                assert arr.ndim == 3
                assert arr.shape[2] == page.samplesperpixel
                row, col = divmod(index, per_row)
                h = min(bh, page.imagelength - row * bh)
                w = min(bw, page.imagewidth - col * bw)
                ref = ds.read(window=Window(col * bw, row * bh, w, h)).transpose(1, 2, 0)
                diff = np.abs(arr[:h, :w].astype(np.int16) - ref.astype(np.int16))
                worst = max(worst, int(diff.max()))
    return worst


@pytest.mark.corpus
@pytest.mark.parametrize("name", sorted(CORPUS_FILES))
def test_corpus_file_matches_gdal(name: str) -> None:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"shared corpus file not found: {path}")
    assert _compare_with_gdal(path) <= CORPUS_FILES[name]


def _texture(height: int, width: int, *, saturated: bool = False) -> np.ndarray:
    """Colour blocks with sharp edges, diagonal stripes and a noise patch.

    With saturated=True the blocks are pure primaries/secondaries, whose chroma
    samples clip at 0/255 inside the JPEG decoder (see docs/jpeg.md).
    """
    rng = np.random.default_rng(1234)
    yy, xx = np.mgrid[0:height, 0:width]
    palette = np.array(
        [
            [255, 0, 0],
            [0, 255, 0],
            [0, 0, 255],
            [255, 255, 0],
            [0, 255, 255],
            [255, 0, 255],
            [255, 255, 255],
            [0, 0, 0],
        ],
        dtype=np.float64,
    )
    if not saturated:
        palette = palette * 0.6 + 50
    cells = ((yy // 13) * 7 + (xx // 11)) % len(palette)
    img = palette[cells].transpose(2, 0, 1).astype(np.uint8)
    stripes = ((xx + yy) // 3) % 2 == 0
    img[0][stripes & (yy > height // 2)] = 30
    img[:, : height // 4, : width // 4] = rng.integers(
        0, 256, size=(3, height // 4, width // 4), dtype=np.uint8
    )
    return img


def _write_ycbcr_jpeg(path: Path, img: np.ndarray, block: int, quality: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(
            path, "w", driver="GTiff", width=img.shape[2], height=img.shape[1], count=3, dtype="uint8",
            tiled=True, blockxsize=block, blockysize=block, compress="JPEG", photometric="YCBCR",
            jpeg_quality=quality,
        ) as dst:  # fmt: skip
            dst.write(img)


@pytest.mark.parametrize(("width", "height", "block"), [(300, 200, 128), (257, 130, 64)])
@pytest.mark.parametrize("quality", [75, 95])
def test_synthetic_ycbcr_jpeg_matches_gdal(
    tmp_path: Path, width: int, height: int, block: int, quality: int
) -> None:
    path = tmp_path / "ycbcr.tif"
    _write_ycbcr_jpeg(path, _texture(height, width), block, quality)
    # At quality 95 the chroma quantisation steps are 2-3, too fine for every
    # coefficient to be recovered exactly; the result stays within ±2.
    assert _compare_with_gdal(path) <= (0 if quality <= 75 else 2)


@pytest.mark.xfail(reason="chroma clipped at 0/255 is not always reconstructed: docs/jpeg.md")
@pytest.mark.parametrize("quality", [75, 95])
def test_synthetic_saturated_colours_match_gdal(tmp_path: Path, quality: int) -> None:
    # Pure primaries: their chroma clips at 0/255 inside the decoder.
    path = tmp_path / "saturated.tif"
    _write_ycbcr_jpeg(path, _texture(200, 300, saturated=True), 128, quality)
    assert _compare_with_gdal(path) <= (0 if quality <= 75 else 2)


def test_synthetic_sharp_shapes_match_gdal(tmp_path: Path) -> None:
    height, width = 200, 300
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.zeros((3, height, width), dtype=np.uint8)
    img[0] = np.where((xx // 20 + yy // 20) % 2, 200, 40)
    img[1] = np.where(xx > yy, 180, 60)
    img[2] = np.where((xx - 150) ** 2 + (yy - 100) ** 2 < 3000, 220, 30)
    for quality in (75, 95):
        path = tmp_path / f"shapes{quality}.tif"
        _write_ycbcr_jpeg(path, img, 128, quality)
        assert _compare_with_gdal(path) <= (0 if quality <= 75 else 2)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a jpeg at all",
        b"\xff\xd8\xff\xdb\x00\x43\x00" + b"\x01" * 10,  # truncated DQT
        b"\xff\xd8\xff\xc0\x00\x11\x08\x00\x10\x00\x10\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01\xff\xd9",
    ],
)
@pytest.mark.parametrize("photometric", [2, 6])
def test_undecodable_data_raises_corrupt_file_error(data: bytes, photometric: int) -> None:
    with pytest.raises(CorruptFileError) as info:
        decode_jpeg(
            data, tables=None, photometric=photometric, samples=3, subsampling=(2, 2), path="x.tif"
        )
    assert info.value.path == "x.tif"


def test_truncated_tile_raises_corrupt_file_error(tmp_path: Path) -> None:
    path = tmp_path / "t.tif"
    _write_ycbcr_jpeg(path, _texture(64, 64), 64, 75)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with tifffile.TiffFile(path) as tif:
            page: Any = tif.pages[0]
            tif.filehandle.seek(page.dataoffsets[0])
            data = tif.filehandle.read(page.databytecounts[0])
            tables = page.jpegtables
    for cut in (2, 20, len(data) // 3):
        try:
            arr = decode_jpeg(
                data[:cut], tables=tables, photometric=6, samples=3, subsampling=(2, 2), path="t"
            )
        except CorruptFileError:
            continue
        # libjpeg may pad a truncated scan instead of failing: still a well-formed array.
        assert arr.shape == (64, 64, 3)
