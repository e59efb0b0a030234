"""Run inputs through trio_geotiff in a memory-limited child process and classify outcomes.

Parent side: `run_cases` writes the inputs to a directory, starts one child
(``python harness.py CASE_LIST START``) and reads one line per case back. The
child runs every case in turn under ``RLIMIT_AS``; the parent enforces a
wall-clock timeout per case. A signal, an abort, a timeout or an exhausted
address space ends the child: the case is recorded and a new child resumes
with the next case, so one batch costs one interpreter start in the normal case.

Three modes (`MODES`, passed as ``ceiling``): `CEILING` lowers
``max_decoded_bytes`` to 256 MiB, so that every legitimate read stays far
below the rlimit; `DEFAULT_SETTINGS` opens with the library's defaults (a
4 GiB ceiling, above the 2 GiB rlimit), which is what a user gets: then the
library's own bounds on what it decodes and allocates are what keeps a case
inside the address space; `SIDECAR_SETTINGS` uses the defaults too, with the
input as the sidecars of a valid file opened with ``sidecars=True``.

Outcomes (`Outcome.kind`), grouped into classes (`Outcome.category`):

* ``ok`` (class ``ok``): opened, every property read, every read returned data;
* ``lib:<Class>`` (``library``): a `trio_geotiff.errors.GeoTIFFError` subclass (clean);
* ``nonlib:<Class>`` (``nonlibrary``): any other exception, including a bare
  ``ExceptionGroup`` and ``Cancelled``: a bug;
* ``memory`` (``nonlibrary``): a MemoryError that is not ResourceLimitError
  (numpy's ``_ArrayMemoryError`` at the rlimit): a bug;
* ``timeout`` (``hang``): the case ran past the timeout, and again when run
  alone with `CONFIRM_TIMEOUT` (if it finishes then, it is flagged ``slow``): a bug;
* ``signal:<n>`` / ``exit:<code>`` (``crash``): the child died (crash, abort): a bug.

For the non-library ones `Outcome.message` is ``"Type: message"`` (with the
leaves of an exception group) and `Outcome.detail` the traceback.

This file is also the child's entry point, so the child imports only the
standard library and trio_geotiff (and `fuzz.crafted` in the sidecars mode).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RLIMIT_AS_BYTES = 2 * 1024**3
CEILING = 256 * 1024**2
"""The lowered max_decoded_bytes: legitimate reads stay well under the rlimit."""
DEFAULT_SETTINGS = 0
"""``ceiling`` value meaning: open with the library's default settings."""
SIDECAR_SETTINGS = -1
"""``ceiling`` value meaning: default settings, and the case is the ``.ovr``,
``.msk`` and ``.aux.xml`` of a valid file opened with ``sidecars=True``."""
MODES = {"lowered": CEILING, "default": DEFAULT_SETTINGS, "sidecars": SIDECAR_SETTINGS}
"""Fuzzing modes by name: the ``ceiling`` each runs with."""
SIDECAR_MAIN = "v.tif"
"""The valid file whose sidecars the cases are, in the ``sidecars`` mode."""
READ_BUDGET = 256 * 1024**2
"""Output bytes above which a case reads a window instead of the whole image."""
CASE_TIMEOUT = 10.0
CONFIRM_TIMEOUT = 60.0
"""A case past `CASE_TIMEOUT` runs again alone with this limit: a hang only if it times out again.

On a loaded, shared machine a case that takes 3 s alone can pass 10 s; it is
then recorded with the outcome of the second run and flagged `Outcome.slow`.
"""
WINDOW = 512
"""Side of the window read when a full read would pass the ceiling."""
BAD_PREFIXES = ("nonlib:", "memory", "signal:", "exit:", "timeout")
_CATEGORIES = (
    ("ok", "ok"),
    ("lib:", "library"),
    ("nonlib:", "nonlibrary"),
    ("memory", "nonlibrary"),
    ("timeout", "hang"),
    ("signal:", "crash"),
    ("exit:", "crash"),
)
CATEGORIES = ("ok", "library", "nonlibrary", "hang", "crash")
"""The outcome classes, in report order."""


KNOWN_BUGS: dict[str, tuple[str, str]] = {
    # id: (outcome kind prefix, text the traceback contains)
    # imagecodecs 2026.3.6: lzw_decode(data, out=n) segfaults on some corrupt
    # strips (crafted "lzw-segfault"); the crash is in the byte-codec call.
    "lzw-segfault": ("signal:SIGSEGV", " in _decompress"),
}
"""Reported bugs outside _tiff.py (see docs/robustness.md), recognised by their traceback.

Outcomes matching one are counted as ``known:<id>`` instead of failing the run;
the crafted reproducers in crafted.KNOWN_BUGS xfail (strictly) until they are fixed.
"""


def known_bug(kind: str, detail: str) -> str | None:
    """The id of the known bug an outcome matches, or None."""
    for bug, (prefix, text) in KNOWN_BUGS.items():
        if kind.startswith(prefix) and text in detail:
            return bug
    return None


@dataclass
class Outcome:
    """What happened to one input."""

    index: int
    kind: str
    detail: str = ""
    seconds: float = 0.0
    message: str = ""
    """``"Type: message"`` of a non-library exception (the leaves of a group too)."""
    slow: bool = False
    """Past the first time limit, but finished when run again alone (`CONFIRM_TIMEOUT`)."""

    @property
    def category(self) -> str:
        """``ok``, ``library``, ``nonlibrary``, ``hang`` or ``crash``."""
        for prefix, category in _CATEGORIES:
            if self.kind.startswith(prefix):
                return category
        raise ValueError(f"unknown outcome kind {self.kind!r}")

    @property
    def known(self) -> str | None:
        """The id of the known (reported) bug this outcome reproduces, if any."""
        return known_bug(self.kind, self.detail) if self.kind.startswith(BAD_PREFIXES) else None

    @property
    def bad(self) -> bool:
        """True for a crash, hang, non-library exception or memory blowup not yet known."""
        return self.kind.startswith(BAD_PREFIXES) and self.known is None


@dataclass
class Report:
    """Outcomes of a batch, with the inputs behind bad ones saved to ``saved_dir``."""

    outcomes: list[Outcome] = field(default_factory=list)
    saved: dict[int, Path] = field(default_factory=dict)
    children: int = 0

    @property
    def bad(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.bad]

    def counts(self) -> Counter[str]:
        """Cases by outcome kind (known bugs as ``known:<id>``)."""
        return Counter(f"known:{o.known}" if o.known else o.kind for o in self.outcomes)

    def categories(self) -> dict[str, int]:
        """Cases by outcome class, every class present (0 when none)."""
        found = Counter(o.category for o in self.outcomes)
        return {c: found[c] for c in CATEGORIES}


# -- parent -------------------------------------------------------------------


def run_cases(
    inputs: list[bytes],
    *,
    saved_dir: Path | None = None,
    timeout: float = CASE_TIMEOUT,
    rlimit: int = RLIMIT_AS_BYTES,
    ceiling: int = CEILING,
    labels: list[str] | None = None,
    confirm_timeout: float | None = CONFIRM_TIMEOUT,
) -> Report:
    """Run every input in child processes; save the inputs of bad outcomes to ``saved_dir``.

    A case that times out is run again alone with ``confirm_timeout`` (None:
    not re-run): it counts as a hang only if it times out again.
    """
    report = Report()
    with tempfile.TemporaryDirectory(prefix="trio_geotiff_fuzz_") as tmp:
        work = Path(tmp)
        paths = []
        for i, data in enumerate(inputs):
            p = work / f"{i:06d}.tif"
            p.write_bytes(data)
            paths.append(str(p))
        case_list = work / "cases.txt"
        case_list.write_text("\n".join(paths) + "\n")
        start = 0
        results: dict[int, Outcome] = {}
        while start < len(inputs):
            report.children += 1
            start = _run_child(
                case_list, start, len(inputs), results, _Limits(timeout, rlimit, ceiling)
            )
        report.outcomes = [results[i] for i in range(len(inputs))]
    if confirm_timeout is not None:
        for o in report.outcomes:
            if o.kind == "timeout":
                _confirm(o, inputs[o.index], confirm_timeout, rlimit, ceiling)
    if saved_dir is not None:
        for o in [o for o in report.outcomes if o.bad or o.known]:
            saved_dir.mkdir(parents=True, exist_ok=True)
            dest = (
                saved_dir
                / f"case{o.index:06d}-{_slug(o.kind if o.bad else 'known_' + str(o.known))}.tif"
            )
            dest.write_bytes(inputs[o.index])
            meta = {"kind": o.kind, "message": o.message, "detail": o.detail}
            if labels is not None:
                meta["label"] = labels[o.index]
            dest.with_suffix(".json").write_text(json.dumps(meta, indent=1))
            report.saved[o.index] = dest
    return report


def _confirm(outcome: Outcome, data: bytes, timeout: float, rlimit: int, ceiling: int) -> None:
    """Run a timed-out case again alone; if it finishes, record that outcome as slow."""
    again = run_cases(
        [data], timeout=timeout, rlimit=rlimit, ceiling=ceiling, confirm_timeout=None
    ).outcomes[0]
    if again.kind == "timeout":
        outcome.detail = f"no result after {timeout} s when run again alone"
        outcome.message = outcome.detail
        return
    outcome.kind, outcome.detail, outcome.message = again.kind, again.detail, again.message
    outcome.seconds, outcome.slow = again.seconds, True


def _slug(kind: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in kind)[:40]


@dataclass
class _Limits:
    """What a child runs under: the per-case timeout, the address space, the settings."""

    timeout: float
    rlimit: int
    ceiling: int


def _run_child(
    case_list: Path, start: int, total: int, results: dict[int, Outcome], limits: _Limits
) -> int:
    """Run cases from ``start`` in one child; return where the next child must resume."""
    env = dict(os.environ, MALLOC_ARENA_MAX="2", PYTHONFAULTHANDLER="1")
    stderr_path = case_list.parent / f"stderr-{start}.txt"
    argv = [str(case_list), str(start), str(limits.rlimit), str(limits.ceiling)]
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, __file__, *argv],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            start_new_session=True,
        )
    try:
        return _Child(proc, stderr_path, results, limits.timeout, start).watch(total)
    finally:
        assert proc.stdout is not None
        proc.stdout.close()
        if proc.poll() is None:
            _kill(proc)


class _Child:
    """The parent's view of one running child: the case it is on, and its deadline."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        stderr_path: Path,
        results: dict[int, Outcome],
        timeout: float,
        start: int,
    ) -> None:
        self.proc, self.stderr_path, self.results = proc, stderr_path, results
        self.timeout = timeout
        self.current: int | None = None
        self.resume = start
        self.began = time.monotonic()
        self.deadline = self.began + 60.0 + timeout  # interpreter start and imports

    def watch(self, total: int) -> int:
        """Read the child's reports until it ends; return where the next child must resume."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        pending = b""
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while True:
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    return self._timed_out()
                if not sel.select(remaining):
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    return self._exited()
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if self._report(json.loads(line), total):
                        _kill(self.proc)
                        return total

    def _report(self, msg: dict[str, Any], total: int) -> bool:
        """Take one line of the child's; True once the last case is done."""
        if msg["op"] == "start":
            self.current = msg["index"]
            self.began = time.monotonic()
            self.deadline = self.began + self.timeout
            return False
        index = msg["index"]
        self.results[index] = Outcome(
            index, msg["kind"], msg["detail"], msg["seconds"], msg["message"]
        )
        self.current = None
        self.resume = index + 1
        return bool(index == total - 1)

    def _timed_out(self) -> int:
        if self.current is None:  # the child never started a case
            raise RuntimeError(f"fuzz child did not start: {_tail(self.stderr_path)}")
        _kill(self.proc)
        why = f"no result after {self.timeout} s"
        self.results[self.current] = Outcome(self.current, "timeout", why, self.timeout, why)
        return self.current + 1

    def _exited(self) -> int:
        rc = self.proc.wait()
        if self.current is None:
            if rc == 0:  # finished, or left after a MemoryError: resume after it
                return self.resume
            raise RuntimeError(f"fuzz child failed (rc {rc}): {_tail(self.stderr_path)}")
        kind = f"signal:{signal.Signals(-rc).name}" if rc < 0 else f"exit:{rc}"
        tail = _tail(self.stderr_path)
        last = tail.strip().splitlines()[-1] if tail.strip() else ""
        seconds = time.monotonic() - self.began
        self.results[self.current] = Outcome(self.current, kind, tail, seconds, f"{kind}: {last}")
        return self.current + 1


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child this harness started (its own session), and reap it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _tail(path: Path, n: int = 8000) -> str:
    try:
        return path.read_bytes()[-n:].decode("utf-8", "replace")
    except OSError:
        return ""


# -- child --------------------------------------------------------------------


def _child_main(case_list: str, start: int, rlimit: int, ceiling: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (rlimit, rlimit))
    import warnings

    warnings.simplefilter("ignore")
    import obstore
    import trio
    from obstore.store import MemoryStore

    import trio_geotiff  # noqa: F401 - imported before the first case's clock starts

    paths = Path(case_list).read_text().split()
    out = sys.stdout.buffer

    def send(msg: dict[str, Any]) -> None:
        out.write(json.dumps(msg).encode() + b"\n")
        out.flush()

    async def main() -> None:
        store = MemoryStore()
        if ceiling == SIDECAR_SETTINGS:
            obstore.put(store, SIDECAR_MAIN, _sidecar_main())
        for index in range(start, len(paths)):
            send({"op": "start", "index": index})
            data = Path(paths[index]).read_bytes()  # noqa: ASYNC240 - a local file, between cases
            t0 = time.monotonic()
            if ceiling == SIDECAR_SETTINGS:
                for suffix in (".ovr", ".msk", ".aux.xml"):
                    obstore.put(store, SIDECAR_MAIN + suffix, data)
                case = exercise(store, SIDECAR_MAIN, DEFAULT_SETTINGS, sidecars=True)
            else:
                obstore.put(store, "x.tif", data)
                case = exercise(store, "x.tif", ceiling)
            kind, detail, message = await _classify(case)
            send(
                {
                    "op": "done",
                    "index": index,
                    "kind": kind,
                    "detail": detail,
                    "message": message,
                    "seconds": time.monotonic() - t0,
                }
            )
            if kind == "memory":
                # The address space may be fragmented or half-exhausted: start afresh.
                os._exit(0)

    trio.run(main)


async def _classify(case: Coroutine[Any, Any, None]) -> tuple[str, str, str]:
    """Run one case: (kind, detail, message) of what happened."""
    from trio_geotiff.errors import GeoTIFFError

    try:
        await case
    except GeoTIFFError as exc:
        hidden = _hidden_bug(exc)
        if hidden is not None:  # a library error wrapped around one of ours
            return f"nonlib:wrapped:{type(hidden).__name__}", _describe(exc), _message(hidden)
        return f"lib:{type(exc).__name__}", str(exc)[:300], ""
    except MemoryError as exc:  # numpy's _ArrayMemoryError, or a bare MemoryError
        return "memory", _describe(exc), _message(exc)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a bug: Cancelled, a bare group, ValueError...
        return f"nonlib:{type(exc).__name__}", _describe(exc), _message(exc)
    return "ok", "", ""


_BUG_TYPES = (
    AttributeError,
    TypeError,
    IndexError,
    KeyError,
    AssertionError,
    NameError,
    ZeroDivisionError,
    OverflowError,
    RecursionError,
)
"""Causes that make a library error a wrapped bug (ValueError is left out: codecs raise it)."""


def _hidden_bug(exc: BaseException) -> BaseException | None:
    """A programming error or a numpy MemoryError in ``exc``'s cause chain, if any.

    A catch-all that turns every exception into `CorruptFileError` would hide
    them (issue 10). Codec and store errors are causes the library may wrap,
    and a MemoryError under a `ResourceLimitError`.
    """
    from trio_geotiff.errors import ResourceLimitError

    # An allocation failure is reported as ResourceLimitError (from the MemoryError).
    memory_ok = isinstance(exc, ResourceLimitError)
    seen: set[int] = set()
    cause = exc.__cause__ or exc.__context__
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, _BUG_TYPES) or (isinstance(cause, MemoryError) and not memory_ok):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _describe(exc: BaseException) -> str:
    tb = traceback.format_exception(exc)
    return "".join(tb)[-3000:]


def _message(exc: BaseException) -> str:
    """``Type: message``; for an exception group, also the leaves it holds."""
    text = f"{type(exc).__name__}: {str(exc)[:300]}"
    if isinstance(exc, BaseExceptionGroup):
        leaves: list[str] = []
        todo: list[BaseException] = list(exc.exceptions)
        while todo and len(leaves) < 5:
            leaf = todo.pop(0)
            if isinstance(leaf, BaseExceptionGroup):
                todo = list(leaf.exceptions) + todo
            else:
                leaves.append(f"{type(leaf).__name__}: {str(leaf)[:200]}")
        text += " [leaves: " + "; ".join(leaves) + "]"
    return text


def _sidecar_main() -> bytes:
    """A valid 64x64 uint8 file without overviews or mask: its sidecars would be used."""
    # The child runs as a script: make ``fuzz`` importable as under pytest.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fuzz.crafted import build, gray

    return build([gray(64, 64)], bytes(i % 251 for i in range(64 * 64)))


async def exercise(store: Any, path: str, ceiling: int, *, sidecars: bool = False) -> None:
    """Open, touch every metadata property, read the image (or a window) and each overview.

    ``ceiling`` is the ``max_decoded_bytes`` to open with, or `DEFAULT_SETTINGS`.
    """
    from trio_geotiff import ColorInterp, GeoTIFF

    options: dict[str, Any] = {"sidecars": sidecars}
    if ceiling != DEFAULT_SETTINGS:
        options["max_decoded_bytes"] = ceiling
    tif = await GeoTIFF.open(path, store=store, **options)
    repr(tif)
    for name in (
        "width",
        "height",
        "shape",
        "count",
        "indexes",
        "dtype",
        "crs",
        "nodata",
        "transform",
        "res",
        "bounds",
        "block_shapes",
        "is_tiled",
        "overviews",
        "georeferenced",
        "gcps",
        "compression",
        "interleaving",
        "photometric",
        "colorinterp",
        "scales",
        "offsets",
        "descriptions",
        "units",
    ):
        getattr(tif, name)
    if tif.crs is not None:
        tif.crs.to_wkt()
    tif.tags()
    tif.tags(ns="IMAGE_STRUCTURE")
    tif.tags(1)
    tif.xy(0, 0)
    tif.statistics()
    if tif.colorinterp and tif.colorinterp[0] is ColorInterp.palette:
        tif.colormap(1)
    await _read(tif)
    await _other_reads(tif)
    for ov in tif.overviews:
        repr(ov)
        ov.transform, ov.bounds, ov.block_shapes, ov.res  # noqa: B018 - touched for errors
        await _read(ov)


async def _other_reads(raster: Any) -> None:
    """The other read paths, on band 1: corner tiles, a tile stream, a boundless masked read."""
    from trio_geotiff import Window

    across, down = raster.tile_count
    corners = list(dict.fromkeys([(0, 0), (across - 1, down - 1), (across - 1, 0), (0, down - 1)]))
    # Only blocks whose output a caller could hold: a strip of a 2^31-wide image is not read.
    tiles = [xy for xy in corners if _nbytes(raster.tile_window(*xy), raster) <= READ_BUDGET]
    if tiles:
        await raster.fetch_tiles(tiles, indexes=1)
        async with raster.open_tile_stream(tiles[:3], indexes=1, batch=2) as stream:
            async for _ in stream:
                pass
    await raster.read(window=Window(-4, -4, 16, 16), indexes=1, boundless=True, masked=True)


def _nbytes(window: Any, raster: Any) -> int:
    return int(window.width * window.height * raster.dtype.itemsize)


async def _read(raster: Any) -> None:
    from trio_geotiff import Window

    nbytes = raster.count * raster.width * raster.height * raster.dtype.itemsize
    if nbytes <= READ_BUDGET:
        arr = await raster.read()
        shape = (raster.count, raster.height, raster.width)
    else:
        w, h = min(raster.width, WINDOW), min(raster.height, WINDOW)
        arr = await raster.read(window=Window(raster.width - w, raster.height - h, w, h), indexes=1)
        shape = (1, h, w)
    if arr.data.shape != shape or arr.data.dtype != raster.dtype:
        raise AssertionError(
            f"read returned {arr.data.shape} {arr.data.dtype}, expected {shape} {raster.dtype}"
        )


if __name__ == "__main__":
    _child_main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
