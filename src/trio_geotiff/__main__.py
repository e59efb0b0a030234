"""``python -m trio_geotiff`` and the ``trio-geotiff`` command (see `trio_geotiff._cli`)."""

from __future__ import annotations

from ._cli.app import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
