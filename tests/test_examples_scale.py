"""examples/stack_median.py runs, and its composite equals a numpy median of rasterio reads."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("xarray")
pytest.importorskip("distributed")

from example_modules import load


def expected_median(paths: list[Path]) -> np.ndarray:
    import rasterio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arrays = []
        for path in paths:
            with rasterio.open(path) as ds:
                arrays.append(ds.read(masked=True).astype("float32").filled(np.nan))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels
        return np.nanmedian(np.stack(arrays), axis=0)


def test_stack_median_on_a_local_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = load("make_stack").make_stack(tmp_path / "stack", dates=6, size=256)
    example = load("stack_median")
    out = tmp_path / "median.npy"
    assert example.main([str(tmp_path / "stack"), "--workers", "2", "--output", str(out)]) == 0
    assert "median of 6 files" in capsys.readouterr().out
    got = np.load(out)
    np.testing.assert_allclose(got, expected_median(sorted(paths)), equal_nan=True)


def test_stack_median_on_the_threaded_scheduler(tmp_path: Path) -> None:
    paths = load("make_stack").make_stack(tmp_path / "stack", dates=4, size=256)
    example = load("stack_median")
    got = example.run([str(p) for p in sorted(paths)], workers=0, scheduler=None)
    np.testing.assert_allclose(got, expected_median(sorted(paths)), equal_nan=True)
