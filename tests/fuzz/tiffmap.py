"""A tolerant map of a TIFF's structure, for mutators that patch specific bytes.

Independent of the library's parser on purpose (a fuzzer should not share the
code it tests). It never raises on broken input: it maps what it can.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

TYPE_SIZES = {
    1: 1,
    2: 1,
    3: 2,
    4: 4,
    5: 8,
    6: 1,
    7: 1,
    8: 2,
    9: 4,
    10: 8,
    11: 4,
    12: 8,
    13: 4,
    16: 8,
    17: 8,
    18: 8,
}
INT_FORMATS = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 13: "I", 16: "Q", 17: "q", 18: "Q"}


@dataclass
class Entry:
    """One IFD entry and where its parts sit in the file."""

    pos: int
    """File offset of the entry (its tag code)."""
    tag: int
    type: int
    count: int
    value_pos: int
    """File offset of the values (the inline slot, or the pointed-to area)."""
    inline: bool
    nbytes: int


@dataclass
class IFDMap:
    """One IFD's table."""

    offset: int
    count_pos: int
    n: int
    entries: list[Entry]
    next_pos: int
    """File offset of the next-IFD pointer."""


@dataclass
class TIFFMap:
    """What a mutator needs to know about a TIFF."""

    size: int
    bo: str = "<"
    bigtiff: bool = False
    first_pos: int = 4
    ifds: list[IFDMap] = field(default_factory=list)
    blocks: list[tuple[int, int]] = field(default_factory=list)
    """(offset, byte count) of every strip or tile that lies in the file."""

    @property
    def offset_size(self) -> int:
        return 8 if self.bigtiff else 4

    @property
    def entries(self) -> list[Entry]:
        return [e for ifd in self.ifds for e in ifd.entries]

    def boundaries(self) -> list[int]:
        """Offsets where a structure starts or ends (truncation points)."""
        out = {0, 2, 4, 8, 16, self.size - 1}
        for ifd in self.ifds:
            out.update({ifd.offset, ifd.count_pos + (8 if self.bigtiff else 2), ifd.next_pos})
            for e in ifd.entries:
                out.update({e.pos, e.pos + 4, e.value_pos, e.value_pos + e.nbytes})
        for off, n in self.blocks:
            out.update({off, off + n // 2, off + n})
        return sorted(o for o in out if 0 <= o < self.size)

    def metadata_regions(self) -> list[tuple[int, int]]:
        """Byte ranges holding header, IFD tables and tag values."""
        regions = [(0, min(16, self.size))]
        for ifd in self.ifds:
            regions.append((ifd.offset, min(ifd.next_pos + self.offset_size, self.size)))
            regions.extend(
                (e.value_pos, min(e.value_pos + e.nbytes, self.size))
                for e in ifd.entries
                if not e.inline and e.nbytes
            )
        return [(a, b) for a, b in regions if b > a]


def map_tiff(data: bytes, *, max_ifds: int = 64) -> TIFFMap:
    """Map ``data`` as far as it is a readable TIFF."""
    m = TIFFMap(size=len(data))
    offset = _map_header(data, m)
    if offset is None:
        return m
    seen: set[int] = set()
    pending = [offset]
    while pending and len(m.ifds) < max_ifds:
        offset = pending.pop(0)
        while offset and offset not in seen and len(m.ifds) < max_ifds:
            seen.add(offset)
            ifd = _map_ifd(data, m, offset)
            if ifd is None:
                break
            m.ifds.append(ifd)
            pending.extend(n for e in ifd.entries if e.tag == 330 for n in _ints(data, m, e))
            offset = _read_uint(data, m.bo, ifd.next_pos, m.offset_size) or 0
    for ifd in m.ifds:
        m.blocks.extend(_block_ranges(data, m, ifd))
    return m


def _map_header(data: bytes, m: TIFFMap) -> int | None:
    """Byte order and BigTIFF flag into ``m``; the first IFD's offset (None: not a TIFF)."""
    if len(data) < 8 or data[:2] not in (b"II", b"MM"):
        return None
    bo = "<" if data[:2] == b"II" else ">"
    m.bo = bo
    (magic,) = struct.unpack(bo + "H", data[2:4])
    if magic == 43 and len(data) >= 16:
        m.bigtiff = True
        m.first_pos = 8
        return int(struct.unpack(bo + "Q", data[8:16])[0])
    if magic == 42:
        return int(struct.unpack(bo + "I", data[4:8])[0])
    return None


def _block_ranges(data: bytes, m: TIFFMap, ifd: IFDMap) -> list[tuple[int, int]]:
    """(offset, length) of the IFD's tiles or strips that start inside the file."""
    tags = {e.tag: e for e in ifd.entries}
    out = []
    for off_tag, cnt_tag in ((324, 325), (273, 279)):
        if off_tag in tags and cnt_tag in tags:
            offs = _ints(data, m, tags[off_tag])
            cnts = _ints(data, m, tags[cnt_tag])
            out += [
                (o, min(c, len(data) - o))
                for o, c in zip(offs, cnts, strict=False)
                if 0 < o < len(data) and c > 0
            ]
    return out


def _read_uint(data: bytes, bo: str, pos: int, size: int) -> int | None:
    if pos < 0 or pos + size > len(data):
        return None
    return int(struct.unpack(bo + {2: "H", 4: "I", 8: "Q"}[size], data[pos : pos + size])[0])


def _map_ifd(data: bytes, m: TIFFMap, offset: int) -> IFDMap | None:
    csize = 8 if m.bigtiff else 2
    esize = 20 if m.bigtiff else 12
    n = _read_uint(data, m.bo, offset, csize)
    if n is None or n == 0 or n > 4096:
        return None
    entries = []
    for i in range(n):
        pos = offset + csize + i * esize
        if pos + esize > len(data):
            break
        if m.bigtiff:
            tag, typ, count = struct.unpack(m.bo + "HHQ", data[pos : pos + 12])
            slot = pos + 12
        else:
            tag, typ, count = struct.unpack(m.bo + "HHI", data[pos : pos + 8])
            slot = pos + 8
        nbytes = TYPE_SIZES.get(typ, 0) * count
        inline = nbytes <= m.offset_size
        value_pos = slot if inline else (_read_uint(data, m.bo, slot, m.offset_size) or 0)
        entries.append(Entry(pos, tag, typ, count, value_pos, inline, nbytes))
    return IFDMap(offset, offset, n, entries, offset + csize + n * esize)


def _ints(data: bytes, m: TIFFMap, e: Entry, limit: int = 1 << 16) -> list[int]:
    fmt = INT_FORMATS.get(e.type)
    if fmt is None or e.count > limit:
        return []
    size = TYPE_SIZES[e.type]
    end = e.value_pos + size * e.count
    if end > len(data):
        return []
    return list(struct.unpack(m.bo + fmt * e.count, data[e.value_pos : end]))
