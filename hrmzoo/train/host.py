"""Process-wide settings that make CPU training faster without changing any value."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_tuned = False


def tune_cpu_allocator(keep_bytes: int = 1 << 30) -> bool:
    """Stop glibc from returning freed activation buffers to the OS.

    By default glibc serves blocks above 128 KiB-32 MiB with fresh `mmap` calls
    and trims the heap on free, so every new [B, S, D] activation on the CPU costs
    one page fault per 4 KiB page; on a VM that can cost more than the arithmetic
    (8-14% of a tiny-config training step, `benchmarks/RESULTS.md`). Raising the mmap
    and trim thresholds keeps freed blocks for reuse. Returns False where glibc's
    `mallopt` is not available (other C libraries, other systems).
    """
    global _tuned
    if _tuned:
        return True
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    _tuned = bool(mallopt(M_MMAP_THRESHOLD, keep_bytes)) and bool(mallopt(M_TRIM_THRESHOLD, 2 * keep_bytes - 1))
    return _tuned
