"""A validating parser for TIFF and BigTIFF structure (header, IFD chain, tags).

Pure code: it reads bytes through a `ByteSource` and never awaits anything but
that source. Every count, offset and size taken from the file is checked
against the object's length before it is used, IFD chains are walked with
loop detection and a length limit, and entries with unknown types are skipped
(as libtiff does), so hostile bytes end in `CorruptFileError`, never in an
IndexError, a hang or a huge allocation.
"""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable, Mapping
from typing import Final, TypeAlias

import attrs
import numpy as np
import numpy.typing as npt

from ._codes import Tag
from .errors import CorruptFileError, NotATIFFError

__all__ = ["IFD", "ByteSource", "TIFFStructure", "TagValue", "parse_tiff"]

TagValue: TypeAlias = "tuple[int, ...] | tuple[float, ...] | str | bytes | npt.NDArray[np.uint64]"

# Limits: far above anything a real file needs, far below what hurts.
MAX_IFDS: Final = 4096
MAX_ENTRIES_PER_IFD: Final = 4096
# Tags whose arrays may be long (one value per tile or strip); they are parsed
# with numpy. Everything else is small and parsed into tuples.
_OFFSET_TAGS: Final = frozenset(
    {Tag.STRIP_OFFSETS, Tag.STRIP_BYTE_COUNTS, Tag.TILE_OFFSETS, Tag.TILE_BYTE_COUNTS}
)
# Cap on a single tag payload we are willing to read (a 1e6 x 1e6 tile grid
# would need 8 TB of pixels anyway).
MAX_TAG_BYTES: Final = 256 * 1024 * 1024
# Cap on the memory the whole structure may take once decoded, summed over
# every IFD: values re-read by many tags (overlapping IFDs, thousands of
# entries pointing at the same bytes) must not multiply a small file into
# gigabytes. Charged per tag: 8 bytes a value for offset arrays, the bytes for
# text, _TUPLE_VALUE_COST a value for tuples, plus the IFD tables themselves.
MAX_METADATA_BYTES: Final = 256 * 1024 * 1024
# Cap on IFD entries parsed over the whole file (a COG needs a few hundred).
MAX_TOTAL_ENTRIES: Final = 1 << 18
# Tags decoded into tuples (all but offsets and text) with more values than
# this are ignored, like tags whose values lie past the end: no tag the
# library reads needs that many (a 16-bit ColorMap has 196608).
MAX_TUPLE_VALUES: Final = 1 << 20
_TUPLE_VALUE_COST: Final = 32  # a tuple slot plus a Python int or float

# TIFF field types: code -> (struct char, size in bytes).
_TYPES: Final[Mapping[int, tuple[str, int]]] = {
    1: ("B", 1),  # BYTE
    2: ("s", 1),  # ASCII
    3: ("H", 2),  # SHORT
    4: ("I", 4),  # LONG
    5: ("II", 8),  # RATIONAL
    6: ("b", 1),  # SBYTE
    7: ("s", 1),  # UNDEFINED
    8: ("h", 2),  # SSHORT
    9: ("i", 4),  # SLONG
    10: ("ii", 8),  # SRATIONAL
    11: ("f", 4),  # FLOAT
    12: ("d", 8),  # DOUBLE
    13: ("I", 4),  # IFD
    16: ("Q", 8),  # LONG8
    17: ("q", 8),  # SLONG8
    18: ("Q", 8),  # IFD8
}
_NUMPY_INT: Final[Mapping[int, str]] = {3: "u2", 4: "u4", 13: "u4", 16: "u8", 18: "u8"}

ByteSource: TypeAlias = Callable[[int, int], Awaitable[bytes]]
"""An async callable returning the bytes in ``[start, end)`` of the object."""


@attrs.frozen
class IFD:
    """One Image File Directory: its file offset and its tags by code."""

    offset: int
    tags: Mapping[int, TagValue]
    parent: int | None = None
    """Index of the IFD whose SubIFDs tag (330) points here; None in the main chain."""

    def get_int(self, code: int, default: int | None = None) -> int | None:
        """The first value of an integer tag, or ``default``."""
        value = self.tags.get(code)
        if value is None:
            return default
        if isinstance(value, np.ndarray):
            return int(value[0]) if value.size else default
        if isinstance(value, tuple) and value and isinstance(value[0], int):
            return value[0]
        return default

    def get_ints(self, code: int) -> tuple[int, ...] | None:
        """All values of an integer tag, or None."""
        value = self.tags.get(code)
        if isinstance(value, np.ndarray):
            return tuple(int(v) for v in value)
        if isinstance(value, tuple) and all(isinstance(v, int) for v in value):
            return value  # type: ignore[return-value]
        return None

    def get_floats(self, code: int) -> tuple[float, ...] | None:
        """All values of a numeric tag as floats, or None."""
        value = self.tags.get(code)
        if isinstance(value, np.ndarray):
            return tuple(float(v) for v in value)
        if isinstance(value, tuple):
            return tuple(float(v) for v in value)
        return None

    def get_str(self, code: int, *, strict: bool = False) -> str | None:
        """An ASCII tag as text, or None (with ``strict``, also None when not UTF-8)."""
        value = self.tags.get(code)
        if isinstance(value, str):
            return value
        if isinstance(value, bytes) and not strict:
            return value.split(b"\0", 1)[0].decode("latin-1")
        return None

    def get_array(self, code: int) -> npt.NDArray[np.uint64] | None:
        """An offsets/byte-counts tag as a uint64 array, or None (also when a value is negative)."""
        value = self.tags.get(code)
        if isinstance(value, np.ndarray):
            return value
        if isinstance(value, tuple) and all(isinstance(v, int) and v >= 0 for v in value):
            return np.asarray(value, dtype=np.uint64)
        return None


@attrs.frozen
class TIFFStructure:
    """The parsed structure of a TIFF: byte order, flavour and IFD chain."""

    byteorder: str
    """``"<"`` (little-endian, "II") or ``">"`` (big-endian, "MM")."""
    bigtiff: bool
    ifds: tuple[IFD, ...]


class _Reader:
    """Reads through a ByteSource with the object's size known."""

    def __init__(self, path: str, size: int, source: ByteSource) -> None:
        self.path = path
        self.size = size
        self.source = source
        self.budget = MAX_METADATA_BYTES
        self.entries_left = MAX_TOTAL_ENTRIES

    def charge(self, nbytes: int, what: str) -> None:
        """Account for ``nbytes`` of decoded metadata; refuse past MAX_METADATA_BYTES."""
        self.budget -= nbytes
        if self.budget < 0:
            raise CorruptFileError(
                self.path,
                f"{what} takes the decoded metadata past {MAX_METADATA_BYTES} bytes"
                " (IFDs or tags repeated or overlapping?)",
            )

    async def read(self, start: int, length: int, what: str) -> bytes:
        if start < 0 or length < 0 or start + length > self.size:
            raise CorruptFileError(
                self.path,
                f"{what} at bytes {start}..{start + length} lies beyond the end of the"
                f" {self.size}-byte object (truncated file?)",
            )
        if length == 0:
            return b""
        data = await self.source(start, start + length)
        if len(data) != length:
            raise CorruptFileError(
                self.path, f"short read of {what}: {len(data)} of {length} bytes"
            )
        return data


@attrs.frozen
class _Layout:
    """Field sizes and precompiled formats of classic TIFF or BigTIFF."""

    byteorder: str
    bigtiff: bool
    count_size: int
    entry_size: int
    inline: int
    """Bytes of values stored in the entry itself."""
    count: struct.Struct
    offset: struct.Struct
    entry: struct.Struct
    """One IFD entry: code, type, count, and the raw value field."""


def _make_layout(byteorder: str, *, bigtiff: bool) -> _Layout:
    sizes, formats = (
        ((8, 20, 8), ("Q", "Q", "HHQ8s")) if bigtiff else ((2, 12, 4), ("H", "I", "HHI4s"))
    )
    count, offset, entry = (struct.Struct(byteorder + f) for f in formats)
    return _Layout(byteorder, bigtiff, *sizes, count=count, offset=offset, entry=entry)


# Built once: parsing an IFD uses their precompiled structs for every entry.
_LAYOUTS: Final = {
    (bo, big): _make_layout(bo, bigtiff=big) for bo in ("<", ">") for big in (False, True)
}


async def parse_tiff(path: str, size: int, source: ByteSource) -> TIFFStructure:
    """Parse the header and every IFD of a TIFF or BigTIFF.

    Args:
        path: The object's path, for error messages.
        size: The object's length in bytes.
        source: Fetches byte ranges of the object.

    Returns:
        The structure, with each IFD's tags decoded.

    Raises:
        NotATIFFError: The object has no TIFF header.
        CorruptFileError: The structure is broken.
    """
    reader = _Reader(path, size, source)
    if size < 8:
        raise NotATIFFError(path, f"object is {size} bytes, too short for a TIFF header")
    layout, first = _parse_header(path, await reader.read(0, min(16, size), "header"))
    seen: set[int] = set()
    ifds = await _walk_chain(reader, layout, first, seen)
    if not ifds:
        raise CorruptFileError(path, "the TIFF has no image file directory")
    ifds += await _read_subifds(reader, layout, ifds[0], seen, MAX_IFDS - len(ifds))
    return TIFFStructure(layout.byteorder, layout.bigtiff, tuple(ifds))


def _parse_header(path: str, head: bytes) -> tuple[_Layout, int]:
    """The file's layout and the offset of its first IFD."""
    if head[:2] == b"II":
        bo = "<"
    elif head[:2] == b"MM":
        bo = ">"
    else:
        raise NotATIFFError(path, f"no TIFF byte-order mark (starts with {head[:4]!r})")
    (magic,) = struct.unpack(bo + "H", head[2:4])
    if magic == 42:
        (first,) = struct.unpack(bo + "I", head[4:8])
        return _LAYOUTS[bo, False], first
    if magic != 43:
        raise NotATIFFError(path, f"TIFF magic number is {magic}, not 42 or 43")
    if len(head) < 16:
        raise NotATIFFError(path, "BigTIFF header is truncated")
    bytesize, reserved, first = struct.unpack(bo + "HHQ", head[4:16])
    if bytesize != 8 or reserved != 0:
        raise CorruptFileError(path, f"BigTIFF header has offset size {bytesize}")
    return _LAYOUTS[bo, True], first


async def _walk_chain(reader: _Reader, layout: _Layout, first: int, seen: set[int]) -> list[IFD]:
    """The IFDs of the main chain, from the header's first IFD."""
    ifds: list[IFD] = []
    offset = first
    while offset != 0:
        if offset in seen:
            # libtiff stops here with a warning; GDAL reads what came before.
            break
        if len(ifds) >= MAX_IFDS:
            raise CorruptFileError(reader.path, f"more than {MAX_IFDS} IFDs in the chain")
        seen.add(offset)
        ifd, offset = await _parse_ifd(reader, layout, offset, first=not ifds)
        ifds.append(ifd)
    return ifds


async def _read_subifds(
    reader: _Reader, layout: _Layout, parent: IFD, seen: set[int], room: int
) -> list[IFD]:
    """SubIFDs of the first image (GDAL reads reduced-resolution ones as overviews)."""
    out: list[IFD] = []
    for sub in (parent.get_ints(Tag.SUB_IFDS) or ())[:MAX_IFDS]:
        offset = sub
        while offset != 0 and offset not in seen and len(out) < room:
            seen.add(offset)
            try:
                ifd, offset = await _parse_ifd(reader, layout, offset, first=True)
            except CorruptFileError:
                break  # a broken SubIFD costs its overview, not the file
            out.append(attrs.evolve(ifd, parent=0))
    return out


async def _parse_ifd(
    reader: _Reader, layout: _Layout, offset: int, *, first: bool
) -> tuple[IFD, int]:
    if offset < 8 or offset + layout.count_size > reader.size:
        if first:
            raise CorruptFileError(reader.path, f"first IFD offset {offset} is out of the file")
        # A broken next-IFD pointer after valid IFDs: stop, as libtiff does.
        return IFD(offset, {}), 0
    n, body = await _read_ifd_body(reader, layout, offset)
    tags: dict[int, TagValue] = {}
    deferred: list[tuple[int, int, int, int]] = []
    entries_end = n * layout.entry_size
    for entry in layout.entry.iter_unpack(body[:entries_end]):
        if not _keep_entry(reader, offset, entry):
            continue
        code, typ, count, raw = entry
        nbytes = _TYPES[typ][1] * count
        if nbytes <= layout.inline:
            tags[code] = _decode_values(layout.byteorder, typ, count, raw[:nbytes], code)
        else:
            (value_offset,) = layout.offset.unpack(raw)
            deferred.append((code, typ, count, value_offset))
    for code, typ, count, value_offset in deferred:
        nbytes = _TYPES[typ][1] * count
        if value_offset + nbytes > reader.size:
            # Values past the end of the object: libtiff ignores the tag with a
            # warning (GDAL still opens the file); a missing required tag is
            # reported when the image is described, or when it is read.
            continue
        data = await reader.read(value_offset, nbytes, f"tag {code} values")
        tags[code] = _decode_values(layout.byteorder, typ, count, data, code)
    next_offset = 0
    if len(body) > entries_end:
        (next_offset,) = layout.offset.unpack(body[entries_end:])
        if next_offset >= reader.size:
            next_offset = 0
    return IFD(offset, tags), next_offset


async def _read_ifd_body(reader: _Reader, layout: _Layout, offset: int) -> tuple[int, bytes]:
    """The IFD's entry count and its entries (plus the next-IFD pointer when present)."""
    path = reader.path
    count_bytes = await reader.read(offset, layout.count_size, "IFD entry count")
    (n,) = layout.count.unpack(count_bytes)
    if n == 0 or n > MAX_ENTRIES_PER_IFD:
        raise CorruptFileError(path, f"IFD at byte {offset} claims {n} entries")
    reader.entries_left -= n
    if reader.entries_left < 0:
        raise CorruptFileError(path, f"more than {MAX_TOTAL_ENTRIES} IFD entries in the file")
    body_len = n * layout.entry_size + layout.inline
    reader.charge(body_len, f"IFD at byte {offset}")
    if offset + layout.count_size + body_len > reader.size:
        # Truncated next-pointer is tolerated if the entries are all there.
        body_len = n * layout.entry_size
    body = await reader.read(offset + layout.count_size, body_len, f"IFD at byte {offset}")
    return n, body


def _keep_entry(reader: _Reader, ifd_offset: int, entry: tuple[int, int, int, bytes]) -> bool:
    """Whether an entry ``(code, type, count, raw value field)`` is decoded (charged if so)."""
    code, typ, count, _raw = entry
    if typ not in _TYPES:
        return False  # unknown field type: skipped, as libtiff does
    nbytes = _TYPES[typ][1] * count
    if nbytes > MAX_TAG_BYTES:
        raise CorruptFileError(reader.path, f"tag {code} claims {nbytes} bytes of values")
    cost = _decoded_cost(typ, count, code)
    if cost is None:
        return False  # too many values to hold as a tuple: ignored (see MAX_TUPLE_VALUES)
    reader.charge(cost, f"tag {code} at IFD {ifd_offset}")
    return True


# Tags kept as raw bytes even when stored as BYTE.
_RAW_BYTE_TAGS: Final = (Tag.JPEG_TABLES, Tag.GEO_KEY_DIRECTORY)


def _decoded_cost(typ: int, count: int, code: int) -> int | None:
    """Bytes the decoded values take (estimated), or None when the tag is to be ignored."""
    if typ in (2, 7) or (typ == 1 and code in _RAW_BYTE_TAGS):
        return count  # text and raw bytes
    if code in _OFFSET_TAGS and typ in _NUMPY_INT:
        return 8 * count  # uint64 array
    if count > MAX_TUPLE_VALUES:
        return None
    return _TUPLE_VALUE_COST * count


def _decode_values(bo: str, typ: int, count: int, data: bytes, code: int) -> TagValue:
    if typ == 2:
        # ASCII: NUL-terminated, possibly several strings; keep the text up to
        # the final NUL (GDAL metadata, citations). Text that is not UTF-8
        # stays bytes: GDAL does not report it as metadata.
        raw = data.rstrip(b"\0")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return bytes(raw)
    if typ == 7 or (typ == 1 and code in _RAW_BYTE_TAGS):
        # UNDEFINED, and JPEGTables or a (malformed) GeoKeyDirectory stored as
        # BYTE: raw bytes (the georeferencing parser reports the latter).
        return bytes(data)
    if code in _OFFSET_TAGS and typ in _NUMPY_INT:
        return np.frombuffer(data, dtype=bo + _NUMPY_INT[typ]).astype(np.uint64)
    fmt, _size = _TYPES[typ]
    if typ in (5, 10):
        values = struct.unpack(bo + fmt[0] * (2 * count), data)
        return tuple(
            (values[2 * i] / values[2 * i + 1]) if values[2 * i + 1] else float("nan")
            for i in range(count)
        )
    return struct.unpack(bo + fmt * count, data)
