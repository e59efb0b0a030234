"""Child-process scenarios for the exit-safety tests: each ends the interpreter
right after using the library, the case where async-tiff/obstore's tokio
workers used to crash CPython at exit.

Usage: python exit_scenarios.py SCENARIO DIR NAME
Exit codes: 0 done, 3 the expected library error was raised.
"""

from __future__ import annotations

import sys

import trio
from obstore.store import LocalStore

from trio_geotiff import GeoTIFF, Window
from trio_geotiff.errors import GeoTIFFError


async def main(scenario: str, root: str, name: str) -> int:
    store = LocalStore(root)
    if scenario == "error":
        try:
            await GeoTIFF.open(name + ".missing", store=store)
        except GeoTIFFError:
            return 3
        return 1
    tif = await GeoTIFF.open(name, store=store)
    if scenario == "open":
        return 0
    window = Window(0, 0, min(tif.width, 1024), min(tif.height, 1024))
    if scenario == "read":
        await tif.read(window=window)
        return 0
    if scenario == "cancel":
        with trio.move_on_after(0.001):
            await tif.read(window=window)
        return 0
    raise SystemExit(f"unknown scenario {scenario}")


if __name__ == "__main__":
    sys.exit(trio.run(main, *sys.argv[1:4]))
