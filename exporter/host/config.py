"""The ``host:`` section of redline.yml: which host collectors run, which mounts, disks and
network devices they report, and the process groups to watch.

Include/exclude filters are regular expressions searched (not anchored unless the pattern is)
in the name, as node_exporter's ``--collector.*-include/-exclude`` flags are; a name is reported
when it matches ``*_include`` (if set) and does not match ``*_exclude`` (if set). Set an
exclude to ``null`` to turn it off. The defaults are node_exporter's, so the same series appear.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from exporter.configtypes import Duration, Model, Name, Regex, unique_names

# Upstream node_exporter's defaults (collector/filesystem_linux.go, collector/diskstats_linux.go;
# v1.8 and later): pseudo and container-internal filesystems are left out, tmpfs is kept (a full
# /run or /dev/shm is a real outage), partitions are left out of disk I/O because the whole disk
# already counts them. Upstream excludes no network device (Debian's package adds ^lo$).
DEFAULT_MOUNT_POINTS_EXCLUDE = (
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
)
DEFAULT_FS_TYPES_EXCLUDE = (
    r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs"
    r"|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs"
    r"|squashfs|erofs|sysfs|tracefs)$"
)
DEFAULT_DISK_DEVICES_EXCLUDE = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"

CollectorName = Literal[
    "cpu", "memory", "system", "pressure", "diskio", "network", "filesystem", "process_groups"
]
COLLECTOR_NAMES: tuple[CollectorName, ...] = (
    "cpu",
    "memory",
    "system",
    "pressure",
    "diskio",
    "network",
    "filesystem",
    "process_groups",
)


def allowed(name: str, include: re.Pattern[str] | None, exclude: re.Pattern[str] | None) -> bool:
    """The include/exclude rule shared by every filter."""
    if include is not None and include.search(name) is None:
        return False
    return exclude is None or exclude.search(name) is None


class FilesystemConfig(Model):
    mount_points_include: Regex | None = None
    mount_points_exclude: Regex | None = re.compile(DEFAULT_MOUNT_POINTS_EXCLUDE)
    fs_types_include: Regex | None = None
    fs_types_exclude: Regex | None = re.compile(DEFAULT_FS_TYPES_EXCLUDE)
    # statvfs() on a mount whose server is gone (stale NFS, a hung FUSE daemon) can block for
    # minutes. After this long the mount is reported with node_filesystem_device_error 1 and
    # skipped by later scrapes until the hung call returns; a healthy local statvfs takes
    # microseconds, so 1 s is generous while keeping the scrape well inside its deadline.
    timeout: Duration = Field(default=1.0, gt=0)

    def reports(self, mountpoint: str, fstype: str) -> bool:
        return allowed(mountpoint, self.mount_points_include, self.mount_points_exclude) and (
            allowed(fstype, self.fs_types_include, self.fs_types_exclude)
        )


class DiskIOConfig(Model):
    devices_include: Regex | None = None
    devices_exclude: Regex | None = re.compile(DEFAULT_DISK_DEVICES_EXCLUDE)

    def reports(self, device: str) -> bool:
        return allowed(device, self.devices_include, self.devices_exclude)


class NetworkConfig(Model):
    devices_include: Regex | None = None
    devices_exclude: Regex | None = None

    def reports(self, device: str) -> bool:
        return allowed(device, self.devices_include, self.devices_exclude)


class ProcessGroup(Model):
    """Processes watched together, e.g. Chatwoot's Sidekiq workers. A process is a member when
    every matcher that is set finds a match: ``process_name`` in the process name (what
    ``ps -o comm`` shows, completed from the command line when the kernel cut it at 15
    characters), ``cmdline`` in the arguments joined by single spaces."""

    name: Name
    process_name: Regex | None = None
    cmdline: Regex | None = None

    @model_validator(mode="after")
    def _matcher(self) -> ProcessGroup:
        if self.process_name is None and self.cmdline is None:
            raise ValueError("set process_name or cmdline (a regular expression), or both")
        return self

    def matches(self, name: str, cmdline: str) -> bool:
        if self.process_name is not None and self.process_name.search(name) is None:
            return False
        return self.cmdline is None or self.cmdline.search(cmdline) is not None


class HostConfig(Model):
    enabled: bool = True
    # The collectors that run; each reports node_scrape_collector_success{collector}.
    collectors: tuple[CollectorName, ...] = COLLECTOR_NAMES
    filesystem: FilesystemConfig = FilesystemConfig()
    diskio: DiskIOConfig = DiskIOConfig()
    network: NetworkConfig = NetworkConfig()
    process_groups: tuple[ProcessGroup, ...] = ()

    @field_validator("process_groups")
    @classmethod
    def _unique(cls, groups: tuple[ProcessGroup, ...]) -> tuple[ProcessGroup, ...]:
        # state (restart and CPU counters) is kept by group name, so names must be unique
        unique_names([g.name for g in groups], "process group")
        return groups
