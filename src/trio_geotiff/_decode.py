"""Decode one compressed block (tile or strip) into a numpy array.

Runs in worker threads: every codec here (imagecodecs: libdeflate, zstd,
libjpeg-turbo, libwebp, openjpeg, lerc, liblzma; jpeglib's IJG libjpeg 9f)
releases the GIL while it works, so decoding scales across cores and never
stalls the event loop. See docs/design.md for why blocks are decoded here
rather than by async-tiff.

`decode` is the boundary between codecs and the library:

* bad data raises `CorruptFileError` naming the file, the IFD, the block and
  the codec. Codec exceptions (imagecodecs' ``*Error``, which are
  RuntimeErrors, and ValueErrors from codecs and header parsers) are caught
  around the codec calls only, so a bug in this module still surfaces as what
  it is (TypeError, IndexError...);
* no decoder allocates more than the block needs: byte codecs are given the
  output size, and image codecs (JPEG, WebP, JPEG 2000, JPEG XL, LERC), whose
  bitstreams declare their own dimensions, have that declaration checked
  against the block first (`_bitstream.declared_size`);
* running out of memory raises `ResourceLimitError` with the bytes needed.
"""

from __future__ import annotations

import contextlib
import lzma
import zlib
from collections.abc import Callable, Iterator
from typing import Any, Final

import attrs
import imagecodecs
import numpy as np
import numpy.typing as npt

from ._bitstream import Size, declared_size
from ._codes import Photometric, Predictor, SampleFormat
from ._image import Compression, ImageInfo
from ._jpeg import decode_jpeg, libjpeg9_available
from .errors import CorruptFileError, GeoTIFFError, ResourceLimitError, UnsupportedError

__all__ = ["Block", "check_decodable", "decode"]

# What codecs raise on bad data. imagecodecs' errors derive from RuntimeError.
_CODEC_ERRORS: Final = (RuntimeError, ValueError, zlib.error, lzma.LZMAError, EOFError)


def _lzma_decode(data: bytes | bytearray | memoryview, out: int) -> bytes:
    """At most ``out`` bytes of an xz stream (libtiff's LZMA).

    The standard library rather than imagecodecs: ``lzma_decode(..., out=n)``
    returns nothing, without an error, for data that is not LZMA at all.
    """
    decompressor = lzma.LZMADecompressor()
    raw = decompressor.decompress(data, max_length=out)
    if len(raw) < out and not decompressor.eof:
        raise ValueError("truncated LZMA stream")
    return raw


# Each is called with the output size (``out=``), which bounds what it allocates.
_BYTE_CODECS: Final[dict[Compression, Callable[..., Any]]] = {
    Compression.DEFLATE: imagecodecs.deflate_decode,
    Compression.LZW: imagecodecs.lzw_decode,
    Compression.PACKBITS: imagecodecs.packbits_decode,
    Compression.ZSTD: imagecodecs.zstd_decode,
    Compression.LZMA: _lzma_decode,
}
# Codecs that fail, rather than stop, when the data inflates to more than the
# output size they are given. libtiff decodes such a block and ignores the
# excess; it is decoded again into _EXCESS_FACTOR times the block (bounded).
_FAIL_WHEN_LONG: Final = frozenset({Compression.DEFLATE, Compression.PACKBITS, Compression.ZSTD})
_EXCESS_FACTOR: Final = 4
# LERC blobs may be wrapped in Deflate or ZSTD (LercParameters[1]).
_LERC_WRAPPERS: Final[dict[int, Callable[..., Any]]] = {
    1: imagecodecs.deflate_decode,
    2: imagecodecs.zstd_decode,
}
_INTEGER_FORMATS: Final = frozenset({SampleFormat.UINT, SampleFormat.INT, SampleFormat.VOID})
# GDAL reads these through libtiff's RGBA conversion, which is not done here.
_GDAL_RGBA_PHOTOMETRICS: Final = frozenset(
    {Photometric.SEPARATED, Photometric.CIELAB, Photometric.LOGL, Photometric.LOGLUV}
)


@attrs.frozen
class Block:
    """One block to decode and where it comes from (named in error messages)."""

    path: str
    info: ImageInfo
    rows: int = attrs.field(validator=attrs.validators.ge(1))
    """Rows of valid data in the block (a final strip may be short)."""
    index: int | None = None
    """Position of the block in the IFD's offsets array."""
    byteorder: str = attrs.field(default="<", validator=attrs.validators.in_(("<", ">")))
    jpeg: str = attrs.field(default="gdal", validator=attrs.validators.in_(("fast", "gdal")))
    """YCbCr JPEG decoding: "gdal" (IJG libjpeg 9f, GDAL's pixels) or "fast" (libjpeg-turbo)."""

    @property
    def where(self) -> str:
        """The IFD and block, for messages."""
        ifd = f"IFD {self.info.ifd_index}"
        return ifd if self.index is None else f"{ifd} block {self.index}"

    @property
    def codec(self) -> str:
        """The compression's name (or its code when unknown)."""
        comp = self.info.compression
        return comp.value if comp is not None else f"compression {self.info.compression_code}"

    @property
    def stored_bytes(self) -> int:
        """Bytes of the block's valid rows as stored (before any predictor)."""
        info = self.info
        return self.rows * -(-info.block_width * info.samples_per_block * info.bits // 8)

    @property
    def decoded_bytes(self) -> int:
        """Bytes of the decoded block (full block height, returned dtype)."""
        info = self.info
        rows = max(self.rows, info.block_height)
        return rows * info.block_width * info.samples_per_block * info.dtype.itemsize

    def corrupt(self, reason: str) -> CorruptFileError:
        """A `CorruptFileError` naming this block and codec."""
        return CorruptFileError(self.path, f"{self.where} ({self.codec}): {reason}")


def check_decodable(path: str, info: ImageInfo) -> None:
    """Raise `UnsupportedError` now if blocks of this image cannot be decoded.

    Raises:
        UnsupportedError: The codec, predictor or pixel layout is not supported.
    """
    comp = info.compression
    if comp is None:
        raise UnsupportedError(path, f"compression code {info.compression_code} is unknown")
    if comp is not Compression.NONE and comp not in _BYTE_CODECS and comp not in _IMAGE_DECODERS:
        raise UnsupportedError(path, f"{comp.value} compression is not supported")
    if info.photometric in _GDAL_RGBA_PHOTOMETRICS:
        name = Photometric(info.photometric).name
        raise UnsupportedError(
            path,
            f"photometric {name} images are converted to RGBA by GDAL;"
            " this library does not convert them",
        )
    if info.photometric == Photometric.YCBCR and comp is not Compression.JPEG:
        raise UnsupportedError(path, "YCbCr images are supported with JPEG compression only")
    reason = _unsupported_samples(info)
    if reason:
        raise UnsupportedError(path, reason)


def _unsupported_samples(info: ImageInfo) -> str | None:
    """Why the predictor and sample type cannot be decoded, or None."""
    fmt, predictor = info.sample_format, info.predictor
    rules = (
        (predictor not in set(Predictor), f"predictor {predictor} is not supported"),
        (
            predictor == Predictor.FLOATINGPOINT and fmt != SampleFormat.IEEEFP,
            "predictor 3 needs floating-point samples",
        ),
        (
            predictor == Predictor.HORIZONTAL and info.bits not in (8, 16, 32, 64),
            f"predictor 2 with {info.bits}-bit samples is not supported",
        ),
        (
            predictor == Predictor.HORIZONTAL
            and fmt in (SampleFormat.COMPLEXINT, SampleFormat.COMPLEXIEEEFP),
            "predictor 2 with complex samples is not supported",
        ),
        (
            fmt == SampleFormat.IEEEFP and info.bits == 24,
            "24-bit floating point samples are not supported",
        ),
        (
            info.bits not in (8, 16, 32, 64, 128) and fmt not in _INTEGER_FORMATS,
            f"{info.bits}-bit non-integer samples are not supported",
        ),
    )
    return next((reason for broken, reason in rules if broken), None)


def decode(
    block: Block, data: bytes | bytearray | memoryview, out: npt.NDArray[Any] | None = None
) -> npt.NDArray[Any]:
    """Decode one block into an array of shape ``(rows, block_width, samples_per_block)``.

    Args:
        block: Which block of which image, and how to decode it.
        data: The block's compressed bytes.
        out: Where the block may be written: an array of the block's shape
            and dtype (a strided view of the read's output, say). Used only
            where undoing a horizontal predictor writes the final samples
            anyway; then the result is ``out`` itself, otherwise a new array
            and ``out`` is left untouched.

    Returns:
        The block, in ``info.dtype`` and native byte order. Tiles keep their
        padding; strips are ``rows`` high.

    Raises:
        CorruptFileError: The bytes do not decode, or declare a size other than the block's.
        ResourceLimitError: Memory ran out while decoding.
        UnsupportedError: ``jpeg="gdal"`` on YCbCr JPEG without the jpeglib package.
    """
    try:
        if block.info.compression in _IMAGE_DECODERS:
            return _decode_image(block, bytes(data))
        return _unpack(block, _decompress(block, data), out)
    except ResourceLimitError:
        raise
    except MemoryError as exc:
        raise ResourceLimitError(
            block.path,
            f"{block.where}: out of memory decoding a {block.codec} block"
            f" of {block.decoded_bytes} bytes",
        ) from exc


@contextlib.contextmanager
def _codec_errors(block: Block) -> Iterator[None]:
    """Turn what a codec raises on bad data into `CorruptFileError`."""
    try:
        yield
    except (GeoTIFFError, MemoryError):
        raise
    except _CODEC_ERRORS as exc:
        raise block.corrupt(f"cannot decode: {exc}") from exc


# ---------------------------------------------------------------------------
# Byte codecs (Deflate, LZW, PackBits, ZSTD, LZMA) and sample unpacking


def _decompress(block: Block, data: bytes | bytearray | memoryview) -> Any:
    comp = block.info.compression
    if comp is None or comp is Compression.NONE:
        return data
    codec = _BYTE_CODECS[comp]
    expected = block.stored_bytes
    with _codec_errors(block):
        try:
            return codec(data, out=expected)
        except _CODEC_ERRORS:
            if comp not in _FAIL_WHEN_LONG:
                raise
        # Longer than the block (or corrupt): decode into a bounded buffer.
        return memoryview(codec(data, out=_EXCESS_FACTOR * expected))[:expected]


def _unpack(block: Block, raw: Any, out: npt.NDArray[Any] | None) -> npt.NDArray[Any]:
    """Stored samples (after decompression) to the returned array."""
    info = block.info
    buf = np.frombuffer(raw, dtype=np.uint8)
    if info.fill_order == 2:  # FillOrder 2: bits of each byte stored lowest first
        buf = imagecodecs.bitorder_decode(buf.copy())
    if info.bits in (8, 16, 32, 64, 128) or (
        info.sample_format == SampleFormat.IEEEFP and info.bits == 16
    ):
        return _unpack_bytes(block, buf, out)
    width, spb = info.block_width, info.samples_per_block
    if info.bits == 24 and info.sample_format in (SampleFormat.UINT, SampleFormat.VOID):
        # GDAL reads 24-bit samples as a big-endian bit stream, after libtiff
        # has swapped each 3-byte sample of a big-endian file: in a little-endian
        # file they are big-endian triples, in a big-endian one little-endian.
        # (imagecodecs.packints_decode mangles 24 bits into a '>u4' dtype.)
        arr = _decode_24bit(buf, block.rows, width, spb, block.byteorder)
        return arr.astype(info.dtype, copy=False)
    # Sub-byte or odd bit depths (1, 2, 4, 10, 12, ...): rows are byte-aligned.
    with _codec_errors(block):
        unpacked = imagecodecs.packints_decode(
            buf.tobytes(), info.dtype.newbyteorder(">"), info.bits, runlen=width * spb
        )
    need = block.rows * width * spb
    flat = np.asarray(unpacked).ravel()
    if flat.size < need:
        flat = np.concatenate([flat, np.zeros(need - flat.size, dtype=flat.dtype)])
    return flat[:need].reshape(block.rows, width, spb).astype(info.dtype, copy=False)


def _file_dtype(info: ImageInfo, byteorder: str) -> np.dtype[Any]:
    """The dtype of samples as stored in the file."""
    b = info.bits
    f = info.sample_format
    if f == SampleFormat.IEEEFP and b == 16:
        return np.dtype(byteorder + "f2")
    if f == SampleFormat.COMPLEXINT:
        return np.dtype(byteorder + ("i2" if b == 32 else "i4"))  # pairs of (re, im)
    if f == SampleFormat.COMPLEXIEEEFP:
        return np.dtype(byteorder + ("c8" if b == 64 else "c16"))
    return info.dtype.newbyteorder(">" if byteorder == ">" else "<")


def _unpack_bytes(
    block: Block, buf: npt.NDArray[np.uint8], out: npt.NDArray[Any] | None
) -> npt.NDArray[Any]:
    """Whole-byte samples: view, pad a short block, undo the predictor."""
    info, rows, width = block.info, block.rows, block.info.block_width
    fdtype = _file_dtype(info, block.byteorder)
    complex_int = info.sample_format == SampleFormat.COMPLEXINT
    row_items = width * info.samples_per_block * (2 if complex_int else 1)
    row_bytes = row_items * fdtype.itemsize
    have_rows = min(rows, len(buf) // row_bytes) if row_bytes else 0
    if have_rows < rows:
        # A short block: GDAL fills the missing rows with zeros (with a warning).
        padded = np.zeros(rows * row_bytes, dtype=np.uint8)
        padded[: have_rows * row_bytes] = buf[: have_rows * row_bytes]
        buf = padded
    arr: npt.NDArray[Any] = buf[: rows * row_bytes].view(fdtype).reshape(rows, width, -1)
    if info.predictor == Predictor.HORIZONTAL:
        if out is not None and not complex_int and out.dtype == fdtype and out.shape == arr.shape:
            # The predictor's pass writes the final samples: straight into
            # place, saving a pass over the block and its allocation.
            return imagecodecs.delta_decode(arr, axis=-2, dist=1, out=out)
        arr = imagecodecs.delta_decode(arr, axis=-2, dist=1)
    elif info.predictor == Predictor.FLOATINGPOINT:
        arr = imagecodecs.floatpred_decode(arr, axis=-2, dist=1)
    if complex_int:
        native = arr.astype(arr.dtype.newbyteorder("="), copy=False)
        out = native[..., 0::2].astype(info.dtype) + 1j * native[..., 1::2]
        return out.astype(info.dtype, copy=False)
    return arr.astype(info.dtype, copy=False)


def _decode_24bit(
    buf: npt.NDArray[np.uint8], rows: int, width: int, spb: int, byteorder: str
) -> npt.NDArray[np.uint32]:
    need = rows * width * spb * 3
    if len(buf) < need:
        buf = np.concatenate([buf, np.zeros(need - len(buf), dtype=np.uint8)])
    triples = buf[:need].reshape(rows, width, spb, 3).astype(np.uint32)
    hi, mid, lo = (2, 1, 0) if byteorder == ">" else (0, 1, 2)
    out: npt.NDArray[np.uint32] = (
        (triples[..., hi] << np.uint32(16)) | (triples[..., mid] << np.uint32(8)) | triples[..., lo]
    )
    return out


# ---------------------------------------------------------------------------
# Image codecs: the bitstream declares its size


def _jpeg(block: Block, data: bytes) -> Any:
    info = block.info
    return decode_jpeg(
        data,
        tables=info.jpeg_tables,
        photometric=info.photometric,
        samples=info.samples_per_block,
        exact=block.jpeg == "gdal",
    )


def _webp(block: Block, data: bytes) -> Any:
    return imagecodecs.webp_decode(data, hasalpha=block.info.samples_per_block == 4)


def _jpeg2000(_block: Block, data: bytes) -> Any:
    return imagecodecs.jpeg2k_decode(data)


def _jpegxl(_block: Block, data: bytes) -> Any:
    return imagecodecs.jpegxl_decode(data)


def _lerc(_block: Block, data: bytes) -> Any:
    return imagecodecs.lerc_decode(data, masks=True)  # (values, masks)


_IMAGE_DECODERS: Final[dict[Compression, Callable[[Block, bytes], Any]]] = {
    Compression.JPEG: _jpeg,
    Compression.WEBP: _webp,
    Compression.JPEG2000: _jpeg2000,
    Compression.JXL: _jpegxl,
    Compression.LERC: _lerc,
}


def _decode_image(block: Block, data: bytes) -> npt.NDArray[Any]:
    info = block.info
    comp = info.compression
    assert comp is not None  # decode() dispatches image codecs only
    if (
        comp is Compression.JPEG
        and block.jpeg == "gdal"
        and info.photometric == Photometric.YCBCR
        and not libjpeg9_available()
    ):
        raise UnsupportedError(
            block.path, 'jpeg="gdal" needs the jpeglib package; install it or pass jpeg="fast"'
        )
    if comp is Compression.LERC:
        data = _lerc_payload(block, data)
    with _codec_errors(block):
        size = declared_size(comp.value, data)
    _check_declared(block, size)
    with _codec_errors(block):
        arr = _IMAGE_DECODERS[comp](block, data)
    if comp is Compression.LERC:
        arr = _apply_lerc_mask(info, *arr)
    return _fit(block, np.asarray(arr))


def _lerc_payload(block: Block, data: bytes) -> bytes:
    """The LERC blobs, unwrapped from Deflate or ZSTD into a bounded buffer."""
    params = block.info.lerc_parameters or (0, 0)
    unwrap = _LERC_WRAPPERS.get(params[1]) if len(params) > 1 else None
    if unwrap is None:
        return data
    # A blob is at most its raw values plus a mask bit per pixel and headers.
    bound = 2 * block.decoded_bytes + 65536
    with _codec_errors(block):
        return bytes(unwrap(data, out=bound))


def _check_declared(block: Block, size: Size) -> None:
    """Reject a bitstream that declares another size than the block's, before decoding it."""
    info = block.info
    if (
        size.width != info.block_width
        or not 0 < size.height <= info.block_height
        or size.samples > info.samples_per_block
    ):
        raise block.corrupt(
            f"the bitstream declares {size.width}x{size.height} pixels of {size.samples}"
            f" samples, the block is {info.block_width}x{info.block_height}"
            f" of {info.samples_per_block}"
        )


def _fit(block: Block, arr: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """A decoded image as (rows, block_width, samples) in the image's dtype."""
    info, rows = block.info, block.rows
    spb = info.samples_per_block
    if arr.ndim == 2:
        arr = arr[:, :, np.newaxis]
    if info.compression is Compression.LERC and arr.ndim == 3 and spb == 1 and arr.shape[2] != 1:
        arr = arr.reshape(arr.shape[0], arr.shape[1], -1)
    want = (rows, info.block_width, spb)
    if arr.ndim != 3 or arr.shape[1:] != want[1:] or arr.shape[0] < 1:
        raise block.corrupt(f"decoded to shape {arr.shape}, expected {want}")
    if arr.shape[0] < rows:
        pad = np.zeros(want, dtype=arr.dtype)
        pad[: arr.shape[0]] = arr
        arr = pad
    return arr[:rows].astype(info.dtype, copy=False)


def _apply_lerc_mask(info: ImageInfo, arr: Any, masks: Any) -> npt.NDArray[Any]:
    """Apply a LERC blob's validity mask(s) as GDAL's LERC codec does.

    * Floating point: invalid samples become NaN (GDAL writes NaN as invalid).
    * 8-bit chunky with an unassociated alpha last sample: GDAL stores an
      alpha of only 0/255 as the mask and drops the band; it is rebuilt here.
    * One mask per sample (NaNs differing between samples of a chunky float
      block): LERC returns ``(samples, rows, cols)``; reordered to ``(rows, cols, samples)``.
    Other integer masks are ignored, as GDAL ignores them.
    """
    out: npt.NDArray[Any] = np.asarray(arr)
    if masks is None:
        return out
    arr = out
    masks = np.asarray(masks, dtype=bool)
    spb = info.samples_per_block
    if masks.ndim == 3 and arr.ndim == 3 and arr.shape[0] == spb and masks.shape == arr.shape:
        arr = np.moveaxis(arr, 0, -1)
        masks = np.moveaxis(masks, 0, -1)
    if arr.ndim == 2:
        arr = arr[:, :, np.newaxis]
    if masks.ndim == 2:
        masks = masks[:, :, np.newaxis]
    if arr.dtype.kind == "f":
        arr = np.where(masks, arr, arr.dtype.type(np.nan))
    elif (
        arr.dtype == np.uint8
        and not info.planar
        and info.extra_samples
        and info.extra_samples[-1] == 2
        and arr.shape[2] == spb - 1
    ):
        alpha = np.where(masks[:, :, :1], np.uint8(255), np.uint8(0))
        arr = np.concatenate([arr, alpha], axis=2)
    return arr  # type: ignore[no-any-return]
