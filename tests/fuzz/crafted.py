"""A minimal TIFF writer and hand-made hostile inputs (one per known trap).

`build` lays out a header, IFDs (entries sorted by tag), their out-of-line
values and the pixel data, with every pointer right unless a case overrides
it. `CRAFTED` maps a case name to its bytes; `KNOWN_BUGS` names the ones that
reproduce reported bugs in files this suite does not own.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

# (type code, struct char, size)
_FMT = {1: "B", 2: "s", 3: "H", 4: "I", 5: "II", 7: "s", 8: "h", 9: "i", 11: "f", 12: "d", 16: "Q"}

Tags = dict[int, tuple[int, Any]]
"""tag -> (type, values): values is a tuple of numbers, or bytes for ASCII/UNDEFINED."""


def _encode(bo: str, typ: int, values: Any) -> tuple[int, bytes]:
    if typ in (2, 7):
        raw = values if isinstance(values, bytes) else values.encode()
        return len(raw), raw
    if typ == 5:
        flat = [x for pair in values for x in pair]
        return len(values), struct.pack(bo + "I" * len(flat), *flat)
    return len(values), struct.pack(bo + _FMT[typ] * len(values), *values)


def build(
    ifds: list[Tags],
    data: bytes = b"",
    *,
    bo: str = "<",
    bigtiff: bool = False,
    next_override: dict[int, int] | None = None,
    count_override: dict[tuple[int, int], int] | None = None,
    first_override: int | None = None,
) -> bytes:
    """A TIFF with ``ifds`` and ``data`` (placed right after the header at offset 16).

    ``next_override`` sets IFD i's next pointer; ``count_override[(i, tag)]``
    rewrites the count field of that entry (its values are still written).
    Offsets tags may refer to ``DATA`` (16) plus an offset into ``data``.
    """
    lay = _Layout(bo, bigtiff)
    out = bytearray(16) + data
    blobs: list[tuple[int, bytes]] = []  # (patch position, value bytes)
    tables: list[tuple[int, int]] = []  # (position, entries)
    for tags in ifds:
        start = len(out) + (len(out) & 1)
        out += bytes(start - len(out))
        table, table_blobs = lay.table(tags, start)
        out += table
        blobs += table_blobs
        tables.append((start, len(tags)))
    for slot, raw in blobs:
        where = len(out) + (len(out) & 1)
        out += bytes(where - len(out)) + raw
        out[slot : slot + lay.ofs] = lay.offset(where)
    for i, (start, n) in enumerate(tables):
        nxt = tables[i + 1][0] if i + 1 < len(tables) else 0
        if next_override and i in next_override:
            nxt = next_override[i]
        pos = start + lay.csize + n * lay.esize
        out[pos : pos + lay.ofs] = lay.offset(nxt)
    for (i, tag), count in (count_override or {}).items():
        start, _n = tables[i]
        k = sorted(ifds[i]).index(tag)
        pos = start + lay.csize + k * lay.esize + 4
        out[pos : pos + lay.ofs] = lay.offset(count)
    lay.header(out, tables[0][0] if first_override is None else first_override)
    return bytes(out)


class _Layout:
    """Sizes and packing of classic TIFF or BigTIFF in one byte order."""

    def __init__(self, bo: str, bigtiff: bool) -> None:
        self.bo, self.bigtiff = bo, bigtiff
        self.ofs = 8 if bigtiff else 4  # offset and count fields
        self.esize = 20 if bigtiff else 12  # one IFD entry
        self.csize = 8 if bigtiff else 2  # the entry count

    def offset(self, value: int) -> bytes:
        return struct.pack(self.bo + ("Q" if self.bigtiff else "I"), value)

    def table(self, tags: Tags, start: int) -> tuple[bytearray, list[tuple[int, bytes]]]:
        """The IFD table at ``start`` (next pointer 0) and its out-of-line values to place."""
        bo, ofs = self.bo, self.ofs
        table = bytearray(struct.pack(bo + ("Q" if self.bigtiff else "H"), len(tags)))
        blobs = []
        for tag in sorted(tags):
            typ, values = tags[tag]
            count, raw = _encode(bo, typ, values)
            table += struct.pack(bo + "HH", tag, typ) + self.offset(count)
            if len(raw) <= ofs:
                table += raw + bytes(ofs - len(raw))
            else:
                blobs.append((start + len(table), raw))
                table += bytes(ofs)
        table += bytes(ofs)  # next pointer, patched by build
        return table, blobs

    def header(self, out: bytearray, first: int) -> None:
        mark = b"II" if self.bo == "<" else b"MM"
        if self.bigtiff:
            out[0:16] = mark + struct.pack(self.bo + "HHHQ", 43, 8, 0, first)[0:14]
        else:
            out[0:8] = mark + struct.pack(self.bo + "HI", 42, first)


DATA = 16
"""Offset of the pixel data in files made by `build`."""


def gray(
    width: int = 4, height: int = 4, *, bits: int = 8, extra: Tags | None = None, strip: bool = True
) -> Tags:
    """Tags of an uncompressed 1-band image whose single strip/tile sits at `DATA`."""
    nbytes = width * height * max(bits // 8, 1)
    tags: Tags = {
        256: (4, (width,)),
        257: (4, (height,)),
        258: (3, (bits,)),
        259: (3, (1,)),
        262: (3, (1,)),
        277: (3, (1,)),
    }
    if strip:
        tags |= {273: (4, (DATA,)), 278: (4, (height,)), 279: (4, (nbytes,))}
    tags |= extra or {}
    return tags


def _pixels(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


def _cases() -> dict[str, Callable[[], bytes]]:
    return _structure_cases() | _value_cases()


_TILED: Tags = {322: (3, (16,)), 323: (3, (16,)), 324: (4, (DATA,)), 325: (4, (16,))}
"""One 16x16 tile at `DATA`, to merge into `gray(strip=False)`."""


def _structure_cases() -> dict[str, Callable[[], bytes]]:
    """Traps in the file's structure: header, IFD chain, counts, sizes, block tables."""
    px = _pixels(64)
    tiled = _TILED
    return {
        "valid-gray": lambda: build([gray()], px),
        "valid-bigtiff-bigendian": lambda: build([gray()], px, bo=">", bigtiff=True),
        "empty-object": lambda: b"",
        "header-only": lambda: b"II*\x00\x08\x00\x00\x00",
        "bigtiff-header-truncated": lambda: b"II+\x00\x08\x00\x00\x00\x10\x00",
        "first-ifd-past-end": lambda: build([gray()], px, first_override=2**32 - 1),
        "bigtiff-first-ifd-2^64-1": lambda: build(
            [gray()], px, bigtiff=True, first_override=2**64 - 1
        ),
        "ifd-loop-self": lambda: build([gray()], px, next_override={0: 80}),
        "ifd-loop-two": lambda: build([gray(), gray()], px, next_override={1: 80}),
        "subifd-loop": lambda: build([gray(extra={330: (4, (80,))})], px),
        "entry-count-65535": lambda: _patch_u16(build([gray()], px), 80, 65535),
        "bigtiff-entry-count-2^64-1": lambda: _patch_u64(
            build([gray()], px, bigtiff=True), 80, 2**64 - 1
        ),
        "offsets-count-2^32-1": lambda: build([gray()], px, count_override={(0, 273): 2**32 - 1}),
        "bigtiff-offsets-count-2^64-1": lambda: build(
            [gray()], px, bigtiff=True, count_override={(0, 273): 2**64 - 1}
        ),
        "bigtiff-count-overflows-int64": lambda: build(
            [gray()], px, bigtiff=True, count_override={(0, 279): 2**61 + 1}
        ),
        "huge-width-height": lambda: build(
            [gray(extra={256: (4, (2**31 - 1,)), 257: (4, (2**31 - 1,))})], px
        ),
        "width-2^32-1": lambda: build([gray(extra={256: (4, (2**32 - 1,))})], px),
        "width-0": lambda: build([gray(extra={256: (4, (0,))})], px),
        "huge-tile": lambda: build(
            [gray(strip=False, extra=tiled | {322: (4, (2**31 - 16,)), 323: (4, (2**31 - 16,))})],
            px,
        ),
        "tile-1x1-huge-image": lambda: build(
            [gray(2**20, 2**20, strip=False, extra=tiled | {322: (3, (1,)), 323: (3, (1,))})], px
        ),
        "tile-offset-past-end": lambda: build(
            [gray(strip=False, extra=tiled | {324: (4, (2**32 - 1,))})], px
        ),
        "tile-bytecount-huge": lambda: build(
            [gray(strip=False, extra=tiled | {325: (4, (2**32 - 1,))})], px
        ),
        "bigtiff-tile-offset-2^64-1": lambda: build(
            [gray(strip=False, extra=tiled | {324: (16, (2**64 - 1,)), 325: (16, (2**64 - 1,))})],
            px,
            bigtiff=True,
        ),
    }


def _value_cases() -> dict[str, Callable[[], bytes]]:
    """Traps in tag values and pixel data, and reproducers of reported bugs."""
    px = _pixels(64)
    return {
        "bits-per-sample-0": lambda: build([gray(bits=0)], px),
        "bits-per-sample-255": lambda: build([gray(bits=255)], px),
        "samples-per-pixel-0": lambda: build([gray(extra={277: (3, (0,))})], px),
        "samples-per-pixel-65535": lambda: build([gray(extra={277: (3, (65535,))})], px),
        "rows-per-strip-0": lambda: build([gray(extra={278: (4, (0,))})], px),
        "type-garbage": lambda: build([gray(extra={258: (3, (8,))})], px).replace(
            b"\x02\x01\x03\x00", b"\x02\x01\xff\x00", 1
        ),
        "ascii-tags-not-utf8": lambda: build(
            [gray(extra={270: (2, b"\xff\xfe\x00"), 42112: (2, b"<GDALMetadata><Item\xff")})], px
        ),
        "geokeys-garbage": lambda: build(
            [
                gray(
                    extra={
                        34735: (3, (1, 1, 0, 65535, 1024, 34736, 60000, 5)),
                        33550: (12, (0.0, 0.0, 0.0)),
                    }
                )
            ],
            px,
        ),
        "pixel-scale-zero": lambda: build(
            [gray(extra={33550: (12, (0.0, 0.0, 0.0)), 33922: (12, (0.0,) * 6)})], px
        ),
        "colormap-short": lambda: build([gray(extra={262: (3, (3,)), 320: (3, (1, 2, 3))})], px),
        "deflate-garbage": lambda: build(
            [gray(extra={259: (3, (8,))})], b"\x78\x9c" + b"\xff" * 62
        ),
        "jpeg-garbage": lambda: build(
            [gray(extra={259: (3, (7,))})], b"\xff\xd8\xff\xc0" + b"\x00\xff" * 30
        ),
        "lzw-garbage": lambda: build([gray(extra={259: (3, (5,))})], b"\x80" + b"\xff" * 63),
        "offsets-negative-slong": lambda: build(
            [gray(extra={273: (9, (-16,)), 279: (9, (-1,))})], px
        ),
        "metadata-amplification": _amplification,
        "huge-short-tag": lambda: build([gray(extra={65000: (3, tuple(range(60000)) * 8)})], px),
        # Reproducers of reported bugs (see KNOWN_BUGS).
        "nodata-mask-reads-all-bands": _all_bands_for_mask,
        "strip-offsets-short-no-bytecounts": lambda: build(
            [{k: v for k, v in gray(4, 16, extra={278: (4, (4,))}).items() if k != 279}], px
        ),
        "uint-nodata-out-of-range": lambda: build([gray(extra={42113: (2, b"-9999\x00")})], px),
        "uint-nodata-nan": lambda: build([gray(extra={42113: (2, b"nan\x00")})], px),
        "lzw-segfault": _lzw_segfault,
        # One uncompressed BigTIFF strip whose byte count is 2^64-1: chopping it
        # into 8 KiB strips overflowed np.int64 (fuzz seed 250013, case 930 of 1500).
        # Complex samples with horizontal differencing (Predictor 2):
        # imagecodecs.delta_decode raised a bare ValueError (fuzz seed 250031, case 1171).
        "complex-predictor-2": lambda: build(
            [gray(4, 4, bits=64, extra={339: (3, (6,)), 317: (3, (2,))})], bytes(range(128))
        ),
        "strip-bytecount-2^64-1-chopped": lambda: build(
            [gray(64, 512, extra={279: (16, (2**64 - 1,))})], bytes(64 * 512), bigtiff=True
        ),
        # A 1 MiB GDAL_NODATA that is not a number: parsing it once took
        # quadratic time (hours), i.e. a hang.
        "nodata-huge-text": lambda: build(
            [gray(extra={42113: (2, b"9" * 10 + b"x" * (1 << 20) + b"\x00")})], px
        ),
    }


LZW_SEGFAULT_STRIP = bytes.fromhex("807fe050382c160d0784426150b864361d0f8844625138a4562d0e7c")
"""A corrupt 28-byte LZW strip (found by the fuzzer, seed 900010 case 611 of 1500, lowered
mode): ``imagecodecs.lzw_decode(strip, out=n)`` (2026.3.6) dies with SIGSEGV for every
``n`` tried (100..65536), while ``lzw_decode(strip)`` raises ``IMCD_LZW_CORRUPT``."""


def _lzw_segfault() -> bytes:
    """A 10x10 RGB LZW image whose one strip is `LZW_SEGFAULT_STRIP`."""
    extra: Tags = {
        258: (3, (8, 8, 8)),
        259: (3, (5,)),
        262: (3, (2,)),
        277: (3, (3,)),
        279: (4, (len(LZW_SEGFAULT_STRIP),)),
    }
    return build([gray(10, 10, extra=extra)], LZW_SEGFAULT_STRIP)


def _amplification() -> bytes:
    """One IFD of 4096 entries, each a SHORT array spanning the whole 1 MiB file."""
    n, size = 4096, 1024 * 1024
    out = bytearray(b"\xab" * size)
    out[0:10] = b"II*\x00" + struct.pack("<IH", 8, n)
    for k in range(n):
        out[10 + 12 * k : 22 + 12 * k] = struct.pack("<HHII", 1 + k, 3, size // 2, 0)
    out[10 + 12 * n : 14 + 12 * n] = bytes(4)
    return bytes(out)


def _all_bands_for_mask() -> bytes:
    """65535 bands of 200x200 in 1-row Deflate strips, with nodata: a 1-band read needs all."""
    rows = 200
    extra: Tags = {
        259: (3, (8,)),
        277: (3, (65535,)),
        278: (4, (1,)),
        273: (4, (DATA,) * rows),
        279: (4, (1,) * rows),
        42113: (2, b"0\x00"),
    }
    return build([gray(200, 200, extra=extra)], b"\x78\x9c\x03\x00\x00\x00\x00\x01")


def _patch_u16(data: bytes, pos: int, value: int) -> bytes:
    return data[:pos] + struct.pack("<H", value) + data[pos + 2 :]


def _patch_u64(data: bytes, pos: int, value: int) -> bytes:
    return data[:pos] + struct.pack("<Q", value) + data[pos + 8 :]


CRAFTED: dict[str, Callable[[], bytes]] = _cases()

KNOWN_BUGS: dict[str, str] = {
    "lzw-segfault": "imagecodecs.lzw_decode(data, out=n) segfaults on a corrupt strip (_decode.py)",
}
"""Crafted inputs that still expose an open bug (reported; xfail until fixed)."""


# -- issue 10: hostile inputs with the library's default settings --------------
#
# Each is small on disk and costs gigabytes only once decoded; tests/test_hardening.py
# reads them in a child process under RLIMIT_AS with the default settings.

SAMPLE_FORMATS = {"uint": 1, "int": 2, "float": 3, "complex": 6}
"""TIFF SampleFormat codes (6: complex float)."""


def many_samples(samples: int, bits: int = 8, kind: str = "uint", *, tile: int = 256) -> bytes:
    """A 512x512 tiled image of ``samples`` interleaved samples a pixel, in a few hundred bytes.

    Every tile is uncompressed and 64 bytes long (GDAL pads short blocks), so
    the file is tiny while one decoded tile is ``tile * tile * samples * bits / 8`` bytes.
    """
    side = 512
    tiles = (side // tile) ** 2
    tags: Tags = {
        256: (4, (side,)),
        257: (4, (side,)),
        258: (3, (bits,) * min(samples, 4)),
        259: (3, (1,)),
        262: (3, (1,)),
        277: (3, (samples,)),
        284: (3, (1,)),
        322: (3, (tile,)),
        323: (3, (tile,)),
        324: (4, (DATA,) * tiles),
        325: (4, (64,) * tiles),
        339: (3, (SAMPLE_FORMATS[kind],)),
    }
    # BitsPerSample has one value per sample; readers take the first when short,
    # and writing 55,551 of them would make the file 111 KB for nothing.
    return build([tags], _pixels(64))


def nodata_many_bands(bands: int, side: int = 512) -> bytes:
    """``bands`` float32 bands (planar, one Deflate strip each, all the same) with nodata -9999.

    The top half of every band is nodata, the bottom half a ramp: the dataset
    mask is False on the top half only.
    """
    import imagecodecs
    import numpy as np

    band = np.zeros((side, side), np.float32)
    band[: side // 2] = -9999.0
    band[side // 2 :] = np.arange(side, dtype=np.float32)[None, :] + 1
    strip = bytes(imagecodecs.zlib_encode(band.tobytes(), level=9))
    tags: Tags = {
        256: (4, (side,)),
        257: (4, (side,)),
        258: (3, (32,) * bands),
        259: (3, (8,)),
        262: (3, (1,)),
        273: (4, (DATA,) * bands),
        277: (3, (bands,)),
        278: (4, (side,)),
        279: (4, (len(strip),) * bands),
        284: (3, (2,)),
        339: (3, (3,) * bands),
        42113: (2, b"-9999\x00"),
    }
    return build([tags], strip)


WIDE_WIDTH = 1 << 20
WIDE_ROWS_PER_STRIP = 7
"""The wide stripped file: 1,048,576 float32 columns in 7-row (29 MB) Deflate strips."""


def wide_strips(height: int = 1024) -> bytes:
    """A 1,048,576-pixel-wide float32 image in 7-row Deflate strips (one stream shared by all).

    Pixel ``(row, col)`` is ``col % 1000``. A 512x512 window touches 74 strips,
    which decode to 2.17 GB for 1 MiB of output.
    """
    import imagecodecs
    import numpy as np

    row = (np.arange(WIDE_WIDTH) % 1000).astype(np.float32)
    strip = bytes(imagecodecs.zlib_encode(np.tile(row, WIDE_ROWS_PER_STRIP).tobytes(), level=6))
    strips = -(-height // WIDE_ROWS_PER_STRIP)
    tags: Tags = {
        256: (4, (WIDE_WIDTH,)),
        257: (4, (height,)),
        258: (3, (32,)),
        259: (3, (8,)),
        262: (3, (1,)),
        273: (4, (DATA,) * strips),
        277: (3, (1,)),
        278: (4, (WIDE_ROWS_PER_STRIP,)),
        279: (4, (len(strip),) * strips),
        339: (3, (3,)),
    }
    return build([tags], strip)


def _tiled(side: int, tile: int, offsets: list[int], counts: list[int], *, comp: int) -> Tags:
    """Tags of a 1-band uint8 tiled image with the given block table."""
    return {
        256: (4, (side,)),
        257: (4, (side,)),
        258: (3, (8,)),
        259: (3, (comp,)),
        262: (3, (1,)),
        277: (3, (1,)),
        322: (3, (tile,)),
        323: (3, (tile,)),
        324: (4, tuple(offsets)),
        325: (4, tuple(counts)),
    }


def tile_pixels(side: int, tile: int, index: int) -> bytes:
    """The pixels of tile ``index`` in the files below: a pattern unique to the tile."""
    return bytes((index * 7 + i * 3 + i // tile) % 256 for i in range(tile * tile))


def _blocks(blocks: list[bytes], gap: int = 0) -> tuple[bytes, list[int], list[int]]:
    """Blocks laid out from `DATA` with ``gap`` bytes between: (data, offsets, counts)."""
    data, offsets, counts = bytearray(), [], []
    for b in blocks:
        offsets.append(DATA + len(data))
        counts.append(len(b))
        data += b + bytes(gap)
    return bytes(data), offsets, counts


ZSTD_GARBAGE_FRAME = b"\x28\xb5\x2f\xfd" + b"\xff" * 60
"""A ZSTD frame whose header descriptor sets the reserved bit: no decoder accepts it."""


def zstd_corrupt_tiles(side: int = 1024, tile: int = 64, *, group: int = 8) -> bytes:
    """A tiled ZSTD image whose every tile is a frame with a garbage header.

    Tiles come in runs of ``group`` adjacent blocks separated by 64 KiB: read
    with a ``coalesce_gap`` below that, each run is one request of ``group``
    blocks, so several requests are in flight and several decodes of one
    request fail at once (the path that let an ExceptionGroup out, issue 10).
    """
    n = (side // tile) ** 2
    data, offsets, counts = bytearray(), [], []
    for i in range(n):
        offsets.append(DATA + len(data))
        counts.append(len(ZSTD_GARBAGE_FRAME))
        data += ZSTD_GARBAGE_FRAME
        if i % group == group - 1:
            data += bytes(ZSTD_RUN_GAP)
    return build([_tiled(side, tile, offsets, counts, comp=50000)], bytes(data))


ZSTD_RUN_GAP = 64 * 1024
"""Bytes between the runs of blocks in `zstd_corrupt_tiles`."""


def zero_tile_offsets(side: int = 64, tile: int = 32) -> bytes:
    """Deflate tiles whose TileOffsets are all 0 while their TileByteCounts are not.

    (Uncompressed, GDAL would read the header's bytes as pixels; compressed it fails.)
    """
    import imagecodecs

    n = (side // tile) ** 2
    blocks = [bytes(imagecodecs.zlib_encode(tile_pixels(side, tile, i))) for i in range(n)]
    data, _offsets, counts = _blocks(blocks)
    return build([_tiled(side, tile, [0] * n, counts, comp=8)], data)


def tile_past_end(*, complete: bool, side: int = 64, tile: int = 32) -> bytes:
    """Deflate tiles; the last one's byte count runs 1000 bytes past the end of the file.

    ``complete``: the last tile's whole stream is in the file (only its byte
    count overshoots); otherwise the file ends in the middle of the stream.
    """
    import imagecodecs

    n = (side // tile) ** 2
    blocks = [bytes(imagecodecs.zlib_encode(tile_pixels(side, tile, i))) for i in range(n)]
    data, offsets, counts = _blocks(blocks)
    # The IFD goes before the data here (build puts data first), so the last
    # block is the end of the file: lay the data out after a first IFD pass.
    return _data_last(_tiled(side, tile, offsets, counts, comp=8), data, complete=complete)


def _data_last(tags: Tags, data: bytes, *, complete: bool) -> bytes:
    """``tags`` with its blocks at the end of the file, the last block's count 1000 too long."""
    probe = build([tags | {324: (4, (0,) * len(tags[324][1]))}], b"")
    base = len(probe) + (len(probe) & 1)
    offsets = tuple(o - DATA + base for o in tags[324][1])
    counts = list(tags[325][1])
    last = counts[-1]
    counts[-1] = last + 1000
    out = build([tags | {324: (4, offsets), 325: (4, tuple(counts))}], b"")
    out += bytes(base - len(out)) + data
    if not complete:
        out = out[: len(out) - last // 2]
    return out


ISSUE10: dict[str, Callable[[], bytes]] = {
    "spp-55551-uint8": lambda: many_samples(55_551),
    "spp-65535-uint8": lambda: many_samples(65_535),
    "spp-10825-float32": lambda: many_samples(10_825, 32, "float"),
    "spp-2048-complex128": lambda: many_samples(2_048, 128, "complex"),
    "spp-1265-complex64-tile512": lambda: many_samples(1_265, 64, "complex", tile=512),
    "zstd-garbage-frames": zstd_corrupt_tiles,
    "tile-offsets-zero": zero_tile_offsets,
    "tile-count-past-end-complete": lambda: tile_past_end(complete=True),
    "tile-count-past-end-cut": lambda: tile_past_end(complete=False),
}
"""The cheap issue-10 files, also run through the fuzz harness in both modes
(the costly ones, `nodata_many_bands` and `wide_strips`, only in tests/test_hardening.py)."""
