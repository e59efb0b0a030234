"""A loopback HTTP/1.1 file server with byte ranges and switchable faults, for tests.

It serves the files under one directory to `obstore.store.HTTPStore` (or any
HTTP client) so that the reader can be tested against a real socket instead of
a mock: `GET` with a single `Range: bytes=a-b` (also `a-` and `-n`) answers
`206` with `Content-Range`; no range, or a multi-range header, answers `200`
with the whole file (RFC 9110 lets a server ignore `Range`); a range starting
past the end answers `416`. `HEAD` answers the same headers without a body.
Every response carries `Content-Length`, `Accept-Ranges`, `ETag` and
`Last-Modified`.

`FaultConfig` switches misbehaviour on and off while the server runs (latency,
a throttled body, status overrides, a reset mid-body, a short body, a wrong
`Content-Range`, ignoring `Range`), and `HTTPStats` counts what the server saw.

The server binds 127.0.0.1 on a free port, runs in daemon threads, and stops
when the `serve_http` context exits; nothing here touches any other address.

obstore note: the HTTP client retries 5xx answers, connection errors and
dropped bodies (up to 10 times, backoff from 100 ms, for up to 3 minutes).
Build the store with ``retry_config={"max_retries": 0}`` to see a fault as an
exception at once, e.g.
``HTTPStore.from_url(handle.url, client_options={"allow_http": True},
retry_config={"max_retries": 0})``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import http.server
import socket
import struct
import sys
import threading
import time
from collections import Counter, deque
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = [
    "FaultConfig",
    "HTTPServerHandle",
    "HTTPStats",
    "RequestRecord",
    "serve_http",
]

_CHUNK = 64 * 1024
_UNSET: Any = object()


@dataclasses.dataclass
class _Plan:
    """The faults one request gets, taken from `FaultConfig` when it arrives."""

    latency: float = 0.0
    throttle_bps: float | None = None
    status: int | None = None
    drop_after: int | None = None
    truncate_to: int | None = None
    content_range_shift: int = 0
    ignore_range: bool = False


class FaultConfig:
    """Misbehaviour of the server, thread-safe and changeable while it runs.

    Set fields with `set(...)` (or plain attribute assignment); `clear()` turns
    every fault off. A fault with a ``*_times`` count applies to that many
    matching requests and then switches itself off; ``None`` means "every
    request". If `only_path` is set, faults apply only to requests for that
    path (relative to the served root, no leading slash).

    Fields:
        latency: seconds to sleep before answering each request.
        throttle_bps: body bytes per second (the body is sent in small paced
            chunks); ``None`` sends at full speed.
        status, status_times: answer `status` (with a short text body) instead
            of serving the file, e.g. 500 for the next 3 requests, or 404/403
            for all of them.
        drop_after, drop_times: send only `drop_after` body bytes, then reset
            the connection (TCP RST; the peer may lose bytes it had not read).
        truncate_to, truncate_times: advertise the full `Content-Length` but
            send only `truncate_to` body bytes, then close cleanly (FIN).
        content_range_shift: if non-zero, `206` answers report a
            `Content-Range` shifted by this many bytes (a wrong range); the
            body itself is the right bytes.
        ignore_range: answer `200` with the whole file even if a range was
            requested.
    """

    _FIELDS = (
        "latency",
        "throttle_bps",
        "status",
        "status_times",
        "drop_after",
        "drop_times",
        "truncate_to",
        "truncate_times",
        "content_range_shift",
        "ignore_range",
        "only_path",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latency: float = 0.0
        self.throttle_bps: float | None = None
        self.status: int | None = None
        self.status_times: int | None = None
        self.drop_after: int | None = None
        self.drop_times: int | None = None
        self.truncate_to: int | None = None
        self.truncate_times: int | None = None
        self.content_range_shift: int = 0
        self.ignore_range: bool = False
        self.only_path: str | None = None

    def set(
        self,
        *,
        latency: float = _UNSET,
        throttle_bps: float | None = _UNSET,
        status: int | None = _UNSET,
        status_times: int | None = _UNSET,
        drop_after: int | None = _UNSET,
        drop_times: int | None = _UNSET,
        truncate_to: int | None = _UNSET,
        truncate_times: int | None = _UNSET,
        content_range_shift: int = _UNSET,
        ignore_range: bool = _UNSET,
        only_path: str | None = _UNSET,
    ) -> FaultConfig:
        """Change the given fields at once (others keep their values); returns self."""
        given = dict(locals())
        with self._lock:
            for name in self._FIELDS:
                if given[name] is not _UNSET:
                    setattr(self, name, given[name])
        return self

    def clear(self) -> None:
        """Switch every fault off."""
        fresh = FaultConfig()
        with self._lock:
            for name in self._FIELDS:
                setattr(self, name, getattr(fresh, name))

    def _take(self, path: str) -> _Plan:
        """Return the faults for one request to `path`, using up counted ones."""
        with self._lock:
            if self.only_path is not None and path != self.only_path:
                return _Plan()
            plan = _Plan(
                latency=self.latency,
                throttle_bps=self.throttle_bps,
                content_range_shift=self.content_range_shift,
                ignore_range=self.ignore_range,
            )
            if self.status is not None and self.status_times != 0:
                plan.status = self.status
                if self.status_times is not None:
                    self.status_times -= 1
                    if self.status_times == 0:
                        self.status = None
                        self.status_times = None
            if self.drop_after is not None and self.drop_times != 0:
                plan.drop_after = self.drop_after
            if self.truncate_to is not None and self.truncate_times != 0:
                plan.truncate_to = self.truncate_to
            return plan

    def _used(self, fault: str) -> None:
        """Count down `fault` ("drop" or "truncate"), which a request just carried out."""
        with self._lock:
            times = getattr(self, f"{fault}_times")
            if times is None:
                return
            if times <= 1:
                setattr(self, "drop_after" if fault == "drop" else "truncate_to", None)
                setattr(self, f"{fault}_times", None)
            else:
                setattr(self, f"{fault}_times", times - 1)


@dataclasses.dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it."""

    method: str
    path: str
    range: str | None
    status: int
    headers: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True)
class HTTPStats:
    """A snapshot of the server's counters.

    `aborted` counts responses whose client went away before the body was
    fully written (a write failed with a connection error); `dropped` and
    `truncated` count the faults the server carried out itself. `bytes_sent`
    counts body bytes handed to the socket. `requests` holds the most recent
    requests (up to 10,000), oldest first, each logged when its status line is
    sent. Every counter is current by the time the client can have the last
    body byte, except `in_flight`, which drops just after; use
    `HTTPServerHandle.wait_for` to wait on it.
    """

    requests_total: int
    requests_by_path: dict[str, int]
    requests_by_method: dict[str, int]
    bytes_sent: int
    aborted: int
    dropped: int
    truncated: int
    in_flight: int
    max_in_flight: int
    max_waiting: int
    """Most requests at once that had arrived but had no status line yet: a
    race-free measure of client concurrency (a client cannot have finished a
    request it has no response to), unlike `max_in_flight`, which may count a
    just-finished request together with the client's next one."""
    requests: tuple[RequestRecord, ...]
    completed: int = 0
    """Responses sent in full: status line, headers and the whole body (not
    aborted by the client, nor cut short by a drop/truncate fault). With
    `in_flight` and `aborted` it tells whether a client waited for a response
    or abandoned it. Like `in_flight`, counted just after the last byte went out."""


class _Stats:
    """Thread-safe counters behind `HTTPStats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self._waiting = 0
        self.reset()

    def reset(self) -> None:
        """Zero the counters; requests still in flight stay counted."""
        with self._lock:
            self._total = 0
            self._by_path: Counter[str] = Counter()
            self._by_method: Counter[str] = Counter()
            self._bytes = 0
            self._aborted = 0
            self._dropped = 0
            self._truncated = 0
            self._completed = 0
            self._max_in_flight = self._in_flight
            self._max_waiting = self._waiting
            self._records: deque[RequestRecord] = deque(maxlen=10_000)

    def begin(self, method: str, path: str) -> None:
        with self._lock:
            self._total += 1
            self._by_path[path] += 1
            self._by_method[method] += 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            self._waiting += 1
            self._max_waiting = max(self._max_waiting, self._waiting)

    def answered(self) -> None:
        with self._lock:
            self._waiting -= 1

    def end(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def add(
        self,
        *,
        sent: int = 0,
        aborted: int = 0,
        dropped: int = 0,
        truncated: int = 0,
        completed: int = 0,
    ) -> None:
        with self._lock:
            self._completed += completed
            self._bytes += sent
            self._aborted += aborted
            self._dropped += dropped
            self._truncated += truncated

    def snapshot(self) -> HTTPStats:
        with self._lock:
            return HTTPStats(
                requests_total=self._total,
                requests_by_path=dict(self._by_path),
                requests_by_method=dict(self._by_method),
                bytes_sent=self._bytes,
                aborted=self._aborted,
                dropped=self._dropped,
                truncated=self._truncated,
                in_flight=self._in_flight,
                max_in_flight=self._max_in_flight,
                max_waiting=self._max_waiting,
                requests=tuple(self._records),
                completed=self._completed,
            )


def _parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """Parse a `Range` header against `size`.

    Returns ``(start, stop)`` (stop exclusive) for one satisfiable range,
    ``None`` to serve the whole file (no header, multi-range, or unparsable),
    or ``"unsatisfiable"`` for a `416`.
    """
    if header is None:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                return "unsatisfiable"
            return max(0, size - suffix), size
        start = int(first)
        stop = size if last == "" else min(int(last) + 1, size)
    except ValueError:
        return None
    if start >= size or stop <= start:
        return "unsatisfiable"
    return start, stop


class _Server(http.server.ThreadingHTTPServer):
    """`ThreadingHTTPServer` that knows its root, faults and stats, and its live connections."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.faults = FaultConfig()
        self.stats = _Stats()
        self.conn_lock = threading.Lock()
        self.live: dict[socket.socket, threading.Thread] = {}
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that hang up; print anything else."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def close_live_connections(self) -> list[threading.Thread]:
        """Shut down every open connection; return the threads serving them."""
        with self.conn_lock:
            live = list(self.live.items())
        for sock, _ in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return [thread for _, thread in live]


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves files with ranges; applies the server's current faults."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 10.0  # idle keep-alive connections end by themselves
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.conn_lock:
            self.server.live[self.connection] = threading.current_thread()

    def finish(self) -> None:
        with self.server.conn_lock:
            self.server.live.pop(self.connection, None)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """No access log: the counters are the record."""

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _serve(self, *, body: bool) -> None:
        path = unquote(urlsplit(self.path).path).lstrip("/")
        self._request_path: str | None = path
        self.server.stats.begin(self.command, path)
        self._answered = False
        self._cut_short = False
        try:
            self._respond(path, body=body)
            if not self._cut_short:
                self.server.stats.add(completed=1)
        except (ConnectionError, TimeoutError):  # hung up before the headers were out
            self.server.stats.add(aborted=1)
            self.close_connection = True
        finally:
            self._request_path = None
            if not self._answered:
                self.server.stats.answered()
            self.server.stats.end()

    def send_response(self, code: int, message: str | None = None) -> None:
        """Send the status line, and log the request (before any body byte goes out)."""
        if not getattr(self, "_answered", True):
            self._answered = True
            self.server.stats.answered()
        super().send_response(code, message)
        path = getattr(self, "_request_path", None)
        if path is not None:
            record = RequestRecord(
                self.command, path, self.headers.get("Range"), code, tuple(self.headers.items())
            )
            self.server.stats.record(record)

    def _respond(self, path: str, *, body: bool) -> int:
        faults = self.server.faults
        plan = faults._take(path)
        if plan.latency > 0:
            time.sleep(plan.latency)
        if plan.status is not None:
            return self._send_text(plan.status, f"fault: status {plan.status}\n", body=body)

        file = (self.server.root / path).resolve()
        if not file.is_relative_to(self.server.root) or not file.is_file():
            return self._send_text(404, "not found\n", body=body)
        st = file.stat()
        size = st.st_size
        rng = None if plan.ignore_range else _parse_range(self.headers.get("Range"), size)
        if rng == "unsatisfiable":
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return 416
        start, stop = rng if isinstance(rng, tuple) else (0, size)
        status = 206 if isinstance(rng, tuple) else 200

        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(stop - start))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{size:x}-{st.st_mtime_ns:x}"')
        self.send_header("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))
        if status == 206:
            shift = plan.content_range_shift
            self.send_header("Content-Range", f"bytes {start + shift}-{stop - 1 + shift}/{size}")
        self.end_headers()
        if not body:
            return status

        with file.open("rb") as f:
            f.seek(start)
            data = f.read(stop - start)
        limit = len(data)
        reset = False
        if plan.truncate_to is not None and plan.truncate_to < limit:
            limit = plan.truncate_to
            self._cut_short = True
            faults._used("truncate")
            self.server.stats.add(truncated=1)
            self.close_connection = True
        elif plan.drop_after is not None and plan.drop_after < limit:
            limit = plan.drop_after
            reset = True
            self._cut_short = True
            faults._used("drop")
            self.server.stats.add(dropped=1)
        if self._write_body(memoryview(data)[:limit], plan.throttle_bps) and reset:
            self._reset_connection()
        return status

    def _send_text(self, status: int, text: str, *, body: bool) -> int:
        payload = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self._write_body(memoryview(payload), None)
        return status

    def _write_body(self, data: memoryview, bps: float | None) -> bool:
        """Write `data`, paced to `bps`; False (and counted) if the client hung up."""
        stats = self.server.stats
        chunk = _CHUNK if not bps else max(1, min(_CHUNK, int(bps / 50)))
        began = time.monotonic()
        sent = 0
        try:
            while sent < len(data):
                if bps:
                    delay = began + sent / bps - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                piece = data[sent : sent + chunk]
                stats.add(sent=len(piece))  # counted first, so it is current once the client has it
                self.wfile.write(piece)
                sent += len(piece)
        except (ConnectionError, TimeoutError):
            stats.add(aborted=1)
            self._cut_short = True
            self.close_connection = True
            return False
        return True

    def _reset_connection(self) -> None:
        """Close the socket with SO_LINGER 0, so the peer gets a TCP RST."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()


class HTTPServerHandle:
    """A running `serve_http` server: its `url`, `faults` and counters."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        host, port = server.server_address[:2]
        self.host: str = str(host)
        self.port: int = int(port)
        self.url: str = f"http://{self.host}:{self.port}/"
        self.root: Path = server.root
        self.faults: FaultConfig = server.faults

    def stats(self) -> HTTPStats:
        """Return a snapshot of the counters."""
        return self._server.stats.snapshot()

    def reset(self) -> None:
        """Clear the faults and zero the counters (in-flight requests stay counted)."""
        self.faults.clear()
        self._server.stats.reset()

    def wait_for(self, predicate: Callable[[HTTPStats], bool], timeout: float = 2.0) -> HTTPStats:
        """Poll stats until `predicate(stats)` is true; raise TimeoutError after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            snap = self.stats()
            if predicate(snap):
                return snap
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout}s: {snap}")
            time.sleep(0.01)


@contextlib.contextmanager
def serve_http(root: Path, *, stop_timeout: float = 5.0) -> Iterator[HTTPServerHandle]:
    """Serve the files under `root` on http://127.0.0.1:<free port>/ until the block exits.

    On exit the server stops accepting, open connections are shut down, and
    every thread is joined with `stop_timeout` seconds at most.
    """
    server = _Server(Path(root))
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="serve_http", daemon=True
    )
    thread.start()
    try:
        yield HTTPServerHandle(server)
    finally:
        server.shutdown()
        thread.join(stop_timeout)
        deadline = time.monotonic() + stop_timeout
        for worker in server.close_live_connections():
            worker.join(max(0.0, deadline - time.monotonic()))
        server.server_close()
