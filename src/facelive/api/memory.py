"""Give freed image buffers back to the operating system, so a worker's memory follows its load.

glibc raises its mmap threshold to the size of the largest buffer freed (up to 32 MB), after
which decoded photos and request bodies come from heap arenas that are never returned, one
arena per thread (anyio runs up to 40). With the threshold fixed at 1 MiB and two arenas, a
worker that served 12 MP photos at concurrency 32 went back to 214 MiB resident instead of
staying at 279 MiB (docs/performance.md).

Fixing the mmap threshold also fixes glibc's trim threshold at its 128 KiB default: the
heap's free top was then handed back after almost every check and faulted in again by the
next (a 640x480 check's buffers are just under 1 MiB), which cost 1.3 ms of system time
per check, a fifth of the check. A 4 MiB trim threshold keeps that working set (the
photo-sized buffers above 1 MiB are mapped and unmapped whatever it is).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("facelive.memory")

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 1 << 20
TRIM_THRESHOLD_BYTES = 4 << 20
ARENA_MAX = 2


def return_freed_memory() -> bool:
    """Sets glibc's malloc to map large buffers, to keep a few MiB of free heap, and to few
    arenas; False where there is no glibc (musl, macOS, Windows) and nothing changed."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok: bool = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    ok = bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1) and ok
    ok = bool(mallopt(M_ARENA_MAX, ARENA_MAX) == 1) and ok
    if not ok:
        log.warning("mallopt refused the memory settings; freed buffers may stay resident")
    return ok
