"""Keeps the exporter's resident memory steady from scrape to scrape (glibc's malloc), and its
garbage collector from rescanning what lives as long as the process (CPython's gc).

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
import gc
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


# CPython collects its youngest generation every 700 container objects allocated (net of those
# freed) and, every 100 such collections, every object of the process. A probe run of aiohttp
# allocates a few hundred, and the exporter holds some 200,000 objects (modules, the config's
# models, the results kept between scrapes): at 1,000 targets the collector took about a fifth
# of the exporter's CPU (1.8 s of 8.3 in six scrapes, in one process, measured with gc.callbacks
# and process time; docs/performance.md). Ten times fewer young collections let most of a run's
# objects die first, by reference count, instead of being scanned and moved to the older
# generations; resident memory was the same.
YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """Freeze what exists now (call it once started: the modules, the config, the app), so that
    no collection scans it again, and collect the young generation every ``YOUNG_THRESHOLD``
    objects instead of 700. Objects frozen are never collected: a config replaced by a reload
    is freed by reference counting (what a reference cycle holds of the first config would
    stay, once)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
