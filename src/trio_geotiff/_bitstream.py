"""The image size that a self-describing bitstream declares, read from its header.

JPEG, WebP, JPEG 2000, JPEG XL and LERC blocks carry their own dimensions,
and their decoders allocate whatever the header asks for. `declared_size`
reads those dimensions (a few header bytes, no decoding) so that a block
claiming to be far larger than its tile is rejected before anything is
allocated. Pure code; every parser raises `ValueError` on a malformed header.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final

import attrs

__all__ = [
    "JpegFrame",
    "Size",
    "declared_size",
    "jpeg_frame",
    "merge_jpeg_tables",
]


@attrs.frozen
class Size:
    """Dimensions declared by a bitstream header."""

    height: int = attrs.field(validator=attrs.validators.ge(0))
    width: int = attrs.field(validator=attrs.validators.ge(0))
    samples: int = attrs.field(default=1, validator=attrs.validators.ge(0))
    """Samples per pixel when the header says (JPEG components, LERC depth), else 1."""


# ---------------------------------------------------------------------------
# JPEG

# Start-of-frame markers (all but DHT C4, JPG C8 and DAC CC).
_SOF_MARKERS: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_SOI: Final = b"\xff\xd8"


@attrs.frozen
class JpegFrame:
    """A JPEG frame header (SOF segment)."""

    marker: int
    precision: int
    height: int
    width: int
    components: tuple[tuple[int, int, int], ...]
    """(horizontal sampling, vertical sampling, quantisation table) per component."""


def _jpeg_segments(buf: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of the segments of a JPEG stream up to its first SOS/EOI."""
    if len(buf) < 4 or buf[:2] != _SOI:
        raise ValueError("JPEG stream does not start with SOI")
    out = []
    pos = 2
    while pos + 4 <= len(buf):
        if buf[pos] != 0xFF:
            # libjpeg skips stray bytes before a marker (with a warning).
            pos = buf.find(b"\xff", pos)
            if pos < 0:
                break
            continue
        marker = buf[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # EOI
            break
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # TEM, RSTn: no length
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", buf, pos + 2)
        if length < 2 or pos + 2 + length > len(buf):
            raise ValueError(f"JPEG segment 0x{marker:02X} overruns the stream")
        out.append((marker, pos + 4, pos + 2 + length))
        if marker == 0xDA:  # SOS: entropy-coded data follows
            break
        pos += 2 + length
    return out


def jpeg_frame(stream: bytes) -> JpegFrame:
    """The frame header of a complete JPEG stream (JPEGTables already merged in).

    Raises:
        ValueError: The stream has no SOF before its first SOS, more than one,
            or a malformed one. (libjpeg rejects a second SOF as well, so the
            frame read here is the one it decodes.)
    """
    frame: JpegFrame | None = None
    for marker, start, end in _jpeg_segments(stream):
        if marker not in _SOF_MARKERS:
            continue
        if frame is not None:
            raise ValueError("JPEG stream has more than one SOF segment")
        seg = stream[start:end]
        if len(seg) < 6 or len(seg) < 6 + 3 * seg[5]:
            raise ValueError("malformed JPEG SOF segment")
        height, width = struct.unpack_from(">HH", seg, 1)
        comps = tuple(
            (seg[7 + 3 * c] >> 4, seg[7 + 3 * c] & 15, seg[8 + 3 * c]) for c in range(seg[5])
        )
        frame = JpegFrame(marker, seg[0], height, width, comps)
    if frame is None:
        raise ValueError("JPEG stream has no SOF segment before its scan")
    return frame


def merge_jpeg_tables(tables: bytes | None, data: bytes) -> bytes:
    """One JPEG stream from a TIFF's JPEGTables (an abbreviated stream) and a block.

    libtiff feeds the tables to libjpeg before each block; splicing them in
    after the block's SOI is equivalent.
    """
    if not tables or len(tables) < 4 or data[:2] != _SOI:
        return data
    body = tables[:-2] if tables.endswith(b"\xff\xd9") else tables
    return body + data[2:]


def _jpeg_size(data: bytes) -> Size:
    # The SOF is in the block's own stream; JPEGTables hold DQT/DHT only.
    frame = jpeg_frame(data)
    return Size(frame.height, frame.width, len(frame.components))


# ---------------------------------------------------------------------------
# WebP (RIFF container: VP8 lossy, VP8L lossless, VP8X extended)


def _webp_size(data: bytes) -> Size:
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a RIFF/WEBP stream")
    chunk = data[12:16]
    if chunk == b"VP8X":
        # 24-bit canvas width-1 and height-1 after 4 bytes of flags.
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return Size(height, width)
    if chunk == b"VP8L":
        if data[20] != 0x2F:
            raise ValueError("bad VP8L signature")
        bits = int.from_bytes(data[21:25], "little")
        return Size(1 + ((bits >> 14) & 0x3FFF), 1 + (bits & 0x3FFF))
    if chunk == b"VP8 ":
        # 3-byte frame tag, start code 9D 01 2A, then 14-bit width and height.
        if data[23:26] != b"\x9d\x01\x2a":
            raise ValueError("bad VP8 start code")
        width, height = struct.unpack_from("<HH", data, 26)
        return Size(height & 0x3FFF, width & 0x3FFF)
    raise ValueError(f"unknown WebP chunk {chunk!r}")


# ---------------------------------------------------------------------------
# JPEG 2000 (raw codestream, or JP2 boxes around one)

_J2K_SOC_SIZ: Final = b"\xff\x4f\xff\x51"


def _jp2_codestream(data: bytes) -> int:
    """Offset of the codestream inside JP2 boxes (the contents of the jp2c box)."""
    pos = 0
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if length == 1:
            if pos + 16 > len(data):
                break
            (length,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif length == 0:
            length = len(data) - pos
        if kind == b"jp2c":
            return pos + header
        if length < header:
            raise ValueError("malformed JP2 box")
        pos += length
    raise ValueError("JP2 stream has no codestream box")


def _j2k_size(data: bytes) -> Size:
    start = 0 if data[:4] == _J2K_SOC_SIZ else _jp2_codestream(data)
    if data[start : start + 4] != _J2K_SOC_SIZ:
        raise ValueError("JPEG 2000 codestream does not start with SOC, SIZ")
    # SIZ: Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz, XTsiz, YTsiz, XTOsiz, YTOsiz, Csiz.
    if len(data) < start + 4 + 38:
        raise ValueError("truncated JPEG 2000 SIZ segment")
    _, _, xsiz, ysiz, xo, yo = struct.unpack_from(">HHIIII", data, start + 4)
    (csiz,) = struct.unpack_from(">H", data, start + 4 + 36)
    if xo > xsiz or yo > ysiz:
        raise ValueError("JPEG 2000 image offset beyond its size")
    return Size(ysiz - yo, xsiz - xo, csiz)


# ---------------------------------------------------------------------------
# JPEG XL (bare codestream, or ISO BMFF boxes around one)

_JXL_RATIOS: Final = ((1, 1), (12, 10), (4, 3), (3, 2), (16, 9), (5, 4), (2, 1))


class _Bits:
    """Least-significant-bit-first reader (JPEG XL's bit order)."""

    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data[:16], "little")
        self.pos = 0

    def read(self, n: int) -> int:
        out = (self.value >> self.pos) & ((1 << n) - 1)
        self.pos += n
        return out

    def u32_size(self) -> int:
        """The SizeHeader's U32(1 + u(9), 1 + u(13), 1 + u(18), 1 + u(30))."""
        return 1 + self.read((9, 13, 18, 30)[self.read(2)])


def _jxl_codestream(data: bytes) -> bytes:
    if data[:2] == b"\xff\x0a":
        return data
    pos = 0
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        length = length or len(data) - pos
        if kind == b"jxlc":
            return data[pos + 8 : pos + length]
        if kind == b"jxlp":  # partial codestream: a 4-byte index, then the bytes
            return data[pos + 12 : pos + length]
        if length < 8:
            raise ValueError("malformed JPEG XL box")
        pos += length
    raise ValueError("no JPEG XL codestream")


def _jxl_size(data: bytes) -> Size:
    stream = _jxl_codestream(data)
    if stream[:2] != b"\xff\x0a":
        raise ValueError("JPEG XL codestream does not start with FF 0A")
    bits = _Bits(stream[2:])
    small = bits.read(1)
    height = 8 * (1 + bits.read(5)) if small else bits.u32_size()
    ratio = bits.read(3)
    if ratio:
        num, den = _JXL_RATIOS[ratio - 1]
        width = height * num // den
    else:
        width = 8 * (1 + bits.read(5)) if small else bits.u32_size()
    return Size(height, width)


# ---------------------------------------------------------------------------
# LERC (Lerc2 blobs, one per band or one for all)


def _lerc_size(data: bytes) -> Size:
    """Rows, columns and total depth of the Lerc2 blobs that fill `data`."""
    pos = 0
    height = width = depth = 0
    while pos < len(data):
        if data[pos : pos + 6] != b"Lerc2 ":
            raise ValueError("not a Lerc2 blob")
        (version,) = struct.unpack_from("<i", data, pos + 6)
        ints = pos + 10 + (4 if version >= 3 else 0)  # a checksum from version 3
        rows, cols = struct.unpack_from("<ii", data, ints)
        blob_depth = struct.unpack_from("<i", data, ints + 8)[0] if version >= 4 else 1
        fields = 7 if version >= 4 else 6
        blob_size = struct.unpack_from("<i", data, ints + 4 * (fields - 2))[0]
        if rows <= 0 or cols <= 0 or blob_depth <= 0 or blob_size <= 0:
            raise ValueError("invalid Lerc2 header")
        if depth and (rows, cols) != (height, width):
            raise ValueError("Lerc2 blobs of different sizes")
        height, width, depth = rows, cols, depth + blob_depth
        pos += blob_size
    return Size(height, width, depth)


_PARSERS: Final[dict[str, Callable[[bytes], Size]]] = {
    "JPEG": _jpeg_size,
    "WEBP": _webp_size,
    "JPEG2000": _j2k_size,
    "JXL": _jxl_size,
    "LERC": _lerc_size,
}


def declared_size(codec: str, data: bytes) -> Size:
    """The size a block's bitstream declares.

    Args:
        codec: "JPEG", "WEBP", "JPEG2000", "JXL" or "LERC" (`Compression` values).
        data: The block's bytes (for LERC, after any Deflate/ZSTD wrapping is removed).

    Raises:
        ValueError: The header is malformed or truncated.
        KeyError: The codec does not declare its size.
    """
    try:
        return _PARSERS[codec](data)
    except (struct.error, IndexError) as exc:  # a header cut short
        raise ValueError(f"truncated {codec} header") from exc
