"""What one IFD holds: pixel layout, sample type and block grid, validated.

Pure code. `describe_ifd` turns the raw tags of an IFD into an `ImageInfo`
that the reader can trust: sizes are positive and bounded, the block grid
matches the offsets and byte counts, the sample type maps to a numpy dtype.
"""

from __future__ import annotations

import enum
import math
from typing import Final

import attrs
import numpy as np
import numpy.typing as npt

from ._codes import Photometric, SampleFormat, Tag
from ._tiff import IFD
from .errors import CorruptFileError, UnsupportedError

__all__ = ["PHOTOMETRIC_NAMES", "Compression", "ImageInfo", "describe_ifd"]

# Largest width or height accepted (GDAL's own limit is INT_MAX).
MAX_DIMENSION: Final = 2**31 - 1
MAX_SAMPLES: Final = 65535


class Compression(enum.Enum):
    """Compression of a TIFF image, named as rasterio names it."""

    NONE = "NONE"
    CCITTRLE = "CCITTRLE"
    CCITTFAX3 = "CCITTFAX3"
    CCITTFAX4 = "CCITTFAX4"
    LZW = "LZW"
    OJPEG = "OJPEG"
    JPEG = "JPEG"
    DEFLATE = "DEFLATE"
    PACKBITS = "PACKBITS"
    SGILOG = "SGILOG"
    SGILOG24 = "SGILOG24"
    LZMA = "LZMA"
    ZSTD = "ZSTD"
    WEBP = "WEBP"
    LERC = "LERC"
    JPEG2000 = "JPEG2000"
    JXL = "JXL"

    @classmethod
    def from_code(cls, code: int) -> Compression | None:
        """The member for a TIFF Compression tag value, or None when unknown."""
        return _COMPRESSION_CODES.get(code)


_COMPRESSION_CODES: Final[dict[int, Compression]] = {
    1: Compression.NONE,
    2: Compression.CCITTRLE,
    3: Compression.CCITTFAX3,
    4: Compression.CCITTFAX4,
    5: Compression.LZW,
    6: Compression.OJPEG,
    7: Compression.JPEG,
    8: Compression.DEFLATE,
    32946: Compression.DEFLATE,
    32773: Compression.PACKBITS,
    34676: Compression.SGILOG,
    34677: Compression.SGILOG24,
    34925: Compression.LZMA,
    50000: Compression.ZSTD,
    50001: Compression.WEBP,
    34887: Compression.LERC,
    34712: Compression.JPEG2000,
    33003: Compression.JPEG2000,
    33005: Compression.JPEG2000,
    50002: Compression.JXL,
    52546: Compression.JXL,
}


PHOTOMETRIC_NAMES: Final[dict[int, str]] = {int(p): p.name for p in Photometric}


@attrs.frozen
class ImageInfo:
    """The validated description of one IFD's raster."""

    ifd_index: int
    width: int
    height: int
    samples: int
    bits: int
    sample_format: int
    """1 unsigned, 2 signed, 3 float, 5 complex int, 6 complex float."""
    dtype: np.dtype[np.generic]
    """The dtype a read returns (GDAL's: 1..7-bit -> uint8, 12-bit -> uint16, ...)."""
    compression_code: int
    predictor: int
    photometric: int
    planar: bool
    """True when bands are stored in separate planes (PlanarConfiguration 2)."""
    tiled: bool
    block_width: int
    block_height: int
    offsets: npt.NDArray[np.uint64] | None
    byte_counts: npt.NDArray[np.uint64] | None
    extra_samples: tuple[int, ...]
    subfile_type: int
    jpeg_tables: bytes | None
    ycbcr_subsampling: tuple[int, int]
    lerc_parameters: tuple[int, ...] | None
    fill_order: int

    @property
    def blocks_across(self) -> int:
        """Number of blocks in a row of blocks."""
        return -(-self.width // self.block_width)

    @property
    def blocks_down(self) -> int:
        """Number of rows of blocks."""
        return -(-self.height // self.block_height)

    @property
    def planes(self) -> int:
        """Number of separately stored planes (samples if planar, else 1)."""
        return self.samples if self.planar else 1

    @property
    def samples_per_block(self) -> int:
        """Samples per pixel inside one block."""
        return 1 if self.planar else self.samples

    @property
    def is_mask(self) -> bool:
        """True for a GDAL internal-mask IFD."""
        return bool(self.subfile_type & 4) and self.photometric == Photometric.MASK

    @property
    def is_reduced(self) -> bool:
        """True for a reduced-resolution (overview) IFD."""
        return bool(self.subfile_type & 1)

    @property
    def compression(self) -> Compression | None:
        """The compression as a `Compression` member (None when unknown)."""
        return Compression.from_code(self.compression_code)

    def block_index(self, plane: int, row: int, col: int) -> int:
        """Position of a block in the offsets array."""
        return (plane * self.blocks_down + row) * self.blocks_across + col


# (SampleFormat, largest bits) -> dtype, smallest first; GDAL's promotions:
# 1..7-bit -> uint8, 12-bit -> uint16, half and 24-bit floats -> float32,
# complex integers widened. SampleFormat 4 ("void") reads as unsigned.
_DTYPES: Final[dict[int, tuple[tuple[int, str], ...]]] = {
    SampleFormat.UINT: ((8, "uint8"), (16, "uint16"), (32, "uint32"), (64, "uint64")),
    SampleFormat.INT: ((8, "int8"), (16, "int16"), (32, "int32"), (64, "int64")),
    SampleFormat.IEEEFP: ((16, "float32"), (24, "float32"), (32, "float32"), (64, "float64")),
    SampleFormat.COMPLEXINT: ((32, "complex64"), (64, "complex128")),
    SampleFormat.COMPLEXIEEEFP: ((64, "complex64"), (128, "complex128")),
}
# Float and complex formats take exact bit depths only.
_EXACT_BITS: Final = frozenset(
    {SampleFormat.IEEEFP, SampleFormat.COMPLEXINT, SampleFormat.COMPLEXIEEEFP}
)


def _dtype_for(path: str, sample_format: int, bits: int) -> np.dtype[np.generic]:
    unsigned = sample_format == SampleFormat.VOID
    for limit, name in _DTYPES.get(SampleFormat.UINT if unsigned else sample_format, ()):
        if bits == limit or (bits < limit and sample_format not in _EXACT_BITS):
            return np.dtype(name)
    raise UnsupportedError(
        path, f"sample format {sample_format} with {bits} bits per sample is not supported"
    )


@attrs.frozen
class _Samples:
    """The sample layout tags of an IFD, checked."""

    samples: int
    bits: int
    sample_format: int
    dtype: np.dtype[np.generic]
    photometric: int


@attrs.frozen
class _Grid:
    """The block grid of an IFD: block size, offsets and byte counts."""

    tiled: bool
    block_width: int
    block_height: int
    offsets: npt.NDArray[np.uint64] | None
    counts: npt.NDArray[np.uint64] | None
    uncompressed: bool = False
    planar: bool = False


def _describe_samples(path: str, ifd: IFD, where: str) -> _Samples:
    samples = ifd.get_int(Tag.SAMPLES_PER_PIXEL, 1) or 0
    if not 0 < samples <= MAX_SAMPLES:
        raise CorruptFileError(path, f"{where} has SamplesPerPixel={samples}")
    bits_all = ifd.get_ints(Tag.BITS_PER_SAMPLE) or (1,)
    if any(not 0 < b <= 128 for b in bits_all):
        raise CorruptFileError(path, f"{where} has BitsPerSample={bits_all}")
    if len(set(bits_all)) != 1:
        raise UnsupportedError(path, f"{where} mixes bit depths across samples: {bits_all}")
    bits = bits_all[0]
    sample_format = (ifd.get_ints(Tag.SAMPLE_FORMAT) or (1,))[0]
    dtype = _dtype_for(path, sample_format, bits)
    photometric = ifd.get_int(Tag.PHOTOMETRIC)
    if photometric in (Photometric.SEPARATED, Photometric.CIELAB) and bits == 8:
        dtype = np.dtype("uint8")  # GDAL reads these through libtiff's RGBA interface
    if photometric is None:
        # libtiff guesses (GDAL opens such files): RGB for 3+ samples, else gray.
        photometric = Photometric.RGB if samples >= 3 else Photometric.MINISBLACK
    return _Samples(samples, bits, sample_format, dtype, photometric)


def _describe_grid(path: str, ifd: IFD, where: str, height: int, width: int) -> _Grid:
    tile_w, tile_h = ifd.get_int(Tag.TILE_WIDTH), ifd.get_int(Tag.TILE_LENGTH)
    strips = ifd.get_array(Tag.STRIP_OFFSETS), ifd.get_array(Tag.STRIP_BYTE_COUNTS)
    if tile_w is None and tile_h is None:
        rows = ifd.get_int(Tag.ROWS_PER_STRIP)
        if rows is None or rows <= 0 or rows > height:
            rows = height  # missing or oversize RowsPerStrip: one strip (libtiff)
        return _Grid(False, width, rows, *strips)  # noqa: FBT003
    if not tile_w or not tile_h or tile_w > MAX_DIMENSION or tile_h > MAX_DIMENSION:
        raise CorruptFileError(path, f"{where} has an invalid tile size {tile_w}x{tile_h}")
    tiles = ifd.get_array(Tag.TILE_OFFSETS), ifd.get_array(Tag.TILE_BYTE_COUNTS)
    # Some writers store tiles under the strip tags.
    return _Grid(True, tile_w, tile_h, *(tiles if tiles[0] is not None else strips))  # noqa: FBT003


def _complete_grid(path: str, where: str, grid: _Grid, s: _Samples, size: tuple[int, int]) -> _Grid:
    """Derive missing byte counts, check the block count, chop one big strip (libtiff)."""
    height, width = size
    planar = grid.planar
    planes = s.samples if planar else 1
    offsets, counts, block_h = grid.offsets, grid.counts, grid.block_height
    nblocks = math.ceil(width / grid.block_width) * math.ceil(height / block_h) * planes
    if offsets is not None and counts is None and grid.uncompressed:
        # Uncompressed without byte counts: libtiff derives them.
        per_row = -(-grid.block_width * (1 if planar else s.samples) * s.bits // 8)
        counts = np.full(len(offsets), per_row * block_h, dtype=np.uint64)
    if offsets is None or counts is None:
        return attrs.evolve(grid, counts=counts)
    if len(offsets) < nblocks or len(counts) < nblocks:
        if not (len(offsets) == 1 and len(counts) == 1 and not grid.tiled and planes == 1):
            raise CorruptFileError(
                path,
                f"{where} has {len(offsets)} offsets and {len(counts)} byte counts"
                f" for {nblocks} blocks",
            )
        block_h = height  # one strip for the whole image, with RowsPerStrip understated
    if not grid.tiled and not planar and grid.uncompressed and len(offsets) == 1:
        block_h, offsets, counts = _chop_single_strip(
            s, size, int(offsets[0]), int(counts[0]), block_h
        )
    return attrs.evolve(grid, block_height=block_h, offsets=offsets, counts=counts)


def describe_ifd(path: str, ifd: IFD, ifd_index: int) -> ImageInfo:
    """Validate an IFD's raster tags and describe its layout.

    Raises:
        CorruptFileError: A required tag is missing or the values contradict each other.
        UnsupportedError: The sample type has no numpy equivalent.
    """
    where = f"IFD {ifd_index}"
    width = ifd.get_int(Tag.IMAGE_WIDTH)
    height = ifd.get_int(Tag.IMAGE_LENGTH)
    if width is None or height is None:
        raise CorruptFileError(path, f"{where} has no ImageWidth/ImageLength tag")
    if not (0 < width <= MAX_DIMENSION and 0 < height <= MAX_DIMENSION):
        raise CorruptFileError(path, f"{where} has an invalid size {width}x{height}")
    s = _describe_samples(path, ifd, where)
    compression_code = ifd.get_int(Tag.COMPRESSION, 1) or 1
    planar = (ifd.get_int(Tag.PLANAR_CONFIGURATION, 1) or 1) == 2 and s.samples > 1
    grid = attrs.evolve(
        _describe_grid(path, ifd, where, height, width),
        uncompressed=compression_code == 1,
        planar=planar,
    )
    grid = _complete_grid(path, where, grid, s, (height, width))
    tables = ifd.tags.get(Tag.JPEG_TABLES)
    subsampling = ifd.get_ints(Tag.YCBCR_SUBSAMPLING) or (2, 2)
    if len(subsampling) < 2 or subsampling[0] not in (1, 2, 4) or subsampling[1] not in (1, 2, 4):
        subsampling = (2, 2)
    return ImageInfo(
        ifd_index=ifd_index,
        width=width,
        height=height,
        samples=s.samples,
        bits=s.bits,
        sample_format=s.sample_format,
        dtype=s.dtype,
        compression_code=compression_code,
        predictor=ifd.get_int(Tag.PREDICTOR, 1) or 1,
        photometric=s.photometric,
        planar=planar,
        tiled=grid.tiled,
        block_width=grid.block_width,
        block_height=grid.block_height,
        offsets=grid.offsets,
        byte_counts=grid.counts,
        extra_samples=tuple(ifd.get_ints(Tag.EXTRA_SAMPLES) or ()),
        subfile_type=ifd.get_int(Tag.NEW_SUBFILE_TYPE, 0) or 0,
        jpeg_tables=tables if isinstance(tables, bytes) else None,
        ycbcr_subsampling=(subsampling[0], subsampling[1]),
        lerc_parameters=ifd.get_ints(Tag.LERC_PARAMETERS),
        fill_order=ifd.get_int(Tag.FILL_ORDER, 1) or 1,
    )


# libtiff's STRIPCHOP: one uncompressed strip is read as strips of ~8 KiB.
_CHOP_STRIP_BYTES: Final = 8192
# Like libtiff, do not split into absurdly many strips (a hostile header can
# declare a 2^31-row image backed by a few bytes).
_MAX_CHOPPED_STRIPS: Final = 1_000_000


def _chop_single_strip(
    s: _Samples, size: tuple[int, int], offset: int, count: int, rows: int
) -> tuple[int, npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """Split one uncompressed strip the way libtiff does, so blocks match GDAL's.

    Smaller blocks also let a windowed read fetch only the rows it needs.
    """
    height, width = size
    line_bytes = -(-width * s.samples * s.bits // 8)
    if line_bytes <= 0:
        return rows, np.array([offset], np.uint64), np.array([count], np.uint64)
    chop_rows = 1 if line_bytes > _CHOP_STRIP_BYTES else _CHOP_STRIP_BYTES // line_bytes
    if chop_rows >= rows or -(-height // chop_rows) > _MAX_CHOPPED_STRIPS:
        return rows, np.array([offset], np.uint64), np.array([count], np.uint64)
    strip_bytes = chop_rows * line_bytes
    n = -(-height // chop_rows)
    starts = offset + np.arange(n, dtype=np.uint64) * np.uint64(strip_bytes)
    # Python ints: a hostile byte count may not fit int64 (BigTIFF allows 2^64-1).
    remaining = np.array(
        [min(max(count - i * strip_bytes, 0), strip_bytes) for i in range(n)], dtype=np.uint64
    )
    return chop_rows, starts, remaining
