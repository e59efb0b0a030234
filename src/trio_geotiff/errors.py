"""Exceptions raised by trio_geotiff.

Every error the library raises derives from `GeoTIFFError`, and each carries the
path of the object it concerns. The hierarchy:

* `GeoTIFFError`
    * `NotATIFFError` (also a `ValueError`): the object is not a TIFF at all.
    * `CorruptFileError` (also a `ValueError`): the bytes break the TIFF rules.
    * `UnsupportedError` (also a `NotImplementedError`): valid, but not readable here.
    * `InvalidArgumentError` (also a `ValueError`): an argument the call cannot take.
        * `InvalidWindowError`: a window, band or tile index that does not fit.
    * `ResourceLimitError` (also a `MemoryError`): a read above the decoded-bytes ceiling.
    * `StoreError` (also an `OSError`): the object store failed.
        * `ObjectNotFoundError` (also a `FileNotFoundError`).
    * `EventLoopError` (also a `RuntimeError`): called outside trio/asyncio, from
      another event loop than the file was opened in, or with a limiter of the
      wrong kind.
"""

from __future__ import annotations

__all__ = [
    "CorruptFileError",
    "EventLoopError",
    "GeoTIFFError",
    "InvalidArgumentError",
    "InvalidWindowError",
    "NotATIFFError",
    "ObjectNotFoundError",
    "ResourceLimitError",
    "StoreError",
    "UnsupportedError",
]


class GeoTIFFError(Exception):
    """Root of every error raised by trio_geotiff.

    Attributes:
        path: The path of the object the error concerns ("" when there is none).
        reason: What was wrong, without the path.
    """

    def __init__(self, path: str, reason: str) -> None:
        """Make the error; the message is ``"{path}: {reason}"``."""
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path else reason)

    def __reduce__(self) -> tuple[type[GeoTIFFError], tuple[str, str]]:
        """Pickle support."""
        # Exceptions with a custom __init__ need this to survive pickling
        # (subprocess-based tools and multiprocessing pass them around).
        return (type(self), (self.path, self.reason))


class NotATIFFError(GeoTIFFError, ValueError):
    """The object does not start with a TIFF or BigTIFF header."""


class CorruptFileError(GeoTIFFError, ValueError):
    """The file breaks the TIFF rules: truncated, looping, or inconsistent."""


class UnsupportedError(GeoTIFFError, NotImplementedError):
    """The file is valid but uses a feature this library does not read."""


class InvalidArgumentError(GeoTIFFError, ValueError):
    """An argument the call cannot take (a band without a colormap, bad options)."""


class InvalidWindowError(InvalidArgumentError):
    """A window, band index or tile index does not fit the image."""


class ResourceLimitError(GeoTIFFError, MemoryError):
    """A read would decode more bytes than the configured ceiling allows, or memory ran out."""


class StoreError(GeoTIFFError, OSError):
    """The object store failed to deliver the bytes asked for."""


class ObjectNotFoundError(StoreError, FileNotFoundError):
    """The object does not exist in the store."""


class EventLoopError(GeoTIFFError, RuntimeError):
    """Used outside an event loop, from another loop than the file's, or with a wrong limiter.

    A `GeoTIFF` belongs to the event loop it was opened in (its limiter, cache
    waiters and in-flight requests live there): open it again in the other loop.
    """
