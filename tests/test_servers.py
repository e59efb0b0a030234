"""Tests of the loopback test servers in `tests/servers`, through obstore's sync API.

They also pin down the obstore behaviour the reader relies on: one `Range`
request per (coalesced) range, `HEAD` for `head`, retries of 5xx and broken
bodies unless ``retry_config={"max_retries": 0}``, and the errors raised.
Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import obstore
import pytest
from obstore.exceptions import GenericError, NotSupportedError, PermissionDeniedError
from obstore.store import HTTPStore

from servers import HTTPServerHandle, S3Handle, serve_http, serve_s3  # tests/ is on sys.path

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from obstore.store import RetryConfig

pytestmark = pytest.mark.network

SIZE = 3_000_000
NO_RETRY: RetryConfig = {"max_retries": 0}
QUICK_RETRY: RetryConfig = {
    "max_retries": 3,
    "backoff": {
        "init_backoff": timedelta(milliseconds=10),
        "max_backoff": timedelta(milliseconds=50),
    },
    "retry_timeout": timedelta(seconds=5),
}


@pytest.fixture(scope="module")
def data() -> bytes:
    return os.urandom(SIZE)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> Path:
    path = tmp_path_factory.mktemp("http_root")
    (path / "a.bin").write_bytes(data)
    (path / "sub dir").mkdir()
    (path / "sub dir" / "b.bin").write_bytes(data[:1000])
    return path


@pytest.fixture
def server(root: Path) -> Iterator[HTTPServerHandle]:
    with serve_http(root) as handle:
        yield handle


def http_store(handle: HTTPServerHandle, retry: RetryConfig = NO_RETRY) -> HTTPStore:
    return HTTPStore.from_url(
        handle.url, client_options={"allow_http": True, "timeout": "5s"}, retry_config=retry
    )


def raw_get(
    handle: HTTPServerHandle, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """GET with `http.client`: (status, headers, body)."""
    conn = http.client.HTTPConnection(handle.host, handle.port, timeout=2)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


# --- ranges -----------------------------------------------------------------


def test_get_range_is_one_range_request(server: HTTPServerHandle, data: bytes) -> None:
    got = obstore.get_range(http_store(server), "a.bin", start=10, end=110)
    assert bytes(got) == data[10:110]
    stats = server.stats()
    assert [(r.method, r.range, r.status) for r in stats.requests] == [("GET", "bytes=10-109", 206)]
    assert stats.requests_total == 1
    assert stats.requests_by_path == {"a.bin": 1}
    assert stats.bytes_sent == 100


def test_get_range_past_end_is_clamped(server: HTTPServerHandle, data: bytes) -> None:
    got = obstore.get_range(http_store(server), "a.bin", start=SIZE - 10, end=SIZE + 100)
    assert bytes(got) == data[-10:]


def test_get_range_quoted_path(server: HTTPServerHandle, data: bytes) -> None:
    got = obstore.get_range(http_store(server), "sub dir/b.bin", start=0, end=50)
    assert bytes(got) == data[:50]


def test_get_ranges_coalesces_near_ranges(server: HTTPServerHandle, data: bytes) -> None:
    store = http_store(server)
    starts, ends = [0, 5000, 2_500_000], [100, 6000, 2_500_100]
    got = obstore.get_ranges(store, "a.bin", starts=starts, ends=ends)
    assert [bytes(b) for b in got] == [data[s:e] for s, e in zip(starts, ends, strict=True)]
    assert sorted(r.range or "" for r in server.stats().requests) == [
        "bytes=0-5999",
        "bytes=2500000-2500099",
    ]
    server.reset()
    obstore.get_ranges(store, "a.bin", starts=[0, 5000], ends=[100, 6000], coalesce=0)
    assert sorted(r.range or "" for r in server.stats().requests) == [
        "bytes=0-99",
        "bytes=5000-5999",
    ]


def test_get_ranges_runs_requests_concurrently(server: HTTPServerHandle, data: bytes) -> None:
    server.faults.set(latency=0.1)
    starts = [i * 200_000 for i in range(12)]
    got = obstore.get_ranges(
        http_store(server), "a.bin", starts=starts, lengths=[10] * 12, coalesce=0
    )
    assert [bytes(b) for b in got] == [data[s : s + 10] for s in starts]
    stats = server.stats()
    assert stats.requests_total == 12
    assert 2 <= stats.max_in_flight <= 10  # obstore runs at most 10 at once
    # a request leaves `in_flight` just after its last byte is sent
    assert server.wait_for(lambda s: s.in_flight == 0).in_flight == 0


def test_head_uses_head(server: HTTPServerHandle) -> None:
    meta = obstore.head(http_store(server), "a.bin")
    assert meta["size"] == SIZE
    assert meta["e_tag"] is not None
    assert [r.method for r in server.stats().requests] == ["HEAD"]
    assert server.stats().bytes_sent == 0


def test_full_get(server: HTTPServerHandle, data: bytes) -> None:
    result = obstore.get(http_store(server), "a.bin")
    assert bytes(result.bytes()) == data
    assert server.stats().requests[0].range is None


def test_raw_range_forms(server: HTTPServerHandle, data: bytes) -> None:
    status, headers, body = raw_get(server, "/a.bin", {"Range": "bytes=-10"})
    assert (status, body) == (206, data[-10:])
    assert headers["Content-Range"] == f"bytes {SIZE - 10}-{SIZE - 1}/{SIZE}"
    status, _, body = raw_get(server, "/sub%20dir/b.bin", {"Range": "bytes=990-"})
    assert (status, body) == (206, data[990:1000])
    status, _, body = raw_get(server, "/sub%20dir/b.bin", {"Range": "bytes=0-1,5-6"})
    assert (status, body) == (200, data[:1000])  # multi-range: whole file
    status, headers, _ = raw_get(server, "/a.bin", {"Range": f"bytes={SIZE}-"})
    assert (status, headers["Content-Range"]) == (416, f"bytes */{SIZE}")
    assert raw_get(server, "/../etc/passwd")[0] == 404


def test_missing_file(server: HTTPServerHandle) -> None:
    with pytest.raises(FileNotFoundError):
        obstore.get_range(http_store(server), "nope.bin", start=0, end=10)


# --- faults -----------------------------------------------------------------


def test_status_500_raises_without_retries(server: HTTPServerHandle) -> None:
    server.faults.set(status=500)
    with pytest.raises(GenericError, match="500"):
        obstore.get_range(http_store(server), "a.bin", start=0, end=10)
    assert server.stats().requests_total == 1


def test_status_500_for_n_requests_then_recovers(server: HTTPServerHandle, data: bytes) -> None:
    server.faults.set(status=500, status_times=2)
    got = obstore.get_range(http_store(server, QUICK_RETRY), "a.bin", start=0, end=10)
    assert bytes(got) == data[:10]
    assert [r.status for r in server.stats().requests] == [500, 500, 206]
    assert server.faults.status is None


def test_status_403_and_404(server: HTTPServerHandle) -> None:
    store = http_store(server, QUICK_RETRY)  # 4xx are not retried
    server.faults.set(status=403)
    with pytest.raises(PermissionDeniedError):
        obstore.get_range(store, "a.bin", start=0, end=10)
    server.faults.set(status=404)
    with pytest.raises(FileNotFoundError):
        obstore.head(store, "a.bin")
    assert server.stats().requests_total == 2


def test_truncated_body_raises(server: HTTPServerHandle) -> None:
    server.faults.set(truncate_to=5)
    with pytest.raises(GenericError, match="body"):
        obstore.get_range(http_store(server), "a.bin", start=0, end=100)
    stats = server.stats()
    assert (stats.truncated, stats.bytes_sent) == (1, 5)


def test_truncated_body_is_resumed_by_retry(server: HTTPServerHandle, data: bytes) -> None:
    server.faults.set(truncate_to=5, truncate_times=1)
    got = obstore.get_range(http_store(server, QUICK_RETRY), "a.bin", start=0, end=100)
    assert bytes(got) == data[:100]
    # obstore asks only for the rest of the range
    assert [r.range for r in server.stats().requests] == ["bytes=0-99", "bytes=5-99"]


def test_dropped_connection_raises(server: HTTPServerHandle) -> None:
    server.faults.set(drop_after=1000)
    with pytest.raises(GenericError):
        obstore.get_range(http_store(server), "a.bin", start=0, end=100_000)
    assert server.stats().dropped == 1


def test_dropped_connection_is_retried(server: HTTPServerHandle, data: bytes) -> None:
    server.faults.set(drop_after=1000, drop_times=1)
    got = obstore.get_range(http_store(server, QUICK_RETRY), "a.bin", start=0, end=100_000)
    assert bytes(got) == data[:100_000]
    assert server.stats().requests_total == 2


def test_wrong_content_range_raises(server: HTTPServerHandle) -> None:
    server.faults.set(content_range_shift=1)
    with pytest.raises(GenericError, match=re.escape("Requested 0..10, got 1..11")):
        obstore.get_range(http_store(server), "a.bin", start=0, end=10)


def test_ignored_range_raises_not_supported(server: HTTPServerHandle) -> None:
    server.faults.set(ignore_range=True)
    with pytest.raises(NotSupportedError):
        obstore.get_range(http_store(server), "sub dir/b.bin", start=0, end=10)


def test_latency(server: HTTPServerHandle) -> None:
    server.faults.set(latency=0.2)
    began = time.monotonic()
    obstore.get_range(http_store(server), "a.bin", start=0, end=10)
    assert time.monotonic() - began >= 0.2


def test_throttle(server: HTTPServerHandle, data: bytes) -> None:
    server.faults.set(throttle_bps=200_000)
    began = time.monotonic()
    got = obstore.get_range(http_store(server), "a.bin", start=0, end=50_000)
    assert time.monotonic() - began >= 0.2
    assert bytes(got) == data[:50_000]


def test_only_path(server: HTTPServerHandle, data: bytes) -> None:
    server.faults.set(status=500, only_path="a.bin")
    store = http_store(server)
    assert bytes(obstore.get_range(store, "sub dir/b.bin", start=0, end=10)) == data[:10]
    with pytest.raises(GenericError):
        obstore.get_range(store, "a.bin", start=0, end=10)


def test_aborted_connection_is_counted(server: HTTPServerHandle) -> None:
    server.faults.set(throttle_bps=100_000)
    conn = http.client.HTTPConnection(server.host, server.port, timeout=2)
    conn.request("GET", "/a.bin", headers={"Range": "bytes=0-99999"})
    resp = conn.getresponse()
    assert len(resp.read(100)) == 100
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    stats = server.wait_for(lambda s: s.aborted >= 1 and s.in_flight == 0, timeout=1.5)
    assert stats.bytes_sent < 100_000


def test_reset(server: HTTPServerHandle) -> None:
    server.faults.set(status=500, latency=0.01)
    with pytest.raises(GenericError):
        obstore.head(http_store(server), "a.bin")
    server.reset()
    assert server.faults.status is None
    assert server.faults.latency == 0
    assert server.stats().requests_total == 0
    obstore.head(http_store(server), "a.bin")
    assert server.stats().requests_total == 1


def test_server_stops_on_exit(root: Path) -> None:
    with serve_http(root) as handle:
        conn = http.client.HTTPConnection(handle.host, handle.port, timeout=2)
        try:
            conn.request("GET", "/sub%20dir/b.bin")
            assert len(conn.getresponse().read()) == 1000  # keep-alive: stays open
            port = handle.port
        finally:
            conn.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


# --- S3 (moto) --------------------------------------------------------------


@pytest.fixture(scope="module")
def s3(root: Path) -> Iterator[S3Handle]:
    with serve_s3() as handle:
        handle.upload("dir/a.bin", root / "a.bin")
        yield handle


def test_s3_get_range(s3: S3Handle, data: bytes) -> None:
    store = s3.store(retry_config=NO_RETRY)
    assert bytes(obstore.get_range(store, "dir/a.bin", start=0, end=100)) == data[:100]
    assert (
        bytes(obstore.get_range(store, "dir/a.bin", start=SIZE - 10, end=SIZE + 10)) == data[-10:]
    )


def test_s3_get_ranges_and_head(s3: S3Handle, data: bytes) -> None:
    store = s3.store(retry_config=NO_RETRY)
    starts, ends = [0, 5000, 2_500_000], [100, 6000, 2_500_100]
    got = obstore.get_ranges(store, "dir/a.bin", starts=starts, ends=ends)
    assert [bytes(b) for b in got] == [data[s:e] for s, e in zip(starts, ends, strict=True)]
    meta = obstore.head(store, "dir/a.bin")
    assert meta["size"] == SIZE
    assert meta["e_tag"]


def test_s3_prefix_and_missing(s3: S3Handle, data: bytes) -> None:
    s3.put_bytes("dir/small.bin", data[:10])
    store = s3.store(prefix="dir", retry_config=NO_RETRY)
    assert bytes(obstore.get_range(store, "small.bin", start=2, end=8)) == data[2:8]
    with pytest.raises(FileNotFoundError):
        obstore.get_range(store, "nope.bin", start=0, end=10)
