"""Process groups against real child processes: counts and figures compared with /proc read
here, and the restart and CPU counters through kills, restarts, growth, zombies and reloads."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.metrics_core import Metric as Family

from exporter.config import Config, parse_config
from exporter.host.config import HostConfig, ProcessGroup
from exporter.host.source import HostSource
from exporter.secrets import Redactor

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples_of(families: list[Family]) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value for f in families for s in f.samples}


async def scrape(source: HostSource) -> Samples:
    s = samples_of(await source.collect(asyncio.get_running_loop().time() + 5))
    assert s[("node_scrape_collector_success", frozenset({("collector", "process_groups")}))] == 1
    return s


def value(s: Samples, name: str, group: str) -> float | None:
    return s.get((f"redline_process_group_{name}", frozenset({("group", group)})))


def proc_figures(pid: int) -> dict[str, float]:
    """What the kernel says of one process, read without psutil."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    rest = stat[stat.rindex(")") + 2 :].split()  # fields from 3 (state) on
    btime = next(
        int(line.split()[1])
        for line in Path("/proc/stat").read_text().splitlines()
        if line.startswith("btime")
    )
    return {
        "cpu": (int(rest[11]) + int(rest[12])) / TICKS,
        "threads": int(rest[17]),
        "start": btime + int(rest[19]) / TICKS,
        "rss": int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE,
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


class Children:
    """Child processes of a test: sleep under a name no other process has."""

    def __init__(self, tmp_path: Path) -> None:
        self.name = f"rlsleep{secrets.token_hex(3)}"  # under 15 characters: the kernel's comm
        self.binary = tmp_path / self.name
        # a symlink names the process (the kernel takes its name from the path run) and, unlike
        # a copy, still runs where the temp dir is mounted noexec
        self.binary.symlink_to(shutil.which("sleep") or "/bin/sleep")
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, seconds: str = "600") -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [str(self.binary), seconds],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes], reap: bool = True) -> None:
        proc.kill()
        if reap:
            proc.wait()
        else:  # a zombie until reaped: wait for the kernel to have ended it
            deadline = time.monotonic() + 5
            while Path(f"/proc/{proc.pid}/stat").read_text().split(") ")[1][0] != "Z":
                assert time.monotonic() < deadline
                time.sleep(0.01)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Children]:
    c = Children(tmp_path)
    yield c
    c.close()


def source_for(*groups: ProcessGroup) -> HostSource:
    host = HostConfig(collectors=("process_groups",), process_groups=groups)
    return HostSource(Config(host=host), Redactor())


async def test_group_figures_match_proc(children: Children) -> None:
    source = source_for(ProcessGroup(name="sleepers", process_name=re.compile(children.name)))
    procs = [children.spawn() for _ in range(3)]
    await asyncio.sleep(0.05)  # let each exec its copy of sleep
    s = await scrape(source)
    figures = [proc_figures(p.pid) for p in procs]

    assert value(s, "processes", "sleepers") == 3
    assert value(s, "threads", "sleepers") == sum(f["threads"] for f in figures)
    assert value(s, "resident_memory_bytes", "sleepers") == sum(f["rss"] for f in figures)
    assert value(s, "open_fds", "sleepers") == sum(f["fds"] for f in figures)
    assert value(s, "oldest_start_time_seconds", "sleepers") == pytest.approx(
        min(f["start"] for f in figures), abs=0.02
    )
    assert value(s, "cpu_seconds_total", "sleepers") == pytest.approx(
        sum(f["cpu"] for f in figures), abs=0.05
    )
    assert value(s, "restarts_total", "sleepers") == 0


async def test_no_file_is_kept_open(children: Children) -> None:
    """Each process's stat, statm and cmdline are opened and closed at every read: kept open as
    the cpu collector keeps /proc/stat (exporter/procfs.py), they would hold a descriptor for
    every process ever seen. /proc/stat itself (the boot time) is not kept either: this
    collector runs in the worker thread, and a kept file is read from one thread at a time."""
    from exporter import procfs

    with procfs._KEPT_LOCK:  # as if only this collector had run in this process
        fd = procfs._KEPT.pop("/proc/stat", None)
    if fd is not None:
        os.close(fd)
    source = source_for(
        ProcessGroup(name="sleepers", cmdline=re.compile(rf"{children.name} 600$")),
    )
    children.spawn()
    await asyncio.sleep(0.05)
    s = await scrape(source)
    assert value(s, "processes", "sleepers") == 1
    kept = [p for p in procfs._KEPT if p == "/proc/stat" or re.match(r"/proc/\d+/", p)]
    assert kept == []


async def test_restarts_count_replacements_not_growth(children: Children) -> None:
    source = source_for(ProcessGroup(name="workers", process_name=re.compile(children.name)))

    async def state() -> tuple[float | None, float | None]:
        s = await scrape(source)
        return value(s, "processes", "workers"), value(s, "restarts_total", "workers")

    assert await state() == (0, 0)  # empty when redline starts: later starts are not restarts
    procs = [children.spawn() for _ in range(3)]
    assert await state() == (3, 0)

    children.kill(procs[0])  # replaced before the next scrape: its start time changed
    procs[0] = children.spawn()
    assert await state() == (3, 1)

    children.kill(procs[1])  # lost at one scrape, regained at a later one
    assert await state() == (2, 1)
    procs[1] = children.spawn()
    assert await state() == (3, 2)

    procs.append(children.spawn())  # growth beyond the largest size so far: scaling up
    assert await state() == (4, 2)

    children.kill(procs[2], reap=False)  # a zombie is no member
    assert await state() == (3, 2)
    procs[2].wait()

    for proc in procs:
        if proc.poll() is None:
            children.kill(proc)
    s = await scrape(source)
    assert value(s, "processes", "workers") == 0
    assert value(s, "oldest_start_time_seconds", "workers") is None  # undefined while empty
    children.spawn()
    assert await state() == (1, 3)


async def test_matching_by_command_line_and_by_both(children: Children) -> None:
    source = source_for(
        ProcessGroup(name="short", cmdline=re.compile(rf"{children.name} 601$")),
        ProcessGroup(name="any", process_name=re.compile(children.name)),
        ProcessGroup(
            name="both",
            process_name=re.compile(children.name),
            cmdline=re.compile(r" 60[12]$"),
        ),
        ProcessGroup(name="none", process_name=re.compile("^no-such-process-xyz$")),
    )
    children.spawn("601")
    children.spawn("602")
    children.spawn("603")
    await asyncio.sleep(0.05)
    s = await scrape(source)
    assert value(s, "processes", "short") == 1
    assert value(s, "processes", "any") == 3  # a process may be in several groups
    assert value(s, "processes", "both") == 2
    assert value(s, "processes", "none") == 0
    assert value(s, "restarts_total", "none") == 0


async def burnt(proc: subprocess.Popen[bytes]) -> None:
    """Wait until the burner has used its 0.3 s of CPU and gone to sleep."""
    deadline = time.monotonic() + 10
    while (
        proc_figures(proc.pid)["cpu"] < 0.3
        or "S" not in Path(f"/proc/{proc.pid}/stat").read_text().rsplit(") ", 1)[1][:1]
    ):
        assert time.monotonic() < deadline, "the burner did not burn its CPU in time"
        await asyncio.sleep(0.02)


async def test_cpu_counter_survives_member_exits_and_reloads(children: Children) -> None:
    token = f"rlburn{secrets.token_hex(3)}"
    # burns 0.35 s of CPU (however long that takes on a busy machine), then sleeps
    burn = f"import time  # {token}\nwhile time.process_time() < 0.35: pass\ntime.sleep(600)\n"
    text = "host:\n  collectors: [process_groups]\n  process_groups:\n"
    text += f"    - {{name: burners, cmdline: '{token}'}}\n"
    source = HostSource(parse_config(text, "t.yml"), Redactor())

    proc = subprocess.Popen([sys.executable, "-c", burn], stdin=subprocess.DEVNULL)
    children.procs.append(proc)
    await burnt(proc)
    s = await scrape(source)
    busy = value(s, "cpu_seconds_total", "burners")
    assert busy is not None and busy >= 0.3
    assert busy == pytest.approx(proc_figures(proc.pid)["cpu"], abs=0.05)

    children.kill(proc)  # the member's CPU seconds stay in the counter
    s = await scrape(source)
    assert value(s, "processes", "burners") == 0
    assert value(s, "cpu_seconds_total", "burners") == busy

    replacement = subprocess.Popen([sys.executable, "-c", burn], stdin=subprocess.DEVNULL)
    children.procs.append(replacement)
    await burnt(replacement)
    s = await scrape(source)
    assert value(s, "restarts_total", "burners") == 1
    before = value(s, "cpu_seconds_total", "burners")
    assert before is not None and before >= busy + 0.3

    # a reload that keeps the group's name keeps its counters, even with another matcher
    more = text.replace(f"cmdline: '{token}'", f"cmdline: '{token}', process_name: python")
    more += "    - {name: others, process_name: '^no-such-process-xyz$'}\n"
    await source.reload(parse_config(more, "t.yml"))
    s = await scrape(source)
    after = value(s, "cpu_seconds_total", "burners")
    assert after is not None and after >= before
    assert value(s, "restarts_total", "burners") == 1
    assert value(s, "processes", "others") == 0

    # a group removed from the config is forgotten; added back, it starts from zero
    await source.reload(parse_config(more.replace("burners", "renamed"), "t.yml"))
    s = await scrape(source)
    assert value(s, "restarts_total", "burners") is None
    assert value(s, "restarts_total", "renamed") == 0


def test_state_update_rule() -> None:
    """The restart rule on its own, one scrape per step (keys stand for (pid, start))."""
    from exporter.host.processes import GroupState, Member

    def members(*keys: int) -> dict[tuple[int, int], Member]:
        return {(k, 0): Member(start=0.0, cpu=1.0, rss=0, threads=1, fds=0) for k in keys}

    state = GroupState()
    steps: list[tuple[Callable[[], dict[tuple[int, int], Member]], int]] = [
        (lambda: members(1, 2), 0),  # first sight
        (lambda: members(1, 3), 1),  # 2 replaced by 3
        (lambda: members(4, 5), 3),  # both replaced
        (lambda: members(4, 5, 6), 3),  # growth
        (lambda: members(), 3),  # all gone
        (lambda: members(7, 8, 9, 10), 6),  # three places refilled, one new
    ]
    for make, restarts in steps:
        state.update(make())
        assert state.restarts == restarts
    assert state.cpu_ended == 6.0  # members 1..6 ended with 1 CPU second each
