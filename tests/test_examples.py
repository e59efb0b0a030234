"""The scripts in examples/ run, and what they compute matches rasterio (GDAL)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import obstore.store
import pytest
import rasterio
import trio
import trio.testing
from PIL import Image
from rasterio.windows import Window as RioWindow

from example_modules import EXAMPLES, load
from trio_geotiff import GeoTIFF

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "trio_geotiff" / "data" / "sample_cog.tif"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Six dates of 512x512 3-band uint16 COGs (128-px tiles, nodata 0)."""
    return load("make_stack").make_stack(tmp_path_factory.mktemp("stack"))


@pytest.fixture(scope="session")
def separate(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The first date of the stack as three single-band COGs (B04, B03, B02)."""
    return load("make_stack").make_stack(
        tmp_path_factory.mktemp("separate"), dates=1, separate_bands=True
    )


def local(path: Path) -> tuple[obstore.store.LocalStore, str]:
    return obstore.store.LocalStore(str(path.parent)), path.name


def partial_date(stack: list[Path]) -> Path:
    """A date that only partly covers the tile (odd dates have a swath edge)."""
    return stack[1]


# -- make_stack ------------------------------------------------------------------


def test_make_stack_writes_cogs(stack: list[Path], separate: list[Path]) -> None:
    assert [p.name for p in stack][:2] == ["S2_T33UUU_20240305.tif", "S2_T33UUU_20240310.tif"]
    assert len(stack) == 6
    for path in stack:
        with rasterio.open(path) as ds:
            assert (ds.count, ds.width, ds.height, ds.dtypes[0]) == (3, 512, 512, "uint16")
            assert ds.block_shapes == [(128, 128)] * 3
            assert ds.overviews(1) == [2, 4]
            assert ds.nodata == 0
            assert ds.descriptions == ("B04", "B03", "B02")
            assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
    with rasterio.open(partial_date(stack)) as ds:
        valid = ds.dataset_mask() > 0
        assert 0.1 < valid.mean() < 0.95
        data = ds.read()
        # nodata is all bands at once; valid pixels are never 0.
        assert ((data == 0).all(axis=0) == ~valid).all()
    # Separate bands: the same pixels, one band per file.
    assert [p.name for p in separate] == [
        f"S2_T33UUU_20240305_{b}.tif" for b in ("B04", "B03", "B02")
    ]
    with rasterio.open(stack[0]) as ds:
        joint = ds.read()
    for band, path in enumerate(separate):
        with rasterio.open(path) as ds:
            np.testing.assert_array_equal(ds.read(1), joint[band])


def test_make_stack_is_seeded(tmp_path: Path) -> None:
    make_stack = load("make_stack")
    a = make_stack.main([str(tmp_path / "a"), "--dates", "2", "--size", "128"])
    b = make_stack.make_stack(tmp_path / "b", dates=2, size=128)
    assert a == 0
    for path in b:
        with rasterio.open(path) as x, rasterio.open(tmp_path / "a" / path.name) as y:
            np.testing.assert_array_equal(x.read(), y.read())


# -- plot_window -----------------------------------------------------------------


def test_plot_window_png(
    stack: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rgb.png"
    code = load("plot_window").main(
        [str(partial_date(stack)), "-o", str(out), "--size", "640", "480"]
    )
    assert code == 0
    assert "wrote" in capsys.readouterr().out
    with Image.open(out) as img:
        assert img.format == "PNG"
        assert img.size == (640, 480)
        assert img.mode == "RGBA"
        alpha = np.asarray(img)[..., 3]
    # Nodata (and the transparent background) is see-through; the data is opaque.
    assert (alpha == 0).any()
    assert (alpha == 255).sum() > 0.1 * alpha.size


def test_plot_window_default_sample_overview(tmp_path: Path) -> None:
    out = tmp_path / "sample.png"
    assert load("plot_window").main(["--overview", "1", "-o", str(out)]) == 0
    with Image.open(out) as img:
        assert img.size == (800, 800)


async def test_plot_window_reads_like_rasterio(stack: list[Path], separate: list[Path]) -> None:
    plot_window = load("plot_window")
    window = plot_window.Window(100, 50, 300, 200)
    one_rgb, one_valid, arr = await plot_window.read_rgb([str(stack[1])], window=window)
    with rasterio.open(stack[1]) as ds:
        rio_window = RioWindow(100, 50, 300, 200)
        np.testing.assert_array_equal(one_rgb, ds.read(window=rio_window))
        np.testing.assert_array_equal(one_valid, ds.dataset_mask(window=rio_window) > 0)
        assert arr.transform == ds.window_transform(rio_window)
    # Three single-band files in R, G, B order give the 3-band file's pixels.
    three_rgb, three_valid, _ = await plot_window.read_rgb(
        [str(p) for p in separate], window=window
    )
    first_rgb, first_valid, _ = await plot_window.read_rgb([str(stack[0])], window=window)
    np.testing.assert_array_equal(three_rgb, first_rgb)
    np.testing.assert_array_equal(three_valid, first_valid)
    # Band order is honoured.
    bgr, _, _ = await plot_window.read_rgb([str(stack[0])], bands=(3, 2, 1), window=window)
    np.testing.assert_array_equal(bgr, first_rgb[::-1])


def test_stretch_ignores_invalid_pixels() -> None:
    stretch = load("plot_window").stretch
    band = np.array([[0, 100, 200, 60000]], dtype=np.uint16)
    valid = np.array([[False, True, True, False]])
    out = stretch(band, valid, (0.0, 100.0))
    np.testing.assert_allclose(out, [[0.0, 0.0, 1.0, 1.0]])


# -- many_files ------------------------------------------------------------------


def rasterio_median(paths: list[Path], window: RioWindow) -> np.ma.MaskedArray:
    reads = []
    for path in paths:
        with rasterio.open(path) as ds:
            reads.append(ds.read(window=window, masked=True, boundless=True))
    return np.ma.median(np.ma.stack(reads), axis=0)


def test_many_files_median_matches_numpy(
    stack: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "median.npz"
    # Pixel-aligned bounds: columns 100..356, rows 144..400 of the 10 m grid.
    bounds = ["400960", "5796020", "403520", "5798580"]
    code = load("many_files").main([str(stack[0].parent), "--bounds", *bounds, "-o", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "6 file(s)" in printed
    assert "window 256x256 px, 3 band(s)" in printed
    expected = rasterio_median(stack, RioWindow(100, 144, 256, 256))
    with np.load(out) as saved:
        np.testing.assert_array_equal(saved["valid"], ~np.ma.getmaskarray(expected))
        np.testing.assert_array_equal(saved["median"], expected.filled(0))


async def test_many_files_default_bounds_and_edges(stack: list[Path]) -> None:
    many_files = load("many_files")
    store, paths = many_files.store_and_paths([str(p) for p in stack])
    assert paths == [p.name for p in stack]
    median, bounds, valid = await many_files.median_of_stack(store, paths, concurrency=2)
    # Default: the middle half of the first file.
    assert bounds == (401240.0, 5796180.0, 403800.0, 5798740.0)
    np.testing.assert_array_equal(median, rasterio_median(stack, RioWindow(128, 128, 256, 256)))
    assert len(valid) == 6
    assert valid[0] == 1.0
    assert min(valid) < 1.0
    # Bounds hanging 20 px off the left edge: those pixels are masked in every date.
    median, _, _ = await many_files.median_of_stack(
        store, paths[:3], bounds=(399760.0, 5799000.0, 400560.0, 5799800.0), band=2
    )
    assert median.shape == (1, 80, 80)
    assert np.ma.getmaskarray(median)[:, :, :20].all()
    expected = rasterio_median(stack[:3], RioWindow(-20, 22, 80, 80))[1:2]
    np.testing.assert_array_equal(median, expected)
    np.testing.assert_array_equal(np.ma.getmaskarray(median), np.ma.getmaskarray(expected))


def test_many_files_default_is_the_sample(capsys: pytest.CaptureFixture[str]) -> None:
    assert load("many_files").main([]) == 0
    assert "sample_cog.tif" in capsys.readouterr().out


# -- stream_tiles ----------------------------------------------------------------


async def test_stream_tiles_histogram_totals(stack: list[Path]) -> None:
    stream_tiles = load("stream_tiles")
    path = partial_date(stack)
    hist, total = await stream_tiles.tile_histogram(*local(path), batch=3)
    assert total == hist.tiles == 16
    assert hist.pixels == 512 * 512
    # Every pixel of every band is counted exactly once.
    np.testing.assert_array_equal(
        hist.counts.sum(axis=1) + hist.outside + hist.masked, [hist.pixels] * 3
    )
    with rasterio.open(path) as ds:
        data = ds.read()
        valid = ds.dataset_mask() > 0
    assert hist.masked == int((~valid).sum())
    assert hist.counts.shape == (3, 65536)  # one bin per uint16 value
    for band in range(3):
        expected = np.bincount(data[band][valid], minlength=65536)
        np.testing.assert_array_equal(hist.counts[band], expected)
        assert hist.percentile(band, 50) == np.percentile(data[band][valid], 50, method="lower")


async def test_stream_tiles_stops_early(stack: list[Path]) -> None:
    stream_tiles = load("stream_tiles")
    hist, total = await stream_tiles.tile_histogram(
        *local(stack[0]), bins=10, value_range=(0, 10000), max_tiles=3, batch=2
    )
    assert (hist.tiles, total) == (3, 16)
    assert hist.pixels == 3 * 128 * 128
    np.testing.assert_array_equal(
        hist.counts.sum(axis=1) + hist.outside + hist.masked, [hist.pixels] * 3
    )
    # The read-ahead was cancelled on leaving the stream: nothing is running.
    assert trio.testing.active_thread_count() == 0


def test_stream_tiles_main(stack: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    stream_tiles = load("stream_tiles")
    assert stream_tiles.main([str(stack[0]), "--overview", "0", "--bins", "50"]) == 0
    assert "4 of 4 tiles, 65536 pixels per band" in capsys.readouterr().out
    assert stream_tiles.main(["--max-tiles", "2"]) == 0
    assert "2 of 12 tiles (stopped early)" in capsys.readouterr().out


# -- deadline --------------------------------------------------------------------


async def test_deadline_move_on_after_keeps_what_arrived() -> None:
    deadline = load("deadline")
    tif = await GeoTIFF.open(SAMPLE.name, store=obstore.store.LocalStore(str(SAMPLE.parent)))
    # 12 tiles, 2 at a time, 0.2 s each: 1.2 s of work against a 0.3 s deadline.
    report = await deadline.move_on_demo(tif, deadline=0.3, latency=0.2, concurrency=2)
    assert report.cancelled
    assert report.total == 12
    assert len(report.read) < report.total
    assert set(report.read) <= report.started
    assert report.threads_after == 0
    assert trio.testing.active_thread_count() == 0
    for (x, y), arr in report.read.items():
        window = tif.tile_window(x, y)
        assert arr.shape == (3, window.height, window.width)


async def test_deadline_fail_after_raises_too_slow() -> None:
    deadline = load("deadline")
    tif = await GeoTIFF.open(SAMPLE.name, store=obstore.store.LocalStore(str(SAMPLE.parent)))
    with pytest.raises(trio.TooSlowError) as caught:
        await deadline.fail_after_demo(tif, deadline=0.3, latency=0.2, concurrency=2)
    report = caught.value.report
    assert report.cancelled
    assert len(report.read) < report.total
    assert report.threads_after == 0
    assert trio.testing.active_thread_count() == 0


async def test_deadline_not_hit_reads_everything(stack: list[Path]) -> None:
    deadline = load("deadline")
    tif = await GeoTIFF.open(stack[0].name, store=obstore.store.LocalStore(str(stack[0].parent)))
    report = await deadline.fail_after_demo(tif, deadline=30, latency=0, concurrency=4)
    assert not report.cancelled
    assert len(report.read) == report.total == 16
    with rasterio.open(stack[0]) as ds:
        np.testing.assert_array_equal(
            report.read[1, 2].data, ds.read(window=RioWindow(128, 256, 128, 128))
        )


def test_deadline_main_reports_cancellation(capsys: pytest.CaptureFixture[str]) -> None:
    assert load("deadline").main(["--deadline", "0.3", "--latency", "0.2"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("deadline hit, the rest cancelled") == 2
    assert "raised trio.TooSlowError" in printed
    assert printed.count("worker threads still running: 0") == 2


# -- as scripts ------------------------------------------------------------------


async def test_examples_run_as_scripts(stack: list[Path], tmp_path: Path) -> None:
    """Each script runs on its own, and examples 1-4 never import rasterio."""
    check = (
        "import runpy, sys; sys.argv = sys.argv[1:]; "
        "runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    guard = "import sys; sys.modules['rasterio'] = None; " + check  # importing it would fail
    runs = [
        [guard, EXAMPLES / "plot_window.py", stack[0], "-o", tmp_path / "p.png"],
        [guard, EXAMPLES / "many_files.py", stack[0].parent, "--band", "1"],
        [guard, EXAMPLES / "stream_tiles.py", stack[0], "--max-tiles", "5"],
        [guard, EXAMPLES / "deadline.py", "--deadline", "0.1", "--latency", "0.05"],
        [check, EXAMPLES / "make_stack.py", tmp_path / "s", "--dates", "1", "--size", "128"],
    ]

    async def run(args: list[object]) -> None:
        result = await trio.run_process(
            [sys.executable, "-c", *map(str, args)], capture_stdout=True, capture_stderr=True
        )
        assert result.returncode == 0, result.stderr.decode()
        assert result.stdout

    async with trio.open_nursery() as nursery:
        for args in runs:
            nursery.start_soon(run, args)
    assert (tmp_path / "p.png").exists()
