"""Filesystem size, free space and inodes per mount (psutil.disk_partitions + statvfs).

Mounts come from psutil.disk_partitions(all=True) (/proc/self/mounts, with the fstab escapes
such as ``\\040`` decoded), filtered by the configured mount-point and fs-type regexes, and
de-duplicated on (device, fstype, mountpoint) as node_exporter does (the same mount can appear
twice when it is mounted over itself). ``readonly`` comes from the mount options, as in
node_exporter, so it is known even for a mount whose statvfs fails.

statvfs() on a mount whose server is gone (a stale NFS mount, a hung FUSE daemon) can block
for minutes in the kernel, and a blocked thread cannot be interrupted. So each statvfs runs on
a daemon thread of :class:`Statfs` with a time limit: a mount that does not answer in
``filesystem.timeout`` is reported with ``node_filesystem_device_error 1``, its thread is left
to finish on its own, and later scrapes skip the mount (still reporting the error) until that
call returns. A hung mount thus costs one parked thread, never a scrape, and never blocks the
exporter's exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil
from prometheus_client.metrics_core import Metric as Family

from exporter import metrics as m
from exporter.host.common import Families, read_bytes
from exporter.host.config import HostConfig

log = logging.getLogger("redline.host")


@dataclass
class _Call:
    path: str
    done: threading.Event = field(default_factory=threading.Event)
    result: os.statvfs_result | OSError | None = None
    abandoned: bool = False  # the caller gave up waiting: the worker retires after this call
    wake: Callable[[], None] | None = None  # an event-loop caller waiting for this call


def _waker(loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None]) -> Callable[[], None]:
    def wake() -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            loop.call_soon_threadsafe(_resolve, waiter)

    return wake


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


Outcome = os.statvfs_result | OSError | None  # None: hung, now or since an earlier scrape


class Statfs:
    """statvfs with a time limit per path. One worker thread serves the calls of a scrape back
    to back (a single hand-over, not one per mount). A worker stuck in a call is abandoned: it
    retires once that call returns, un-marking the mount, and the calls queued behind it go to
    a new worker.

    A caller on the event loop (:meth:`statvfs_all_async`) waits without blocking the loop: the
    worker wakes it through the loop (``call_soon_threadsafe``) only for a call it is still
    waiting for, so a scrape whose calls are answered by the time it looks costs the one
    hand-over to the worker and none back."""

    def __init__(self) -> None:
        self._serial = threading.Lock()  # one caller at a time
        self._lock = threading.Lock()  # guards the fields below and each call's hand-over
        self._inbox: queue.SimpleQueue[list[_Call]] | None = None
        self.stuck: set[str] = set()

    def statvfs_all(self, paths: list[str], timeout: float) -> dict[str, Outcome]:
        """Each path's statvfs result, or the OSError it raised, or None if it is hung."""
        with self._serial:
            out = self._known_stuck(paths)
            pending = [path for path in dict.fromkeys(paths) if path not in out]
            while pending:
                pending = self._run(pending, timeout, out)
            return out

    async def statvfs_all_async(self, paths: list[str], timeout: float) -> dict[str, Outcome]:
        """:meth:`statvfs_all` for a caller on the event loop, which it never blocks."""
        if not self._serial.acquire(blocking=False):
            # a caller in a thread has its calls in the worker: wait for our turn as it does
            return await asyncio.to_thread(self.statvfs_all, paths, timeout)
        try:
            out = self._known_stuck(paths)
            pending = [path for path in dict.fromkeys(paths) if path not in out]
            while pending:
                pending = await self._run_async(pending, timeout, out)
            return out
        finally:
            self._serial.release()

    def _known_stuck(self, paths: list[str]) -> dict[str, Outcome]:
        with self._lock:
            return {path: None for path in paths if path in self.stuck}

    def _hand_over(self, paths: list[str]) -> list[_Call]:
        """Hands a call per path to the worker (started if there is none), in order."""
        with self._lock:
            if self._inbox is None:
                self._inbox = queue.SimpleQueue()
                threading.Thread(
                    target=self._serve, args=(self._inbox,), name="redline-statfs", daemon=True
                ).start()
            inbox = self._inbox
        calls = [_Call(path) for path in paths]
        inbox.put(calls)  # one hand-over for all (a put per call woke the worker each time)
        return calls

    def _run(self, paths: list[str], timeout: float, out: dict[str, Outcome]) -> list[str]:
        """Hands ``paths`` to the worker and collects the outcomes; returns the paths left
        unserved behind a hung one."""
        calls = self._hand_over(paths)
        for i, call in enumerate(calls):
            # the worker takes the calls in order, so this one starts about now
            call.done.wait(timeout)
            if not self._collect(call, timeout, out):
                return paths[i + 1 :]
        return []

    async def _run_async(
        self, paths: list[str], timeout: float, out: dict[str, Outcome]
    ) -> list[str]:
        """:meth:`_run`, waiting on the event loop."""
        calls = self._hand_over(paths)
        loop = asyncio.get_running_loop()
        for i, call in enumerate(calls):
            if not call.done.is_set():
                waiter: asyncio.Future[None] = loop.create_future()
                with self._lock:
                    if call.done.is_set():
                        waiter.set_result(None)
                    else:
                        call.wake = _waker(loop, waiter)
                try:
                    # the worker takes the calls in order, so this one starts about now
                    async with asyncio.timeout(timeout):
                        await waiter
                except TimeoutError:
                    pass
            if not self._collect(call, timeout, out):
                return paths[i + 1 :]
        return []

    def _collect(self, call: _Call, timeout: float, out: dict[str, Outcome]) -> bool:
        """The outcome of a call waited for; False when it is hung: its mount is marked stuck
        and its worker abandoned (the calls queued behind it go to a new one)."""
        with self._lock:
            if not call.done.is_set():
                call.abandoned = True
                self.stuck.add(call.path)
                self._inbox = None  # this worker is busy for who knows how long
                out[call.path] = None
                log.warning(
                    "statvfs(%s) did not return within %.1f s: reporting it with "
                    "node_filesystem_device_error 1 until it does",
                    call.path,
                    timeout,
                )
                return False
        out[call.path] = call.result
        return True

    def _serve(self, inbox: queue.SimpleQueue[list[_Call]]) -> None:
        while True:
            for call in inbox.get():
                result: Outcome
                try:
                    result = os.statvfs(call.path)
                except OSError as e:
                    result = e
                with self._lock:
                    call.result = result
                    call.done.set()
                    wake, retire = call.wake, call.abandoned
                    if retire:
                        # the calls still queued here were handed to a new worker
                        self.stuck.discard(call.path)
                if wake is not None:
                    wake()
                if retire:
                    log.info("statvfs(%s) returned again: the mount is reported again", call.path)
                    return


MOUNTS = "/proc/self/mounts"
MTAB = "/etc/mtab"  # what psutil reads when it is a file (usually a link to MOUNTS)


def _mount_table_key() -> tuple[bytes, tuple[int, ...]]:
    """What psutil.disk_partitions reads, cheaply: the mount table's text, and /etc/mtab's
    identity (a link to /proc/self/mounts on any current system; a file only where mount(8)
    still writes it)."""
    text = read_bytes(MOUNTS)
    try:
        st = os.lstat(MTAB)
    except OSError:
        return text, ()
    return text, (st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns)


class FilesystemCollector:
    """Keeps the mounts to report from one scrape to the next while the mount table and the
    filters are unchanged: psutil.disk_partitions (it also resolves /dev/root to the real
    device) was the larger part of this collector's time, and mounts rarely change."""

    def __init__(self) -> None:
        self.statfs = Statfs()
        self._mounts_key: tuple[bytes, tuple[int, ...]] | None = None
        self._settings: object = None
        self._mounts: dict[tuple[str, str, str], bool] = {}

    def _reported_mounts(self, config: HostConfig) -> dict[tuple[str, str, str], bool]:
        """(device, fstype, mountpoint) -> read-only, for the mounts the filters report."""
        settings = config.filesystem
        key = _mount_table_key()
        # the filters by identity: a reload makes new ones (comparing them field by field
        # would cost more than the check saves)
        if key == self._mounts_key and settings is self._settings:
            return self._mounts
        mounts: dict[tuple[str, str, str], bool] = {}
        for part in psutil.disk_partitions(all=True):
            labels = (part.device, part.fstype, part.mountpoint)
            if labels not in mounts and settings.reports(part.mountpoint, part.fstype):
                mounts[labels] = "ro" in part.opts.split(",")
        self._mounts_key, self._settings, self._mounts = key, settings, mounts
        return mounts

    def __call__(self, config: HostConfig) -> list[Family]:
        mounts = self._reported_mounts(config)
        paths = [mp for _, _, mp in mounts]
        return self._families(mounts, self.statfs.statvfs_all(paths, config.filesystem.timeout))

    async def collect_async(self, config: HostConfig) -> list[Family]:
        """The same run from the event loop: the mount table is a file the kernel generates
        (read on the loop like the /proc collectors), and the statvfs calls are waited for
        without blocking the loop (:meth:`Statfs.statvfs_all_async`)."""
        mounts = self._reported_mounts(config)
        paths = [mp for _, _, mp in mounts]
        timeout = config.filesystem.timeout
        return self._families(mounts, await self.statfs.statvfs_all_async(paths, timeout))

    def _families(
        self, mounts: dict[tuple[str, str, str], bool], outcomes: dict[str, Outcome]
    ) -> list[Family]:
        out = Families()
        for labels, readonly in mounts.items():
            out.values(m.NODE_FILESYSTEM_READONLY, 1.0 if readonly else 0.0, *labels)
            st = outcomes[labels[2]]
            if not isinstance(st, os.statvfs_result):
                # hung, or failed (e.g. a mount point redline may not enter): node_exporter
                # reports both the same way
                if st is not None:
                    log.debug("statvfs(%s) failed: %s", labels[2], st)
                out.values(m.NODE_FILESYSTEM_DEVICE_ERROR, 1.0, *labels)
                continue
            out.values(m.NODE_FILESYSTEM_DEVICE_ERROR, 0.0, *labels)
            # POSIX counts f_blocks, f_bfree and f_bavail in f_frsize units
            out.values(m.NODE_FILESYSTEM_SIZE, st.f_blocks * st.f_frsize, *labels)
            out.values(m.NODE_FILESYSTEM_FREE, st.f_bfree * st.f_frsize, *labels)
            out.values(m.NODE_FILESYSTEM_AVAIL, st.f_bavail * st.f_frsize, *labels)
            out.values(m.NODE_FILESYSTEM_FILES, st.f_files, *labels)
            out.values(m.NODE_FILESYSTEM_FILES_FREE, st.f_ffree, *labels)
        return out.families()
