"""TIFF-aware mutations, driven by hypothesis.

Each mutator takes a hypothesis ``draw``, the file as a bytearray and its
`TIFFMap`, patches it in place (or returns a new buffer) and returns a short
description for the report. `mutated_files` builds a seeded, reproducible
batch of mutated files from seed files with hypothesis' ``@given``.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from .tiffmap import INT_FORMATS, TYPE_SIZES, Entry, TIFFMap, map_tiff

Draw = Callable[..., Any]
Mutator = Callable[[Draw, bytearray, TIFFMap], "tuple[bytearray, str] | None"]

# Tags whose values steer sizes and layout.
LAYOUT_TAGS = (
    254,
    256,
    257,
    258,
    259,
    262,
    266,
    273,
    277,
    278,
    279,
    284,
    317,
    322,
    323,
    324,
    325,
    330,
    338,
    339,
    347,
    530,
)
# Tags other parsers downstream read (georeferencing, GDAL metadata, colormap).
META_TAGS = (320, 33550, 33922, 34264, 34735, 34736, 34737, 42112, 42113, 50674)
INTERESTING_TAGS = LAYOUT_TAGS + META_TAGS


def interesting_uint(bits: int, size: int) -> st.SearchStrategy[int]:
    """Boundary values for an unsigned field of ``bits`` bits in a ``size``-byte file."""
    top = (1 << bits) - 1
    edges = {
        0,
        1,
        2,
        3,
        7,
        8,
        15,
        16,
        17,
        255,
        256,
        4095,
        4096,
        4097,
        65535,
        65536,
        2**31 - 1,
        2**31,
        2**32 - 1,
        2**32,
        2**62,
        2**63 - 1,
        2**63,
        2**64 - 1,
        size - 1,
        size,
        size + 1,
        size // 2,
        top,
        top - 1,
        top // 8,
        top // 8 + 1,
        top // 20 + 1,
    }
    values = sorted(v for v in edges if 0 <= v <= top)
    return st.one_of(st.sampled_from(values), st.integers(0, top))


def _pack_uint(bo: str, size: int, value: int) -> bytes:
    return struct.pack(bo + {1: "B", 2: "H", 4: "I", 8: "Q"}[size], value & ((1 << (8 * size)) - 1))


def _pick_entry(draw: Draw, m: TIFFMap, tags: Sequence[int] | None = None) -> Entry | None:
    entries = m.entries
    if not entries:
        return None
    if tags is not None:
        wanted = [e for e in entries if e.tag in tags]
        if wanted and draw(st.booleans()):
            entries = wanted
    picked: Entry = draw(st.sampled_from(entries))
    return picked


def _count_pos(m: TIFFMap, e: Entry) -> tuple[int, int]:
    return e.pos + 4, (8 if m.bigtiff else 4)


def _slot_pos(m: TIFFMap, e: Entry) -> tuple[int, int]:
    return e.pos + (12 if m.bigtiff else 8), m.offset_size


def _write(buf: bytearray, pos: int, raw: bytes) -> bool:
    if pos < 0 or pos + len(raw) > len(buf):
        return False
    buf[pos : pos + len(raw)] = raw
    return True


# -- mutators ---------------------------------------------------------------


def flip_meta_bits(draw: Draw, buf: bytearray, m: TIFFMap) -> tuple[bytearray, str] | None:
    """Flip 1..8 bits in the header, IFD tables or tag values."""
    regions = m.metadata_regions() or [(0, len(buf))]
    flips = []
    for _ in range(draw(st.integers(1, 8))):
        a, b = draw(st.sampled_from(regions))
        pos = draw(st.integers(a, b - 1))
        bit = draw(st.integers(0, 7))
        buf[pos] ^= 1 << bit
        flips.append(f"{pos}.{bit}")
    return buf, "flip " + ",".join(flips)


def truncate(draw: Draw, buf: bytearray, m: TIFFMap) -> tuple[bytearray, str] | None:
    """Cut the file at a structure boundary (plus or minus a few bytes)."""
    cut = draw(st.sampled_from(m.boundaries() or [len(buf) // 2])) + draw(st.integers(-3, 3))
    cut = max(0, min(cut, len(buf) - 1))
    return buf[:cut], f"truncate at {cut}"


def patch_value(draw: Draw, buf: bytearray, m: TIFFMap) -> tuple[bytearray, str] | None:
    """Write a boundary value into one value of an entry (keeping or widening its type)."""
    e = _pick_entry(draw, m, INTERESTING_TAGS)
    if e is None:
        return None
    if e.tag == 258:
        value = draw(
            st.sampled_from(
                [
                    0,
                    1,
                    2,
                    3,
                    4,
                    5,
                    7,
                    8,
                    9,
                    12,
                    15,
                    16,
                    17,
                    24,
                    31,
                    32,
                    33,
                    48,
                    63,
                    64,
                    65,
                    96,
                    127,
                    128,
                    129,
                    255,
                    65535,
                ]
            )
        )
    elif e.tag == 277:
        value = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 16, 255, 256, 4096, 65535]))
    elif e.tag in (339, 262, 259, 317, 284, 266, 254):
        value = draw(
            st.one_of(
                st.integers(0, 12), st.sampled_from([32773, 32845, 34887, 50000, 50001, 65535])
            )
        )
    else:
        value = draw(interesting_uint(64, len(buf)))
    if draw(st.booleans()) and e.inline and e.type not in (5, 10, 11, 12):
        # Widen: rewrite the entry as one LONG (LONG8 in BigTIFF) holding the value.
        typ, size = (16, 8) if m.bigtiff else (4, 4)
        cpos, csize = _count_pos(m, e)
        spos, _ = _slot_pos(m, e)
        _write(buf, e.pos + 2, _pack_uint(m.bo, 2, typ))
        _write(buf, cpos, _pack_uint(m.bo, csize, 1))
        _write(buf, spos, _pack_uint(m.bo, size, value))
        return buf, f"tag {e.tag} := {value} (widened)"
    size = TYPE_SIZES.get(e.type, 0)
    if size == 0 or e.count == 0:
        return None
    index = draw(st.integers(0, min(e.count, 1 << 16) - 1))
    pos = e.value_pos + index * size
    if e.type in INT_FORMATS:
        ok = _write(buf, pos, _pack_uint(m.bo, size, value))
    elif e.type in (11, 12):
        # Extremes of the field's own width (1e300 does not pack as a FLOAT).
        tiny, huge = (1e-45, 3.4e38) if size == 4 else (1e-300, 1e300)
        fval = draw(
            st.sampled_from(
                [0.0, -0.0, tiny, huge, float("inf"), float("-inf"), float("nan"), -1.0]
            )
        )
        ok = _write(buf, pos, struct.pack(m.bo + ("f" if size == 4 else "d"), fval))
        value = fval
    else:
        ok = _write(buf, pos, _pack_uint(m.bo, min(size, 4), value))
    return (buf, f"tag {e.tag}[{index}] := {value}") if ok else None


def patch_count(draw: Draw, buf: bytearray, m: TIFFMap) -> tuple[bytearray, str] | None:
    """Give an entry a boundary count (2^16, 2^31, 2^32-1, 2^64-1, size/itemsize...)."""
    e = _pick_entry(draw, m, INTERESTING_TAGS)
    if e is None:
        return None
    cpos, csize = _count_pos(m, e)
    count = draw(interesting_uint(8 * csize, len(buf)))
    return (
        (buf, f"tag {e.tag} count := {count}")
        if _write(buf, cpos, _pack_uint(m.bo, csize, count))
        else None
    )


def patch_type(draw: Draw, buf: bytearray, m: TIFFMap) -> tuple[bytearray, str] | None:
    """Give an entry a garbage or mismatched field type."""
    e = _pick_entry(draw, m, INTERESTING_TAGS)
    if e is None:
        return None
    typ = draw(st.one_of(st.integers(0, 19), st.sampled_from([255, 256, 32768, 65535])))
    return (
        (buf, f"tag {e.tag} type := {typ}")
        if _write(buf, e.pos + 2, _pack_uint(m.bo, 2, typ))
        else None
    )


def patch_tag_code(draw: Draw, buf: bytearray, m: TIFFMap) -> tuple[bytearray, str] | None:
    """Relabel an entry as another (interesting or random) tag."""
    e = _pick_entry(draw, m)
    if e is None:
        return None
    code = draw(st.one_of(st.sampled_from(INTERESTING_TAGS), st.integers(0, 65535)))
    return (
        (buf, f"tag {e.tag} code := {code}")
        if _write(buf, e.pos, _pack_uint(m.bo, 2, code))
        else None
    )


def patch_value_offset(draw: Draw, buf: bytearray, m: TIFFMap) -> tuple[bytearray, str] | None:
    """Point an out-of-line value somewhere else (0, past the end, into the IFD...)."""
    outside = [e for e in m.entries if not e.inline]
    if not outside:
        return None
    e = draw(st.sampled_from(outside))
    spos, ssize = _slot_pos(m, e)
    targets = [0, 1, 8, len(buf) - 1, len(buf), len(buf) - max(e.nbytes, 1) + 1, e.pos, spos]
    target = draw(st.one_of(st.sampled_from(targets), interesting_uint(8 * ssize, len(buf))))
    ok = _write(buf, spos, _pack_uint(m.bo, ssize, target))
    return (buf, f"tag {e.tag} value offset := {target}") if ok else None


def patch_ifd_count(draw: Draw, buf: bytearray, m: TIFFMap) -> tuple[bytearray, str] | None:
    """Give an IFD a boundary entry count (0, n±1, 4096, 4097, 2^16-1, 2^64-1)."""
    if not m.ifds:
        return None
    ifd = draw(st.sampled_from(m.ifds))
    size = 8 if m.bigtiff else 2
    n = draw(
        st.one_of(
            st.sampled_from([0, 1, ifd.n - 1, ifd.n + 1, 4096, 4097]),
            interesting_uint(8 * size, len(buf)),
        )
    )
    ok = _write(buf, ifd.count_pos, _pack_uint(m.bo, size, max(n, 0)))
    return (buf, f"IFD@{ifd.offset} n := {n}") if ok else None


def patch_next_ifd(draw: Draw, buf: bytearray, m: TIFFMap) -> tuple[bytearray, str] | None:
    """Point the header or a next-IFD pointer at itself, an earlier IFD, or garbage (loops)."""
    slots = [(m.first_pos, "header")] + [(ifd.next_pos, f"IFD@{ifd.offset}.next") for ifd in m.ifds]
    pos, what = draw(st.sampled_from(slots))
    targets = [ifd.offset for ifd in m.ifds] + [0, 2, 8, len(buf) - 2, len(buf) - 1, len(buf)]
    target = draw(
        st.one_of(st.sampled_from(targets), interesting_uint(8 * m.offset_size, len(buf)))
    )
    ok = _write(buf, pos, _pack_uint(m.bo, m.offset_size, target))
    return (buf, f"{what} := {target}") if ok else None


def patch_block_table(draw: Draw, buf: bytearray, m: TIFFMap) -> tuple[bytearray, str] | None:
    """Set a tile/strip offset or byte count to 0, past the end, huge, or another block's."""
    tables = [e for e in m.entries if e.tag in (273, 279, 324, 325) and e.type in INT_FORMATS]
    if not tables:
        return None
    e = draw(st.sampled_from(tables))
    size = TYPE_SIZES[e.type]
    index = draw(st.integers(0, max(min(e.count, 1 << 16) - 1, 0)))
    value = draw(interesting_uint(8 * size, len(buf)))
    ok = _write(buf, e.value_pos + index * size, _pack_uint(m.bo, size, value))
    return (buf, f"tag {e.tag}[{index}] := {value}") if ok else None


def remove_entry(draw: Draw, buf: bytearray, m: TIFFMap) -> tuple[bytearray, str] | None:
    """Delete an entry from an IFD table (a required tag goes missing)."""
    e = _pick_entry(draw, m, LAYOUT_TAGS)
    if e is None:
        return None
    ifd = next(i for i in m.ifds if e in i.entries)
    esize = 20 if m.bigtiff else 12
    end = ifd.next_pos + m.offset_size
    if end > len(buf):
        return None
    table = buf[e.pos + esize : end]
    buf[e.pos : end - esize] = table
    buf[end - esize : end] = bytes(esize)
    size = 8 if m.bigtiff else 2
    _write(buf, ifd.count_pos, _pack_uint(m.bo, size, ifd.n - 1))
    return buf, f"remove tag {e.tag} from IFD@{ifd.offset}"


def corrupt_block(draw: Draw, buf: bytearray, m: TIFFMap) -> tuple[bytearray, str] | None:
    """Damage compressed payload: random bytes, zeros, 0xFF runs or bit flips in one block."""
    if not m.blocks:
        return None
    off, n = draw(st.sampled_from(m.blocks))
    kind = draw(st.sampled_from(["random", "zero", "ff", "flips", "shuffle-head"]))
    start = off + draw(st.integers(0, max(n - 1, 0)))
    length = min(draw(st.integers(1, 64)), off + n - start)
    if length <= 0:
        return None
    if kind == "random":
        buf[start : start + length] = draw(st.binary(min_size=length, max_size=length))
    elif kind == "zero":
        buf[start : start + length] = bytes(length)
    elif kind == "ff":
        buf[start : start + length] = b"\xff" * length
    elif kind == "flips":
        for _ in range(draw(st.integers(1, 8))):
            pos = draw(st.integers(off, off + n - 1))
            buf[pos] ^= 1 << draw(st.integers(0, 7))
    else:  # damage the codec header (zlib, JPEG SOI/SOF, LERC, WebP RIFF...)
        head = min(n, 32)
        start = off
        buf[off : off + head] = draw(st.binary(min_size=head, max_size=head))
    return buf, f"corrupt block @{off}+{n} ({kind} at {start})"


def random_bytes(draw: Draw, buf: bytearray, m: TIFFMap) -> tuple[bytearray, str] | None:
    """Overwrite a few bytes anywhere with random values."""
    del m
    if not buf:
        return None
    changes = []
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(buf) - 1))
        buf[pos] = draw(st.integers(0, 255))
        changes.append(str(pos))
    return buf, "random bytes at " + ",".join(changes)


def splice_garbage(draw: Draw, buf: bytearray, m: TIFFMap) -> tuple[bytearray, str] | None:
    """Insert or delete a few bytes (every later offset is now off by some bytes)."""
    del m
    pos = draw(st.integers(0, len(buf)))
    if draw(st.booleans()):
        junk = draw(st.binary(min_size=1, max_size=16))
        return buf[:pos] + junk + buf[pos:], f"insert {len(junk)} bytes at {pos}"
    k = draw(st.integers(1, 16))
    return buf[:pos] + buf[pos + k :], f"delete {k} bytes at {pos}"


MUTATORS: tuple[Mutator, ...] = (
    flip_meta_bits,
    truncate,
    patch_value,
    patch_value,  # twice: the most productive mutator
    patch_count,
    patch_type,
    patch_tag_code,
    patch_value_offset,
    patch_ifd_count,
    patch_next_ifd,
    patch_block_table,
    remove_entry,
    corrupt_block,
    corrupt_block,
    random_bytes,
    splice_garbage,
)


def mutate(draw: Draw, data: bytes, max_ops: int = 4) -> tuple[bytes, list[str]]:
    """Apply 1..max_ops mutations (re-mapping the structure after each)."""
    buf = bytearray(data)
    ops: list[str] = []
    for _ in range(draw(st.integers(1, max_ops))):
        mutator = draw(st.sampled_from(MUTATORS))
        result = mutator(draw, buf, map_tiff(bytes(buf)))
        if result is not None:
            buf, what = result
            ops.append(f"{mutator.__name__}: {what}")
        if len(buf) < 8:
            break
    return bytes(buf), ops


def mutated_files(
    seeds: Sequence[tuple[str, bytes]], n: int, seed: int
) -> list[tuple[str, list[str], bytes]]:
    """``n`` mutated files (seed name, mutations, bytes), reproducible from ``seed``."""
    out: list[tuple[str, list[str], bytes]] = []
    names = list(range(len(seeds)))

    @hypothesis_seed(seed)
    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(which=st.sampled_from(names), data=st.data())
    def collect(which: int, data: st.DataObject) -> None:
        name, raw = seeds[which]
        mutated, ops = mutate(data.draw, raw)
        out.append((name, ops, mutated))

    with _without_local_constants():
        collect()
    return out


class _NoConstants:
    """Stands for hypothesis's pool of constants from local source files: empty."""

    def set_for_type(self, _choice_type: object) -> tuple[()]:
        return ()


@contextlib.contextmanager
def _without_local_constants() -> Iterator[None]:
    """Keep hypothesis from drawing literals found in the local source files loaded.

    Hypothesis (6.1xx) draws ~5% of values from the constants of every local
    module imported (the library's, the tests'), so a seed would name another
    case in another process, or after any edit of the library: a case could
    not be replayed from its seed. Swapped out through hypothesis internals;
    if they move, generation still works, only replay across processes suffers.
    """
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover - another hypothesis layout
        yield
        return
    get, cache = (getattr(providers, n, None) for n in ("_get_local_constants", "CONSTANTS_CACHE"))
    if get is None or cache is None:  # pragma: no cover
        yield
        return
    providers._get_local_constants = _NoConstants  # type: ignore[assignment]
    providers.CONSTANTS_CACHE = type(cache)(1024)  # filled with local constants elsewhere
    try:
        yield
    finally:
        providers._get_local_constants = get
        providers.CONSTANTS_CACHE = cache
