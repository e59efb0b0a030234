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
