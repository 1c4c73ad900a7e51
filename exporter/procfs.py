"""Reading the kernel's generated files (/proc, /sys) cheaply, for the host collectors and the
exporter's own process metrics, which read the same dozen files at every scrape."""

from __future__ import annotations

import os
import threading

# Kernel files kept open between scrapes, by path, and read again from their start: procfs and
# sysfs generate a file's text afresh at every read from offset 0 (top does the same with
# /proc/stat), and opening and closing it again at every scrape was half of each read's time.
_KEPT: dict[str, int] = {}
_KEPT_LOCK = threading.Lock()
KERNEL_PREFIXES = ("/proc/", "/sys/")


def read_bytes(path: str, *, keep: bool = True) -> bytes:
    """A /proc or /sys file whole, with os.pread rather than a Python file object: no buffered
    reader, no decoder, and the file kept open between calls (``_KEPT``); other files are
    opened and closed each time, as are those read with ``keep=False``: the files of another
    process (/proc/PID/...), which go away with it (kept, they would hold a descriptor for
    every process ever read). Read to the end: a generated file may come in more than one
    read. A file whose read fails is closed, to be opened afresh next time; so a kept file is
    read from one thread at a time (by the collectors on the event loop, or by one collector
    that never runs twice at once): the close would otherwise pull its descriptor from under
    another thread's read, which could then read whatever file took that number. A collector
    in a worker thread reads with ``keep=False`` what the loop's collectors keep."""
    if not keep or not path.startswith(KERNEL_PREFIXES):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            return _read_all(fd)
        finally:
            os.close(fd)
    kept = _KEPT.get(path)
    if kept is None:
        opened = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        with _KEPT_LOCK:
            kept = _KEPT.setdefault(path, opened)
        if kept != opened:  # another thread opened it meanwhile
            os.close(opened)
    fd = kept
    try:
        return _read_all(fd)
    except OSError:
        with _KEPT_LOCK:
            if _KEPT.get(path) == fd:
                del _KEPT[path]
                os.close(fd)  # opened afresh next time
        raise


def _read_all(fd: int) -> bytes:
    data = os.pread(fd, 65536, 0)
    more = os.pread(fd, 65536, len(data)) if data else b""
    while more:
        data += more
        more = os.pread(fd, 65536, len(data))
    return data
