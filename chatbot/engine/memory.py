"""How many malloc arenas a worker's threads share (glibc only)."""

from __future__ import annotations

import ctypes
import os
import platform

M_ARENA_MAX = -8  # glibc's mallopt parameter for the arena cap (malloc.h)
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas before the send threads start; whether the cap was set.

    glibc gives threads up to eight arenas a core, and each keeps the memory freed in it for
    itself: a worker's sixteen send threads spread a burst's short-lived allocations over
    many arenas that never shrink. Measured on bursts of 10,000 posts (three runs each): peak
    RSS 114-116 MiB without the cap, 105-107 with two arenas, at the same cost per post.
    Nothing is changed where ``MALLOC_ARENA_MAX`` is set (a person's choice wins) or the C
    library is not glibc."""
    if "MALLOC_ARENA_MAX" in os.environ or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)  # the process's own C library
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False
