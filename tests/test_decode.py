"""decode() is the codec boundary: bad data raises exactly one library error.

Corrupt bytes of every codec raise `CorruptFileError` naming the block; a
bitstream declaring a size other than its block's is rejected before the
decoder allocates it; running out of memory raises `ResourceLimitError`; and
errors that are bugs (a TypeError) are not disguised as corrupt files. The
blocks are made here with imagecodecs' encoders.
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import imagecodecs
import numpy as np
import pytest

from trio_geotiff._bitstream import declared_size
from trio_geotiff._decode import Block, decode
from trio_geotiff._image import ImageInfo
from trio_geotiff.errors import CorruptFileError, ResourceLimitError

Encoded = bytes | bytearray  # what imagecodecs' encoders return

DEFLATE, LZW, JPEG, PACKBITS, LZMA, ZSTD, WEBP, LERC, JPEG2000, JXL = (
    8, 5, 7, 32773, 34925, 50000, 50001, 34887, 34712, 50002
)  # fmt: skip


def make_info(  # noqa: PLR0913, RUF100 - a test factory with defaults
    code: int,
    *,
    samples: int = 1,
    block: tuple[int, int] = (64, 64),
    dtype: str = "uint8",
    photometric: int = 1,
    lerc: tuple[int, ...] | None = None,
) -> ImageInfo:
    """An image of one (width, height) block of `dtype` samples."""
    width, height = block
    dt = np.dtype(dtype)
    return ImageInfo(
        ifd_index=0,
        width=width,
        height=height,
        samples=samples,
        bits=dt.itemsize * 8,
        sample_format={"u": 1, "i": 2, "f": 3}[dt.kind],
        dtype=dt,
        compression_code=code,
        predictor=1,
        photometric=photometric,
        planar=False,
        tiled=True,
        block_width=width,
        block_height=height,
        offsets=None,
        byte_counts=None,
        extra_samples=(),
        subfile_type=0,
        jpeg_tables=None,
        ycbcr_subsampling=(2, 2),
        lerc_parameters=lerc,
        fill_order=1,
    )


def block_of(info: ImageInfo, **kw: Any) -> Block:
    return Block("x.tif", info, info.block_height, index=7, **kw)


def image(height: int, width: int, samples: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    planes = [(xx * 3 + yy * (k + 1)) % 256 for k in range(samples)]
    return np.stack(planes, axis=-1).astype(np.uint8).squeeze()


def assert_corrupt(block: Block, data: Encoded, codec: str) -> CorruptFileError:
    with pytest.raises(CorruptFileError) as info:
        decode(block, data)
    assert type(info.value) is CorruptFileError
    assert info.value.path == "x.tif"
    assert "IFD 0 block 7" in info.value.reason
    assert codec in info.value.reason
    return info.value


# ---------------------------------------------------------------------------
# Round trips: the encoders' blocks decode (so the corrupt cases below fail for
# the corruption, not the setup).

RGB = 2
ROUND_TRIPS: dict[str, tuple[int, int, Callable[[np.ndarray], Encoded]]] = {
    "DEFLATE": (DEFLATE, 1, lambda a: imagecodecs.deflate_encode(a.tobytes())),
    "LZW": (LZW, 1, lambda a: imagecodecs.lzw_encode(a.tobytes())),
    "ZSTD": (ZSTD, 1, lambda a: imagecodecs.zstd_encode(a.tobytes())),
    "LZMA": (LZMA, 1, lambda a: imagecodecs.lzma_encode(a.tobytes())),
    "PACKBITS": (PACKBITS, 1, lambda a: imagecodecs.packbits_encode(a.tobytes())),
    "WEBP": (WEBP, 3, lambda a: imagecodecs.webp_encode(a, lossless=True)),
    "JPEG2000": (JPEG2000, 3, lambda a: imagecodecs.jpeg2k_encode(a, level=0)),
    "JXL": (JXL, 3, lambda a: imagecodecs.jpegxl_encode(a, lossless=True)),
    "LERC": (LERC, 1, imagecodecs.lerc_encode),
}


@pytest.mark.parametrize("codec", sorted(ROUND_TRIPS))
def test_lossless_round_trip(codec: str) -> None:
    code, samples, encode = ROUND_TRIPS[codec]
    arr = image(64, 64, samples)
    out = decode(block_of(make_info(code, samples=samples, photometric=RGB)), encode(arr))
    np.testing.assert_array_equal(out, arr.reshape(64, 64, samples))


# ---------------------------------------------------------------------------
# Corrupt data: CorruptFileError with the block and codec


def _jpeg_truncated_header() -> Encoded:
    return imagecodecs.jpeg8_encode(image(64, 64, 3))[:200]


CORRUPT: dict[str, tuple[int, int, Callable[[], Encoded]]] = {
    "DEFLATE": (DEFLATE, 1, lambda: b"not deflate at all"),
    "LZW": (LZW, 1, lambda: b"\xff" * 16),  # codes beyond the table
    "ZSTD": (ZSTD, 1, lambda: imagecodecs.zstd_encode(bytes(4096))[:12]),
    "LZMA": (LZMA, 1, lambda: b"not an xz stream"),
    "PACKBITS": (PACKBITS, 1, lambda: b"\x7f"),  # a literal run of 128 bytes, cut off
    "JPEG": (JPEG, 3, _jpeg_truncated_header),
    "WEBP": (WEBP, 3, lambda: imagecodecs.webp_encode(image(64, 64, 3))[:40]),
    "JPEG2000": (JPEG2000, 3, lambda: imagecodecs.jpeg2k_encode(image(64, 64, 3))[:120]),
    "LERC": (LERC, 1, lambda: imagecodecs.lerc_encode(image(64, 64, 1))[:70]),
    "JXL": (JXL, 3, lambda: imagecodecs.jpegxl_encode(image(64, 64, 3))[:12]),
}


@pytest.mark.parametrize("codec", sorted(CORRUPT))
@pytest.mark.parametrize("jpeg", ["gdal", "fast"])
def test_corrupt_data_raises_corrupt_file_error(codec: str, jpeg: str) -> None:
    code, samples, make = CORRUPT[codec]
    photometric = 6 if codec == "JPEG" else RGB  # YCbCr: the IJG libjpeg path in "gdal"
    info = make_info(code, samples=samples, photometric=photometric)
    assert_corrupt(block_of(info, jpeg=jpeg), make(), codec)


# Not LZW or PackBits: for them most byte strings are valid (short) streams.
@pytest.mark.parametrize("codec", sorted(set(CORRUPT) - {"LZW", "PACKBITS"}))
def test_garbage_raises_corrupt_file_error(codec: str) -> None:
    code, samples, _ = CORRUPT[codec]
    info = make_info(code, samples=samples, photometric=RGB)
    assert_corrupt(block_of(info), b"\x00garbage\xff" * 8, codec)


def test_lerc_wrapped_in_corrupt_deflate_raises_corrupt_file_error() -> None:
    info = make_info(LERC, lerc=(4, 1))  # LercParameters: version 4, Deflate
    assert_corrupt(block_of(info), b"not deflate", "LERC")


def test_a_bug_is_not_reported_as_a_corrupt_file() -> None:
    # Not bytes at all: a TypeError is our mistake, not the file's.
    with pytest.raises(TypeError):
        decode(block_of(make_info(DEFLATE)), 12345)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Declared sizes are checked before decoding

BIG = 4096


def _peak_while(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        fn()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


def _flat(height: int, width: int, samples: int, dtype: str = "uint8") -> np.ndarray:
    return np.full((height, width, samples), 100, dtype=dtype).squeeze()


OVERSIZED: dict[str, tuple[int, int, Callable[[int], Encoded]]] = {
    "JPEG": (JPEG, 3, lambda n: imagecodecs.jpeg8_encode(_flat(n, n, 3))),
    "WEBP": (WEBP, 3, lambda n: imagecodecs.webp_encode(_flat(n, n, 3), lossless=False)),
    "WEBP lossless": (WEBP, 3, lambda n: imagecodecs.webp_encode(_flat(n, n, 3), lossless=True)),
    "JPEG2000": (JPEG2000, 3, lambda n: imagecodecs.jpeg2k_encode(_flat(n, n, 3), level=10)),
    "JXL": (JXL, 3, lambda n: imagecodecs.jpegxl_encode(_flat(n, n, 3), effort=1)),
    "LERC": (LERC, 1, lambda n: imagecodecs.lerc_encode(_flat(n, n, 1, "float32"))),
}


@pytest.mark.parametrize("codec", sorted(OVERSIZED))
@pytest.mark.parametrize("jpeg", ["gdal", "fast"])
def test_a_bitstream_larger_than_its_block_is_rejected_before_decoding(
    codec: str, jpeg: str
) -> None:
    code, samples, encode = OVERSIZED[codec]
    size = BIG if codec in ("JPEG", "WEBP", "WEBP lossless") else BIG // 2
    data = encode(size)
    assert declared_size(codec.split(maxsplit=1)[0], bytes(data)).width == size
    dtype = "float32" if codec == "LERC" else "uint8"
    photometric = 6 if codec == "JPEG" else RGB
    info = make_info(code, samples=samples, block=(256, 256), dtype=dtype, photometric=photometric)
    block = block_of(info, jpeg=jpeg)
    errors: list[CorruptFileError] = []

    def attempt() -> None:
        try:
            decode(block, data)
        except CorruptFileError as exc:
            errors.append(exc)

    peak = _peak_while(attempt)
    assert len(errors) == 1
    assert f"declares {size}x{size}" in errors[0].reason
    assert "256x256" in errors[0].reason
    # Decoding would have allocated size*size*samples bytes at least.
    assert peak < size * size * samples // 16


@pytest.mark.parametrize(
    ("block", "declared"),
    [((256, 256), (256, 257)), ((256, 256), (255, 256)), ((256, 256), (257, 256))],
)
def test_a_jpeg_of_another_shape_than_its_block_is_corrupt(
    block: tuple[int, int], declared: tuple[int, int]
) -> None:
    width, height = declared
    data = imagecodecs.jpeg8_encode(_flat(height, width, 1))
    assert_corrupt(block_of(make_info(JPEG, block=block)), data, "JPEG")


def test_stray_bytes_before_a_jpeg_marker_are_skipped_as_libjpeg_does() -> None:
    data = imagecodecs.jpeg8_encode(image(64, 64, 3))
    stray = data[:2] + b"\x00\x13" + data[2:]  # junk between SOI and the next marker
    for jpeg in ("gdal", "fast"):
        info = make_info(JPEG, samples=3, photometric=6)
        out = decode(block_of(info, jpeg=jpeg), stray)
        np.testing.assert_array_equal(out, decode(block_of(info, jpeg=jpeg), data))


def test_a_jpeg_strip_shorter_than_its_block_is_padded() -> None:
    # The last strip of an image may hold fewer rows than RowsPerStrip.
    data = imagecodecs.jpeg8_encode(_flat(40, 64, 1))
    out = decode(block_of(make_info(JPEG)), data)
    assert out.shape == (64, 64, 1)
    assert (out[40:] == 0).all()


def test_lerc_with_more_bands_than_the_block_is_corrupt() -> None:
    data = imagecodecs.lerc_encode(_flat(64, 64, 3, "float32"))
    assert declared_size("LERC", bytes(data)).samples == 3
    info = make_info(LERC, samples=1, dtype="float32")
    assert_corrupt(block_of(info), data, "LERC")


# ---------------------------------------------------------------------------
# Byte codecs: output bounded by the block


@pytest.mark.parametrize(
    ("codec", "encode"),
    [
        ("DEFLATE", imagecodecs.deflate_encode),
        ("ZSTD", imagecodecs.zstd_encode),
        ("PACKBITS", imagecodecs.packbits_encode),
        ("LZMA", imagecodecs.lzma_encode),
        ("LZW", imagecodecs.lzw_encode),
    ],
)
def test_a_block_a_little_too_long_decodes_its_first_bytes(
    codec: str, encode: Callable[[bytes], Encoded]
) -> None:
    # libtiff ignores what a block inflates to beyond its size.
    raw = image(64, 64, 1).tobytes() + b"\x07" * 3000
    info = make_info({"DEFLATE": DEFLATE, "ZSTD": ZSTD, "PACKBITS": PACKBITS,
                      "LZMA": LZMA, "LZW": LZW}[codec])  # fmt: skip
    out = decode(block_of(info), encode(raw))
    np.testing.assert_array_equal(out[..., 0], image(64, 64, 1))


@pytest.mark.parametrize(
    ("code", "encode"),
    [
        (DEFLATE, imagecodecs.deflate_encode),
        (ZSTD, imagecodecs.zstd_encode),
        (PACKBITS, lambda raw: b"\x81\x00" * (len(raw) // 128)),  # runs of 128 zeros
    ],
)
def test_a_decompression_bomb_is_corrupt_without_inflating_it(
    code: int, encode: Callable[[bytes], Encoded]
) -> None:
    bomb = encode(bytes(64 * 2**20))  # 64 MiB of zeros for a 4 KiB block
    assert len(bomb) <= 2**20
    info = make_info(code)
    errors: list[CorruptFileError] = []

    def attempt() -> None:
        try:
            decode(block_of(info), bomb)
        except CorruptFileError as exc:
            errors.append(exc)

    peak = _peak_while(attempt)
    assert len(errors) == 1
    assert peak < 2**20  # what the bomb would inflate to: 64 MiB


def test_exact_jpeg_without_jpeglib_is_unsupported_and_fast_still_works(tmp_path: Path) -> None:
    # A jpeglib package without its libjpeg builds shadows the real one.
    (tmp_path / "jpeglib").mkdir()
    (tmp_path / "jpeglib" / "__init__.py").write_text("")
    script = f"""
import sys
sys.path[:0] = [{str(tmp_path)!r}, {str(Path(__file__).parent)!r}]
import imagecodecs
from test_decode import JPEG, block_of, image, make_info
from trio_geotiff._decode import decode
from trio_geotiff._jpeg import libjpeg9_available
from trio_geotiff.errors import UnsupportedError
data = imagecodecs.jpeg8_encode(image(64, 64, 3))
info = make_info(JPEG, samples=3, photometric=6)
assert not libjpeg9_available()
assert decode(block_of(info, jpeg="fast"), data).shape == (64, 64, 3)
try:
    decode(block_of(info, jpeg="gdal"), data)
except UnsupportedError as exc:
    print(type(exc).__name__, exc.path, exc.reason)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.startswith("UnsupportedError x.tif ")
    assert "jpeglib" in done.stdout


# ---------------------------------------------------------------------------
# Memory


def test_running_out_of_memory_is_a_resource_limit_error() -> None:
    # An uncompressed block of 2**24 x 2**24 bytes, given no data: padding it
    # with zeros needs 256 TiB, which numpy cannot allocate.
    info = make_info(1, block=(2**24, 2**24))
    with pytest.raises(ResourceLimitError) as err:
        decode(block_of(info), b"")
    assert type(err.value) is ResourceLimitError
    assert str(2**48) in err.value.reason
    assert "IFD 0 block 7" in err.value.reason
