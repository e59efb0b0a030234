"""Serve windows of one COG as PNG or ``.npy`` from a trio web stack: Quart-Trio on hypercorn.

The twin of fastapi_app.py, on trio: the file is opened once before serving
and shared by every request, and one process-wide ``trio.CapacityLimiter``
(trio's own limiter, which trio_geotiff takes under trio) bounds the range
requests and decodes of all of them. Quart-Trio runs each request in a
nursery that is cancelled when the client hangs up, so a disconnect cancels
the read, which aborts the range requests it had in flight: no extra code.

Configuration: the same environment variables as fastapi_app.py
(``COG_STORE_URL``, ``COG_PATH``, ``COG_CONCURRENCY``, ``COG_ALLOW_HTTP``), or
`create_app` arguments.

Run (hypercorn's trio worker)::

    COG_STORE_URL=file://$PWD/src/trio_geotiff/data COG_PATH=sample_cog.tif \\
        hypercorn --worker-class trio "examples/trio_web_app.py:create_app()"
"""

from __future__ import annotations

import os
from typing import Any

import trio
from quart import Response, jsonify, request
from quart_trio import QuartTrio
from web_common import MEDIA_TYPES, concurrency_from_env, encode, http_status, store_from_env

from trio_geotiff import GeoTIFF, Window
from trio_geotiff.errors import GeoTIFFError


def _error(detail: str, status: int) -> tuple[Response, int]:
    return jsonify({"detail": detail}), status


def create_app(store: Any = None, path: str | None = None, *, concurrency: int = 0) -> QuartTrio:
    """The app: ``/info``, ``/window.png`` and ``/window.npy`` over one COG.

    Args:
        store: An obstore store (default: from ``COG_STORE_URL``).
        path: The COG's path in it (default: ``COG_PATH``).
        concurrency: Requests and decodes in flight for the process (default:
            ``COG_CONCURRENCY``, else 16).
    """
    app = QuartTrio(__name__)
    shared: dict[str, GeoTIFF] = {}

    @app.before_serving
    async def open_file() -> None:
        # Opened in the server's trio run: every request runs in that run.
        tokens = concurrency or concurrency_from_env()
        shared["tif"] = await GeoTIFF.open(
            path or os.environ["COG_PATH"],
            store=store if store is not None else store_from_env(),
            limiter=trio.CapacityLimiter(tokens),
        )

    @app.errorhandler(GeoTIFFError)
    async def geotiff_error(exc: GeoTIFFError) -> tuple[Response, int]:
        return _error(exc.reason, http_status(exc))

    @app.route("/info")
    async def info() -> dict[str, Any]:
        tif = shared["tif"]
        return {
            "width": tif.width,
            "height": tif.height,
            "count": tif.count,
            "dtype": str(tif.dtype),
            "crs": str(tif.crs),
            "overviews": [[o.width, o.height] for o in tif.overviews],
        }

    @app.route("/window.<fmt>")
    async def window(fmt: str) -> Response | tuple[Response, int]:
        """Pixels of a window of the image (``overview=0``) or of overview ``k`` (1 = largest)."""
        tif = shared["tif"]
        if fmt not in MEDIA_TYPES:
            return _error("use .png or .npy", 404)
        try:
            args = [int(request.args[k]) for k in ("col_off", "row_off", "width", "height")]
            overview = int(request.args.get("overview", "0"))
            bounds = Window(*args)
        except (KeyError, ValueError) as exc:
            return _error(f"bad window: {exc}", 400)
        if not 0 <= overview <= len(tif.overviews):
            return _error("no such overview", 400)
        raster = tif if overview == 0 else tif.overviews[overview - 1]
        arr = await raster.read(window=bounds)
        # Encoding is CPU work: off the event loop.
        body = await trio.to_thread.run_sync(encode, arr.data, fmt)
        return Response(body, mimetype=MEDIA_TYPES[fmt])

    return app
