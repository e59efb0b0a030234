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

from ._tiff import IFD
from .errors import CorruptFileError, UnsupportedError

__all__ = ["Compression", "ImageInfo", "describe_ifd"]

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

# Photometric interpretations (TIFF tag 262).
MINISWHITE: Final = 0
MINISBLACK: Final = 1
RGB: Final = 2
PALETTE: Final = 3
MASK: Final = 4
SEPARATED: Final = 5
YCBCR: Final = 6
CIELAB: Final = 8

PHOTOMETRIC_NAMES: Final[dict[int, str]] = {
    0: "MINISWHITE",
    1: "MINISBLACK",
    2: "RGB",
    3: "PALETTE",
    4: "MASK",
    5: "SEPARATED",
    6: "YCBCR",
    8: "CIELAB",
    9: "ICCLAB",
    10: "ITULAB",
    32844: "LOGL",
    32845: "LOGLUV",
}


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
        return bool(self.subfile_type & 4) and self.photometric == MASK

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


def _dtype_for(path: str, sample_format: int, bits: int) -> np.dtype[np.generic]:
    if sample_format in (1, 4):  # unsigned (4 = "void", read as unsigned, as GDAL does)
        if bits <= 8:
            return np.dtype("uint8")
        if bits <= 16:
            return np.dtype("uint16")
        if bits <= 32:
            return np.dtype("uint32")
        if bits <= 64:
            return np.dtype("uint64")
    elif sample_format == 2:
        if bits <= 8:
            return np.dtype("int8")
        if bits <= 16:
            return np.dtype("int16")
        if bits <= 32:
            return np.dtype("int32")
        if bits <= 64:
            return np.dtype("int64")
    elif sample_format == 3:
        if bits == 16:
            return np.dtype("float32")  # GDAL promotes half floats to Float32
        if bits == 24:
            return np.dtype("float32")
        if bits == 32:
            return np.dtype("float32")
        if bits == 64:
            return np.dtype("float64")
    elif sample_format == 5:
        if bits == 32:
            return np.dtype("complex64")  # complex int16, widened
        if bits == 64:
            return np.dtype("complex128")  # complex int32, widened
    elif sample_format == 6:
        if bits == 64:
            return np.dtype("complex64")
        if bits == 128:
            return np.dtype("complex128")
    raise UnsupportedError(
        path, f"sample format {sample_format} with {bits} bits per sample is not supported"
    )


def describe_ifd(path: str, ifd: IFD, ifd_index: int) -> ImageInfo:
    """Validate an IFD's raster tags and describe its layout.

    Raises:
        CorruptFileError: A required tag is missing or the values contradict each other.
        UnsupportedError: The sample type has no numpy equivalent.
    """
    where = f"IFD {ifd_index}"
    width = ifd.get_int(256)
    height = ifd.get_int(257)
    if width is None or height is None:
        raise CorruptFileError(path, f"{where} has no ImageWidth/ImageLength tag")
    if not (0 < width <= MAX_DIMENSION and 0 < height <= MAX_DIMENSION):
        raise CorruptFileError(path, f"{where} has an invalid size {width}x{height}")
    samples = ifd.get_int(277, 1) or 0
    if not 0 < samples <= MAX_SAMPLES:
        raise CorruptFileError(path, f"{where} has SamplesPerPixel={samples}")
    bits_all = ifd.get_ints(258) or (1,)
    if any(not 0 < b <= 128 for b in bits_all):
        raise CorruptFileError(path, f"{where} has BitsPerSample={bits_all}")
    if len(set(bits_all)) != 1:
        raise UnsupportedError(path, f"{where} mixes bit depths across samples: {bits_all}")
    bits = bits_all[0]
    formats = ifd.get_ints(339) or (1,)
    sample_format = formats[0]
    dtype = _dtype_for(path, sample_format, bits)
    photometric_tag = ifd.get_int(262)
    if photometric_tag in (SEPARATED, CIELAB) and bits == 8:
        dtype = np.dtype("uint8")  # GDAL reads these through libtiff's RGBA interface
    compression_code = ifd.get_int(259, 1) or 1
    predictor = ifd.get_int(317, 1) or 1
    photometric = ifd.get_int(262)
    if photometric is None:
        # libtiff guesses (GDAL opens such files): RGB for 3+ samples, else gray.
        photometric = RGB if samples >= 3 else MINISBLACK
    planar = (ifd.get_int(284, 1) or 1) == 2 and samples > 1
    subfile_type = ifd.get_int(254, 0) or 0

    tile_w, tile_h = ifd.get_int(322), ifd.get_int(323)
    if tile_w is not None or tile_h is not None:
        if not tile_w or not tile_h or tile_w > MAX_DIMENSION or tile_h > MAX_DIMENSION:
            raise CorruptFileError(path, f"{where} has an invalid tile size {tile_w}x{tile_h}")
        tiled = True
        block_w, block_h = tile_w, tile_h
        offsets, counts = ifd.get_array(324), ifd.get_array(325)
        if offsets is None:
            # Some writers store tiles under the strip tags.
            offsets, counts = ifd.get_array(273), ifd.get_array(279)
    else:
        tiled = False
        rows = ifd.get_int(278)
        if rows is None or rows <= 0 or rows > height:
            rows = height  # missing or oversize RowsPerStrip: one strip (libtiff)
        block_w, block_h = width, rows
        offsets, counts = ifd.get_array(273), ifd.get_array(279)

    planes = samples if planar else 1
    nblocks = math.ceil(width / block_w) * math.ceil(height / block_h) * planes
    if offsets is not None and counts is None and compression_code == 1:
        # Uncompressed without byte counts: libtiff derives them.
        bytes_per_block = -(-block_w * (1 if planar else samples) * bits // 8) * block_h
        counts = np.full(len(offsets), bytes_per_block, dtype=np.uint64)
    if (
        offsets is not None
        and counts is not None
        and (len(offsets) < nblocks or len(counts) < nblocks)
    ):
        if len(offsets) == 1 and len(counts) == 1 and not tiled and planes == 1:
            # One strip for the whole image, with RowsPerStrip understated.
            block_h = height
        else:
            raise CorruptFileError(
                path,
                f"{where} has {len(offsets)} offsets and {len(counts)} byte counts"
                f" for {nblocks} blocks",
            )

    if (
        not tiled
        and not planar
        and compression_code == 1
        and offsets is not None
        and counts is not None
        and len(offsets) == 1
    ):
        block_h, offsets, counts = _chop_single_strip(
            width, height, samples, bits, int(offsets[0]), int(counts[0]), block_h
        )

    extra = ifd.get_ints(338) or ()
    tables = ifd.tags.get(347)
    subsampling = ifd.get_ints(530) or (2, 2)
    if len(subsampling) < 2 or subsampling[0] not in (1, 2, 4) or subsampling[1] not in (1, 2, 4):
        subsampling = (2, 2)
    lerc = ifd.get_ints(50674)
    return ImageInfo(
        ifd_index=ifd_index,
        width=width,
        height=height,
        samples=samples,
        bits=bits,
        sample_format=sample_format,
        dtype=dtype,
        compression_code=compression_code,
        predictor=predictor,
        photometric=photometric,
        planar=planar,
        tiled=tiled,
        block_width=block_w,
        block_height=block_h,
        offsets=offsets,
        byte_counts=counts,
        extra_samples=tuple(extra),
        subfile_type=subfile_type,
        jpeg_tables=tables if isinstance(tables, bytes) else None,
        ycbcr_subsampling=(subsampling[0], subsampling[1]),
        lerc_parameters=lerc,
        fill_order=ifd.get_int(266, 1) or 1,
    )


# libtiff's STRIPCHOP: one uncompressed strip is read as strips of ~8 KiB.
_CHOP_STRIP_BYTES: Final = 8192
# Like libtiff, do not split into absurdly many strips (a hostile header can
# declare a 2^31-row image backed by a few bytes).
_MAX_CHOPPED_STRIPS: Final = 1_000_000


def _chop_single_strip(
    width: int, height: int, samples: int, bits: int, offset: int, count: int, rows: int
) -> tuple[int, npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """Split one uncompressed strip the way libtiff does, so blocks match GDAL's.

    Smaller blocks also let a windowed read fetch only the rows it needs.
    """
    line_bytes = -(-width * samples * bits // 8)
    if line_bytes <= 0:
        return rows, np.array([offset], np.uint64), np.array([count], np.uint64)
    chop_rows = 1 if line_bytes > _CHOP_STRIP_BYTES else _CHOP_STRIP_BYTES // line_bytes
    if chop_rows >= rows or -(-height // chop_rows) > _MAX_CHOPPED_STRIPS:
        return rows, np.array([offset], np.uint64), np.array([count], np.uint64)
    strip_bytes = chop_rows * line_bytes
    n = -(-height // chop_rows)
    starts = offset + np.arange(n, dtype=np.uint64) * np.uint64(strip_bytes)
    remaining = np.clip(
        np.int64(count) - np.arange(n, dtype=np.int64) * strip_bytes, 0, strip_bytes
    ).astype(np.uint64)
    return chop_rows, starts, remaining
