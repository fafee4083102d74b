"""glibc malloc settings for a long-running, multi-threaded inference server.

glibc's default raises its mmap threshold each time a large mmapped block is freed
(up to 32 MiB) and the trim threshold with it (twice that).  In this server that
ratchet moves during the first frames (frame buffers, model inputs, OCR crops of
varying sizes), so the heaps of the inference threads keep growing for ~100 frames
after start and then hold up to 64 MiB of free memory each.  Fixing both thresholds
at start (``mallopt``) stops the ratchet: buffers below the mmap threshold (a 720p
frame is 2.6 MiB, the largest model input ~6 MiB) are reused from the heaps without
page faults, and free memory above the trim threshold goes back to the system.

Measured with ``bench/memory`` (docs/performance.md): the RSS after 300 frames fell
from ~950 to ~860 MB and its growth from start from ~10% to ~4%.  A higher mmap
threshold (32 MiB) let the OCR detector's 30 MB block into the heaps, which then
fragmented (+10-16%); ``malloc_trim`` after warm-up only moved the working size from
"after start" to the first frames.

Nothing here runs off glibc (musl, macOS, Windows): ``tune`` returns ``None`` there.  glibc's own environment variables
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``) win when an operator sets them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from functools import lru_cache

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # <malloc.h>
M_MMAP_THRESHOLD = -3
MIB = 1 << 20
MMAP_THRESHOLD_MAX = 32 * MIB  # glibc refuses more on 64-bit (HEAP_MAX_SIZE / 2)


@lru_cache(maxsize=1)
def _libc():
    """glibc's handle, or None when the C library is another one."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
        libc.gnu_get_libc_version()
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.malloc_trim.argtypes = (ctypes.c_size_t,)
        return libc
    except (OSError, AttributeError):
        return None


def tune(mmap_threshold_mb: float, trim_threshold_mb: float) -> dict[str, int] | None:
    """Fix glibc's mmap and trim thresholds (0 for either: leave glibc's default).

    Returns what was set, or None where nothing was (not glibc, both 0, or the
    operator's own ``MALLOC_*_`` variables are in the environment).
    """
    libc = _libc()
    if libc is None:
        return None
    done: dict[str, int] = {}
    for name, param, mb, env in (
        ("mmap_threshold", M_MMAP_THRESHOLD, mmap_threshold_mb, "MALLOC_MMAP_THRESHOLD_"),
        ("trim_threshold", M_TRIM_THRESHOLD, trim_threshold_mb, "MALLOC_TRIM_THRESHOLD_"),
    ):
        if mb <= 0 or env in os.environ:
            continue
        value = int(mb * MIB)
        if param == M_MMAP_THRESHOLD:
            value = min(value, MMAP_THRESHOLD_MAX)
        if libc.mallopt(param, value) == 1:
            done[name] = value
        else:
            log.warning("mallopt(%s, %d) refused", name, value)
    return done or None
