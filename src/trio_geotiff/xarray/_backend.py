"""The ``trio_geotiff`` xarray engine: ``xr.open_dataarray(path_or_url, engine="trio_geotiff")``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import xarray as xr
from xarray.backends import BackendArray, BackendEntrypoint
from xarray.core import indexing

from trio_geotiff._window import Window

from ._handle import FileHandle, ReadSpec, open_file, read_block, resolve
from ._layout import Layout, index_1d, layout_of

__all__ = ["TrioGeoTIFFBackendArray", "TrioGeoTIFFBackendEntrypoint", "open_layout"]

DEFAULT_NAME = "band_data"


class TrioGeoTIFFBackendArray(BackendArray):
    """A lazily read ``(band, y, x)`` image; pickles as its `FileHandle` and shape."""

    def __init__(
        self, handle: FileHandle, shape: tuple[int, int, int], dtype: np.dtype[Any], spec: ReadSpec
    ) -> None:
        """Wrap the image ``handle`` names."""
        self.handle = handle
        self.shape = shape
        self.dtype = dtype
        self.spec = spec

    def __getitem__(self, key: indexing.ExplicitIndexer) -> Any:
        """Read the selection (only the tiles it touches)."""
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.BASIC, self._getitem
        )

    def _getitem(self, key: tuple[Any, ...]) -> npt.NDArray[Any]:
        (b0, b1, bstep, bsq), (r0, r1, rstep, rsq), (c0, c1, cstep, csq) = (
            index_1d(k, n) for k, n in zip(key, self.shape, strict=True)
        )
        bands = list(range(b0, b1, bstep))
        if not bands or r1 == r0 or c1 == c0:
            shape = (len(bands), len(range(r0, r1, rstep)), len(range(c0, c1, cstep)))
            data = np.zeros(shape, dtype=self.dtype)
        else:
            window = Window(c0, r0, c1 - c0, r1 - r0)
            data = read_block(self.handle, window, bands, self.spec)[:, ::rstep, ::cstep]
        squeeze = tuple(i for i, sq in enumerate((bsq, rsq, csq)) if sq)
        return np.squeeze(data, axis=squeeze) if squeeze else data


def open_layout(  # noqa: PLR0913 - the backend's options, passed on
    filename: str,
    *,
    store: Any = None,
    overview_level: int | None = None,
    masked: bool = False,
    mask_and_scale: bool = False,
    open_options: dict[str, Any] | None = None,
) -> tuple[FileHandle, Layout]:
    """Open a file (blocking) and describe it for xarray."""
    store, path = resolve(filename, store)
    tif, handle = open_file(path, store, overview_level=overview_level, options=open_options)
    raster = tif if overview_level is None else tif.overviews[overview_level]
    layout = layout_of(tif, raster, masked=masked, mask_and_scale=mask_and_scale, source=filename)
    return handle, layout


def variable_of(handle: FileHandle, layout: Layout, *, masked: bool, scaled: bool) -> xr.Variable:
    """The lazily read variable of an opened file."""
    spec = ReadSpec(masked=masked or scaled, scaled=scaled)
    array = TrioGeoTIFFBackendArray(handle, layout.shape, layout.dtype, spec)
    data = indexing.LazilyIndexedArray(array)
    variable = xr.Variable(("band", "y", "x"), data, attrs=layout.attrs)
    variable.encoding = dict(layout.encoding)
    return variable


class TrioGeoTIFFBackendEntrypoint(BackendEntrypoint):
    """Opens GeoTIFFs and COGs with trio_geotiff, as rioxarray's ``rasterio`` engine would.

    Options (``xr.open_dataset(..., engine="trio_geotiff", **options)``):

    * ``store``: an obstore store; the path is then a path in it. Default: the
      store is chosen from the path or URL (local, ``s3://``, ``gs://``,
      ``az://``, ``https://``).
    * ``overview_level``: read an overview (0 is the largest) instead of the
      full-resolution image.
    * ``masked``: invalid pixels (nodata, mask, alpha) become NaN.
    * ``mask_and_scale`` (xarray's, default True): masked, and each band's
      scale and offset applied.
    * ``open_options``: more keyword arguments of `GeoTIFF.open`.
    """

    description = "Read GeoTIFFs and COGs with trio_geotiff (local, s3://, gs://, az://, https://)"
    url = "https://github.com/trio-geotiff/trio_geotiff"
    open_dataset_parameters: ClassVar[tuple[str, ...]] = (
        "filename_or_obj",
        "drop_variables",
        "mask_and_scale",
        "masked",
        "overview_level",
        "store",
        "default_name",
        "open_options",
    )

    def open_dataset(  # type: ignore[override]  # noqa: PLR0913 - xarray's options
        self,
        filename_or_obj: str | os.PathLike[str],
        *,
        drop_variables: str | Iterable[str] | None = None,
        mask_and_scale: bool = True,
        masked: bool = False,
        overview_level: int | None = None,
        store: Any = None,
        default_name: str = DEFAULT_NAME,
        open_options: dict[str, Any] | None = None,
    ) -> xr.Dataset:
        """Open a file as a Dataset with one ``(band, y, x)`` variable."""
        filename = os.fspath(filename_or_obj)
        handle, layout = open_layout(
            filename,
            store=store,
            overview_level=overview_level,
            masked=masked,
            mask_and_scale=mask_and_scale,
            open_options=open_options,
        )
        variable = variable_of(handle, layout, masked=masked, scaled=mask_and_scale)
        dataset = xr.Dataset({default_name: variable}, coords=layout.coords)
        if drop_variables is not None:
            dataset = dataset.drop_vars(drop_variables)
        return dataset

    def guess_can_open(self, filename_or_obj: Any) -> bool:
        """Whether the name ends in .tif, .tiff or .gtiff."""
        try:
            name = os.fspath(filename_or_obj)
        except TypeError:
            return False
        return str(name).lower().endswith((".tif", ".tiff", ".gtiff"))
