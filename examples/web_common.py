"""What the web examples (fastapi_app.py, trio_web_app.py) share: config, errors, encoding."""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import obstore.store
from PIL import Image

from trio_geotiff.errors import (
    GeoTIFFError,
    InvalidArgumentError,
    ObjectNotFoundError,
    ResourceLimitError,
)

if TYPE_CHECKING:
    from obstore.store import ClientConfig

MEDIA_TYPES = {"png": "image/png", "npy": "application/octet-stream"}


def encode(data: np.ndarray, fmt: str) -> bytes:
    """``(bands, rows, cols)`` pixels as a PNG (uint8, 1/3/4 bands) or a ``.npy`` file.

    CPU work: call it in a worker thread, not on the event loop.

    Raises:
        InvalidArgumentError: A PNG of pixels PNG cannot hold.
    """
    buffer = io.BytesIO()
    if fmt == "npy":
        np.save(buffer, data, allow_pickle=False)
        return buffer.getvalue()
    if data.dtype != np.uint8 or data.shape[0] not in (1, 3, 4):
        raise InvalidArgumentError("", "PNG needs 1, 3 or 4 uint8 bands: ask for .npy")
    pixels = data[0] if data.shape[0] == 1 else np.moveaxis(data, 0, -1)
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG")
    return buffer.getvalue()


def store_from_env() -> Any:
    """The obstore store named by ``COG_STORE_URL`` (``COG_ALLOW_HTTP=1`` for plain http)."""
    options: ClientConfig | None = None
    if os.environ.get("COG_ALLOW_HTTP") == "1":
        options = {"allow_http": True}
    return obstore.store.from_url(os.environ["COG_STORE_URL"], client_options=options)


def concurrency_from_env() -> int:
    """``COG_CONCURRENCY``: requests and decodes in flight for the process (default 16)."""
    return int(os.environ.get("COG_CONCURRENCY", "16"))


def http_status(exc: GeoTIFFError) -> int:
    """The HTTP status for a library error: the client's fault (4xx) or the store's (502)."""
    if isinstance(exc, InvalidArgumentError):
        return 400
    if isinstance(exc, ObjectNotFoundError):
        return 404
    if isinstance(exc, ResourceLimitError):
        return 413
    return 502
