"""Real loopback servers for tests: a range-capable HTTP file server with faults, and moto S3.

* `serve_http(root)` -> `HTTPServerHandle` (see `http_range`).
* `serve_s3()` -> `S3Handle` (see `s3`).
"""

from __future__ import annotations

from .http_range import FaultConfig, HTTPServerHandle, HTTPStats, RequestRecord, serve_http
from .s3 import S3Handle, serve_s3

__all__ = [
    "FaultConfig",
    "HTTPServerHandle",
    "HTTPStats",
    "RequestRecord",
    "S3Handle",
    "serve_http",
    "serve_s3",
]
