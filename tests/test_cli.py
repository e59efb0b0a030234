"""The ``trio-geotiff`` command: every sub-command, its errors, and ``info --json`` against rasterio.

The commands run in-process through `trio_geotiff._cli.app.main` (each call is its
own ``trio.run``, so these tests are synchronous), plus one subprocess run of
``python -m trio_geotiff sample`` in a fresh directory.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import rasterio
import trio
import trio.lowlevel
from affine import Affine
from obstore.store import LocalStore
from PIL import Image
from rasterio.windows import Window as RioWindow

import trio_geotiff
from corpus import CORPUS, SKIP_REASON, oracle
from servers import serve_http, serve_s3
from servers.s3 import ACCESS_KEY, REGION, SECRET_KEY
from trio_geotiff import Array, ColorInterp, GeoTIFF
from trio_geotiff._cli import render, stores
from trio_geotiff._cli.app import main
from trio_geotiff.errors import InvalidArgumentError, ObjectNotFoundError, StoreError

SAMPLE = Path(trio_geotiff.__file__).parent / "data" / "sample_cog.tif"
HAS_CORPUS = (CORPUS / "manifest.json").is_file()
needs_corpus = pytest.mark.skipif(not HAS_CORPUS, reason=SKIP_REASON)


class TTY(io.StringIO):
    """A StringIO that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def run(*argv: str, stderr: io.StringIO | None = None) -> tuple[int, str, str]:
    out = io.StringIO()
    err = stderr if stderr is not None else io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 1, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("trio-geotiff: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], err


def rio_sample() -> Any:

    return rasterio.open(SAMPLE)


# -- the bundled sample ----------------------------------------------------------


def test_sample_is_a_cog_as_documented() -> None:
    with rio_sample() as ds:
        assert (ds.width, ds.height, ds.count, ds.dtypes[0]) == (791, 718, 3, "uint8")
        assert ds.crs.to_epsg() == 32618
        assert ds.nodata == 0
        assert ds.overviews(1) == [2, 4]
        assert ds.block_shapes[0] == (256, 256)
        assert ds.compression.name == "deflate"
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert ds.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "2"
    assert SAMPLE.stat().st_size < 1_200_000


@needs_corpus
def test_sample_pixels_equal_the_source() -> None:
    with rio_sample() as ds, oracle("rasterio/RGB.byte.tif") as src:
        assert np.array_equal(ds.read(), src.read())
        assert ds.transform == src.transform


# -- info --------------------------------------------------------------------------


def test_info_text() -> None:
    code, out, err = run("info", str(SAMPLE))
    assert code == 0, err
    assert err == ""
    assert "791 x 718 pixels, 3 band(s) of uint8" in out
    assert "EPSG:32618" in out
    assert "395 x 359 (1/2), 197 x 179 (1/4)" in out
    assert "tiled 256 x 256, DEFLATE" in out
    assert "pixels equal to nodata are masked" in out
    assert "AREA_OR_POINT=Area" in out


def _expected_from_rasterio(ds: Any) -> dict[str, Any]:
    """What ``rio info`` reports (its recipe), for the keys we share."""
    profile = dict(ds.profile)
    exp: dict[str, Any] = {
        k: profile[k]
        for k in ("width", "height", "count", "dtype", "nodata", "blockxsize", "blockysize")
    }
    for key in ("compress", "interleave"):
        if key in profile:
            exp[key] = profile[key]
    epsg = ds.crs.to_epsg() if ds.crs else None
    exp["crs"] = f"EPSG:{epsg}" if epsg else None
    exp["transform"] = list(ds.transform)
    exp["bounds"] = list(ds.bounds)
    exp["res"] = list(ds.res)
    exp["shape"] = [ds.height, ds.width]
    exp["indexes"] = list(ds.indexes)
    exp["colorinterp"] = [ci.name for ci in ds.colorinterp]
    exp["descriptions"] = list(ds.descriptions)
    exp["units"] = [u or None for u in ds.units]
    exp["scales"] = list(ds.scales)
    exp["offsets"] = list(ds.offsets)
    exp["mask_flags"] = [[f.name for f in flags] for flags in ds.mask_flag_enums]
    exp["tags"] = ds.tags()
    exp["overview_factors"] = ds.overviews(1)
    if ds.crs:
        # GDAL cannot reach WGS 84 from some CRSs (Mars): rio info omits lnglat too.
        with contextlib.suppress(Exception):
            exp["lnglat"] = list(ds.lnglat())
    return exp


def _compare(got: dict[str, Any], exp: dict[str, Any]) -> None:
    got = dict(got, overview_factors=[o["factor"] for o in got["overviews"]])
    for key, want in exp.items():
        have = got.get(key, "<missing>")
        if key in ("transform", "bounds", "res", "lnglat"):
            assert len(have) == len(want), key
            assert all(
                math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-7)
                for a, b in zip(have, want, strict=True)
            ), (
                key,
                have,
                want,
            )
        elif key == "nodata" and isinstance(want, float) and math.isnan(want):
            assert isinstance(have, float), key
            assert math.isnan(have), key
        else:
            assert have == want, (key, have, want)


def test_info_json_sample_matches_rasterio() -> None:
    code, out, err = run("info", str(SAMPLE), "--json")
    assert code == 0, err
    got = json.loads(out)
    assert out.count("\n") == 1  # one JSON object on one line
    with rio_sample() as ds:
        _compare(got, _expected_from_rasterio(ds))
    assert got["overviews"] == [
        {"width": 395, "height": 359, "factor": 2, "blockxsize": 256, "blockysize": 256},
        {"width": 197, "height": 179, "factor": 4, "blockxsize": 256, "blockysize": 256},
    ]
    assert got["compress"] == "deflate"
    assert got["photometric"] == "RGB"
    assert got["mask_kind"] == "nodata"
    assert got["driver"] == "GTiff"


def _info_files() -> list[Any]:
    from corpus import params, tiff_entries

    refused = {"georust-geotiff/merc.tif", "node-gdal-async/unsupported-srs.tif"}
    return params(
        [e for e in tiff_entries() if e.get("opens") is True and e["path"] not in refused]
    )


# Where `info --json` knowingly differs from `rio info` (docs/cli.md), by key.
INFO_DIFFERENCES: dict[str, dict[str, str]] = {
    "libtiff/tiff_with_subifd_chain.tif": {
        "overview_factors": "we list overviews finest first; GDAL lists this file's SubIFDs as [4, 2]"
    },
    "rasterio/test_esri_wkt.tif": {"crs": "pyproj identifies EPSG:5070, GDAL finds no code"},
    "rio-cogeo/image_known_incompatible_ghost_headers.tif": {
        "crs": "GDAL identifies EPSG:3968, pyproj finds no code"
    },
    "pillow/hopper.Lab.tif": {"mask_flags": "GDAL's RGBA conversion adds an alpha mask"},
    "rio-cogeo/slc.tif": {
        "dtype": "complex int16 is read as complex64 (numpy has no complex int16)"
    },
    "rioxarray/cint16.tif": {
        "dtype": "complex int16 is read as complex64 (numpy has no complex int16)"
    },
}


@pytest.mark.corpus
@pytest.mark.parametrize("entry", _info_files())
def test_info_json_matches_rio_info_for_every_corpus_file(entry: dict[str, Any]) -> None:
    rel = entry["path"]
    code, out, err = run("info", str(CORPUS / rel), "--json", "--sidecars")
    assert code == 0, err
    got = json.loads(out)
    with oracle(rel) as ds:
        exp = _expected_from_rasterio(ds)
        known = INFO_DIFFERENCES.get(rel, {})
        for key in known:
            exp.pop(key, None)
        if "crs" not in known and exp.get("crs") is None and ds.crs is not None:
            # No EPSG code: we print WKT (pyproj's), which must describe the same CRS.
            assert pyproj.CRS.from_user_input(got["crs"]) == pyproj.CRS.from_user_input(
                ds.crs.to_wkt()
            )
            exp.pop("crs")
        # EXIF tags GDAL reads from the EXIF IFD, which we do not parse.
        exp["tags"] = {k: v for k, v in exp["tags"].items() if not k.startswith("EXIF_")}
        # rasterio keeps an unknown codec's name in upper case.
        if isinstance(exp.get("compress"), str):
            exp["compress"] = exp["compress"].lower()
            got["compress"] = str(got.get("compress")).lower()
    got_tags = got.get("tags", {})
    got["tags"] = {
        k: v for k, v in got_tags.items() if k in exp["tags"] or not k.startswith("EXIF_")
    }
    _compare(got, exp)


def test_info_json_indent() -> None:
    code, out, _ = run("info", str(SAMPLE), "--json", "--indent", "2")
    assert code == 0
    assert json.loads(out)["width"] == 791
    assert '\n  "width": 791' in out


# -- read --------------------------------------------------------------------------


def test_read_window_to_npy(tmp_path: Path) -> None:
    out = tmp_path / "w.npy"
    code, text, err = run(
        "read", str(SAMPLE), "--window", "300", "200", "64", "32", "--bands", "3,1", "-o", str(out)
    )
    assert code == 0, err
    assert err == ""  # stderr is not a terminal: no progress
    assert f"wrote {out}" in text
    data = np.load(out)

    with rio_sample() as ds:
        expected = ds.read([3, 1], window=RioWindow(300, 200, 64, 32))
    assert data.shape == (2, 32, 64)
    assert np.array_equal(data, expected)


def test_read_bounds_from_overview_to_npz(tmp_path: Path) -> None:

    out = tmp_path / "b.npz"
    with rasterio.open(SAMPLE, overview_level=0) as ov:
        # The bounds of overview 0's pixels (10, 20)-(60, 60).
        t = ov.transform
        left, top = t @ (10, 20)
        right, bottom = t @ (60, 60)
        expected = ov.read(window=RioWindow(10, 20, 50, 40))
        expected_mask = ov.dataset_mask(window=RioWindow(10, 20, 50, 40)) != 0
    code, _, err = run(
        "read",
        str(SAMPLE),
        "--overview",
        "0",
        "--bounds",
        str(left),
        str(bottom),
        str(right),
        str(top),
        "-o",
        str(out),
    )
    assert code == 0, err
    with np.load(out) as npz:
        assert np.array_equal(npz["data"], expected)
        assert np.array_equal(npz["mask"], expected_mask)
        assert str(npz["crs"]) == "EPSG:32618"
        assert tuple(npz["transform"]) == pytest.approx(tuple(t @ t.translation(10, 20))[:6])


def test_read_png(tmp_path: Path) -> None:
    out = tmp_path / "r.png"
    code, _, err = run("read", str(SAMPLE), "--overview", "1", "-o", str(out))
    assert code == 0, err
    with Image.open(out) as im:
        assert im.format == "PNG"
        assert im.size == (197, 179)
        assert im.mode == "RGBA"  # nodata collar -> transparent
        assert im.getpixel((0, 0))[3] == 0


def test_read_boundless(tmp_path: Path) -> None:
    out = tmp_path / "edge.npy"
    code, _, err = run(
        "read", str(SAMPLE), "--window", "780", "700", "32", "32", "--boundless", "-o", str(out)
    )
    assert code == 0, err
    assert np.load(out).shape == (3, 32, 32)


def test_read_progress_on_a_terminal(tmp_path: Path) -> None:
    err = TTY()
    code, _, _ = run("read", str(SAMPLE), "-o", str(tmp_path / "all.npy"), stderr=err)
    assert code == 0
    text = err.getvalue()
    assert text.startswith("\rreading full resolution, 791x718 pixels:")
    assert text.endswith("\r")  # the line is erased at the end


def test_progress_is_silent_when_piped(tmp_path: Path) -> None:
    code, _, err = run("preview", str(SAMPLE), "-o", str(tmp_path / "p.png"))
    assert code == 0
    assert err == ""


# -- preview -----------------------------------------------------------------------


def test_preview_png(tmp_path: Path) -> None:
    out = tmp_path / "p.png"
    code, text, err = run("preview", str(SAMPLE), "-o", str(out), "--max-size", "300")
    assert code == 0, err
    assert "from overview 0 (395x359)" in text  # coarsest level still >= 300 px
    with Image.open(out) as im:
        assert im.size == (300, 272) or im.size == (300, 273)
        assert im.mode == "RGBA"
        assert im.getpixel((0, 0))[3] == 0  # nodata corner is transparent
        assert im.getpixel((150, 136))[3] == 255


def test_preview_level_choice() -> None:

    async def levels() -> list[int]:
        tif = await GeoTIFF.open(SAMPLE.name, store=LocalStore(str(SAMPLE.parent)))
        return [render.choose_preview_level(tif, n).width for n in (100, 197, 198, 395, 396, 1024)]

    assert trio.run(levels) == [197, 197, 395, 395, 791, 791]


@needs_corpus
def test_preview_palette_uses_colormap(tmp_path: Path) -> None:
    rel = "gdalraster/storml_tcc.tif"
    out = tmp_path / "pal.png"
    code, _, err = run("preview", str(CORPUS / rel), "-o", str(out))
    assert code == 0, err
    with oracle(rel) as ds:
        data = ds.read(1)
        cmap = ds.colormap(1)
        nodata = ds.nodata
    with Image.open(out) as im:
        assert im.size == (data.shape[1], data.shape[0])
        px = np.asarray(im.convert("RGBA"))
    r, c = np.argwhere(data != nodata)[0]
    assert tuple(px[r, c, :3]) == cmap[int(data[r, c])][:3]


@needs_corpus
def test_preview_float_with_nan_nodata(tmp_path: Path) -> None:
    out = tmp_path / "nan.png"
    code, _, err = run(
        "preview", str(CORPUS / "rio-tiler/cog_nodata_nan.tif"), "-o", str(out), "--max-size", "256"
    )
    assert code == 0, err
    with Image.open(out) as im:
        assert max(im.size) == 256
        alpha = np.asarray(im.convert("RGBA"))[..., 3]
    assert (alpha == 0).any()
    assert (alpha == 255).any()


def test_render_rgba_orders_bands_by_colorinterp() -> None:

    data = np.stack([np.full((2, 2), v, np.uint8) for v in (10, 20, 30)])
    arr = Array(data=data, mask=None, transform=Affine.identity(), crs=None, nodata=None)
    rgba = render.render_rgba(
        arr, [ColorInterp.blue, ColorInterp.green, ColorInterp.red], None, stretch=False
    )
    assert tuple(rgba[0, 0]) == (30, 20, 10, 255)


# -- tiles -------------------------------------------------------------------------


def test_tiles_text() -> None:
    code, out, err = run("tiles", str(SAMPLE))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["level", "size", "kind", "block", "across", "down", "blocks"]
    assert lines[1].split() == ["full", "791x718", "tiles", "256x256", "4", "3", "12"]
    assert lines[2].split() == ["overview", "0", "395x359", "tiles", "256x256", "2", "2", "4"]
    assert lines[3].split() == ["overview", "1", "197x179", "tiles", "256x256", "1", "1", "1"]


def test_tiles_json_one_overview() -> None:
    code, out, err = run("tiles", str(SAMPLE), "--overview", "1", "--json")
    assert code == 0, err
    assert json.loads(out) == [
        {
            "level": "overview 1",
            "width": 197,
            "height": 179,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
            "blocks_across": 1,
            "blocks_down": 1,
            "blocks": 1,
        }
    ]


@needs_corpus
def test_tiles_stripped_band_interleaved() -> None:
    code, out, err = run("tiles", str(CORPUS / "image-tiff/planar-rgb-u8.tif"))
    assert code == 0, err
    assert out.splitlines()[1].split() == ["full", "374x499", "strips", "374x21", "1", "24", "72"]


# -- sample ------------------------------------------------------------------------


def test_sample_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run("demo")
    assert code == 0, err
    assert "Cloud-Optimized GeoTIFF" in out
    assert "Wrote sample_preview.png" in out
    with Image.open(tmp_path / "sample_preview.png") as im:
        assert im.size == (791, 718)


def test_python_m_sample_in_a_fresh_directory(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONWARNINGS="error")
    proc = subprocess.run(
        [sys.executable, "-m", "trio_geotiff", "sample"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "EPSG:32618" in proc.stdout
    assert "395 x 359" in proc.stdout
    with Image.open(tmp_path / "sample_preview.png") as im:
        assert im.size == (791, 718)
        assert im.mode == "RGBA"
        px = np.asarray(im)
    assert px[..., 3].min() == 0  # the collar is transparent
    assert px[359, 395, 3] == 255
    assert px[..., :3][px[..., 3] == 255].std() > 10  # an image, not a flat fill


# -- errors ------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.tif"
    code, out, err = run("info", str(missing))
    assert_one_line_error(code, err, str(missing), "no such file")
    assert out == ""


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    code, _, err = run("info", str(tmp_path))
    assert_one_line_error(code, err, "directory")


def test_not_a_tiff(tmp_path: Path) -> None:
    path = tmp_path / "text.tif"
    path.write_text("hello, not a TIFF\n" * 10)
    code, _, err = run("info", str(path))
    assert_one_line_error(code, err, str(path), "TIFF")


def test_window_outside_the_image(tmp_path: Path) -> None:
    code, _, err = run(
        "read", str(SAMPLE), "--window", "700", "700", "200", "200", "-o", str(tmp_path / "x.npy")
    )
    assert_one_line_error(code, err, "not inside", "--boundless")
    assert not (tmp_path / "x.npy").exists()


def test_empty_window(tmp_path: Path) -> None:
    code, _, err = run(
        "read", str(SAMPLE), "--window", "0", "0", "0", "5", "-o", str(tmp_path / "x.npy")
    )
    assert_one_line_error(code, err, "--window")


def test_bad_band(tmp_path: Path) -> None:
    code, _, err = run("read", str(SAMPLE), "--bands", "4", "-o", str(tmp_path / "x.npy"))
    assert_one_line_error(code, err, "band index 4")


def test_bad_overview(tmp_path: Path) -> None:
    code, _, err = run("read", str(SAMPLE), "--overview", "2", "-o", str(tmp_path / "x.npy"))
    assert_one_line_error(code, err, "overview 2 does not exist (0..1)")


def test_bounds_outside(tmp_path: Path) -> None:
    code, _, err = run(
        "read", str(SAMPLE), "--bounds", "0", "0", "10", "10", "-o", str(tmp_path / "x.npy")
    )
    assert_one_line_error(code, err, "not inside")


def test_bad_output_suffix(tmp_path: Path) -> None:
    code, _, err = run("read", str(SAMPLE), "-o", str(tmp_path / "x.tif"))
    assert_one_line_error(code, err, ".npy, .npz or .png")


def test_unwritable_output(tmp_path: Path) -> None:
    code, _, err = run("read", str(SAMPLE), "-o", str(tmp_path / "no" / "dir" / "x.npy"))
    assert_one_line_error(code, err, "cannot write")


def test_bad_url_scheme() -> None:
    code, _, err = run("info", "ftp://example.com/a.tif")
    assert_one_line_error(code, err, "unsupported URL scheme 'ftp'")


def test_url_without_a_file() -> None:
    code, _, err = run("info", "s3://bucket")
    assert_one_line_error(code, err, "must name a file")


@needs_corpus
def test_corrupt_pixels(tmp_path: Path) -> None:
    # The metadata reads; the pixels of the full-resolution image are broken.
    code, out, err = run(
        "read", str(CORPUS / "rasterio/corrupt.tif"), "-o", str(tmp_path / "c.npy")
    )
    assert_one_line_error(code, err, "corrupt.tif")
    assert out == ""


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["info"],
        ["read", str(SAMPLE)],  # -o is required
        ["read", str(SAMPLE), "--bands", "a,b", "-o", "x.npy"],
        ["read", str(SAMPLE), "--window", "1", "2", "-o", "x.npy"],
        [
            "read",
            str(SAMPLE),
            "--window",
            "0",
            "0",
            "1",
            "1",
            "--bounds",
            "0",
            "0",
            "1",
            "1",
            "-o",
            "x.npy",
        ],
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    code, out, err = run(*argv)
    assert code == 2
    assert "error:" in err
    assert "Traceback" not in err
    assert out == ""


def test_help_and_version() -> None:
    # argparse's SystemExit is caught by main, which returns the code instead.
    code, out, _ = run("--help")
    assert code == 0
    assert "sample" in out
    code, _, _ = run("--version")
    assert code == 0


def test_pillow_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)  # import PIL -> ImportError
    code, _, err = run("preview", str(SAMPLE), "-o", str(tmp_path / "p.png"))
    assert_one_line_error(code, err, "Pillow", "trio_geotiff[cli]")
    # .npy output does not need Pillow.
    code, _, err = run("read", str(SAMPLE), "--overview", "1", "-o", str(tmp_path / "p.npy"))
    assert code == 0, err


# -- URLs --------------------------------------------------------------------------


def test_resolve_local_path() -> None:
    target = stores.resolve(str(SAMPLE))
    assert target.path == "sample_cog.tif"
    assert type(target.store).__name__ == "LocalStore"
    assert stores.resolve(SAMPLE.as_uri()).path == "sample_cog.tif"


@pytest.mark.parametrize(
    ("url", "store", "path"),
    [
        ("s3://bucket/dir/sub/scene.tif", "S3Store", "scene.tif"),
        ("s3://bucket/scene.tif", "S3Store", "scene.tif"),
        ("gs://bucket/dir/scene.tif", "GCSStore", "scene.tif"),
        ("abfs://container@account.dfs.core.windows.net/dir/scene.tif", "AzureStore", "scene.tif"),
        ("https://example.com/data/scene%20one.tif", "HTTPStore", "scene one.tif"),
        ("http://127.0.0.1:9/scene.tif", "HTTPStore", "scene.tif"),
    ],
)
def test_resolve_urls(url: str, store: str, path: str) -> None:
    target = stores.resolve(url, no_sign_request=True, region="eu-west-1")
    assert type(target.store).__name__ == store
    assert target.path == path
    assert target.display == url


def test_resolve_s3_options() -> None:
    target = stores.resolve("s3://bucket/dir/x.tif", no_sign_request=True, region="eu-west-1")
    config = target.store.config
    assert config["skip_signature"] in (True, "true")
    assert config["region"] == "eu-west-1"
    assert target.store.prefix == "dir"


def test_stores_import_without_the_command_line() -> None:
    # An xarray backend resolves URLs with `stores` alone.
    code = (
        "import sys, trio_geotiff._cli.stores;"
        " loaded = [m for m in sys.modules if m.startswith('trio_geotiff._cli.')];"
        " assert loaded == ['trio_geotiff._cli.stores'], loaded"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_resolve_is_a_store_path_display_triple() -> None:
    store, path, display = stores.resolve(str(SAMPLE))
    assert (type(store).__name__, path, display) == ("LocalStore", SAMPLE.name, str(SAMPLE))


@pytest.mark.parametrize(
    ("where", "error", "needle"),
    [
        ("{tmp}/nope.tif", ObjectNotFoundError, "no such file"),
        ("{tmp}", StoreError, "is a directory"),
        ("ftp://example.com/a.tif", InvalidArgumentError, "unsupported URL scheme 'ftp'"),
        ("https://example.com/a.tif?x=1", InvalidArgumentError, "query string"),
        ("gs://bucket", InvalidArgumentError, "must name a file"),
        ("https://[::1/a.tif", InvalidArgumentError, "IPv6"),
        # obstore refuses the URL: its error becomes the library's.
        ("https://exa mple.com/a.tif", InvalidArgumentError, "domain name"),
    ],
)
def test_resolve_raises_library_errors(
    tmp_path: Path, where: str, error: type[Exception], needle: str
) -> None:
    target = where.format(tmp=tmp_path)
    with pytest.raises(error) as info:
        stores.resolve(target)
    assert info.value.path == target  # type: ignore[attr-defined]
    assert needle in str(info.value)
    assert not isinstance(info.value, BaseExceptionGroup)


def test_interrupt_during_a_progress_read_exits_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def interrupted(*_args: Any, **_kwargs: Any) -> Any:
        await trio.lowlevel.checkpoint()
        raise KeyboardInterrupt

    monkeypatch.setattr(GeoTIFF, "read", interrupted)
    err = TTY()  # a terminal: the read runs beside the progress line, in a task group
    code, out, _ = run("read", str(SAMPLE), "-o", str(tmp_path / "x.npy"), stderr=err)
    assert code == 130
    assert out == ""
    assert err.getvalue().split("\r")[-1] == "trio-geotiff: interrupted\n"
    assert not (tmp_path / "x.npy").exists()


def test_unexpected_error_is_one_line_naming_its_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        await trio.lowlevel.checkpoint()
        raise RuntimeError("a bug\nwith two lines")

    monkeypatch.setattr(GeoTIFF, "read", broken)
    code, _, err = run("read", str(SAMPLE), "-o", str(tmp_path / "x.npy"), stderr=TTY())
    last = err.split("\r")[-1]
    assert_one_line_error(code, last, "RuntimeError: a bug", "TRIO_GEOTIFF_DEBUG")
    monkeypatch.setenv("TRIO_GEOTIFF_DEBUG", "1")
    with pytest.raises(RuntimeError, match="a bug"):
        run("read", str(SAMPLE), "-o", str(tmp_path / "x.npy"))


@pytest.mark.network
def test_info_over_http() -> None:

    with serve_http(SAMPLE.parent) as server:
        url = server.url.rstrip("/") + "/" + SAMPLE.name
        code, out, err = run("tiles", url, "--json")
        assert code == 0, err
        assert len(json.loads(out)) == 3
        code, _, err = run("info", server.url.rstrip("/") + "/missing.tif")
        assert_one_line_error(code, err, "missing.tif: not found")


@pytest.mark.network
def test_read_from_s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    with serve_s3() as s3:
        s3.upload("cogs/sample.tif", SAMPLE)
        url = f"s3://{s3.bucket}/cogs/sample.tif"
        out = tmp_path / "s3.npy"
        code, _, err = run(
            "read",
            url,
            "--endpoint-url",
            s3.endpoint,
            "--region",
            REGION,
            "--overview",
            "1",
            "-o",
            str(out),
        )
        assert code == 0, err
        assert np.load(out).shape == (3, 179, 197)


def test_progress_error_is_one_line(tmp_path: Path) -> None:
    err = TTY()
    code, _, _ = run(
        "read",
        str(SAMPLE),
        "--window",
        "700",
        "700",
        "200",
        "200",
        "-o",
        str(tmp_path / "x.npy"),
        stderr=err,
    )
    assert code == 1
    # The progress line is erased, then the error follows on its own line.
    last = err.getvalue().split("\r")[-1]
    assert last.startswith("trio-geotiff: error: ")
    assert last.count("\n") == 1
