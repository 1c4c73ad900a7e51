"""Keeps the exporter's resident memory steady from scrape to scrape (glibc's malloc).

glibc serves a large block (128 KiB and up, at first) with its own mmap and gives it back to the
system when it is freed; but each time such a block is freed, glibc raises that threshold to
the block's size (up to 32 MiB), so that later blocks of that size come from the heap, where
freed memory stays resident. A scrape of 1,000 targets builds strings of about 2.6 MB (the
exposition text, its bytes): after the first scrapes they came from the heap, and the resident
memory swung between about 88 and 98 MB from one scrape to the next. With the threshold fixed
it stays at about 87.5 MB (docs/performance.md). Setting the threshold turns glibc's adjustment
off; it costs an mmap and a munmap per large block, microseconds per scrape.
"""

from __future__ import annotations

import ctypes
import os

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
THRESHOLD = 128 * 1024  # glibc's initial value, kept


def fix_mmap_threshold(threshold: int = THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes. False, and nothing done, where the C
    library has no ``mallopt`` (not glibc) or where the operator set ``MALLOC_MMAP_THRESHOLD_``
    (glibc reads it at start; their choice stands)."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this interpreter runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))  # glibc: 1 on success
