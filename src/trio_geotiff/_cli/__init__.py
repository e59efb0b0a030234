"""The ``trio-geotiff`` command: inspect, read and preview GeoTIFFs from any store.

Sub-commands (``trio-geotiff COMMAND --help`` for each):

* ``info``: metadata, as text or (``--json``) as one JSON object keyed like ``rio info``.
* ``read``: a window (or bounds) of some bands of an image or overview, to .npy/.npz/.png.
* ``preview``: a stretched, mask-aware RGBA PNG from the best-fitting overview.
* ``tiles``: the internal block grid of every level.
* ``sample``: the bundled sample COG's info and a preview PNG (the "first command").

Every command runs under ``trio.run``. Errors print one line,
``trio-geotiff: error: <message>``, and exit with 1 (2 for usage errors).
Pillow (the ``cli`` extra) is needed only to write PNGs.

One module a concern: `stores` (path or URL to an obstore store), `info`
(the ``rio info`` dict and the text reports), `render` (PNG rendering),
`progress` (the terminal progress line), `commands` (the sub-commands),
`parser` (argparse) and `app` (`main`: parse, run, report errors).

This file imports nothing, so that `stores` can be used (by an xarray backend,
say) without loading the command line.
"""
