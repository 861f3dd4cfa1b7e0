"""Keeping image-sized buffers in the heap instead of mapping fresh pages for every check.

glibc serves allocations above its mmap threshold (at most 32 MiB) with fresh ``mmap`` pages
and unmaps them on free, so every decoded 12 MP photo (36 MiB of BGR pixels) page-faults in
about 9,000 zeroed pages: measured here, 25 ms of kernel time per check, half the decode.
Raising the threshold lets freed pixel buffers be reused by the next check; the trim threshold
keeps that memory in the process rather than handing it back to the kernel after each check.
Peak memory is unchanged (the same buffers exist at the peak); only the churn goes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt parameters (glibc malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

# Larger than one decoded 8192 x 8192 image is not needed: 12 MP photos (36 MiB) and 4000 x
# 3000 PNGs are what clients send; the largest accepted image (192 MiB) is still mapped.
MMAP_THRESHOLD_BYTES = 64 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024


def retain_image_buffers() -> bool:
    """Apply the thresholds above to this process; False where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt: nothing to tune
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
