"""Replay one fuzz case by its seed, or a saved input, and print what happened.

A mutation case is named by its mode, the round seed, the number of cases the
round generated and its index (the fuzz summary gives all four, and the
command), e.g.::

    python tests/fuzz/replay.py --mode default --seed 5000007 --cases 1500 --index 812
    python tests/fuzz/replay.py --mode default --file saved/case000812-memory.tif

The case runs in a child process under the same RLIMIT_AS, timeout and
settings as in the fuzz run; the outcome, the message and the traceback are printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Run as a script: make ``fuzz`` importable as under pytest (tests/ on the path).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz import seeds
from fuzz.harness import MODES, run_cases
from fuzz.mutators import mutated_files


def replay_command(mode: str, seed: int, cases: int, index: int) -> str:
    """The shell command that replays one mutation case."""
    return (
        f"python tests/fuzz/replay.py --mode {mode} --seed {seed} --cases {cases} --index {index}"
    )


def regenerate(seed: int, cases: int, index: int) -> tuple[str, bytes]:
    """(label, bytes) of case ``index`` of the round ``mutated_files(..., cases, seed)``."""
    name, ops, data = mutated_files(seeds.all_seeds(), cases, seed)[index]
    return f"{name} | {' ; '.join(ops)}", data


def main(argv: list[str] | None = None) -> int:
    """Replay the case named on the command line; exit status 1 if it is a bug."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=sorted(MODES), default="default")
    parser.add_argument("--seed", type=int, help="the round seed")
    parser.add_argument("--cases", type=int, help="cases in that round")
    parser.add_argument("--index", type=int, help="the case's index in the round")
    parser.add_argument("--file", type=Path, help="a saved input instead of a seed")
    parser.add_argument("--save", type=Path, help="also write the input here")
    args = parser.parse_args(argv)
    if args.file is not None:
        label, data = str(args.file), args.file.read_bytes()
    elif None in (args.seed, args.cases, args.index):
        parser.error("give --file, or --seed, --cases and --index")
    else:
        label, data = regenerate(args.seed, args.cases, args.index)
    if args.save is not None:
        args.save.write_bytes(data)
    outcome = run_cases([data], ceiling=MODES[args.mode]).outcomes[0]
    print(f"case: {label}\nbytes: {len(data)}\noutcome: {outcome.kind} ({outcome.category})")
    slow = " (past the time limit, finished when run again alone)" if outcome.slow else ""
    print(f"seconds: {outcome.seconds:.1f}{slow}")
    if outcome.message:
        print(f"message: {outcome.message}")
    if outcome.detail:
        print(outcome.detail)
    return 1 if outcome.bad else 0


if __name__ == "__main__":
    sys.exit(main())
