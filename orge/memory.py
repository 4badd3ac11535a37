"""Giving back what start-up allocated and no longer uses (the fleet's memory target:
docs/operations.md, under 50 MiB resident per station).

Start-up builds much that is garbage once the station runs: the YAML documents, the
validated copies of the configuration, the schemas' working data, the import machinery's
buffers. CPython frees these objects, but glibc's malloc keeps the freed pages mapped
(they count in the resident set) until `malloc_trim(3)` hands them back to the kernel.
`gc.freeze()` then moves every object that survived start-up into the permanent
generation: the collector no longer walks (and so no longer touches, nor keeps resident)
the pages of the modules, classes and configuration that live as long as the process.
"""

from __future__ import annotations

import ctypes
import gc
import logging

_LOGGER = logging.getLogger(__name__)


def _malloc_trim() -> bool:
    """glibc's malloc_trim(0): True if pages were given back; False elsewhere (musl,
    macOS: no such function, nothing to do)."""
    try:
        # the symbols already loaded into the process (libc among them): no library search
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return bool(trim(0))


def release_startup_memory() -> None:
    """Collect start-up's garbage, freeze the survivors, give the free heap back to the
    kernel. Call once, after the station is up (costs a full collection: ~10-30 ms)."""
    gc.collect()
    gc.freeze()
    trimmed = _malloc_trim()
    _LOGGER.debug("Start-up memory released (malloc_trim: %s)", trimmed)
