"""Give freed image buffers back to the operating system, so a worker's memory follows its load.

glibc raises its mmap threshold to the size of the largest buffer freed (up to 32 MB), after
which decoded photos and request bodies come from heap arenas that are never returned, one
arena per thread (anyio runs up to 40). With the threshold fixed at 1 MiB and two arenas, a
worker that served 12 MP photos at concurrency 32 went back to 214 MiB resident instead of
staying at 279 MiB (docs/performance.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("facelive.memory")

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameters (malloc.h)
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 1 << 20
ARENA_MAX = 2


def return_freed_memory() -> bool:
    """Sets glibc's malloc to map large buffers and to few arenas; False where there is no
    glibc (musl, macOS, Windows) and nothing changed."""
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
    ok = bool(mallopt(M_ARENA_MAX, ARENA_MAX) == 1) and ok
    if not ok:
        log.warning("mallopt refused the memory settings; freed buffers may stay resident")
    return ok
