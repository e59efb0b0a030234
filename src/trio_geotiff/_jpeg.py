"""Decode TIFF JPEG blocks (Compression=7), exactly as GDAL does or fast.

GDAL reads JPEG-in-TIFF through libtiff, which hands each block to the IJG
libjpeg it is linked with (rasterio's wheels ship IJG libjpeg 9f,
``libjpeg.so.9.6.0``) in "JPEGCOLORMODE_RGB" mode: a plain libjpeg decode with
``out_color_space = JCS_RGB``. imagecodecs links libjpeg-turbo, which
upsamples 4:2:0 chroma with a triangle filter where IJG libjpeg 7+ runs a
scaled 16x16 inverse DCT, so the two differ by up to ~120 DN at sharp colour
edges (docs/jpeg.md).

* ``exact=True`` decodes YCbCr blocks with IJG libjpeg 9f from the `jpeglib`
  package: the library GDAL uses, so the result is GDAL's bit for bit.
* ``exact=False``, and every non-YCbCr block (RGB, grayscale: the two libraries
  agree there), use libjpeg-turbo through imagecodecs.

jpeglib's decoder reads from a file path, so the stream is handed over in an
anonymous in-memory file (``memfd_create``; a temporary file where the
platform lacks it). Both decoders release the GIL and keep no global state:
blocks decode in parallel worker threads.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import tempfile
from pathlib import Path
from typing import Final

import imagecodecs
import numpy as np
import numpy.typing as npt

from ._bitstream import jpeg_frame, merge_jpeg_tables
from ._codes import Photometric

__all__ = ["decode_jpeg", "libjpeg9_available"]

_JCS_RGB: Final = 2
_JCS_YCBCR: Final = 3
# The IJG libjpeg build of jpeglib that matches GDAL's (rasterio wheels: 9f).
_LIBJPEG_VERSION: Final = "9f"


class LibjpegError(RuntimeError):
    """IJG libjpeg could not decode a stream (its message went to stderr)."""


class _Libjpeg9:
    """The two C entry points of jpeglib's libjpeg 9f build that are used here.

    Bound directly rather than through jpeglib's Python API, whose version
    switch and header reader share global state between threads. ctypes
    releases the GIL during each call.

    ``read_jpeg_spatial`` must only be given a stream whose header
    ``read_jpeg_info`` has accepted: when libjpeg fails while reading the
    header there, jpeglib 1.0.2 closes an uninitialised FILE pointer and the
    process crashes. (read_jpeg_info initialises it.)
    """

    def __init__(self, library: Path) -> None:
        lib = ctypes.CDLL(str(library))
        ptr = ctypes.c_void_p
        self.info = lib.read_jpeg_info
        self.info.restype = ctypes.c_int
        # Arguments: the path, then eleven output pointers (image size, component
        # counts, colour spaces, scan count; NULL for the rest).
        self.info.argtypes = [ctypes.c_char_p, *[ptr] * 11]
        self.spatial = lib.read_jpeg_spatial
        self.spatial.restype = ctypes.c_int
        # path, pixels, colormap, in_colormap, out_color_space, dither_mode,
        # dct_method (-1: libjpeg's defaults), flags to override, their values.
        self.spatial.argtypes = [ctypes.c_char_p, ptr, ptr, ptr, *[ctypes.c_int] * 3,
                                 *[ctypes.c_uint] * 2]  # fmt: skip

    def decode_file(self, path: bytes) -> npt.NDArray[np.uint8]:
        """Decode the JPEG file at path to RGB."""
        dims = (ctypes.c_int * 2)()
        components = (ctypes.c_int * 3)()
        color = (ctypes.c_int * 2)()
        scans = ctypes.c_int()
        ok = self.info(path, None, dims, components, None, color, None, None, None, None,
                       ctypes.byref(scans), None)  # fmt: skip
        if not ok:
            raise LibjpegError("IJG libjpeg rejected the JPEG header")
        out = np.empty((dims[0], dims[1], 3), dtype=np.uint8)
        if not self.spatial(path, out.ctypes.data, None, None, _JCS_RGB, -1, -1, 0, 0xFFFFFFFF):
            raise LibjpegError("IJG libjpeg failed to decode the JPEG stream")
        return out


@functools.cache
def _libjpeg9() -> _Libjpeg9 | None:
    """The libjpeg 9f build of jpeglib, or None when jpeglib is not installed."""
    spec = importlib.util.find_spec("jpeglib")  # located, not imported
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "cjpeglib"
    found = [
        p
        for p in folder.glob(f"cjpeglib_{_LIBJPEG_VERSION}.*")
        if p.suffix in (".so", ".pyd", ".dll")
    ]
    return _Libjpeg9(found[0]) if len(found) == 1 else None


def libjpeg9_available() -> bool:
    """True when jpeglib's IJG libjpeg 9f build can be loaded (``jpeg="gdal"``)."""
    return _libjpeg9() is not None


def _libjpeg9_decode(stream: bytes) -> npt.NDArray[np.uint8]:
    """Decode a complete JPEG stream to RGB with IJG libjpeg 9f."""
    lib = _libjpeg9()
    if lib is None:
        raise LibjpegError(f"jpeglib's libjpeg {_LIBJPEG_VERSION} build is not installed")
    memfd = getattr(os, "memfd_create", None)
    if memfd is not None:
        fd = memfd("trio_geotiff_jpeg", os.MFD_CLOEXEC)
        try:
            os.write(fd, stream)
            return lib.decode_file(f"/proc/self/fd/{fd}".encode())
        finally:
            os.close(fd)
    fd, name = tempfile.mkstemp(suffix=".jpg")  # pragma: no cover - no memfd_create
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(stream)
        return lib.decode_file(name.encode())
    finally:
        Path(name).unlink()


def _decode_ycbcr_exact(data: bytes, tables: bytes | None) -> npt.NDArray[np.uint8]:
    stream = merge_jpeg_tables(tables, data)
    frame = jpeg_frame(stream)  # ValueError when libjpeg would not decode it either
    arr = _libjpeg9_decode(stream)
    if arr.shape[:2] != (frame.height, frame.width):
        raise ValueError(
            f"libjpeg decoded {arr.shape[:2]}, the frame declares {frame.height}x{frame.width}"
        )
    return arr


def decode_jpeg(
    data: bytes,
    *,
    tables: bytes | None,
    photometric: int,
    samples: int,
    exact: bool = True,
) -> npt.NDArray[np.uint8]:
    """Decode one JPEG-compressed TIFF block to (rows, cols, samples) uint8.

    Args:
        data: The block's bytes (a JPEG stream, possibly abbreviated).
        tables: The JPEGTables tag (347), or None.
        photometric: PhotometricInterpretation of the image (6 = YCbCr).
        samples: SamplesPerPixel of the block (1, 3 or 4).
        exact: Decode YCbCr as GDAL does (IJG libjpeg 9f), else with
            libjpeg-turbo (3 to 4 times faster, up to ~120 DN off at colour edges).

    Raises:
        ValueError: A malformed header, or not ``samples`` 8-bit samples.
        RuntimeError: The decoder failed (imagecodecs.JpegError, LibjpegError).
            `_decode.decode` maps both to `CorruptFileError` naming the block.
    """
    tables = tables or None
    if photometric == Photometric.YCBCR and samples == 3:
        if exact:
            arr = _decode_ycbcr_exact(data, tables)
        else:
            arr = imagecodecs.jpeg8_decode(
                data, tables=tables, colorspace=_JCS_YCBCR, outcolorspace=_JCS_RGB
            )
    else:
        arr = imagecodecs.jpeg8_decode(data, tables=tables)
    arr = np.asarray(arr)
    if arr.dtype != np.uint8:
        raise ValueError(f"JPEG block decoded to {arr.dtype}, expected 8-bit samples")
    if arr.ndim == 2:
        arr = arr[:, :, np.newaxis]
    if arr.ndim != 3 or arr.shape[2] != samples:
        raise ValueError(f"JPEG block decoded to shape {arr.shape}, expected {samples} samples")
    return arr
