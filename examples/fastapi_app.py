"""Serve windows of one COG as PNG or ``.npy`` with FastAPI (anyio on asyncio).

The file is opened once, at start-up (the app's lifespan), and shared by every
request; one process-wide ``anyio.CapacityLimiter`` bounds the range requests
and decodes of all of them. A client that hangs up mid-request cancels its
read, which aborts the range requests it had in flight.

Configuration (environment variables, or `create_app` arguments):

* ``COG_STORE_URL``: where the file lives, as an obstore URL
  (``s3://bucket/prefix``, ``https://host/dir/``, ``file:///data``...);
  credentials come from the environment as obstore reads them.
* ``COG_PATH``: the file's path in that store.
* ``COG_CONCURRENCY``: requests and decodes in flight for the whole process (16).
* ``COG_ALLOW_HTTP=1``: allow a plain ``http://`` store (loopback tests).

Run::

    COG_STORE_URL=file://$PWD/src/trio_geotiff/data COG_PATH=sample_cog.tif \\
        uvicorn --factory --app-dir examples fastapi_app:create_app

    curl -o w.png "http://127.0.0.1:8000/window.png?col_off=0&row_off=0&width=512&height=512"
    curl -o w.npy "http://127.0.0.1:8000/window.npy?col_off=0&row_off=0&width=512&height=512&overview=1"
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from web_common import MEDIA_TYPES, concurrency_from_env, encode, http_status, store_from_env

from trio_geotiff import GeoTIFF, Window
from trio_geotiff.errors import GeoTIFFError

T = TypeVar("T")


async def unless_disconnected(request: Request, work: Callable[[], Awaitable[T]]) -> T | None:
    """``await work()``, cancelled if the client hangs up first (then None).

    Starlette does not cancel a handler when its client goes away; watching the
    ASGI ``receive`` channel for ``http.disconnect`` does, and cancelling the
    read aborts its range requests. An error of ``work`` is raised as itself,
    not inside an exception group.
    """
    result: list[T] = []
    failed: list[Exception] = []
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()

        async def run() -> None:
            try:
                result.append(await work())
            except Exception as exc:  # noqa: BLE001 - re-raised below, alone
                failed.append(exc)
            group.cancel_scope.cancel()  # done: stop watching

        group.start_soon(watch)
        group.start_soon(run)
    if failed:
        raise failed[0]
    return result[0] if result else None


class WindowQuery(BaseModel):
    """The query of ``/window.png`` and ``/window.npy``."""

    col_off: int = Field(ge=0)
    row_off: int = Field(ge=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    overview: int = Field(0, ge=0, description="0: full resolution; k: overview k (1 = largest)")


def create_app(store: Any = None, path: str | None = None, *, concurrency: int = 0) -> FastAPI:
    """The app: ``/info``, ``/window.png`` and ``/window.npy`` over one COG.

    Args:
        store: An obstore store (default: from ``COG_STORE_URL``).
        path: The COG's path in it (default: ``COG_PATH``).
        concurrency: Requests and decodes in flight for the process (default:
            ``COG_CONCURRENCY``, else 16).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Opened in the server's event loop: every request runs in that loop.
        tokens = concurrency or concurrency_from_env()
        app.state.limiter = anyio.CapacityLimiter(tokens)
        app.state.tif = await GeoTIFF.open(
            path or os.environ["COG_PATH"],
            store=store if store is not None else store_from_env(),
            limiter=app.state.limiter,
        )
        yield

    app = FastAPI(lifespan=lifespan)

    @app.exception_handler(GeoTIFFError)
    async def geotiff_error(_request: Request, exc: GeoTIFFError) -> JSONResponse:
        return JSONResponse({"detail": exc.reason}, status_code=http_status(exc))

    @app.get("/info")
    async def info(request: Request) -> dict[str, Any]:
        tif: GeoTIFF = request.app.state.tif
        return {
            "width": tif.width,
            "height": tif.height,
            "count": tif.count,
            "dtype": str(tif.dtype),
            "crs": str(tif.crs),
            "overviews": [[o.width, o.height] for o in tif.overviews],
        }

    @app.get("/window.{fmt}")
    async def window(
        request: Request, fmt: str, query: Annotated[WindowQuery, Query()]
    ) -> Response:
        """Pixels of a window of the image (``overview=0``) or of overview ``k`` (1 = largest)."""
        tif: GeoTIFF = request.app.state.tif
        if fmt not in MEDIA_TYPES:
            return JSONResponse({"detail": "use .png or .npy"}, status_code=404)
        if query.overview > len(tif.overviews):
            return JSONResponse({"detail": "no such overview"}, status_code=400)
        raster = tif if query.overview == 0 else tif.overviews[query.overview - 1]
        bounds = Window(query.col_off, query.row_off, query.width, query.height)
        arr = await unless_disconnected(request, lambda: raster.read(window=bounds))
        if arr is None:
            return Response(status_code=499)  # nobody is listening any more
        # Encoding is CPU work: off the event loop.
        body = await anyio.to_thread.run_sync(encode, arr.data, fmt)
        return Response(body, media_type=MEDIA_TYPES[fmt])

    return app
