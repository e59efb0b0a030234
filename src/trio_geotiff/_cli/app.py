"""`main`: parse the arguments, run the sub-command under trio, turn an error into one line."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import IO

import trio

from trio_geotiff.errors import GeoTIFFError, ObjectNotFoundError

from .context import PROG, CLIError, Context
from .parser import build_parser
from .stores import NO_SUCH_FILE

__all__ = ["error_message", "main"]

# Errors that describe the user's input or environment: their message alone is
# enough. Anything else is a bug, and says its type.
_EXPECTED = (CLIError, GeoTIFFError, OSError, ValueError)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0].strip() if text else ""
    return line or type(exc).__name__


def _geotiff_message(exc: GeoTIFFError, target: str | None) -> str:
    reason = _first_line(Exception(exc.reason))
    if isinstance(exc, ObjectNotFoundError) and exc.reason != NO_SUCH_FILE:
        reason = "not found"  # obstore's text repeats the URL and the server's answer
    # The library names its keyword arguments; the CLI has flags for them.
    reason = reason.replace("pass boundless=True", "pass --boundless")
    if target is not None and exc.path:
        name = target.rstrip("/").rsplit("/", 1)[-1]
        base = Path(exc.path).name
        if base.startswith(name):  # the file, or one of its sidecars
            return f"{target}{base[len(name) :]}: {reason}"
    return f"{exc.path}: {reason}" if exc.path else reason


def error_message(exc: BaseException, target: str | None) -> str:
    """The one-line message for an error, naming the file as the user named it."""
    if isinstance(exc, GeoTIFFError):
        return _geotiff_message(exc, target)
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return _first_line(exc)


def _parse(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, ctx: Context
) -> int | argparse.Namespace:
    try:
        # argparse prints --help, --version and usage errors to sys.stdout/stderr.
        with contextlib.redirect_stdout(ctx.stdout), contextlib.redirect_stderr(ctx.stderr):
            return parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else 2


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run the ``trio-geotiff`` command; return the exit status.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).
        stdout: Where results go (default: ``sys.stdout``).
        stderr: Where progress and errors go (default: ``sys.stderr``).

    Returns:
        0 on success, 1 after an error (printed as one line on ``stderr``),
        2 for a usage error, 130 when interrupted (Ctrl-C).
        ``TRIO_GEOTIFF_DEBUG=1`` in the environment re-raises errors instead,
        with their traceback.
    """
    ctx = Context(stdout or sys.stdout, stderr or sys.stderr)
    args = _parse(build_parser(), argv, ctx)
    if isinstance(args, int):
        return args
    command: Callable[[argparse.Namespace, Context], Awaitable[None]] = args.func
    try:
        trio.run(command, args, ctx)
    except KeyboardInterrupt:
        ctx.stderr.write(f"{PROG}: interrupted\n")
        return 130
    except Exception as exc:
        # Every library coroutine raises one exception, never a group: no unwrapping here.
        if os.environ.get("TRIO_GEOTIFF_DEBUG"):
            raise
        message = error_message(exc, getattr(args, "path", None))
        if not isinstance(exc, _EXPECTED):
            message = f"{type(exc).__name__}: {message} (set TRIO_GEOTIFF_DEBUG=1 for a traceback)"
        ctx.stderr.write(f"{PROG}: error: {message}\n")
        return 1
    finally:
        with contextlib.suppress(Exception):
            ctx.stdout.flush()
    return 0
