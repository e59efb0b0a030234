"""Hostile input never crashes, hangs, leaks a non-library exception or blows memory.

Every input runs in a child process under RLIMIT_AS with a per-case timeout
(tests/fuzz/harness.py), in three modes: ``lowered`` (``max_decoded_bytes`` =
256 MiB), ``default`` (the library's default settings, whose 4 GiB ceiling
is above the 2 GiB rlimit) and ``sidecars`` (default settings; the input is
the .ovr, .msk and .aux.xml of a valid file opened with ``sidecars=True``). The short run here is a fixed, seeded batch of
TIFF-aware mutations of the seed files (the small corpus files plus files
written with rasterio) in each mode, the crafted hostile files, and every
broken corpus file. Environment:

* ``TRIO_GEOTIFF_FUZZ_SECONDS``: a long, time-bounded run (``nox -s fuzz``),
  rounds of `ROUND_CASES` in each selected mode;
* ``TRIO_GEOTIFF_FUZZ_SEED``: the seed (round ``r`` of seed ``s`` in a mode
  uses ``s * 100000 + r``, plus 25000 in the sidecars mode and 50000 in the
  default mode);
* ``TRIO_GEOTIFF_FUZZ_MODES``: the modes to run (``default,lowered,sidecars``);
* ``TRIO_GEOTIFF_FUZZ_SAVE``: where the inputs behind bad outcomes are saved
  (default: pytest's tmp dir);
* ``TRIO_GEOTIFF_FUZZ_REPORT``: a JSON file for the summary (``{mode}`` in the
  name is replaced by the mode).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fuzz import crafted, seeds
from fuzz.harness import MODES, Report, run_cases
from fuzz.mutators import mutated_files
from fuzz.replay import replay_command

SHORT_CASES = {"lowered": 2000, "default": 1500, "sidecars": 1000}
"""Cases of the short (CI) run per mode: about 35 s of CPU for the three."""
ROUND_CASES = 1500
SEED = int(os.environ.get("TRIO_GEOTIFF_FUZZ_SEED", "0"))
LONG_SECONDS = float(os.environ.get("TRIO_GEOTIFF_FUZZ_SECONDS", "0"))
SELECTED_MODES = os.environ.get("TRIO_GEOTIFF_FUZZ_MODES", "default,lowered,sidecars").split(",")
_MODE_OFFSET = {"lowered": 0, "sidecars": 25_000, "default": 50_000}


def _save_dir(tmp_path: Path) -> Path:
    return Path(os.environ.get("TRIO_GEOTIFF_FUZZ_SAVE", tmp_path / "fuzz-failures"))


def _describe(report: Report, labels: list[str]) -> str:
    lines = [f"outcomes: {dict(sorted(report.counts().items()))}"]
    for o in report.bad[:20]:
        lines.append(f"  case {o.index} [{labels[o.index]}] -> {o.kind}: {o.message}")
        lines.append(f"    saved: {report.saved.get(o.index)}")
    return "\n".join(lines)


def round_seed(mode: str, rnd: int) -> int:
    """The seed of round ``rnd`` of this run in ``mode``."""
    return SEED * 100_000 + _MODE_OFFSET[mode] + rnd


def _records(
    mode: str, seed: int, report: Report, labels: list[str], *, slow: bool = False
) -> list[dict[str, Any]]:
    """Every non-library, hang or crash outcome (known bugs too), with how to replay it.

    ``slow``: instead, the cases that passed the time limit but finished when run again.
    """
    n = len(report.outcomes)
    return [
        {
            "kind": o.kind,
            "known": o.known,
            "message": o.message,
            "seconds": round(o.seconds, 1),
            "case": labels[o.index],
            "replay": replay_command(mode, seed, n, o.index),
            "saved": str(report.saved.get(o.index, "")),
        }
        for o in report.outcomes
        if (o.slow if slow else o.category not in ("ok", "library"))
    ]


@pytest.mark.parametrize("mode", list(MODES))
def test_mutations_are_handled(mode: str, tmp_path: Path) -> None:
    """Seeded TIFF-aware mutations: only data or library errors (long run: rounds until the deadline)."""
    if mode not in SELECTED_MODES:
        pytest.skip(f"mode {mode} not in TRIO_GEOTIFF_FUZZ_MODES")
    seed_files = seeds.all_seeds()
    assert seed_files, "no seed files (rasterio could not write any, and the corpus is absent)"
    total = Report()
    records: list[dict[str, Any]] = []
    slow: list[dict[str, Any]] = []
    started = time.monotonic()
    rounds = 0
    failures: list[str] = []  # a long run goes on after a failing round, and reports them all
    while True:
        n = ROUND_CASES if LONG_SECONDS else SHORT_CASES[mode]
        seed = round_seed(mode, rounds)
        cases = mutated_files(seed_files, n, seed)
        labels = [f"{name} | {' ; '.join(ops)}" for name, ops, _ in cases]
        report = run_cases(
            [data for _, _, data in cases],
            saved_dir=_save_dir(tmp_path) / f"{mode}-round{rounds}",
            labels=labels,
            ceiling=MODES[mode],
        )
        if report.bad:
            failures.append(f"{mode} round {rounds} (seed {seed}):\n" + _describe(report, labels))
        records += _records(mode, seed, report, labels)
        slow += _records(mode, seed, report, labels, slow=True)
        total.outcomes += report.outcomes
        total.children += report.children
        rounds += 1
        if not LONG_SECONDS or time.monotonic() - started >= LONG_SECONDS:
            break
    summary = {
        "mode": mode,
        "seconds": round(time.monotonic() - started, 1),
        "rounds": rounds,
        "seed": SEED,
        "first_round_seed": round_seed(mode, 0),
        "seed_files": len(seed_files),
        "cases": len(total.outcomes),
        "child_processes": total.children,
        "classes": total.categories(),
        "outcomes": dict(sorted(total.counts().items())),
        "not_library": records,
        "slow": slow,
    }
    print(f"\nfuzz summary ({mode}):", json.dumps(summary, indent=1))
    out = os.environ.get("TRIO_GEOTIFF_FUZZ_REPORT")
    if out:
        Path(out.replace("{mode}", mode)).write_text(json.dumps(summary, indent=1))
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("mode", list(MODES))
def test_crafted_inputs_are_handled(mode: str, tmp_path: Path) -> None:
    """Hand-made traps (IFD loops, 2^64-1 counts, huge sizes, issue 10's files): data or library errors."""
    cases = crafted.CRAFTED | crafted.ISSUE10
    names = [n for n in cases if n not in crafted.KNOWN_BUGS]
    report = run_cases(
        [cases[n]() for n in names],
        saved_dir=_save_dir(tmp_path) / mode,
        labels=names,
        ceiling=MODES[mode],
    )
    assert not report.bad, _describe(report, names)
    outcomes = {n: o.kind for n, o in zip(names, report.outcomes, strict=True)}
    assert outcomes["valid-gray"] == "ok"
    assert outcomes["valid-bigtiff-bigendian"] == "ok"
    if mode == "sidecars":
        # Sidecars that cannot be used are ignored, as GDAL ignores them.
        assert outcomes["metadata-amplification"] == "ok"
        assert outcomes["empty-object"] == "ok"
    else:
        assert outcomes["metadata-amplification"] == "lib:CorruptFileError"
        assert outcomes["spp-55551-uint8"] == "lib:ResourceLimitError"


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=f"reported bug: {why}"))
        for n, why in crafted.KNOWN_BUGS.items()
    ]
    or [pytest.param(None, marks=pytest.mark.skip(reason="no open known bug"), id="none")],
)
def test_known_bug_reproducers(name: str, tmp_path: Path) -> None:
    """Reproducers of reported bugs in modules this suite does not own (xfail until fixed)."""
    report = run_cases([crafted.CRAFTED[name]()], saved_dir=_save_dir(tmp_path), labels=[name])
    o = report.outcomes[0]
    assert o.kind == "ok" or o.kind.startswith("lib:"), f"{o.kind}: {o.detail[-500:]}"


_BROKEN = [e for e in seeds.corpus_manifest() if seeds.is_broken(e)]


@pytest.mark.corpus
@pytest.mark.skipif(
    not _BROKEN, reason=f"shared corpus not found at {seeds.CORPUS}: broken-file checks skipped"
)
@pytest.mark.parametrize("mode", list(MODES))
def test_broken_corpus_files(mode: str, tmp_path: Path) -> None:
    """Every corpus file marked broken gives a clean library error or data."""
    paths = [seeds.CORPUS / e["path"] for e in _BROKEN]
    present = [p for p in paths if p.is_file()]
    labels = [str(p.relative_to(seeds.CORPUS)) for p in present]
    report = run_cases(
        [p.read_bytes() for p in present],
        saved_dir=_save_dir(tmp_path) / mode,
        labels=labels,
        ceiling=MODES[mode],
    )
    assert not report.bad, _describe(report, labels)
    for label, o in zip(labels, report.outcomes, strict=True):
        assert o.kind == "ok" or o.kind.startswith("lib:"), f"{label}: {o.kind}"


def test_a_seed_names_the_same_case_in_another_process(tmp_path: Path) -> None:
    """The replay command regenerates, in a fresh interpreter, the bytes this process made."""
    seed, n, index = 4242, 60, 37
    _name, _ops, here = mutated_files(seeds.all_seeds(), n, seed)[index]
    saved = tmp_path / "case.tif"
    command = replay_command("lowered", seed, n, index).split()[1:]
    subprocess.run(
        [sys.executable, *command, "--save", str(saved)],
        cwd=Path(__file__).parents[1],
        check=False,  # the exit status is the case's outcome, not checked here
        capture_output=True,
    )
    assert saved.read_bytes() == here
