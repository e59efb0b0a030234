"""A loopback S3-compatible server (moto's server mode), for tests.

`serve_s3()` starts `moto.server.ThreadedMotoServer` on 127.0.0.1 with a free
port, creates a fresh bucket, and yields an `S3Handle` that uploads files with
boto3 and builds `obstore.store.S3Store` instances pointed at it (path-style
requests over plain HTTP, dummy credentials). On exit the bucket is emptied and
deleted and the server is stopped, with every wait bounded.

moto keeps its state per process, shared by every server started in it; each
handle therefore uses its own bucket name. Nothing here touches an address other
than 127.0.0.1. `S3Store` retries 5xx answers and connection errors by default
(10 times); pass ``retry_config={"max_retries": 0}`` to `S3Handle.store` to
turn that off.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from obstore.store import ClientConfig, RetryConfig, S3Store

__all__ = ["S3Handle", "serve_s3"]

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"


class S3Handle:
    """A running `serve_s3` server with one bucket."""

    def __init__(self, endpoint: str, bucket: str) -> None:
        import boto3

        self.endpoint: str = endpoint
        self.bucket: str = bucket
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def upload(self, key: str, local_file: Path | str) -> None:
        """Upload `local_file` to `key` in the bucket."""
        self.client.upload_file(str(local_file), self.bucket, key)

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store `data` at `key` in the bucket."""
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def store(
        self,
        *,
        retry_config: RetryConfig | None = None,
        client_options: ClientConfig | None = None,
        prefix: str | None = None,
    ) -> S3Store:
        """Return an `S3Store` for the bucket (plain HTTP, path-style, dummy credentials).

        `client_options` are merged over ``{"allow_http": True}``.
        """
        from obstore.store import S3Store

        options: ClientConfig = {"allow_http": True}
        if client_options:
            options.update(client_options)
        return S3Store(
            self.bucket,
            prefix=prefix,
            endpoint=self.endpoint,
            region=REGION,
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
            virtual_hosted_style_request=False,
            skip_signature=False,
            client_options=options,
            retry_config=retry_config,
        )

    def _empty_and_delete(self) -> None:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
        self.client.delete_bucket(Bucket=self.bucket)


@contextlib.contextmanager
def serve_s3(*, bucket: str | None = None, stop_timeout: float = 5.0) -> Iterator[S3Handle]:
    """Run a moto S3 server on http://127.0.0.1:<free port> with a new bucket until the block exits."""
    from moto.server import ThreadedMotoServer

    access_log = logging.getLogger("werkzeug")  # moto's server logs each request there
    old_level = access_log.level
    access_log.setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        handle = S3Handle(f"http://{host}:{port}", bucket or f"test-{uuid.uuid4().hex[:16]}")
        handle.client.create_bucket(Bucket=handle.bucket)
        try:
            yield handle
        finally:
            with contextlib.suppress(Exception):
                handle._empty_and_delete()
            handle.client.close()
    finally:
        # `stop()` joins the server thread without a timeout; bound it here.
        stopper = threading.Thread(target=server.stop, name="serve_s3-stop", daemon=True)
        stopper.start()
        stopper.join(stop_timeout)
        access_log.setLevel(old_level)
