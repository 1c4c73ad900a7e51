"""The host source against the machine it runs on: every figure is compared with /proc, df or
the kernel read independently here (exactly for static values, bracketed by a reading before
and after the scrape for counters), failures of one collector leave the others alone, and the
exposition passes `promtool check metrics`."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.metrics_core import Metric as Family
from prometheus_client.parser import text_string_to_metric_families

from exporter import collector
from exporter import metrics as m
from exporter.app import initial_runtime, make_app
from exporter.collector import collect_source
from exporter.config import Config, ConfigError, parse_config
from exporter.host import registry
from exporter.host.config import (
    COLLECTOR_NAMES,
    FilesystemConfig,
    HostConfig,
    NetworkConfig,
    ProcessGroup,
)
from exporter.host.source import HostSource
from exporter.secrets import Redactor
from tests.promtool import promtool_problems

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
TICKS = os.sysconf("SC_CLK_TCK")

# node_exporter's upstream defaults, written out here as the specification the config follows
UPSTREAM_MOUNT_POINTS_EXCLUDE = (
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
)
UPSTREAM_FS_TYPES_EXCLUDE = (
    "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660"
    "|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs"
    "|sysfs|tracefs)$"
)
UPSTREAM_DISK_EXCLUDE = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"


def samples_of(families: list[Family]) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in families
        for s in family.samples
    }


def get(samples: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    assert key in samples, f"{name}{labels} missing"
    return samples[key]


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(labels)[label] for (n, labels) in samples if n == name}


async def collect(source: HostSource, budget: float = 5.0) -> Samples:
    return samples_of(await source.collect(asyncio.get_running_loop().time() + budget))


def host_source(**host: Any) -> HostSource:
    return HostSource(Config(host=HostConfig(**host)), Redactor())


# --- independent readers of the kernel's figures ---------------------------------------------


def proc_stat() -> dict[str, list[int]]:
    return {
        line.split()[0]: [int(v) for v in line.split()[1:]]
        for line in Path("/proc/stat").read_text().splitlines()
        if line.strip()
    }


def meminfo() -> dict[str, int]:
    out = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, value = line.split(":")
        out[key] = int(value.split()[0]) * 1024
    return out


def diskstats() -> dict[str, list[int]]:
    out = {}
    for line in Path("/proc/diskstats").read_text().splitlines():
        fields = line.split()
        out[fields[2]] = [int(v) for v in fields[3:]]
    return out


def netdev() -> dict[str, list[int]]:
    out = {}
    for line in Path("/proc/net/dev").read_text().splitlines()[2:]:
        name, _, rest = line.partition(":")
        out[name.strip()] = [int(v) for v in rest.split()]
    return out


def mounts() -> set[tuple[str, str, str]]:
    """(device, fstype, mountpoint) of /proc/self/mounts, fstab escapes decoded."""

    def unescape(text: str) -> str:
        return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)

    out = set()
    for line in Path("/proc/self/mounts").read_text().splitlines():
        device, mountpoint, fstype = line.split()[:3]
        out.add((unescape(device), fstype, unescape(mountpoint)))
    return out


def bracket(before: float, value: float, after: float) -> bool:
    return before <= value <= after


# --- the figures ---------------------------------------------------------------------------


async def test_cpu_memory_and_system_figures_match_the_kernel() -> None:
    source = host_source()
    stat0, mem0 = proc_stat(), meminfo()
    load0 = [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    s = await collect(source)
    stat1, mem1 = proc_stat(), meminfo()
    load1 = [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]

    for name in COLLECTOR_NAMES:
        assert get(s, "node_scrape_collector_success", collector=name) == 1.0, name
        assert 0 <= get(s, "node_scrape_collector_duration_seconds", collector=name) < 5

    # every CPU the kernel lists (and only those), with node_exporter's eight modes
    cpus = {k[3:] for k in stat0 if re.fullmatch(r"cpu\d+", k)}
    assert label_values(s, "node_cpu_seconds_total", "cpu") == cpus
    assert len(cpus) == os.cpu_count()
    modes = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    assert label_values(s, "node_cpu_seconds_total", "mode") == set(modes)
    for cpu in cpus:
        for i, mode in enumerate(modes):
            value = get(s, "node_cpu_seconds_total", cpu=cpu, mode=mode)
            lo, hi = stat0[f"cpu{cpu}"][i] / TICKS, stat1[f"cpu{cpu}"][i] / TICKS
            assert lo - 0.01 <= value <= hi + 0.01, (cpu, mode, lo, value, hi)
        guest = get(s, "node_cpu_guest_seconds_total", cpu=cpu, mode="user")
        assert bracket(stat0[f"cpu{cpu}"][8] / TICKS, guest, stat1[f"cpu{cpu}"][8] / TICKS)

    for i, load in enumerate(("node_load1", "node_load5", "node_load15")):
        assert min(load0[i], load1[i]) - 0.01 <= get(s, load) <= max(load0[i], load1[i]) + 0.01

    # static: exact; moving: within what changed meanwhile plus a margin
    assert get(s, "node_memory_MemTotal_bytes") == mem0["MemTotal"]
    assert get(s, "node_memory_SwapTotal_bytes") == mem0["SwapTotal"]
    for field in ("MemAvailable", "MemFree", "Cached", "Buffers", "SwapFree"):
        value = get(s, f"node_memory_{field}_bytes")
        margin = 64 * 2**20  # Cached is the kernel's field alone (psutil adds SReclaimable)
        low, high = min(mem0[field], mem1[field]), max(mem0[field], mem1[field])
        assert low - margin <= value <= high + margin, field

    assert get(s, "node_boot_time_seconds") == stat0["btime"][0]
    assert bracket(stat0["ctxt"][0], get(s, "node_context_switches_total"), stat1["ctxt"][0])
    file_max = int(Path("/proc/sys/fs/file-max").read_text())
    assert get(s, "node_filefd_maximum") == file_max
    allocated = int(Path("/proc/sys/fs/file-nr").read_text().split()[0])
    assert abs(get(s, "node_filefd_allocated") - allocated) < 500


async def test_filesystems_match_df_and_leave_pseudo_filesystems_out() -> None:
    s = await collect(host_source())
    reported = {
        (d["device"], d["fstype"], d["mountpoint"])
        for (name, labels) in s
        if name == "node_filesystem_size_bytes"
        for d in [dict(labels)]
    }
    expected = {
        (device, fstype, mountpoint)
        for device, fstype, mountpoint in mounts()
        if not re.search(UPSTREAM_MOUNT_POINTS_EXCLUDE, mountpoint)
        and not re.search(UPSTREAM_FS_TYPES_EXCLUDE, fstype)
    }
    assert reported == expected
    assert not {fstype for _, fstype, _ in reported} & {"proc", "sysfs", "cgroup", "devpts"}

    # df does its own statvfs: sizes and inode totals are exact, free space moves a little
    for device, fstype, mountpoint in reported:
        df = subprocess.run(
            ["df", "-B1", "--output=size,avail,itotal", mountpoint],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()[1]
        size, avail, inodes = (int(v) for v in df.split())
        labels = {"device": device, "fstype": fstype, "mountpoint": mountpoint}
        assert get(s, "node_filesystem_size_bytes", **labels) == size
        assert get(s, "node_filesystem_files", **labels) == inodes
        assert abs(get(s, "node_filesystem_avail_bytes", **labels) - avail) < 256 * 2**20
        assert get(s, "node_filesystem_free_bytes", **labels) >= get(
            s, "node_filesystem_avail_bytes", **labels
        )
        assert get(s, "node_filesystem_device_error", **labels) == 0
        options = next(
            line.split()[3]
            for line in Path("/proc/self/mounts").read_text().splitlines()
            if line.split()[1] == mountpoint.replace(" ", "\\040")
        )
        assert get(s, "node_filesystem_readonly", **labels) == ("ro" in options.split(","))


async def test_disk_and_network_counters_match_the_kernel() -> None:
    source = host_source()
    disks0, net0 = diskstats(), netdev()
    s = await collect(source)
    disks1, net1 = diskstats(), netdev()

    devices = {d for d in disks0 if not re.search(UPSTREAM_DISK_EXCLUDE, d)}
    assert label_values(s, "node_disk_reads_completed_total", "device") == devices
    for device in devices:
        before, after = disks0[device], disks1[device]
        for name, index, scale in (
            ("node_disk_reads_completed_total", 0, 1.0),
            ("node_disk_read_bytes_total", 2, 512.0),  # sectors of 512 bytes
            ("node_disk_writes_completed_total", 4, 1.0),
            ("node_disk_written_bytes_total", 6, 512.0),
            ("node_disk_io_time_seconds_total", 9, 1e-3),  # milliseconds
        ):
            value = get(s, name, device=device)
            low, high = before[index] * scale, after[index] * scale
            assert low * (1 - 1e-12) <= value <= high * (1 + 1e-12), (name, device)

    assert label_values(s, "node_network_receive_bytes_total", "device") == set(net0)
    for device in net0:
        before, after = net0[device], net1[device]
        for name, index in (
            ("node_network_receive_bytes_total", 0),
            ("node_network_receive_packets_total", 1),
            ("node_network_receive_errs_total", 2),
            ("node_network_receive_drop_total", 3),
            ("node_network_transmit_bytes_total", 8),
            ("node_network_transmit_packets_total", 9),
            ("node_network_transmit_errs_total", 10),
            ("node_network_transmit_drop_total", 11),
        ):
            assert bracket(before[index], get(s, name, device=device), after[index]), name


async def test_pressure_figures_where_the_kernel_has_them() -> None:
    if not Path("/proc/pressure/cpu").exists():
        pytest.skip("this kernel has no pressure stall information")

    def totals() -> dict[tuple[str, str], int]:
        out = {}
        for resource in ("cpu", "memory", "io"):
            for line in Path(f"/proc/pressure/{resource}").read_text().splitlines():
                out[(resource, line.split()[0])] = int(line.rsplit("total=", 1)[1])
        return out

    before = totals()
    s = await collect(host_source(collectors=("pressure",)))
    after = totals()
    for name, key in (
        ("node_pressure_cpu_waiting_seconds_total", ("cpu", "some")),
        ("node_pressure_memory_waiting_seconds_total", ("memory", "some")),
        ("node_pressure_memory_stalled_seconds_total", ("memory", "full")),
        ("node_pressure_io_waiting_seconds_total", ("io", "some")),
        ("node_pressure_io_stalled_seconds_total", ("io", "full")),
    ):
        assert bracket(before[key] / 1e6, get(s, name), after[key] / 1e6), name


async def test_pressure_absent_is_no_failure_but_unreadable_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exporter.host import pressure

    monkeypatch.setattr(pressure, "PROC", tmp_path)  # a kernel without /proc/pressure
    s = await collect(host_source(collectors=("pressure",)))
    assert get(s, "node_scrape_collector_success", collector="pressure") == 1
    assert not [name for name, _ in s if name.startswith("node_pressure_")]

    (tmp_path / "pressure" / "cpu").mkdir(parents=True)  # reading it fails with EISDIR
    s = await collect(host_source(collectors=("pressure", "memory")))
    assert get(s, "node_scrape_collector_success", collector="pressure") == 0
    assert get(s, "node_scrape_collector_success", collector="memory") == 1
    assert get(s, "node_memory_MemTotal_bytes") == meminfo()["MemTotal"]


# --- configuration -------------------------------------------------------------------------


async def test_filters_choose_mounts_and_devices() -> None:
    s = await collect(
        host_source(
            collectors=("filesystem", "network", "diskio"),
            filesystem=FilesystemConfig(mount_points_include=re.compile(r"^/$")),
            network=NetworkConfig(devices_include=re.compile(r"^lo$")),
        )
    )
    assert label_values(s, "node_filesystem_size_bytes", "mountpoint") <= {"/"}
    assert label_values(s, "node_network_receive_bytes_total", "device") == {"lo"}
    assert not [name for name, _ in s if name.startswith("node_cpu")]  # cpu is not enabled

    text = """
host:
  collectors: [diskio, network]
  diskio: {devices_exclude: null}
  network: {devices_exclude: '^lo$'}
"""
    config = parse_config(text, "t.yml")
    s = samples_of(
        await HostSource(config, Redactor()).collect(asyncio.get_running_loop().time() + 5)
    )
    assert label_values(s, "node_disk_reads_completed_total", "device") == set(diskstats())
    assert "lo" not in label_values(s, "node_network_receive_bytes_total", "device")


async def test_disabled_host_reports_nothing() -> None:
    config = parse_config("host: {enabled: false}\n", "t.yml")
    assert config.host.enabled is False
    assert await HostSource(config, Redactor()).collect(asyncio.get_running_loop().time() + 5) == []
    assert Config().host.enabled is True  # on by default
    # and no redline_source_up{source="host"} 1 claiming it works (absent, as node_exporter
    # leaves out a disabled collector's node_scrape_collector_success)
    source = HostSource(config, Redactor())
    families = await collect_source(source, asyncio.get_running_loop().time() + 5)
    assert families == []
    enabled = HostSource(Config(), Redactor())
    families = await collect_source(enabled, asyncio.get_running_loop().time() + 10)
    up = [s for f in families if f.name == "redline_source_up" for s in f.samples]
    assert [(s.labels, s.value) for s in up] == [({"source": "host"}, 1.0)]


@pytest.mark.parametrize(
    ("text", "line", "path", "message"),
    [
        (
            "host:\n  filesystem:\n    mount_points_exclude: '(['\n",
            3,
            "host.filesystem",
            "bad regular",
        ),
        ("host:\n  collectors: [cpu, gpu]\n", 2, "host.collectors[1]", "cpu"),
        (
            "host:\n  process_groups:\n    - name: web\n",
            3,
            "host.process_groups[0]",
            "set process_",
        ),
        (
            "host:\n  process_groups:\n    - {name: a, cmdline: x}\n    - {name: a, cmdline: y}\n",
            3,
            "host.process_groups",
            "used twice",
        ),
        ("host:\n  network:\n    devices: eth0\n", 3, "host.network.devices", "unknown key"),
        ("host:\n  filesystem:\n    timeout: 0s\n", 3, "host.filesystem.timeout", "greater"),
    ],
)
def test_bad_host_config_names_path_and_line(text: str, line: int, path: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "redline.yml")
    found = [str(issue) for issue in info.value.issues]
    assert any(f.startswith(f"redline.yml:{line}: {path}") and message in f for f in found), found


def test_registry_matches_the_config_names() -> None:
    assert tuple(registry.COLLECTORS) == COLLECTOR_NAMES


async def test_every_host_metric_is_served_and_documented() -> None:
    source = host_source(
        process_groups=(ProcessGroup(name="pytest", cmdline=re.compile("pytest")),)
    )
    served = {name for name, _ in await collect(source)}
    defined = {metric.name for metric in m.HOST_METRICS}
    absent_here = set()
    if not Path("/proc/pressure/cpu").exists():
        absent_here = {name for name in defined if name.startswith("node_pressure_")}
    assert served == defined - absent_here
    docs = (Path(__file__).parent.parent / "docs" / "host.md").read_text()
    assert [name for name in sorted(defined) if f"`{name}`" not in docs] == []


# --- faults ----------------------------------------------------------------------------------


async def test_a_failing_collector_does_not_hide_the_others(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(config: HostConfig) -> list[Family]:
        raise PermissionError(13, "Permission denied", "/proc/meminfo")

    monkeypatch.setitem(registry.COLLECTORS, "memory", lambda: broken)
    source = host_source()
    stat0 = proc_stat()
    for _ in range(2):
        s = await collect(source)
    assert get(s, "node_scrape_collector_success", collector="memory") == 0
    assert not [name for name, _ in s if name.startswith("node_memory_")]
    for name in COLLECTOR_NAMES:
        if name != "memory":
            assert get(s, "node_scrape_collector_success", collector=name) == 1, name
    assert get(s, "node_boot_time_seconds") == stat0["btime"][0]
    # logged when it starts failing, not at every scrape
    errors = [r for r in caplog.records if "host collector memory failed" in r.getMessage()]
    assert len(errors) == 1 and "Permission denied" in errors[0].getMessage()


async def test_a_hung_collector_is_cut_at_the_deadline_and_not_started_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = []
    release = threading.Event()

    def hung(config: HostConfig) -> list[Family]:
        calls.append(1)
        release.wait(60)  # released below; the bound only ends a thread a failed test left
        return []

    monkeypatch.setitem(registry.COLLECTORS, "system", lambda: hung)
    source = host_source()
    start = time.perf_counter()
    s = await collect(source, budget=0.3)
    assert time.perf_counter() - start < 0.5
    assert get(s, "node_scrape_collector_success", collector="system") == 0
    assert get(s, "node_scrape_collector_success", collector="cpu") == 1
    assert get(s, "node_memory_MemTotal_bytes") == meminfo()["MemTotal"]

    s = await collect(source, budget=0.3)  # still hung: reported, not started again
    assert calls == [1]
    assert get(s, "node_scrape_collector_success", collector="system") == 0
    assert get(s, "node_scrape_collector_duration_seconds", collector="system") >= 0.25

    release.set()
    await asyncio.sleep(0.1)
    s = await collect(source)
    assert calls == [1, 1]
    assert get(s, "node_scrape_collector_success", collector="system") == 1


async def test_concurrent_scrapes_each_get_every_collector() -> None:
    source = host_source(
        process_groups=(ProcessGroup(name="pytest", cmdline=re.compile("pytest")),)
    )
    for _ in range(5):
        for s in await asyncio.gather(*(collect(source) for _ in range(3))):
            for name in COLLECTOR_NAMES:
                assert get(s, "node_scrape_collector_success", collector=name) == 1, name


async def test_a_hung_mount_is_reported_and_skipped_until_it_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain = await collect(host_source(collectors=("filesystem",)))
    reported = sorted(label_values(plain, "node_filesystem_size_bytes", "mountpoint"))
    assert reported, "this machine reports no filesystem to test with"
    hung = "/" if "/" in reported else reported[0]
    real = os.statvfs
    hung_calls = []
    release = threading.Event()

    def statvfs(path: Any) -> os.statvfs_result:
        if path == hung:  # a stale NFS mount would block like this
            hung_calls.append(1)
            release.wait(60)  # released below; the bound only ends a thread a failed test left
        return real(path)

    def errors(s: Samples) -> dict[str, float]:
        return {
            dict(labels)["mountpoint"]: value
            for (name, labels), value in s.items()
            if name == "node_filesystem_device_error"
        }

    monkeypatch.setattr(os, "statvfs", statvfs)
    source = host_source(collectors=("filesystem",), filesystem=FilesystemConfig(timeout=0.1))
    for _ in range(2):  # the second scrape skips the mount without calling statvfs again
        start = time.perf_counter()
        s = await collect(source)
        assert time.perf_counter() - start < 0.4
        assert get(s, "node_scrape_collector_success", collector="filesystem") == 1
        assert errors(s) == {mp: 1.0 if mp == hung else 0.0 for mp in reported}
        assert hung not in label_values(s, "node_filesystem_size_bytes", "mountpoint")
        assert label_values(s, "node_filesystem_readonly", "mountpoint") == set(reported)
    assert hung_calls == [1]

    release.set()
    await asyncio.sleep(0.1)
    s = await collect(source)
    assert errors(s) == {mp: 0.0 for mp in reported}
    assert label_values(s, "node_filesystem_size_bytes", "mountpoint") == set(reported)


# --- exposition and the app ------------------------------------------------------------------


async def test_exposition_passes_promtool_check_metrics() -> None:
    source = host_source(
        process_groups=(ProcessGroup(name="pytest", cmdline=re.compile("pytest")),)
    )
    families = await source.collect(asyncio.get_running_loop().time() + 5)
    body, _ = collector.render([], None, with_self=False, extra=families)
    assert promtool_problems(body.decode()) == []
    # and prometheus-client's own parser reads it back with the same values
    parsed = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }
    assert parsed == samples_of(families)


@pytest.fixture
async def app_client(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    clients: list[TestClient[Any, Any]] = []

    async def start(text: str) -> tuple[TestClient[Any, Any], Path]:
        path = tmp_path / "redline.yml"
        path.write_text(text)
        client = TestClient(TestServer(make_app(initial_runtime(path))))
        await client.start_server()
        clients.append(client)
        return client, path

    yield start
    for client in clients:
        await client.close()


async def test_metrics_endpoint_serves_the_host_and_follows_reloads(
    app_client: Callable[..., Any],
) -> None:
    client, path = await app_client("host: {}\n")
    response = await client.get("/metrics")
    text = await response.text()
    s = {
        (x.name, frozenset(x.labels.items())): x.value
        for family in text_string_to_metric_families(text)
        for x in family.samples
    }
    assert get(s, "redline_source_up", source="host") == 1
    assert get(s, "node_memory_MemTotal_bytes") == meminfo()["MemTotal"]
    for name in COLLECTOR_NAMES:
        assert get(s, "node_scrape_collector_success", collector=name) == 1

    path.write_text("host: {enabled: false}\n")
    assert (await client.post("/-/reload")).status == 200
    text = await (await client.get("/metrics")).text()
    assert "node_memory_MemTotal_bytes" not in text
    assert 'redline_source_up{source="host"}' not in text  # off: not claimed to work


def test_the_mounts_are_listed_again_when_the_mount_table_or_the_filters_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The filesystem collector keeps its list of mounts while the mount table's text and the
    filters are unchanged, and lists them again (psutil) as soon as either changes."""
    import psutil

    from exporter.host import filesystem

    table = tmp_path / "mounts"
    table.write_text("/dev/sda1 / ext4 rw 0 0\n")
    monkeypatch.setattr(filesystem, "MOUNTS", str(table))
    listed = []
    real = psutil.disk_partitions

    def disk_partitions(all: bool = False) -> list[Any]:
        listed.append(1)
        return real(all=all)

    monkeypatch.setattr(psutil, "disk_partitions", disk_partitions)
    fs = filesystem.FilesystemCollector()
    config = HostConfig()
    first = samples_of(fs(config))
    assert samples_of(fs(config)).keys() == first.keys()
    assert len(listed) == 1  # unchanged: not listed again
    table.write_text("/dev/sda1 / ext4 rw 0 0\ntmpfs /run tmpfs rw 0 0\n")  # a mount came
    fs(config)
    assert len(listed) == 2
    narrower = HostConfig(filesystem=FilesystemConfig(mount_points_include=re.compile(r"^/$")))
    only_root = samples_of(fs(narrower))  # a reload's new filters
    assert len(listed) == 3
    assert label_values(only_root, "node_filesystem_readonly", "mountpoint") <= {"/"}


# --- the kernel's files read without psutil, as psutil reads them ----------------------------

DISKSTATS = (
    # Linux 2.6+ (14 fields), 4.18+ (18), 5.5+ (20), a 2.6 partition (7), Linux 2.4 (15)
    "   8       0 sda 9 8 7 6 5 4 3 2 1 11 12\n"
    "   8       1 sda1 10 20 30 40 50 60 70 80 90 100 110 0 0 0 0\n"
    " 259       0 nvme0n1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n"
    "   3       1 hda1 8 16 24 32\n"
    "   3     0   8 hda 8 8 8 8 8 8 8 8 8 8 8\n"
)
NETDEV = (
    "Inter-|   Receive                            |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
    "drop fifo colls carrier compressed\n"
    "    lo: 100 2 0 0 0 0 0 0 100 2 0 0 0 0 0 0\n"
    "  eth0: 4294967290 10 1 2 0 0 0 3 65000 20 4 5 0 0 0 0\n"
    "veth:x: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"
)


def psutil_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """psutil's own disk and network counters (no wrap) of the files in tmp_path."""
    import psutil

    monkeypatch.setattr(psutil, "PROCFS_PATH", str(tmp_path))
    disks = psutil.disk_io_counters(perdisk=True, nowrap=False)
    nets = psutil.net_io_counters(pernic=True, nowrap=False)
    return disks, nets


def test_disk_and_network_files_read_as_psutil_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exporter.host.diskio import parse_diskstats
    from exporter.host.network import parse_netdev

    (tmp_path / "net").mkdir()
    (tmp_path / "diskstats").write_text(DISKSTATS)
    (tmp_path / "net" / "dev").write_text(NETDEV)
    disks, nets = psutil_reading(tmp_path, monkeypatch)
    mine = parse_diskstats(DISKSTATS.encode())
    assert mine == {
        name: (c.read_count, c.write_count, c.read_bytes, c.write_bytes, c.busy_time)
        for name, c in disks.items()
    }
    mine_net = parse_netdev(NETDEV.encode())
    assert set(mine_net) == set(nets)
    for name, c in nets.items():
        v = mine_net[name]
        assert (v[0], v[1], v[2], v[3]) == (c.bytes_recv, c.packets_recv, c.errin, c.dropin)
        assert (v[8], v[9], v[10], v[11]) == (c.bytes_sent, c.packets_sent, c.errout, c.dropout)
    # and this machine's own files
    real_disks, real_nets = psutil_reading(Path("/proc"), monkeypatch)
    assert set(parse_diskstats(Path("/proc/diskstats").read_bytes())) == set(real_disks)
    assert set(parse_netdev(Path("/proc/net/dev").read_bytes())) == set(real_nets)
    with pytest.raises(ValueError, match="not sure how to interpret line"):
        parse_diskstats(b"   8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13\n")  # 16 fields: psutil's error


def test_counters_are_kept_from_wrapping_as_psutil_keeps_them() -> None:
    """Unwrap against psutil's own wrap cache, on a sequence with wraps, a device that goes and
    comes back, and a new one."""
    from psutil._common import _WrapNumbers

    from exporter.host.common import Unwrap

    sequence: list[dict[str, tuple[int, ...]]] = [
        {"a": (10, 100), "b": (5, 5)},
        {"a": (20, 50), "b": (6, 5)},  # a's second counter wrapped
        {"a": (1, 60), "b": (7, 1)},  # a's first and b's second wrapped
        {"a": (2, 70)},  # b went away: forgets what was added to it
        {"a": (3, 10), "b": (1, 1), "c": (9, 9)},  # b is back (as it is), c is new
        {"a": (4, 20), "b": (0, 2), "c": (8, 10)},
    ]
    theirs, mine = _WrapNumbers(), Unwrap()
    for counters in sequence:
        assert mine(dict(counters)) == theirs.run(dict(counters), "x")


def test_kernel_files_are_read_afresh_though_kept_open(tmp_path: Path) -> None:
    from exporter import procfs

    first = procfs.read_bytes("/proc/stat")
    assert "/proc/stat" in procfs._KEPT  # kept open for the next scrape
    time.sleep(0.05)
    again = procfs.read_bytes("/proc/stat")
    ctxt = [
        int(line.split()[1]) for t in (first, again) for line in t.splitlines() if b"ctxt" in line
    ]
    assert ctxt[1] > ctxt[0]  # generated again at the second read, not the first text
    # files elsewhere are opened afresh each time: a file replaced meanwhile is read anew
    path = tmp_path / "f"
    path.write_text("one")
    assert procfs.read_bytes(str(path)) == b"one"
    (tmp_path / "g").write_text("two")
    (tmp_path / "g").rename(path)
    assert procfs.read_bytes(str(path)) == b"two"
    assert str(path) not in procfs._KEPT


async def test_a_scrape_hands_nothing_to_a_thread_unless_it_must(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The /proc collectors, the filesystem collector's wait for statvfs and the process groups
    collector without groups run on the event loop; the walk over every process in the worker
    thread."""
    calls: list[str] = []
    real = asyncio.to_thread

    async def to_thread(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(func, "__name__", repr(func)))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", to_thread)
    s = await collect(host_source())
    assert calls == []
    for name in COLLECTOR_NAMES:
        assert get(s, "node_scrape_collector_success", collector=name) == 1, name
    groups = (ProcessGroup(name="pytest", cmdline=re.compile("pytest")),)
    s = await collect(host_source(process_groups=groups))
    assert calls == ["_run_batch"]
    assert get(s, "node_scrape_collector_success", collector="process_groups") == 1
