"""trio_geotiff: a fast, read-only GeoTIFF and COG reader native to trio.

Open a file from any obstore store with ``await GeoTIFF.open(path, store=store)``
under trio, asyncio, or anyio on either backend, read its metadata under
rasterio's names, and read windows of it or of its overviews into an `Array`.
"""

from __future__ import annotations

from . import errors as errors
from ._array import Array as Array
from ._cache import cache_budget as cache_budget
from ._cache import set_cache_budget as set_cache_budget
from ._enums import ColorInterp as ColorInterp
from ._enums import Interleaving as Interleaving
from ._enums import MaskFlags as MaskFlags
from ._georef import GroundControlPoint as GroundControlPoint
from ._geotiff import GeoTIFF as GeoTIFF
from ._geotiff import Overview as Overview
from ._image import Compression as Compression
from ._many import open_many as open_many
from ._many import read_many as read_many
from ._source import Statistics as Statistics
from ._window import BoundingBox as BoundingBox
from ._window import Window as Window

__version__ = "0.1.0"

__all__ = [
    "Array",
    "BoundingBox",
    "ColorInterp",
    "Compression",
    "GeoTIFF",
    "GroundControlPoint",
    "Interleaving",
    "MaskFlags",
    "Overview",
    "Statistics",
    "Window",
    "__version__",
    "cache_budget",
    "errors",
    "open_many",
    "read_many",
    "set_cache_budget",
]


def _fixup_module_metadata() -> None:
    # Tracebacks and docs say trio_geotiff.X, not trio_geotiff._module.X.
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith("trio_geotiff._"):
            obj.__module__ = __name__


_fixup_module_metadata()
