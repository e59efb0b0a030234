"""What one read may allocate: the ceiling counts decoded blocks, memory stays bounded.

The promise (docs/concepts.md): a read holds its output, at most one decoded
block per decoding thread (plus a codec's working copy), and the compressed
bytes in flight; blocks kept by the cache are counted by the cache's budget.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from obstore.store import LocalStore

import trio_geotiff
from trio_geotiff import GeoTIFF, Window, _runtime
from trio_geotiff.errors import ResourceLimitError


def _write(path: Path, data: np.ndarray, **options: object) -> None:
    import tifffile

    options.setdefault("photometric", "minisblack")
    tifffile.imwrite(path, data, **options)  # type: ignore[arg-type]


async def test_peak_memory_is_the_output_plus_a_block_per_thread(tmp_path: Path) -> None:
    # 64 tiles of 256x256x3 bytes; smooth, so the compressed bytes are few.
    y, x = np.mgrid[0:2048, 0:2048]
    data = np.stack([(x // 8) % 256, (y // 8) % 256, ((x + y) // 16) % 256]).astype(np.uint8)
    _write(
        tmp_path / "rgb.tif",
        np.moveaxis(data, 0, -1),
        tile=(256, 256),
        compression="zlib",
        photometric="rgb",
    )
    compressed = (tmp_path / "rgb.tif").stat().st_size
    block = 256 * 256 * 3
    tif = await GeoTIFF.open("rgb.tif", store=LocalStore(str(tmp_path)), cache_bytes=0)
    await tif.read(window=Window(0, 0, 256, 256))  # warm up: threads, imports, codecs
    tracemalloc.start()
    try:
        arr = await tif.read()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(arr.data, data)
    output = arr.data.nbytes  # 12 MiB
    threads = _runtime._DECODE_THREADS
    # Output + (decoded block + the codec's working copy) per thread + the
    # compressed bytes + 1 MiB of tasks and bookkeeping. Holding every
    # decoded block (another 12 MiB) would not fit.
    allowed = output + threads * 2 * block + compressed + 1024 * 1024
    assert peak <= allowed, (peak, allowed)
    assert peak < 2 * output


async def test_the_ceiling_counts_whole_strips_not_the_output(tmp_path: Path) -> None:
    # Issue 10: a small window of a very wide stripped file decodes whole strips.
    width = 16384
    _write(
        tmp_path / "wide.tif",
        np.zeros((256, width), np.float32),
        rowsperstrip=16,
        compression="zlib",
    )
    store = LocalStore(str(tmp_path))
    strip = width * 16 * 4  # 1 MiB decoded per strip
    tif = await GeoTIFF.open("wide.tif", store=store, max_decoded_bytes=8 * strip)
    requests = tif.statistics().requests
    window = Window(0, 0, 256, 256)  # 256 KiB of output, 16 strips (16 MiB) decoded
    with pytest.raises(ResourceLimitError, match="16 whole blocks.*16777216 bytes.*8388608"):
        await tif.read(window=window)
    assert tif.statistics().requests == requests  # refused before any I/O
    arr = await tif.read(window=Window(0, 0, 256, 128))  # 8 strips: within the ceiling
    assert arr.shape == (1, 128, 256)


_OUT_OF_MEMORY = """
import resource, sys, trio
from obstore.store import LocalStore
from trio_geotiff import GeoTIFF, Window

async def main():
    tif = await GeoTIFF.open("big.tif", store=LocalStore(sys.argv[1]))
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize"))
    # Room for threads and small arrays, not for the 512 MiB strip.
    resource.setrlimit(resource.RLIMIT_AS, (vm + 192 * 2**20, resource.RLIM_INFINITY))
    try:
        await tif.read(window=Window(0, 0, 256, 256))
    except BaseException as exc:
        print(type(exc).__module__, type(exc).__name__, exc, sep="|")
    else:
        print("no error")

trio.run(main)
"""


def test_out_of_memory_in_a_read_is_a_resource_limit_error(tmp_path: Path) -> None:
    # One strip that decodes to 512 MiB (zeros: 0.5 MiB compressed).
    _write(
        tmp_path / "big.tif",
        np.zeros((2048, 65536), np.float32),
        rowsperstrip=2048,
        compression="zlib",
        compressionargs={"level": 1},
    )
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_OUT_OF_MEMORY), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    module, name, message = out.stdout.strip().split("|", 2)
    assert (module, name) == ("trio_geotiff.errors", "ResourceLimitError"), out.stdout
    assert str(2048 * 65536 * 4) in message  # the bytes it needed
    assert "ceiling" in message
    assert "max_decoded_bytes" in message


def test_budget_is_exported() -> None:
    assert trio_geotiff.cache_budget() >= 0
    assert callable(trio_geotiff.set_cache_budget)
