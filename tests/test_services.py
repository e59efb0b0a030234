"""The two web examples, for real: each under its own server, over loopback HTTP.

* examples/fastapi_app.py under uvicorn (FastAPI, anyio on asyncio);
* examples/trio_web_app.py under hypercorn's trio worker (Quart-Trio).

Each app runs in a subprocess on a socket bound here (no port race), its COG
served by the loopback data server (tests/servers/http_range.py). The tests
fetch windows over HTTP with httpx and compare the pixels with GDAL's; and a
client that hangs up mid-request must make the app abort its range requests
at the data server (its aborted-connection counter), with none started after.
No assertion is on elapsed time.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from servers import HTTPServerHandle, serve_http

pytestmark = pytest.mark.network

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@dataclass
class Service:
    name: str
    url: str
    data: HTTPServerHandle
    cog: Path


def _command(name: str, fd: int) -> list[str]:
    if name == "fastapi":
        return [
            *(sys.executable, "-m", "uvicorn", "--factory", "--app-dir", str(EXAMPLES)),
            *("--fd", str(fd), "--log-level", "warning", "fastapi_app:create_app"),
        ]
    return [
        *(sys.executable, "-m", "hypercorn", "--worker-class", "trio"),
        *("--bind", f"fd://{fd}", f"{EXAMPLES / 'trio_web_app.py'}:create_app()"),
    ]


def _wait_until_serving(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the app exited ({proc.returncode}): {log.read_text()}")
        try:
            if httpx.get(f"{url}/info", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the app did not start: {log.read_text()}")


@pytest.fixture(scope="module", params=["fastapi", "trio"])
def service(
    request: pytest.FixtureRequest, cog_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    name = str(request.param)
    log = tmp_path_factory.mktemp(name) / "server.log"
    with serve_http(cog_dir) as data, socket.socket() as sock, log.open("wb") as out:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        env = {
            **os.environ,
            "COG_STORE_URL": data.url,
            "COG_PATH": "cog.tif",
            "COG_ALLOW_HTTP": "1",
            "COG_CONCURRENCY": "4",
        }
        proc = subprocess.Popen(
            _command(name, sock.fileno()),
            pass_fds=(sock.fileno(),),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_serving(proc, url, log)
            yield Service(name, url, data, cog_dir / "cog.tif")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def gdal_window(cog: Path, window: tuple[int, int, int, int], overview: int) -> np.ndarray:
    import rasterio
    from rasterio.windows import Window

    options = {"overview_level": overview - 1} if overview else {}
    with rasterio.open(cog, **options) as ds:
        return ds.read(window=Window(*window))


@pytest.mark.parametrize(
    ("window", "overview"),
    [((100, 300, 700, 500), 0), ((0, 0, 512, 512), 1), ((10, 20, 200, 100), 3)],
)
def test_png_and_npy_windows_match_gdal(
    service: Service, window: tuple[int, int, int, int], overview: int
) -> None:
    col_off, row_off, width, height = window
    query = {
        "col_off": col_off,
        "row_off": row_off,
        "width": width,
        "height": height,
        "overview": overview,
    }
    expected = gdal_window(service.cog, window, overview)
    with httpx.Client(base_url=service.url, timeout=60) as client:
        png = client.get("/window.png", params=query)
        npy = client.get("/window.npy", params=query)
    assert png.status_code == 200, png.text
    assert png.headers["content-type"] == "image/png"
    pixels = np.asarray(Image.open(io.BytesIO(png.content))).transpose(2, 0, 1)
    assert np.array_equal(pixels, expected)
    assert npy.status_code == 200, npy.text
    assert np.array_equal(np.load(io.BytesIO(npy.content)), expected)


def test_concurrent_clients_share_one_open_file(service: Service) -> None:
    windows = [(256 * i, 256 * i, 300, 300) for i in range(6)]
    service.data.reset()
    with httpx.Client(base_url=service.url, timeout=60) as client:
        import concurrent.futures

        def get(w: tuple[int, int, int, int]) -> httpx.Response:
            query = dict(zip(("col_off", "row_off", "width", "height"), w, strict=True))
            return client.get("/window.npy", params=query)

        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(get, windows))
    for w, answer in zip(windows, answers, strict=True):
        assert np.array_equal(np.load(io.BytesIO(answer.content)), gdal_window(service.cog, w, 0))
    stats = service.data.stats()
    # Opened once at start-up: no header request; the process-wide limiter of 4 holds.
    assert all(r.range != "bytes=0-32767" for r in stats.requests)
    assert stats.max_waiting <= 4


def test_bad_requests_are_client_errors(service: Service) -> None:
    with httpx.Client(base_url=service.url, timeout=60) as client:
        outside = client.get(
            "/window.png", params={"col_off": 0, "row_off": 0, "width": 5000, "height": 10}
        )
        wrong_format = client.get(
            "/window.tif", params={"col_off": 0, "row_off": 0, "width": 5, "height": 5}
        )
    assert outside.status_code == 400
    assert "not inside" in outside.json()["detail"]
    assert wrong_format.status_code == 404


def test_a_client_that_hangs_up_aborts_the_range_requests(service: Service) -> None:
    data = service.data
    data.wait_for(lambda s: s.in_flight == 0, 30.0)  # earlier responses counted first
    data.reset()
    data.faults.set(throttle_bps=20_000)  # each tile row takes many seconds to send
    port = int(service.url.rsplit(":", 1)[1])
    request = (
        b"GET /window.png?col_off=0&row_off=0&width=1024&height=1024 HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(request)
        streaming = data.wait_for(lambda s: s.in_flight >= 1, 30.0)
    # The client is gone: the app must abort every range request of that read.
    after = data.wait_for(lambda s: s.in_flight == 0, 30.0)
    assert after.aborted == after.requests_total >= streaming.in_flight >= 1
    assert after.completed == 0
    time.sleep(0.3)  # room for a request that must not start
    assert data.stats().requests_total == after.requests_total
    # The app is still healthy, with all its limiter tokens back.
    data.reset()
    with httpx.Client(base_url=service.url, timeout=60) as client:
        again = client.get(
            "/window.npy", params={"col_off": 0, "row_off": 0, "width": 1024, "height": 1024}
        )
    assert again.status_code == 200
    assert np.array_equal(
        np.load(io.BytesIO(again.content)), gdal_window(service.cog, (0, 0, 1024, 1024), 0)
    )
