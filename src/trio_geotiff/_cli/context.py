"""What every sub-command shares: the program name, its error type, its output streams."""

from __future__ import annotations

from typing import IO, Final

__all__ = ["PROG", "CLIError", "Context"]

PROG: Final = "trio-geotiff"


class CLIError(Exception):
    """A user-facing error of the command line itself: printed as one line, exit status 1."""


class Context:
    """What the commands write to: stdout and stderr (replaceable in tests)."""

    def __init__(self, stdout: IO[str], stderr: IO[str]) -> None:
        """Write results to ``stdout``, progress to ``stderr``."""
        self.stdout = stdout
        self.stderr = stderr

    def out(self, text: str = "") -> None:
        """Write a line to stdout."""
        self.stdout.write(text + "\n")
