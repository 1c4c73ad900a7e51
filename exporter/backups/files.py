"""The cheap part of a file backup check, done at every scrape: list the directory, match the
glob, stat the matches. Synchronous (the source runs it in a thread): no file is opened.

Errors are explicit rather than an empty list, so "the directory is gone" and "the job wrote
nothing" read differently: ``os.scandir`` raises where ``pathlib.Path.glob`` would quietly
return nothing.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from fnmatch import fnmatchcase

from exporter.backups.config import FileBackup


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int
    mtime: float  # seconds since the epoch
    mtime_ns: int

    @property
    def key(self) -> tuple[str, int, int]:
        """What identifies one version of a file: a rewrite changes size or mtime."""
        return (self.path, self.size, self.mtime_ns)


@dataclass(frozen=True)
class Scan:
    # None when the directory was listed; "missing" or "unreadable" otherwise
    error: str | None
    message: str
    files: int = 0
    total_size: int = 0
    newest: FileInfo | None = None


def _matches(name: str, cfg: FileBackup) -> bool:
    return fnmatchcase(name, cfg.glob) and not any(fnmatchcase(name, x) for x in cfg.exclude)


def scan(cfg: FileBackup) -> Scan:
    """List ``cfg.directory`` and describe the regular files matching the glob. Never raises
    for an OS error: it becomes the scan's ``error``."""
    directory = cfg.directory
    try:
        entries = os.scandir(directory)
    except FileNotFoundError:
        return Scan("missing", f"directory {directory} does not exist")
    except NotADirectoryError:
        return Scan("unreadable", f"{directory} is not a directory")
    except PermissionError:
        return Scan("unreadable", f"directory {directory}: permission denied")
    except OSError as e:
        return Scan("unreadable", f"directory {directory} cannot be read: {e.strerror}")
    count = total = 0
    newest: FileInfo | None = None
    try:
        with entries:
            for entry in entries:
                if not _matches(entry.name, cfg):
                    continue
                try:
                    st = entry.stat()  # follows symlinks: a link to a dump counts as the dump
                except OSError:
                    continue  # removed meanwhile (rotation), or a dangling link
                if not stat.S_ISREG(st.st_mode):
                    continue
                count += 1
                total += st.st_size
                info = FileInfo(entry.path, st.st_size, st.st_mtime, st.st_mtime_ns)
                # newest by mtime; on a tie the greater name, as dated names sort by date
                if newest is None or (info.mtime_ns, info.path) > (newest.mtime_ns, newest.path):
                    newest = info
    except OSError as e:  # an I/O error part way through the listing
        return Scan("unreadable", f"directory {directory} cannot be read: {e.strerror}")
    return Scan(None, "", count, total, newest)
