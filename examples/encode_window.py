"""Pixels to bytes for the web examples (fastapi_app.py, trio_web_app.py)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from trio_geotiff.errors import InvalidArgumentError

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
