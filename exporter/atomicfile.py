"""Writing a small state file so that a crash leaves either the old file or the new one, never a
torn one: write a temp file in the same directory, fsync it, rename it over the old one, then
fsync the directory (the rename is durable only once the directory is). Used by every source
that keeps state across restarts (heartbeats, Fly machines, restore tests)."""

from __future__ import annotations

import contextlib
import os
import tempfile


def write_atomic(path: str, data: bytes, prefix: str) -> None:
    """Replace ``path`` with ``data`` durably; OSError (the temp file removed) on failure."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
