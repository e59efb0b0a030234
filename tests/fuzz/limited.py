"""One read in a child process under RLIMIT_AS, with the library's default settings.

`read_limited` writes nothing itself: it runs this file as a child (``python
limited.py SPEC``) that limits its address space, opens the file from a
``LocalStore`` with the given options (none: the defaults), reads one window
and reports back as JSON on stdout: the exception's type, its classes and its
message, or the output's shape (and the data and mask, saved as ``.npy``
next to the file, when asked). The child imports only the standard library,
numpy and trio_geotiff.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RLIMIT_AS_BYTES = 2 * 1024**3
"""The address space of the child, as in the fuzz harness."""
CHILD_TIMEOUT = 300.0
"""Seconds before the child counts as hung (a guard, not a measurement)."""


@dataclass
class LimitedRead:
    """What one limited read did."""

    error: str | None = None
    """The exception's class name (None: the read returned)."""
    classes: list[str] = field(default_factory=list)
    """Names of every class in the exception's MRO (to check GeoTIFFError, ValueError...)."""
    message: str = ""
    shape: list[int] = field(default_factory=list)
    data_path: Path | None = None
    mask_path: Path | None = None

    def load(self) -> tuple[Any, Any]:
        """The data and mask arrays the read returned (the mask may be None)."""
        import numpy as np

        assert self.data_path is not None, "the read failed, or arrays were not kept"
        data = np.load(self.data_path)
        mask = np.load(self.mask_path) if self.mask_path and self.mask_path.exists() else None
        return data, mask


def read_limited(
    path: Path,
    window: tuple[int, int, int, int] | None = None,
    *,
    indexes: int | list[int] | None = None,
    options: dict[str, Any] | None = None,
    keep: bool = False,
    rlimit: int = RLIMIT_AS_BYTES,
) -> LimitedRead:
    """Open ``path`` with ``options`` and read ``window`` (col, row, width, height) in a child.

    Raises:
        AssertionError: The child hung (ran past `CHILD_TIMEOUT`) or died.
    """
    spec = {
        "path": str(path),
        "window": window,
        "indexes": indexes,
        "options": options or {},
        "keep": keep,
        "rlimit": rlimit,
    }
    try:
        proc = subprocess.run(
            [sys.executable, __file__, json.dumps(spec)],
            capture_output=True,
            timeout=CHILD_TIMEOUT,
            check=False,
            env=dict(os.environ, MALLOC_ARENA_MAX="2"),
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"the read hung: no answer after {CHILD_TIMEOUT} s") from exc
    lines = proc.stdout.decode().strip().splitlines()
    if proc.returncode != 0 or not lines:
        stderr = proc.stderr.decode(errors="replace")[-3000:]
        raise AssertionError(f"the child died (status {proc.returncode}):\n{stderr}")
    answer = json.loads(lines[-1])
    out = LimitedRead(
        error=answer.get("error"),
        classes=answer.get("classes", []),
        message=answer.get("message", ""),
        shape=answer.get("shape", []),
    )
    if keep and out.error is None:
        out.data_path = path.with_suffix(".data.npy")
        out.mask_path = path.with_suffix(".mask.npy")
    return out


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (spec["rlimit"], spec["rlimit"]))
    import numpy as np
    import trio
    from obstore.store import LocalStore

    from trio_geotiff import GeoTIFF, Window

    path = Path(spec["path"])

    async def main() -> dict[str, Any]:
        tif = await GeoTIFF.open(path.name, store=LocalStore(str(path.parent)), **spec["options"])
        window = Window(*spec["window"]) if spec["window"] else None
        arr = await tif.read(window=window, indexes=spec["indexes"])
        if spec["keep"]:
            np.save(path.with_suffix(".data.npy"), arr.data)
            if arr.mask is not None:
                np.save(path.with_suffix(".mask.npy"), arr.mask)
        return {"shape": list(arr.data.shape)}

    try:
        return trio.run(main)
    except Exception as exc:  # reported to the parent, whatever it is
        return {
            "error": type(exc).__name__,
            "classes": [c.__name__ for c in type(exc).__mro__],
            "message": str(exc)[:2000],
        }


if __name__ == "__main__":
    print(json.dumps(_child(json.loads(sys.argv[1]))))
