"""Regression tests for issue 10: hostile files with the library's default settings.

One test per case of the issue. The files are built by code
(`fuzz.crafted`, rasterio); the reads that could cost gigabytes run in a
child process under RLIMIT_AS = 2 GiB with the library's default settings
(`fuzz.limited`), as the fuzz harness does, so a numpy ``MemoryError`` or an
unbounded temporary shows up as what it is instead of swapping the machine.
GDAL (rasterio) is the oracle where it reads the file.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from obstore.store import HTTPStore, LocalStore

from fuzz import crafted
from fuzz.limited import read_limited
from servers import HTTPServerHandle, serve_http
from trio_geotiff import GeoTIFF, Window, read_many
from trio_geotiff.errors import CorruptFileError, GeoTIFFError


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _rasterio_open(path: Path | str) -> Any:
    import rasterio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NotGeoreferencedWarning: these files have no CRS
        return rasterio.open(path)


# -- 2. memory a small file can make us allocate ------------------------------


@pytest.mark.parametrize(
    ("samples", "bits", "kind", "tile"),
    [
        # The 256x256 window's output alone is 2..4 GiB: above the 2 GiB address
        # space but below the 4 GiB default ceiling, so only the allocation
        # failure itself can stop the read.
        pytest.param(55_551, 8, "uint", 256, id="55551-uint8"),
        pytest.param(65_535, 8, "uint", 256, id="65535-uint8"),
        pytest.param(10_825, 32, "float", 256, id="10825-float32"),
        pytest.param(2_048, 128, "complex", 256, id="2048-complex128"),
        # Output 663 MB, but one decoded 512x512 tile is 2.65 GB.
        pytest.param(1_265, 64, "complex", 512, id="1265-complex64-tile512"),
    ],
)
def test_many_samples_per_pixel_is_a_resource_limit(
    samples: int, bits: int, kind: str, tile: int, tmp_path: Path
) -> None:
    """A ~300-byte file declaring thousands of samples a pixel: ResourceLimitError, not numpy's."""
    path = _write(tmp_path, "x.tif", crafted.many_samples(samples, bits, kind, tile=tile))
    result = read_limited(path, (0, 0, 256, 256))
    assert result.error == "ResourceLimitError", result
    assert "GeoTIFFError" in result.classes
    # The message names the file, the bytes it needed and the (default) ceiling.
    assert "x.tif" in result.message
    assert re.search(r"\b\d{9,} bytes\b", result.message), result.message
    assert str(4 * 1024**3) in result.message, result.message


def test_nodata_mask_of_many_bands_is_bounded(tmp_path: Path) -> None:
    """500 float32 bands with nodata (524 MB decoded): no (bands, h, w) temporaries for the mask.

    Reading band 1 needs every band for GDAL's per-dataset nodata mask; under a
    2 GiB address space the read succeeds only if the mask is computed band by
    band (a few full-size float temporaries over all bands exhaust it).
    """
    path = _write(tmp_path, "x.tif", crafted.nodata_many_bands(500))
    result = read_limited(path, (0, 0, 512, 512), indexes=1, keep=True)
    assert result.error is None, result
    data, mask = result.load()
    with _rasterio_open(path) as ds:
        expected = ds.read(1)
        expected_mask = ds.dataset_mask() != 0
    assert np.array_equal(data[0], expected)
    assert mask is not None
    assert np.array_equal(mask, expected_mask)
    assert not mask[:256].any()
    assert mask[256:].all()


def _wide_expected(window: Window) -> np.ndarray:
    cols = (np.arange(window.col_off, window.col_off + window.width) % 1000).astype(np.float32)
    return np.broadcast_to(cols, (window.height, window.width))


def test_wide_strips_count_what_is_decoded(tmp_path: Path) -> None:
    """A 512x512 window of a 1,048,576-wide stripped float32 file decodes 74 strips (2.17 GB).

    The per-read ceiling counts the decoded bytes (whole strips), not only the
    1 MiB of output: with a ceiling between the two the read is refused, and
    the bytes counted are the strips' bytes, to the byte.
    """
    path = _write(tmp_path, "x.tif", crafted.wide_strips())
    window = (1000, 0, 512, 512)
    output = 512 * 512 * 4
    strips = -(-512 // crafted.WIDE_ROWS_PER_STRIP)
    decoded = strips * crafted.WIDE_ROWS_PER_STRIP * crafted.WIDE_WIDTH * 4
    assert (strips, decoded) == (74, 2_172_649_472)
    ceiling = 64 * 1024**2
    assert output < ceiling < decoded
    result = read_limited(path, window, options={"max_decoded_bytes": ceiling})
    assert result.error == "ResourceLimitError", result
    assert str(decoded) in result.message, result.message
    # What is counted is exactly the strips' bytes: one byte less is refused,
    # and the read fits a ceiling of exactly that.
    below = read_limited(path, window, options={"max_decoded_bytes": decoded - 1})
    assert below.error == "ResourceLimitError", below
    exact = read_limited(path, window, options={"max_decoded_bytes": decoded})
    assert exact.error is None, exact


def test_wide_strips_read_in_bounded_memory(tmp_path: Path) -> None:
    """With the default settings (4 GiB ceiling) the same window reads under a 2 GiB address space."""
    path = _write(tmp_path, "x.tif", crafted.wide_strips())
    result = read_limited(path, (1000, 0, 512, 512), keep=True)
    assert result.error is None, result
    data, _mask = result.load()
    assert np.array_equal(data[0], _wide_expected(Window(1000, 0, 512, 512)))


# -- 1. exactly one library error ---------------------------------------------


async def _read_all(tif: GeoTIFF) -> None:
    await tif.read()


async def _fetch_all_tiles(tif: GeoTIFF) -> None:
    across, down = tif.tile_count
    await tif.fetch_tiles([(x, y) for y in range(down) for x in range(across)])


async def _stream_all_tiles(tif: GeoTIFF) -> None:
    async with tif.open_tile_stream(batch=16) as tiles:
        async for _ in tiles:
            pass


async def _read_many_twice(tif: GeoTIFF) -> None:
    await read_many([tif, tif], window=Window(0, 0, tif.width, tif.height))


@pytest.mark.parametrize(
    "entry",
    [_read_all, _fetch_all_tiles, _stream_all_tiles, _read_many_twice],
    ids=lambda f: f.__name__,
)
async def test_corrupt_zstd_tiles_raise_one_corrupt_file_error(
    tmp_path: Path, entry: Callable[[GeoTIFF], Awaitable[None]]
) -> None:
    """256 garbage ZSTD frames in 32 requests of 8: CorruptFileError, 20 reads of 20.

    Several decodes of one request fail while other requests are in flight; the
    library before the fix let a bare ExceptionGroup out of `read` in 18 of 20
    such reads. The same through the tile and many-file paths.
    """
    _write(tmp_path, "x.tif", crafted.zstd_corrupt_tiles())
    store = LocalStore(str(tmp_path))
    gap = crafted.ZSTD_RUN_GAP // 64  # merges the blocks of a run, not the runs
    kinds = []
    for _ in range(20):
        tif = await GeoTIFF.open("x.tif", store=store, coalesce_gap=gap, cache_bytes=0)
        try:
            await entry(tif)
        except Exception as exc:  # the type is what is checked
            kinds.append(type(exc).__name__)
        else:
            kinds.append("no error")
    assert kinds == ["CorruptFileError"] * 20


# -- 4. silent zeros ----------------------------------------------------------


async def test_zero_tile_offsets_with_byte_counts_are_corrupt(tmp_path: Path) -> None:
    """TileOffsets all 0, TileByteCounts not: GDAL fails the read, and so do we, naming the block."""
    import rasterio.errors

    path = _write(tmp_path, "x.tif", crafted.zero_tile_offsets())
    with _rasterio_open(path) as ds, pytest.raises(rasterio.errors.RasterioIOError):
        ds.read()
    tif = await GeoTIFF.open("x.tif", store=LocalStore(str(tmp_path)))
    with pytest.raises(CorruptFileError) as info:
        await tif.read()
    assert re.search(r"\b(block|tile)\s*\(?0\b", str(info.value)), str(info.value)


# -- 5. a byte count past the end of the object -------------------------------


def _tile_grid(side: int = 64, tile: int = 32) -> np.ndarray:
    out = np.zeros((side, side), np.uint8)
    per_row = side // tile
    for i in range(per_row * per_row):
        r, c = divmod(i, per_row)
        pixels = np.frombuffer(crafted.tile_pixels(side, tile, i), np.uint8)
        out[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = pixels.reshape(tile, tile)
    return out


async def test_byte_count_past_the_end_fails_as_gdal_does(tmp_path: Path) -> None:
    """The last tile's byte count overshoots the object, its Deflate stream is whole.

    Issue 10 §5 said GDAL decodes the bytes that exist; measured with
    rasterio 1.4.4 (GDAL 3.10), it does not: libtiff fails any compressed
    block whose byte count runs past the end ("got N bytes, expected M"),
    locally and over /vsicurl/. We follow GDAL: the intact tiles read equal
    to rasterio's, the overshooting one is a CorruptFileError naming it.
    """
    import rasterio.errors

    path = _write(tmp_path, "x.tif", crafted.tile_past_end(complete=True))
    tif = await GeoTIFF.open("x.tif", store=LocalStore(str(tmp_path)))
    with pytest.raises(CorruptFileError, match="runs past the end"):
        await tif.read()
    top = await tif.read(window=Window(0, 0, 64, 32))
    left = await tif.read(window=Window(0, 32, 32, 32))
    assert np.array_equal(top.data[0], _tile_grid()[:32])
    with _rasterio_open(path) as ds:
        assert np.array_equal(ds.read(1, window=((0, 32), (0, 64))), top.data[0])
        assert np.array_equal(ds.read(1, window=((32, 64), (0, 32))), left.data[0])
        with pytest.raises(rasterio.errors.RasterioIOError):  # the oracle fails it too
            ds.read(1, window=((32, 64), (32, 64)))


async def test_byte_count_past_the_end_with_a_cut_stream_is_corrupt(tmp_path: Path) -> None:
    """The file ends in the middle of the last tile's Deflate stream: CorruptFileError."""
    _write(tmp_path, "x.tif", crafted.tile_past_end(complete=False))
    tif = await GeoTIFF.open("x.tif", store=LocalStore(str(tmp_path)))
    first = await tif.read(window=Window(0, 0, 64, 32))
    assert np.array_equal(first.data[0], _tile_grid()[:32])
    with pytest.raises(CorruptFileError):
        await tif.read()


# -- 7. sidecars GDAL cannot use ----------------------------------------------

SIDECARS = (".ovr", ".msk", ".aux.xml")


@pytest.fixture
def sidecar_dir(tmp_path: Path) -> Path:
    """x.tif (64x64 uint8, tiled, no overviews) and, for y.tif, the same with empty sidecars."""
    import rasterio
    from affine import Affine

    data = (np.arange(64 * 64) % 251).astype(np.uint8).reshape(1, 64, 64)
    for name in ("x.tif", "y.tif"):
        with rasterio.open(
            tmp_path / name,
            "w",
            driver="GTiff",
            width=64,
            height=64,
            count=1,
            dtype="uint8",
            crs="EPSG:32631",
            transform=Affine(10, 0, 500000, 0, -10, 4500000),
            tiled=True,
            blockxsize=32,
            blockysize=32,
        ) as ds:
            ds.write(data)
    for suffix in SIDECARS:
        (tmp_path / f"y.tif{suffix}").write_bytes(b"")
    return tmp_path


@pytest.fixture
def sidecar_http(sidecar_dir: Path) -> Iterator[HTTPServerHandle]:
    with serve_http(sidecar_dir) as handle:
        yield handle


def _http_store(handle: HTTPServerHandle) -> HTTPStore:
    return HTTPStore.from_url(
        handle.url,
        retry_config={"max_retries": 0, "retry_timeout": timedelta(seconds=5)},
        client_options={"allow_http": True, "timeout": timedelta(seconds=10)},
    )


def _summary(tif: GeoTIFF) -> tuple[object, ...]:
    return (len(tif.overviews), tif.mask_kind, tif.tags(), tif.colorinterp, tif.crs, tif.nodata)


async def _open_with_sidecars(store: HTTPStore, path: str) -> GeoTIFF:
    """Open with sidecars=True; a warning about an unusable sidecar is allowed (GDAL warns too)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return await GeoTIFF.open(path, store=store, sidecars=True)


@pytest.mark.network
async def test_empty_sidecars_are_ignored(
    sidecar_http: HTTPServerHandle, sidecar_dir: Path
) -> None:
    """Empty .ovr, .msk and .aux.xml next to the file: opened as if they were absent, as GDAL does."""
    store = _http_store(sidecar_http)
    plain = await _open_with_sidecars(store, "x.tif")
    tif = await _open_with_sidecars(store, "y.tif")
    assert _summary(tif) == _summary(plain)
    arr = await tif.read()
    with _rasterio_open(sidecar_dir / "y.tif") as ds:
        assert ds.overviews(1) == []
        assert np.array_equal(arr.data, ds.read())
    assert len(tif.overviews) == 0


@pytest.mark.network
@pytest.mark.parametrize("suffix", SIDECARS)
async def test_forbidden_sidecar_is_ignored(sidecar_http: HTTPServerHandle, suffix: str) -> None:
    """A sidecar answered with 403 (a private bucket's answer for a missing key) is ignored."""
    store = _http_store(sidecar_http)
    plain = await GeoTIFF.open("x.tif", store=store)
    sidecar_http.reset()  # counters and faults: set the fault after
    sidecar_http.faults.set(status=403, only_path=f"x.tif{suffix}")
    tif = await _open_with_sidecars(store, "x.tif")
    asked = [(r.path, r.status) for r in sidecar_http.stats().requests]
    assert (f"x.tif{suffix}", 403) in asked, asked
    assert _summary(tif) == _summary(plain)
    assert np.array_equal((await tif.read()).data, (await plain.read()).data)


# -- 7. every error is a GeoTIFFError -----------------------------------------


async def test_colormap_of_a_band_without_one(sidecar_dir: Path) -> None:
    """rasterio raises ValueError; we raise a GeoTIFFError that is also a ValueError."""
    with _rasterio_open(sidecar_dir / "x.tif") as ds, pytest.raises(ValueError):
        ds.colormap(1)
    tif = await GeoTIFF.open("x.tif", store=LocalStore(str(sidecar_dir)))
    with pytest.raises(GeoTIFFError) as info:
        tif.colormap(1)
    assert isinstance(info.value, ValueError)
    assert "x.tif" in str(info.value)


@pytest.mark.parametrize(
    "bounds",
    [
        pytest.param((math.nan, 4499500.0, 500300.0, 4500000.0), id="nan"),
        pytest.param((500000.0, 4499500.0, math.inf, 4500000.0), id="inf"),
    ],
)
async def test_read_many_bounds_without_a_window(
    sidecar_dir: Path, bounds: tuple[float, float, float, float]
) -> None:
    """Bounds that make no window: a GeoTIFFError that is also a ValueError, not a bare one."""
    tif = await GeoTIFF.open("x.tif", store=LocalStore(str(sidecar_dir)))
    with pytest.raises(GeoTIFFError) as info:
        await read_many([tif, tif], bounds=bounds)
    assert isinstance(info.value, ValueError)
