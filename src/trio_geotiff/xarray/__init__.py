"""trio_geotiff for xarray and dask: the ``trio_geotiff`` engine and `open_stack`.

Install with ``pip install "trio_geotiff[xarray]"``. Then
``xr.open_dataarray(path_or_url, engine="trio_geotiff")`` opens one file as
rioxarray would, and `open_stack` opens many files on one grid as a
``(time, band, y, x)`` array whose chunks are read on every dask worker by
trio_geotiff (see docs/scale-out.md).
"""

from __future__ import annotations

from ._backend import TrioGeoTIFFBackendArray as TrioGeoTIFFBackendArray
from ._backend import TrioGeoTIFFBackendEntrypoint as TrioGeoTIFFBackendEntrypoint
from ._dask import install_interrupt_hook as _install_interrupt_hook
from ._handle import FileHandle as FileHandle
from ._handle import ReadSpec as ReadSpec
from ._handle import StoreRef as StoreRef
from ._stack import open_stack as open_stack

_install_interrupt_hook()

__all__ = [
    "FileHandle",
    "ReadSpec",
    "StoreRef",
    "TrioGeoTIFFBackendArray",
    "TrioGeoTIFFBackendEntrypoint",
    "open_stack",
]
