"""The read plan as a value: `plan_read` and `coalesce_ranges`, without any I/O.

Plus the block-table rules the plan enforces, checked against GDAL on files
written here: data "stored" at offset 0 is corruption (not a sparse block),
and a byte count running past the end of the object is read as far as it goes.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_geotiff import GeoTIFF, Window
from trio_geotiff._image import ImageInfo
from trio_geotiff._plan import CacheState, ReadPlan, coalesce_ranges, plan_read
from trio_geotiff.errors import CorruptFileError

# -- coalesce_ranges ---------------------------------------------------------

ranges_st = st.lists(
    st.tuples(st.integers(0, 10_000), st.integers(1, 3_000)).map(lambda t: (t[0], t[0] + t[1])),
    max_size=40,
)


@given(ranges=ranges_st, gap=st.integers(0, 2_000), max_request=st.integers(1, 20_000))
def test_coalesce_covers_each_range_once_within_bounds(
    ranges: list[tuple[int, int]], gap: int, max_request: int
) -> None:
    merged = coalesce_ranges(ranges, gap, max_request)
    members = sorted(i for _, _, m in merged for i in m)
    assert members == list(range(len(ranges)))  # every range in exactly one request
    for start, end, m in merged:
        assert start == min(ranges[i][0] for i in m)
        assert end == max(ranges[i][1] for i in m)
        if len(m) > 1:  # a merge never makes a request longer than max_request
            assert end - start <= max_request
    for (start_a, end_a, _), (start_b, _, m_b) in itertools.pairwise(merged):
        assert start_a <= start_b  # file order
        # Neighbours stay apart only for a reason: a gap too wide, or the cap.
        first = min(m_b, key=lambda i: ranges[i])
        assert (
            ranges[first][0] - end_a > gap or max(ranges[first][1], end_a) - start_a > max_request
        )


def test_coalesce_examples() -> None:
    assert coalesce_ranges([], 10, 100) == []
    # Out of order in, file order out; a gap of exactly `gap` merges.
    assert coalesce_ranges([(40, 60), (0, 10), (20, 30)], 10, 100) == [(0, 60, [1, 2, 0])]
    assert coalesce_ranges([(0, 10), (21, 30)], 10, 100) == [(0, 10, [0]), (21, 30, [1])]
    # The cap splits a run; a single range longer than the cap stays whole.
    assert coalesce_ranges([(0, 60), (60, 120)], 10, 100) == [(0, 60, [0]), (60, 120, [1])]
    assert coalesce_ranges([(0, 500)], 10, 100) == [(0, 500, [0])]
    # Two blocks sharing bytes (writers dedupe equal tiles) share a request.
    assert coalesce_ranges([(100, 200), (100, 200)], 0, 1000) == [(100, 200, [0, 1])]


# -- plan_read -----------------------------------------------------------------


@attrs.frozen
class FakeObject:
    path: str = "mem://x.tif"
    size: int = 1_000_000
    coalesce_gap: int = 64
    max_request: int = 4096


def make_info(
    width: int,
    height: int,
    bw: int,
    bh: int,
    *,
    samples: int = 1,
    planar: bool = False,
    tiled: bool = True,
    counts: list[int] | None = None,
    offsets: list[int] | None = None,
) -> ImageInfo:
    across, down = -(-width // bw), -(-height // bh)
    n = across * down * (samples if planar else 1)
    if counts is None:
        counts = [100] * n
    if offsets is None:
        offsets = [1000 + 150 * i for i in range(n)]
    return ImageInfo(
        ifd_index=0,
        width=width,
        height=height,
        samples=samples,
        bits=16,
        sample_format=1,
        dtype=np.dtype("uint16"),
        compression_code=8,
        predictor=1,
        photometric=1,
        planar=planar,
        tiled=tiled,
        block_width=bw,
        block_height=bh,
        offsets=np.array(offsets, dtype=np.uint64),
        byte_counts=np.array(counts, dtype=np.uint64),
        extra_samples=(),
        subfile_type=0,
        jpeg_tables=None,
        ycbcr_subsampling=(2, 2),
        lerc_parameters=None,
        fill_order=1,
    )


@st.composite
def read_cases(draw: st.DrawFn) -> tuple[ImageInfo, Window, list[int], CacheState]:
    tiled = draw(st.booleans())
    width, height = draw(st.integers(1, 90)), draw(st.integers(1, 90))
    bw = draw(st.sampled_from([16, 32])) if tiled else width
    bh = draw(st.sampled_from([16, 32])) if tiled else draw(st.integers(1, 40))
    samples = draw(st.integers(1, 3))
    planar = samples > 1 and draw(st.booleans())
    n = -(-width // bw) * -(-height // bh) * (samples if planar else 1)
    counts = draw(st.lists(st.sampled_from([0, 100, 100, 100]), min_size=n, max_size=n))
    info = make_info(
        width, height, bw, bh, samples=samples, planar=planar, tiled=tiled, counts=counts
    )
    col = draw(st.integers(0, width - 1))
    row = draw(st.integers(0, height - 1))
    window = Window(col, row, draw(st.integers(1, width - col)), draw(st.integers(1, height - row)))
    chosen = draw(st.lists(st.integers(0, samples - 1), min_size=1, max_size=samples, unique=True))
    status = draw(st.lists(st.sampled_from("fcw"), min_size=n, max_size=n))
    known = CacheState(
        cached={i for i, s in enumerate(status) if s == "c"},
        waiting={i for i, s in enumerate(status) if s == "w"},
    )
    return info, window, chosen, known


def coverage(plan: ReadPlan, info: ImageInfo, n_out: int) -> np.ndarray:
    """How many times each output pixel of each position is written by the plan."""
    window = plan.window
    hits = np.zeros((n_out, window.height, window.width), dtype=np.int64)
    for block in (*plan.fetch, *plan.cached, *plan.waiting):
        top, left = block.row * info.block_height, block.col * info.block_width
        r0, r1 = max(top, window.row_off), min(top + block.rows, window.row_stop)
        c0, c1 = max(left, window.col_off), min(left + info.block_width, window.col_stop)
        for pos in block.positions:
            hits[
                pos,
                r0 - window.row_off : r1 - window.row_off,
                c0 - window.col_off : c1 - window.col_off,
            ] += 1
    for f in plan.fills:
        for pos in f.positions:
            hits[pos, f.row0 : f.row1, f.col0 : f.col1] += 1
    return hits


@settings(max_examples=300, deadline=None)
@given(case=read_cases())
def test_plan_writes_every_output_pixel_exactly_once(case: Any) -> None:
    info, window, samples, known = case
    plan = plan_read(info, window, samples, FakeObject(), known)
    assert (coverage(plan, info, len(samples)) == 1).all()


@settings(max_examples=300, deadline=None)
@given(case=read_cases())
def test_plan_sorts_blocks_by_cache_state_and_coalesces_what_it_fetches(case: Any) -> None:
    info, window, samples, known = case
    source = FakeObject()
    plan = plan_read(info, window, samples, source, known)
    assert all(b.index in known.cached for b in plan.cached)
    assert all(b.index in known.waiting and b.index not in known.cached for b in plan.waiting)
    assert not any(b.index in known.cached or b.index in known.waiting for b in plan.fetch)
    assert all(info.byte_counts[b.index] > 0 for b in (*plan.fetch, *plan.cached, *plan.waiting))
    # Each fetched block is in one request, whose bytes hold it.
    members = sorted(i for r in plan.requests for i in r.members)
    assert members == list(range(len(plan.fetch)))
    for r in plan.requests:
        for i in r.members:
            assert r.start <= plan.fetch[i].start < plan.fetch[i].end <= r.end
        if len(r.members) > 1:
            assert r.end - r.start <= source.max_request
    # What it decodes: every stored block the window touches, whole.
    expected = sum(
        b.rows * info.block_width * info.samples_per_block * 2
        for b in (*plan.fetch, *plan.cached, *plan.waiting)
    )
    assert plan.decoded_bytes == expected


def test_plan_counts_whole_strips_not_the_output() -> None:
    # Issue 10: a 512x512 window of a 1,048,576-px-wide stripped float32 file
    # decodes 74 strips of 29 MB each (rows per strip 7).
    width = 1_048_576
    info = attrs.evolve(
        make_info(width, 1024, width, 7, tiled=False),
        dtype=np.dtype("float32"),
        bits=32,
        sample_format=3,
    )
    plan = plan_read(info, Window(0, 0, 512, 512), [0], FakeObject(size=10**12))
    assert len(plan.fetch) == 74
    assert plan.decoded_bytes == 74 * width * 7 * 4  # 2.17 GB for 1 MiB of output


def test_plan_final_strip_is_short() -> None:
    info = make_info(10, 25, 10, 10, tiled=False)
    plan = plan_read(info, Window(0, 0, 10, 25), [0], FakeObject())
    assert [b.rows for b in plan.fetch] == [10, 10, 5]


def test_sparse_blocks_are_byte_count_zero_whatever_the_offset() -> None:
    info = make_info(64, 32, 32, 32, counts=[0, 0], offsets=[0, 5000])
    plan = plan_read(info, Window(0, 0, 64, 32), [0], FakeObject())
    assert plan.fetch == () and len(plan.fills) == 2
    assert plan.decoded_bytes == 0


def test_data_at_offset_zero_is_corruption_naming_the_block() -> None:
    info = make_info(64, 32, 32, 32, counts=[100, 100], offsets=[1000, 0])
    plan_read(info, Window(0, 0, 32, 32), [0], FakeObject())  # block 1 not touched
    with pytest.raises(CorruptFileError, match="block 1 of IFD 0 has 100 bytes at offset 0"):
        plan_read(info, Window(0, 0, 64, 32), [0], FakeObject())


def test_byte_count_past_the_end_follows_gdal() -> None:
    # GDAL reads an uncompressed block whose pixels are all there (it needs
    # 32 rows x 32 px x 2 bytes = 2048), and fails a compressed one.
    raw = attrs.evolve(
        make_info(64, 32, 32, 32, counts=[2048, 2148], offsets=[1000, 3048]), compression_code=1
    )
    plan = plan_read(raw, Window(0, 0, 64, 32), [0], FakeObject(size=5096, coalesce_gap=0))
    assert [(b.start, b.end) for b in plan.fetch] == [(1000, 3048), (3048, 5096)]
    with pytest.raises(CorruptFileError, match="block 1 of IFD 0 at bytes 3048..5196 runs past"):
        plan_read(raw, Window(0, 0, 64, 32), [0], FakeObject(size=5095))
    deflate = make_info(64, 32, 32, 32, counts=[100, 100], offsets=[1000, 1950])
    with pytest.raises(CorruptFileError, match="block 1 of IFD 0 at bytes 1950..2050 runs past"):
        plan_read(deflate, Window(0, 0, 64, 32), [0], FakeObject(size=2000))
    plan = plan_read(deflate, Window(0, 0, 32, 32), [0], FakeObject(size=2000))  # not touched
    assert [(b.start, b.end) for b in plan.fetch] == [(1000, 1100)]


def test_a_block_starting_past_the_end_is_corruption() -> None:
    info = make_info(64, 32, 32, 32, counts=[100, 100], offsets=[1000, 1950])
    with pytest.raises(
        CorruptFileError, match="block 1 of IFD 0 starts at byte 1950, past the end"
    ):
        plan_read(info, Window(0, 0, 64, 32), [0], FakeObject(size=1950))


def test_no_block_tables_is_corruption() -> None:
    info = attrs.evolve(make_info(32, 32, 32, 32), offsets=None)
    with pytest.raises(CorruptFileError, match="no block offsets"):
        plan_read(info, Window(0, 0, 32, 32), [0], FakeObject())


def test_planar_blocks_fill_one_position_each() -> None:
    info = make_info(32, 32, 32, 32, samples=3, planar=True)
    plan = plan_read(info, Window(0, 0, 32, 32), [2, 0], FakeObject())
    assert [(b.plane, b.positions, b.samples) for b in plan.fetch] == [
        (2, (0,), (0,)),
        (0, (1,), (0,)),
    ]


# -- bad block tables, compared with GDAL --------------------------------------


def _write_tiled(path: Path, data: np.ndarray, compression: str | None) -> None:
    import tifffile

    tifffile.imwrite(path, data, tile=(32, 32), compression=compression, photometric="minisblack")


def _patch_tile_tags(path: Path, offsets: list[int] | None, counts: list[int] | None) -> None:
    """Rewrite the TileOffsets / TileByteCounts values of the first IFD in place."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first  # a TiffPage (pages[0] is typed TiffPage | TiffFrame)
        tags = page.tags
        spots = {
            324: (tags[324].valueoffset, tags[324].dtype),
            325: (tags[325].valueoffset, tags[325].dtype),
        }
        byteorder = tif.byteorder
    raw = bytearray(path.read_bytes())
    for code, values in ((324, offsets), (325, counts)):
        if values is None:
            continue
        where, dtype = spots[code]
        arr = np.array(values, dtype=f"{byteorder}{ {3: 'u2', 4: 'u4', 16: 'u8'}[int(dtype)] }")
        raw[where : where + arr.nbytes] = arr.tobytes()
    path.write_bytes(bytes(raw))


def _gdal_read(path: Path) -> np.ndarray | Exception:
    import warnings

    import rasterio
    from rasterio.errors import RasterioError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not georeferenced, TIFFReadDirectory notes
        try:
            with rasterio.open(path) as ds:
                pixels: np.ndarray = ds.read()
                return pixels
        except RasterioError as exc:  # the oracle's failure is the expected outcome
            failure: Exception = exc
            return failure


async def _our_read(path: Path) -> Any:
    from obstore.store import LocalStore

    tif = await GeoTIFF.open(path.name, store=LocalStore(str(path.parent)))
    return (await tif.read()).data


async def test_offsets_zero_with_byte_counts_fail_like_gdal(tmp_path: Path) -> None:
    path = tmp_path / "zero_offsets.tif"
    data = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) + 1
    _write_tiled(path, data, "zlib")
    _patch_tile_tags(path, offsets=[0, 0, 0, 0], counts=None)
    assert isinstance(_gdal_read(path), Exception)  # GDAL fails the read
    with pytest.raises(CorruptFileError, match="block 0 of IFD 0 has .* bytes at offset 0"):
        await _our_read(path)


def _overstate_last_count(path: Path, extra: int) -> np.ndarray:
    """Make the last block's byte count run ``extra`` bytes past the end of the file."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        offsets = list(tif.pages[0].dataoffsets)
        counts = list(tif.pages[0].databytecounts)
    last = int(np.argmax(offsets))
    assert offsets[last] + counts[last] == path.stat().st_size  # the data ends the file
    counts[last] += extra
    _patch_tile_tags(path, offsets=None, counts=counts)
    return np.array(counts)


@pytest.mark.parametrize("extra", [1, 5000])
async def test_uncompressed_byte_count_past_the_end_reads_like_gdal(
    tmp_path: Path, extra: int
) -> None:
    path = tmp_path / "long_count.tif"
    data = (np.arange(64 * 64).reshape(64, 64) % 251 + 1).astype(np.uint16)
    _write_tiled(path, data, None)
    _overstate_last_count(path, extra)
    expected = _gdal_read(path)
    assert isinstance(expected, np.ndarray), expected  # GDAL reads it
    got = await _our_read(path)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got[0], data)


@pytest.mark.parametrize("compression", ["zlib", "lzw", "zstd"])
async def test_compressed_byte_count_past_the_end_fails_like_gdal(
    tmp_path: Path, compression: str
) -> None:
    # The stream is complete in the file, but GDAL (libtiff) wants every byte
    # of the declared count and fails the read: so do we.
    path = tmp_path / "long_count.tif"
    data = (np.arange(64 * 64).reshape(64, 64) % 251 + 1).astype(np.uint16)
    _write_tiled(path, data, compression)
    _overstate_last_count(path, 1)
    assert isinstance(_gdal_read(path), Exception)
    with pytest.raises(CorruptFileError, match="runs past the end"):
        await _our_read(path)


@pytest.mark.parametrize("compression", [None, "zlib"])
async def test_truncated_last_block_fails_like_gdal(
    tmp_path: Path, compression: str | None
) -> None:
    path = tmp_path / "truncated.tif"
    data = (np.arange(64 * 64).reshape(64, 64) % 251 + 1).astype(np.uint16)
    _write_tiled(path, data, compression)
    raw = path.read_bytes()
    path.write_bytes(raw[:-10])  # the last block's bytes cut short
    assert isinstance(_gdal_read(path), Exception)
    with pytest.raises(CorruptFileError, match="runs past the end"):
        await _our_read(path)
