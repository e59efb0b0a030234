"""Decode one compressed block (tile or strip) into a numpy array.

Runs in worker threads: every codec here (imagecodecs: libdeflate, zstd,
libjpeg-turbo, libwebp, openjpeg, lerc, liblzma) releases the GIL while it
works, so decoding scales across cores and never stalls the trio loop.
See docs/design.md for why blocks are not decoded by async-tiff 0.7.2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import imagecodecs
import numpy as np
import numpy.typing as npt

from ._image import YCBCR, Compression, ImageInfo
from ._jpeg import decode_jpeg
from .errors import CorruptFileError, UnsupportedError

__all__ = ["check_decodable", "decode_block"]

_BYTE_CODECS: Final[dict[Compression, Callable[[bytes], Any]]] = {
    Compression.DEFLATE: imagecodecs.deflate_decode,
    Compression.LZW: imagecodecs.lzw_decode,
    Compression.PACKBITS: imagecodecs.packbits_decode,
    Compression.ZSTD: imagecodecs.zstd_decode,
    Compression.LZMA: imagecodecs.lzma_decode,
}
_SIZED_CODECS: Final = frozenset({Compression.DEFLATE, Compression.LZW, Compression.ZSTD})
_IMAGE_CODECS: Final = frozenset(
    {Compression.JPEG, Compression.WEBP, Compression.JPEG2000, Compression.LERC, Compression.JXL}
)
_GDAL_RGBA_PHOTOMETRICS: Final = {
    5: "SEPARATED (CMYK)",
    8: "CIELAB",
    32844: "LOGL",
    32845: "LOGLUV",
}


def check_decodable(path: str, info: ImageInfo) -> None:
    """Raise `UnsupportedError` now if blocks of this image cannot be decoded.

    Raises:
        UnsupportedError: The codec, predictor or pixel layout is not supported.
    """
    comp = info.compression
    if comp is None:
        raise UnsupportedError(path, f"compression code {info.compression_code} is unknown")
    if comp is not Compression.NONE and comp not in _BYTE_CODECS and comp not in _IMAGE_CODECS:
        raise UnsupportedError(path, f"{comp.value} compression is not supported")
    if info.photometric in _GDAL_RGBA_PHOTOMETRICS:
        # GDAL reads these through libtiff's RGBA conversion; we do not convert.
        raise UnsupportedError(
            path,
            f"photometric {_GDAL_RGBA_PHOTOMETRICS[info.photometric]} images are converted to"
            " RGBA by GDAL; this library does not convert them",
        )
    if info.photometric == YCBCR and comp is not Compression.JPEG:
        raise UnsupportedError(path, "YCbCr images are supported with JPEG compression only")
    if info.predictor not in (1, 2, 3):
        raise UnsupportedError(path, f"predictor {info.predictor} is not supported")
    if info.predictor == 3 and info.sample_format != 3:
        raise UnsupportedError(path, "predictor 3 needs floating-point samples")
    if info.predictor == 2 and info.bits not in (8, 16, 32, 64):
        raise UnsupportedError(path, f"predictor 2 with {info.bits}-bit samples is not supported")
    if info.sample_format == 3 and info.bits == 24:
        raise UnsupportedError(path, "24-bit floating point samples are not supported")
    if info.bits not in (8, 16, 32, 64, 128) and info.sample_format not in (1, 2, 4):
        raise UnsupportedError(path, f"{info.bits}-bit non-integer samples are not supported")


def _file_dtype(info: ImageInfo, byteorder: str) -> np.dtype[Any]:
    """The dtype of samples as stored in the file."""
    b = info.bits
    f = info.sample_format
    if f == 3 and b == 16:
        return np.dtype(byteorder + "f2")
    if f == 5:
        return np.dtype(byteorder + ("i2" if b == 32 else "i4"))  # pairs of (re, im)
    if f == 6:
        return np.dtype(byteorder + ("c8" if b == 64 else "c16"))
    return info.dtype.newbyteorder(">" if byteorder == ">" else "<")


def decode_block(
    path: str,
    info: ImageInfo,
    data: bytes | memoryview,
    byteorder: str,
    rows: int,
    *,
    jpeg: str = "fast",
) -> npt.NDArray[Any]:
    """Decode one block into an array of shape ``(rows, block_width, samples_per_block)``.

    Args:
        path: For error messages.
        info: The image the block belongs to.
        data: The block's compressed bytes.
        byteorder: The file's byte order, "<" or ">".
        rows: Rows of valid data in this block (a final strip may be short).
        jpeg: "gdal" decodes subsampled YCbCr JPEG exactly as GDAL does (slow);
            "fast" uses libjpeg-turbo.

    Returns:
        The block, in ``info.dtype`` and native byte order. Tiles keep their
        padding; strips are ``rows`` high.

    Raises:
        CorruptFileError: The bytes do not decode to the expected size.
    """
    comp = info.compression
    width = info.block_width
    spb = info.samples_per_block
    try:
        if comp in _IMAGE_CODECS:
            return _decode_image_codec(path, info, bytes(data), rows, jpeg)
        raw: Any = data if comp in (None, Compression.NONE) else _decompress(comp, data, info, rows)
    except (CorruptFileError, UnsupportedError):
        raise
    except Exception as exc:  # codec errors come as many types (imagecodecs.*Error, ValueError)
        raise CorruptFileError(
            path, f"cannot decode a {info.compression_code} block: {exc}"
        ) from exc
    buf = np.frombuffer(raw, dtype=np.uint8)
    if info.fill_order == 2:
        buf = imagecodecs.bitorder_decode(buf.copy())
    if info.bits in (8, 16, 32, 64, 128) or (info.sample_format == 3 and info.bits == 16):
        fdtype = _file_dtype(info, byteorder)
        row_items = width * spb * (2 if info.sample_format == 5 else 1)
        row_bytes = row_items * fdtype.itemsize
        have_rows = min(rows, len(buf) // row_bytes) if row_bytes else 0
        if have_rows < rows:
            # A short block: GDAL fills the missing rows with zeros (with a warning).
            padded = np.zeros(rows * row_bytes, dtype=np.uint8)
            padded[: have_rows * row_bytes] = buf[: have_rows * row_bytes]
            buf = padded
        arr: npt.NDArray[Any] = buf[: rows * row_bytes].view(fdtype).reshape(rows, row_items)
        if info.predictor == 2:
            arr = arr.reshape(rows, width, -1)
            arr = imagecodecs.delta_decode(arr, axis=-2, dist=1)
        elif info.predictor == 3:
            arr = arr.reshape(rows, width, -1)
            arr = imagecodecs.floatpred_decode(arr, axis=-2, dist=1)
        arr = arr.reshape(rows, width, -1)
        if info.sample_format == 5:
            native = arr.astype(arr.dtype.newbyteorder("="), copy=False)
            out = native[..., 0::2].astype(info.dtype) + 1j * native[..., 1::2]
            return out.astype(info.dtype, copy=False)
        return arr.astype(info.dtype, copy=False)
    if info.bits == 24 and info.sample_format in (1, 4):
        # GDAL reads 24-bit samples as a big-endian bit stream, after libtiff
        # has swapped each 3-byte sample of a big-endian file: in a little-endian
        # file they are big-endian triples, in a big-endian one little-endian.
        # (imagecodecs.packints_decode mangles 24 bits into a '>u4' dtype.)
        return _decode_24bit(buf, rows, width, spb, byteorder).astype(info.dtype, copy=False)
    # Sub-byte or odd bit depths (1, 2, 4, 10, 12, ...): rows are byte-aligned.
    try:
        unpacked = imagecodecs.packints_decode(
            buf.tobytes(), info.dtype.newbyteorder(">"), info.bits, runlen=width * spb
        )
    except Exception as exc:
        raise CorruptFileError(path, f"cannot unpack {info.bits}-bit samples: {exc}") from exc
    need = rows * width * spb
    flat = np.asarray(unpacked).ravel()
    if flat.size < need:
        flat = np.concatenate([flat, np.zeros(need - flat.size, dtype=flat.dtype)])
    return flat[:need].reshape(rows, width, spb).astype(info.dtype, copy=False)


def _decompress(comp: Compression, data: bytes | memoryview, info: ImageInfo, rows: int) -> Any:
    codec: Any = _BYTE_CODECS[comp]  # (imagecodecs' stubs omit ``out=`` and buffers)
    if comp in _SIZED_CODECS:
        # libdeflate, LZW and zstd are much faster when told the output size;
        # a block that inflates to more than that (libtiff tolerates it) takes
        # the general path.
        expected = rows * -(-info.block_width * info.samples_per_block * info.bits // 8)
        try:
            return codec(data, out=expected)
        except Exception:  # noqa: BLE001, S110 - retried below without the size hint
            pass
    return codec(data)


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


def _decode_image_codec(
    path: str, info: ImageInfo, data: bytes, rows: int, jpeg: str
) -> npt.NDArray[Any]:
    comp = info.compression
    spb = info.samples_per_block
    if comp is Compression.JPEG and (jpeg == "fast" or info.photometric != YCBCR):
        if info.photometric == YCBCR:  # libjpeg-turbo converts YCbCr to RGB
            arr = imagecodecs.jpeg8_decode(
                data, tables=info.jpeg_tables, colorspace=3, outcolorspace=2
            )
        else:
            arr = imagecodecs.jpeg8_decode(data, tables=info.jpeg_tables)
    elif comp is Compression.JPEG:
        # GDAL-exact YCbCr: IJG libjpeg's DCT-domain chroma upsampling, see _jpeg.py.
        arr = decode_jpeg(
            data,
            tables=info.jpeg_tables,
            photometric=info.photometric,
            samples=spb,
            subsampling=info.ycbcr_subsampling,
            path=path,
        )
    elif comp is Compression.WEBP:
        arr = imagecodecs.webp_decode(data, hasalpha=spb == 4)
    elif comp is Compression.JPEG2000:
        arr = imagecodecs.jpeg2k_decode(data)
    elif comp is Compression.JXL:
        arr = imagecodecs.jpegxl_decode(data)
    else:  # LERC, optionally wrapped in Deflate or ZSTD (LercParameters[1])
        params = info.lerc_parameters or (0, 0)
        payload: bytes | bytearray = data
        if len(params) > 1 and params[1] == 1:
            payload = imagecodecs.deflate_decode(data)
        elif len(params) > 1 and params[1] == 2:
            payload = imagecodecs.zstd_decode(data)
        arr = _apply_lerc_mask(info, *imagecodecs.lerc_decode(payload, masks=True))
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[:, :, np.newaxis]
    if comp is Compression.LERC and arr.ndim == 3 and spb == 1 and arr.shape[2] != 1:
        arr = arr.reshape(arr.shape[0], arr.shape[1], -1)
    want = (rows, info.block_width, spb)
    if arr.shape[1] != want[1] or arr.shape[2] != want[2] or arr.shape[0] < min(rows, 1):
        raise CorruptFileError(
            path,
            f"{comp.value if comp else '?'} block decoded to shape {arr.shape}, expected {want}",
        )
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
