"""Reads in forked children (multiprocessing's "fork" start method).

A child forked before the parent's first request reads normally under trio
and asyncio (the portal thread is not inherited; the child makes its own).
obstore's tokio runtime does not survive fork, so a child forked *after* the
parent made requests would hang for ever inside obstore: it gets a
`StoreError` at once instead (docs/robustness.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parent / "scripts" / "fork_scenarios.py"


def test_forked_children_read_or_fail_clearly(cog_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(cog_dir), "cog.tif"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = {
        " ".join(line.split()[:2]): " ".join(line.split()[2:]) for line in proc.stdout.splitlines()
    }
    parent = lines["parent trio"]
    assert parent.startswith("ok ")
    assert lines["before trio"] == parent
    assert lines["before asyncio"] == parent
    assert lines["after trio"] == "StoreError"
    assert lines["after asyncio"] == "StoreError"
