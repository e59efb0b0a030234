"""Reads in processes forked with multiprocessing's "fork" method (run by test_fork.py).

Usage: fork_scenarios.py DIR NAME. Prints one line per child:
``<when> <library> <outcome>`` where outcome is ``ok <mean>`` or the error's
class name; a child that does not finish in 30 s prints ``HUNG``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
from typing import Any

import trio
from obstore.store import LocalStore

from trio_geotiff import GeoTIFF, Window
from trio_geotiff.errors import GeoTIFFError


async def read_once(root: str, name: str) -> float:
    tif = await GeoTIFF.open(name, store=LocalStore(root))
    arr = await tif.read(window=Window(0, 0, 200, 200))
    return float(arr.data.mean())


def child(queue: Any, library: str, root: str, name: str) -> None:
    try:
        if library == "trio":
            mean = trio.run(read_once, root, name)
        else:
            mean = asyncio.run(read_once(root, name))
        queue.put(f"ok {mean:.6f}")
    except GeoTIFFError as exc:
        queue.put(type(exc).__name__)


def fork_children(when: str, root: str, name: str) -> None:
    ctx = multiprocessing.get_context("fork")
    for library in ("trio", "asyncio"):
        queue = ctx.Queue()
        proc = ctx.Process(target=child, args=(queue, library, root, name))
        proc.start()
        proc.join(30)
        if proc.is_alive():
            proc.kill()
            print(when, library, "HUNG", flush=True)
        else:
            print(when, library, queue.get(timeout=5), flush=True)


def main() -> None:
    root, name = sys.argv[1], sys.argv[2]
    fork_children("before", root, name)  # the parent made no request yet
    print("parent trio", f"ok {trio.run(read_once, root, name):.6f}", flush=True)
    fork_children("after", root, name)


if __name__ == "__main__":
    main()
