"""Robustness fuzzing for trio_geotiff: seeds, TIFF-aware mutators, a child-process harness.

See docs/robustness.md. The short run is ``tests/test_fuzz.py``; the long one is
``nox -s fuzz`` (``TRIO_GEOTIFF_FUZZ_SECONDS`` sets its duration).
"""
