"""The shared corpus (../shared/corpus) and rasterio as the oracle, for tests."""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CORPUS = Path(
    os.environ.get("TRIO_GEOTIFF_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus")
)
SKIP_REASON = f"shared corpus not found at {CORPUS}: corpus-wide tests skipped"


def manifest() -> list[dict[str, Any]]:
    """All manifest entries ([] when the corpus is absent)."""
    path = CORPUS / "manifest.json"
    if not path.is_file():
        return []
    entries: list[dict[str, Any]] = json.loads(path.read_text())
    return entries


def tiff_entries() -> list[dict[str, Any]]:
    """Entries of TIFF files (sidecar .xml/.ovr/.msk files excluded)."""
    return [
        e
        for e in manifest()
        if not e["path"].endswith((".aux.xml", ".ovr", ".msk"))
        and e.get("driver", "GTiff") in ("GTiff", None)
    ]


def params(entries: list[dict[str, Any]]) -> list[Any]:
    """pytest params for entries, or one skipped param when the corpus is absent."""
    if not entries:
        reason = (
            SKIP_REASON
            if not (CORPUS / "manifest.json").is_file()
            else "no corpus file of this kind"
        )
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="none")]
    return [pytest.param(e, id=e["path"]) for e in entries]


@contextlib.contextmanager
def oracle(rel: str, **options: Any) -> Iterator[Any]:
    """rasterio's dataset for a corpus file, with its warnings silenced."""
    import rasterio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with (
            rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="NO"),
            rasterio.open(CORPUS / rel, **options) as ds,
        ):
            yield ds


# -- georeferencing tests: raw tags (tifffile) against rasterio without sidecars


def gtiff_paths() -> list[str]:
    """Corpus paths of the files GDAL identifies as GTiff ([] without the corpus)."""
    return [e["path"] for e in manifest() if e.get("driver") == "GTiff"]


def require_corpus() -> list[dict[str, Any]]:
    """Manifest entries of the GTiff files, or a skip when the corpus is missing."""
    if not (CORPUS / "manifest.json").is_file():
        pytest.skip(SKIP_REASON)
    return [e for e in manifest() if e.get("driver") == "GTiff"]


def raw_tags(path: Path) -> dict[int, Any] | None:
    """The georeferencing tags of the first IFD, or None if tifffile can't read it."""
    import tifffile

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with tifffile.TiffFile(path) as tif:
                tags = tif.pages[0].tags
                out: dict[int, Any] = {}
                for code in (33550, 33922, 34264, 34735, 34736, 34737):
                    if code in tags:
                        value = tags[code].value
                        out[code] = value if isinstance(value, str) else tuple(value)
                return out
    except Exception:
        return None


def open_oracle(path: Path) -> Any:
    """Open with rasterio, sidecars (.aux.xml, world files) ignored.

    tinymarble.tif, for instance, takes its CRS from its .aux.xml: the
    georeferencing tests compare only what the TIFF itself says.
    """
    import rasterio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.Env(GDAL_PAM_ENABLED="NO", GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
            return rasterio.open(path)
