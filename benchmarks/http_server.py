"""A loopback HTTP file server with Range support and an added per-request delay.

Serves the files of one directory over HTTP/1.1 (keep-alive) on 127.0.0.1,
sleeping ``--delay-ms`` (default 20) before answering each request to simulate
an object store's latency. Supports HEAD, GET, single ``Range: bytes=a-b`` /
``a-`` / ``-n`` ranges and multi-range requests (multipart/byteranges).

Counters of requests and body bytes served are kept; the control endpoints
(not counted, not delayed) are:

* ``GET /__stats``  -> JSON ``{"requests", "bytes", "head", "get", "ranges", "max_concurrency"}``
* ``POST /__reset`` -> zero the counters

Usage: python benchmarks/http_server.py DIR [--port 0] [--delay-ms 20]
It prints ``PORT <n>`` on stdout once listening.
"""

from __future__ import annotations

import argparse
import contextlib
import email.utils
import json
import os
import re
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE_RE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


class Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.bytes = 0
        self.head = 0
        self.get = 0
        self.ranges = 0
        self.inflight = 0
        self.max_concurrency = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "bytes": self.bytes,
            "head": self.head,
            "get": self.get,
            "ranges": self.ranges,
            "max_concurrency": self.max_concurrency,
        }


def make_handler(root: Path, delay: float, counters: Counters) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # TCP_NODELAY: without it a reused connection's responses wait ~40 ms
        # for the client's delayed ACK (Nagle), on top of the simulated latency.
        disable_nagle_algorithm = True
        server_version = "bench-range-server/1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        # -- control endpoints ------------------------------------------------
        def _control(self) -> bool:
            if self.path == "/__stats":
                with counters.lock:
                    body = json.dumps(counters.as_dict()).encode()
                self._send_simple(200, body, "application/json")
                return True
            if self.path == "/__reset":
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with counters.lock:
                    counters.reset()
                self._send_simple(200, b"{}", "application/json")
                return True
            return False

        def _send_simple(self, code: int, body: bytes, ctype: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        # -- files -------------------------------------------------------------
        def _resolve(self) -> Path | None:
            rel = self.path.split("?", 1)[0].lstrip("/")
            p = (root / rel).resolve()
            if root not in p.parents or not p.is_file():
                return None
            return p

        def _enter(self, method: str) -> None:
            with counters.lock:
                counters.requests += 1
                counters.inflight += 1
                counters.max_concurrency = max(counters.max_concurrency, counters.inflight)
                if method == "HEAD":
                    counters.head += 1
                else:
                    counters.get += 1

        def _leave(self, nbytes: int, nranges: int) -> None:
            with counters.lock:
                counters.inflight -= 1
                counters.bytes += nbytes
                counters.ranges += nranges

        def do_POST(self) -> None:
            if not self._control():
                self._send_simple(405, b"method not allowed")

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def do_GET(self) -> None:
            if self._control():
                return
            self._serve(head=False)

        def _headers_common(self, st: os.stat_result) -> None:
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))
            self.send_header("ETag", f'"{st.st_ino:x}-{st.st_size:x}-{int(st.st_mtime)}"')

        def _serve(self, head: bool) -> None:
            self._enter("HEAD" if head else "GET")
            sent = 0
            nranges = 0
            try:
                time.sleep(delay)
                p = self._resolve()
                if p is None:
                    self._send_simple(404, b"not found")
                    return
                st = p.stat()
                size = st.st_size
                rng = self.headers.get("Range")
                ranges: list[tuple[int, int]] | None = None
                if rng and not head:
                    ranges = self._parse_ranges(rng, size)
                    if ranges is None:
                        self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                        self.send_header("Content-Range", f"bytes */{size}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                if head or ranges is None:
                    self.send_response(200)
                    self._headers_common(st)
                    self.send_header("Content-Type", "image/tiff")
                    self.send_header("Content-Length", str(size))
                    self.end_headers()
                    if not head:
                        with p.open("rb") as f:
                            sent = self._copy(f, 0, size)
                    return
                nranges = len(ranges)
                with p.open("rb") as f:
                    if len(ranges) == 1:
                        a, b = ranges[0]
                        self.send_response(206)
                        self._headers_common(st)
                        self.send_header("Content-Type", "image/tiff")
                        self.send_header("Content-Range", f"bytes {a}-{b - 1}/{size}")
                        self.send_header("Content-Length", str(b - a))
                        self.end_headers()
                        sent = self._copy(f, a, b)
                    else:
                        boundary = "BENCHBOUNDARY7f3a"
                        parts = []
                        for a, b in ranges:
                            hdr = (
                                f"\r\n--{boundary}\r\nContent-Type: image/tiff\r\n"
                                f"Content-Range: bytes {a}-{b - 1}/{size}\r\n\r\n"
                            ).encode()
                            parts.append((hdr, a, b))
                        tail = f"\r\n--{boundary}--\r\n".encode()
                        total = sum(len(h) + b - a for h, a, b in parts) + len(tail)
                        self.send_response(206)
                        self._headers_common(st)
                        self.send_header(
                            "Content-Type", f"multipart/byteranges; boundary={boundary}"
                        )
                        self.send_header("Content-Length", str(total))
                        self.end_headers()
                        for h, a, b in parts:
                            self.wfile.write(h)
                            sent += self._copy(f, a, b)
                        self.wfile.write(tail)
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                self._leave(sent, nranges)

        def _copy(self, f: object, a: int, b: int) -> int:
            fd = f.fileno()  # type: ignore[attr-defined]
            pos = a
            while pos < b:
                chunk = os.pread(fd, min(4 << 20, b - pos), pos)
                if not chunk:
                    break
                self.wfile.write(chunk)
                pos += len(chunk)
            return pos - a

        @staticmethod
        def _parse_ranges(header: str, size: int) -> list[tuple[int, int]] | None:
            if not header.startswith("bytes="):
                return None
            out = []
            for spec in header[6:].split(","):
                m = _RANGE_RE.match(spec)
                if not m:
                    return None
                s, e = m.groups()
                if s == "" and e == "":
                    return None
                if s == "":
                    n = int(e)
                    a, b = max(size - n, 0), size
                else:
                    a = int(s)
                    b = size if e == "" else min(int(e) + 1, size)
                if a >= size or b <= a:
                    return None
                out.append((a, b))
            return out

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True


def serve(root: Path, port: int = 0, delay_ms: float = 20.0) -> tuple[Server, Counters]:
    counters = Counters()
    httpd = Server(("127.0.0.1", port), make_handler(root.resolve(), delay_ms / 1000.0, counters))
    return httpd, counters


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("root", type=Path)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--delay-ms", type=float, default=20.0)
    args = ap.parse_args()
    httpd, _ = serve(args.root, args.port, args.delay_ms)
    print(f"PORT {httpd.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        httpd.serve_forever(poll_interval=0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
