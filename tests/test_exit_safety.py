"""The interpreter exits cleanly after every way of using the library.

async-tiff/obstore run tokio workers that may touch Python objects after a
future resolves; if that happens during interpreter finalization the process
dies with SIGSEGV/SIGABRT. Each scenario runs in a fresh process, many times:
``TRIO_GEOTIFF_EXIT_RUNS=200`` for the full check (default 10 per scenario).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).parent / "scripts" / "exit_scenarios.py"
RUNS = int(os.environ.get("TRIO_GEOTIFF_EXIT_RUNS", "10"))


@pytest.fixture(scope="module")
def cog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import rasterio
    from affine import Affine

    root = tmp_path_factory.mktemp("exit")
    data = np.random.default_rng(0).integers(0, 255, (3, 1024, 1024), dtype=np.uint8)
    profile = {
        "driver": "GTiff",
        "width": 1024,
        "height": 1024,
        "count": 3,
        "dtype": "uint8",
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "crs": "EPSG:3857",
        "transform": Affine(10, 0, 0, 0, -10, 0),
    }
    with rasterio.open(root / "x.tif", "w", **profile) as ds:
        ds.write(data)
    return root


@pytest.mark.slow
@pytest.mark.parametrize(
    ("scenario", "expected"), [("open", 0), ("read", 0), ("cancel", 0), ("error", 3)]
)
def test_exit_code_is_always_the_expected_one(cog: Path, scenario: str, expected: int) -> None:
    codes = []
    for _ in range(RUNS):
        proc = subprocess.run(
            [sys.executable, str(SCRIPT), scenario, str(cog), "x.tif"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        codes.append(proc.returncode)
        assert proc.returncode == expected, (codes, proc.stderr.decode()[-2000:])
