"""JPEG blocks decode like GDAL (rasterio is the oracle), tile by tile."""

from __future__ import annotations

import logging
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trio_geotiff._jpeg import decode_jpeg

rasterio = pytest.importorskip("rasterio")
tifffile = pytest.importorskip("tifffile")
Window = pytest.importorskip("rasterio.windows").Window

logging.getLogger("tifffile").setLevel(logging.CRITICAL)

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"

# YCbCr 4:2:0: libjpeg-turbo's fancy upsampling differs from IJG libjpeg's
# 16x16 IDCT; exact decoding (IJG libjpeg 9f) must equal GDAL on every pixel.
YCBCR_420_FILES = [
    "cogeotiff/be_cog.tiff",
    "image-tiff/quad-tile.jpg.tiff",
    "image-tiff/tiled-jpeg-ycbcr.tif",
    "pillow/tiff_tiled_ycbcr_jpeg_2x2_sampling.tif",
    "rasterio/cogeo.tif",
    "rio-cogeo/image_geos.tif",
    "rio-tiler/cog_hirise_mars.tif",
    "rio-tiler/cog_rgb.tif",
    "docker-lambda/cog_jpeg.tif",
]
# No chroma subsampling: libjpeg-turbo alone matches.
OTHER_JPEG_FILES = [
    "node-gdal-async/sample_jpeg.tif",
    "image-tiff/tiled-jpeg-rgb-u8.tif",
    "cogeotiff/cog.tiff",
    "rasterio/alpha.tif",
]


def _compare_with_gdal(path: Path, *, exact: bool = True) -> int:
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
                    exact=exact,
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


def _corpus_file(name: str) -> Path:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"shared corpus file not found: {path}")
    return path


@pytest.mark.corpus
@pytest.mark.parametrize("name", YCBCR_420_FILES + OTHER_JPEG_FILES)
def test_corpus_file_matches_gdal(name: str) -> None:
    assert _compare_with_gdal(_corpus_file(name)) == 0


@pytest.mark.corpus
@pytest.mark.parametrize("name", YCBCR_420_FILES)
def test_corpus_file_fast_mode_differs_within_the_documented_bound(name: str) -> None:
    # libjpeg-turbo (exact=False): off at colour edges, by less than 128 DN (docs/jpeg.md).
    assert _compare_with_gdal(_corpus_file(name), exact=False) < 128


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
    img: np.ndarray = palette[cells].transpose(2, 0, 1).astype(np.uint8)
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


def _read_tiles(path: Path) -> tuple[list[bytes], bytes | None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with tifffile.TiffFile(path) as tif:
            page: Any = tif.pages[0]
            tiles = []
            for offset, count in zip(page.dataoffsets, page.databytecounts, strict=True):
                tif.filehandle.seek(offset)
                tiles.append(tif.filehandle.read(count))
            return tiles, page.jpegtables


@pytest.mark.parametrize(("width", "height", "block"), [(300, 200, 128), (257, 130, 64)])
@pytest.mark.parametrize("quality", [75, 95])
def test_synthetic_ycbcr_jpeg_matches_gdal(
    tmp_path: Path, width: int, height: int, block: int, quality: int
) -> None:
    path = tmp_path / "ycbcr.tif"
    _write_ycbcr_jpeg(path, _texture(height, width), block, quality)
    assert _compare_with_gdal(path) == 0


@pytest.mark.parametrize("quality", [75, 95])
def test_synthetic_saturated_colours_match_gdal(tmp_path: Path, quality: int) -> None:
    # Pure primaries: their chroma clips at 0/255 inside the decoder.
    path = tmp_path / "saturated.tif"
    _write_ycbcr_jpeg(path, _texture(200, 300, saturated=True), 128, quality)
    assert _compare_with_gdal(path) == 0


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
        assert _compare_with_gdal(path) == 0


def test_exact_decoding_in_many_threads_equals_decoding_in_one(tmp_path: Path) -> None:
    # IJG libjpeg runs in worker threads: results must not depend on concurrency.
    path = tmp_path / "many.tif"
    _write_ycbcr_jpeg(path, _texture(512, 512), 64, 80)
    tiles, tables = _read_tiles(path)

    def decode(data: bytes) -> np.ndarray:
        return decode_jpeg(data, tables=tables, photometric=6, samples=3)

    one = [decode(t) for t in tiles]
    with ThreadPoolExecutor(8) as pool:
        many = list(pool.map(decode, tiles * 4))
    assert len(many) == 4 * len(one) == 256
    for i, arr in enumerate(many):
        np.testing.assert_array_equal(arr, one[i % len(one)])


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
@pytest.mark.parametrize("exact", [True, False])
def test_undecodable_data_raises_a_codec_error(data: bytes, photometric: int, exact: bool) -> None:
    # ValueError or RuntimeError: what decode() maps to CorruptFileError (test_decode.py).
    with pytest.raises((ValueError, RuntimeError)):
        decode_jpeg(data, tables=None, photometric=photometric, samples=3, exact=exact)


@pytest.mark.parametrize("exact", [True, False])
def test_truncated_tile_raises_or_pads(tmp_path: Path, exact: bool) -> None:
    path = tmp_path / "t.tif"
    _write_ycbcr_jpeg(path, _texture(64, 64), 64, 75)
    tiles, tables = _read_tiles(path)
    data = tiles[0]
    for cut in (2, 20, len(data) // 3):
        try:
            arr = decode_jpeg(data[:cut], tables=tables, photometric=6, samples=3, exact=exact)
        except (ValueError, RuntimeError):
            continue
        # libjpeg may pad a truncated scan instead of failing: still a well-formed array.
        assert arr.shape == (64, 64, 3)
