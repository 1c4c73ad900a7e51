"""Process groups: processes matched by name or command line (exporter/host/config.py,
``ProcessGroup``), reported per configured group.

/proc is read directly rather than through psutil.process_iter: one read of /proc/PID/stat
gives the name, state, CPU times, threads and start time of a process, where psutil reads two or
three files per process and builds objects around them (three times slower on a machine with a
hundred processes, and the cost grows with every process of the machine). The command line is
read only when a group matches on it, statm and the fd directory only for members. The name
follows psutil and ``ps``: the kernel keeps 15 characters of it, so a name of that length is
completed from the command line's first word when that word starts with it.

A member is identified by (pid, start time), so a pid the kernel hands to a new process is a
new member. Zombies are not members (they have ended; only their parent has not reaped them).
A process may belong to several groups.

Counters, kept per group name for as long as the source lives (so they survive reloads):

- ``cpu_seconds_total`` = CPU seconds of the current members + the last CPU seconds seen of
  every member that has ended or stopped matching. A member's CPU time between its last scrape
  and its exit is never seen, so the counter undercounts by that much, but it never goes down
  when a member exits (a plain sum would, and Prometheus would read that as a reset).
- ``restarts_total``: at each scrape, the members not seen at the previous scrape ("started")
  are restarts as far as they fill places left empty, up to the largest number of members the
  group has had at any scrape:
  ``restarts += min(started, max(0, peak - (members - started)))``, then
  ``peak = max(peak, members)``. So a member replaced by a new process counts once, whether
  the replacement came before the next scrape (a start time changed) or later (the group lost
  the member and regained one); a group that grows beyond its largest size is scaling up, not
  restarting; the members present at the first scrape, and a group that is empty when redline
  starts, count nothing. A process that starts and ends between two scrapes is never seen.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from prometheus_client.metrics_core import Metric as Family

from exporter import metrics as m
from exporter.host.common import CLOCK_TICKS, PROC, Families, read_bytes
from exporter.host.config import HostConfig

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
COMM_LEN = 15  # the kernel's TASK_COMM_LEN less its NUL
Key = tuple[int, int]  # (pid, start time in clock ticks since boot)


@dataclass(frozen=True)
class Member:
    start: float  # Unix time
    cpu: float
    rss: int
    threads: int
    fds: int


@dataclass
class GroupState:
    cpu_seen: dict[Key, float] = field(default_factory=dict)  # current members' CPU seconds
    cpu_ended: float = 0.0  # last CPU seconds seen of members that are gone
    restarts: int = 0
    peak: int = 0  # most members seen at one scrape

    def update(self, members: dict[Key, Member]) -> float:
        """Adopt this scrape's members; returns the group's CPU seconds counter."""
        started = sum(1 for key in members if key not in self.cpu_seen)
        kept = len(members) - started
        self.restarts += min(started, max(0, self.peak - kept))
        self.peak = max(self.peak, len(members))
        for key, cpu in self.cpu_seen.items():
            if key not in members:
                self.cpu_ended += cpu
        # a member's CPU time never decreases; max() guards against a rounding wobble
        self.cpu_seen = {
            key: max(member.cpu, self.cpu_seen.get(key, 0.0)) for key, member in members.items()
        }
        return self.cpu_ended + sum(self.cpu_seen.values())


def _cmdline(pid: str) -> str:
    # arguments are NUL-separated; a process that rewrote its title may use spaces instead
    data = read_bytes(f"{PROC}/{pid}/cmdline", keep=False).rstrip(b"\0")
    return data.replace(b"\0", b" ").decode("utf-8", "replace")


def _boot_time() -> float:
    # Not kept: this collector runs in the host source's worker thread while cpu and system
    # read the kept /proc/stat on the loop, and a kept file must be read by one thread at a
    # time (exporter/procfs.py). One open per scrape, among the hundreds of the walk.
    for line in read_bytes(f"{PROC}/stat", keep=False).splitlines():
        if line.startswith(b"btime "):
            return float(line.split()[1])
    raise RuntimeError("no btime in /proc/stat")


class ProcessGroupsCollector:
    def __init__(self) -> None:
        self.groups: dict[str, GroupState] = {}

    def on_loop(self, config: HostConfig) -> bool:
        """With no group configured a run only forgets the counters of removed groups:
        nothing to wait on, so the source runs it on the event loop (no thread hand-over)."""
        return not config.process_groups

    def __call__(self, config: HostConfig) -> list[Family]:
        groups = config.process_groups
        names = {g.name for g in groups}
        for name in list(self.groups):
            if name not in names:  # removed from the config: its counters go with it
                del self.groups[name]
        if not groups:
            return []
        with_cmdline = any(g.cmdline is not None for g in groups)
        boot = _boot_time()
        found: dict[str, dict[Key, Member]] = {g.name: {} for g in groups}
        for pid in os.listdir(PROC):
            if not pid.isdigit():
                continue
            try:
                stat = read_bytes(f"{PROC}/{pid}/stat", keep=False)
                # "PID (COMM) STATE ...": COMM may hold spaces and parentheses
                close = stat.rindex(b")")
                name = stat[stat.index(b"(") + 1 : close].decode("utf-8", "replace")
                fields = stat[close + 2 :].split()
                if fields[0] in (b"Z", b"X"):  # ended; only not yet reaped
                    continue
                cmdline = ""
                if with_cmdline or len(name) >= COMM_LEN:
                    cmdline = _cmdline(pid)
                    if len(name) >= COMM_LEN and cmdline:
                        first = os.path.basename(cmdline.split(" ", 1)[0])
                        if first.startswith(name):
                            name = first
                matched = [g.name for g in groups if g.matches(name, cmdline)]
                if not matched:
                    continue
                # statm's resident pages, as ps, top and psutil report them (the rss field of
                # /proc/PID/stat can lag behind on recent kernels)
                rss = int(read_bytes(f"{PROC}/{pid}/statm", keep=False).split()[1]) * PAGE_SIZE
                try:
                    # another user's fd directory needs privileges: count what redline may see
                    fds = len(os.listdir(f"{PROC}/{pid}/fd"))
                except PermissionError:
                    fds = 0
            except (OSError, ValueError, IndexError):
                continue  # ended while being read, or hidden (hidepid)
            # fields from 3 (state) on: utime 14, stime 15, num_threads 20, starttime 22
            start_ticks = int(fields[19])
            member = Member(
                start=boot + start_ticks / CLOCK_TICKS,
                cpu=(int(fields[11]) + int(fields[12])) / CLOCK_TICKS,
                rss=rss,
                threads=int(fields[17]),
                fds=fds,
            )
            for group_name in matched:
                found[group_name][(int(pid), start_ticks)] = member

        out = Families()
        for group in groups:
            members = found[group.name]
            state = self.groups.setdefault(group.name, GroupState())
            cpu = state.update(members)
            values = members.values()
            out.values(m.PROCESS_GROUP_PROCESSES, len(members), group.name)
            out.values(m.PROCESS_GROUP_CPU_SECONDS, cpu, group.name)
            out.values(m.PROCESS_GROUP_RESIDENT_MEMORY, sum(v.rss for v in values), group.name)
            out.values(m.PROCESS_GROUP_THREADS, sum(v.threads for v in values), group.name)
            out.values(m.PROCESS_GROUP_OPEN_FDS, sum(v.fds for v in values), group.name)
            if members:
                oldest = min(v.start for v in values)
                out.values(m.PROCESS_GROUP_OLDEST_START, oldest, group.name)
            out.values(m.PROCESS_GROUP_RESTARTS, state.restarts, group.name)
        return out.families()
