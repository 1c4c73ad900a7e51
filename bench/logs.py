"""Log parsing speed and memory: redline's log paths against mtail, side by side on this machine.

1. One generated nginx access log ("combined" plus $request_time) of --lines lines (1,000,000
   by default), and the same records as JSON lines (nginx's ``escape=json`` style), with the
   expected counts computed while generating them.
2. Each reader runs alone, pinned to one core, reading its file from the page cache to its end:
   redline's regex path (the real file follower and pipeline, shipped ``nginx_combined``
   parser), redline's JSON path (same, ``json`` parser), and mtail (Debian ``mtail``, its
   ``--one_shot`` mode, with a program doing the same work: lines, requests by route group,
   method and status class, a duration histogram by route group).
   Reported: lines per second (wall time of the read), CPU seconds and peak RSS of the process,
   and whether each reader's counts equal the expected ones.
3. Memory while following: redline's follower tails a file that another process appends
   --follow-mib MiB (1024 by default) of lines to; its resident memory is sampled throughout.

Prints one table with ratios (redline / mtail) and writes it with --markdown PATH. Exits 0 when
the bench ran, even if a target is missed (it is a report); non-zero when the harness failed.

    .venv/bin/python bench/logs.py [--quick] [--lines N] [--follow-mib N] [--markdown PATH]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make the exporter package importable
    sys.path.insert(0, str(REPO))
if TYPE_CHECKING:
    from table import Section

MTAIL = "/usr/bin/mtail"
TARGET_LINES_PER_SECOND = 100_000  # issue 4: regex path, one core
FLAT_MIB = 16  # resident memory growth while following, below which it is flat
# issue 19: the follower's peak memory at most 1.5x mtail's, the regex path at least 2.5x its speed
MEMORY_RATIO = 1.5
SPEED_RATIO = 2.5
REGEX = "redline regex (nginx_combined)"
JSON = "redline JSON (json parser)"
MTAIL_NAME = "mtail (regex program)"
BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.8, 1.0, 2.0, 3.0, 5.0, 10.0)

# The same route groups for redline (config) and mtail (program below).
REDLINE_CONFIG = """
logs:
  buckets: {buckets}
  route_groups:
    - {{name: health, paths: ["/health", "/api/health/*"]}}
    - {{name: api, paths: ["/api/**"]}}
  sources:
    - name: bench
      kind: file
      paths: ["{path}"]
      from_start: true
      max_files: 4
      parsers:
        - {parser}
"""
JSON_PARSER = (
    "{kind: json, level: null, status: status, duration: request_time, duration_unit: s, "
    "route: uri, method: method, service: null, timestamp: time}"
)
# The same line regex as redline's nginx_combined (RE2 has the same syntax for it).
MTAIL_LINE = (
    r'^\S+ \S+ \S+ \[[^\]]*\] "(?P<method>[A-Z]+) (?P<path>[^ "?]*)[^"]*" '
    r'(?P<class>[1-5])\d\d \S+ "[^"]*" "[^"]*" (?P<duration>\d+\.\d+)'
)
MTAIL_PROGRAM = r"""
counter log_lines_total
counter http_requests_total by route, method, code_class
histogram http_request_duration_seconds by route buckets BUCKETS

/$/ {
  log_lines_total++
}
/LINE/ {
  $path =~ /^\/health$|^\/api\/health\/[^\/]*$/ {
    http_requests_total["health", $method, $class]++
    http_request_duration_seconds["health"] = $duration
  } else {
    $path =~ /^\/api\/.*$/ {
      http_requests_total["api", $method, $class]++
      http_request_duration_seconds["api"] = $duration
    } else {
      http_requests_total["other", $method, $class]++
      http_request_duration_seconds["other"] = $duration
    }
  }
}
""".replace("BUCKETS", ", ".join(str(b) for b in BUCKETS)).replace("LINE", MTAIL_LINE)

PATHS = (
    ("/health", "health"),
    ("/api/health/db", "health"),
    ("/api/v1/orders/{n}", "api"),
    ("/api/monitoring/health", "api"),
    ("/app/dashboard", "other"),
    ("/static/app.{n}.js", "other"),
    ("/", "other"),
)
AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/17.0 Safari",
    "Shopify-Captain-Hook",
    "curl/8.4.0",
    "Fly-Health-Check",
)


# --- generating the logs ----------------------------------------------------------------------


@dataclass
class Expected:
    lines: int = 0
    classes: dict[str, int] = field(default_factory=dict)  # "2" -> requests
    routes: dict[str, int] = field(default_factory=dict)  # route group -> requests
    duration_sum: float = 0.0


def generate(text_path: Path, json_path: Path, lines: int, seed: int = 7) -> Expected:
    """The same records as an nginx access log and as JSON lines; counts kept on the side."""
    rng = random.Random(seed)
    expected = Expected()
    statuses = (200,) * 14 + (201, 204, 301, 304, 400, 401, 404, 429, 500, 502, 503)
    with open(text_path, "w") as text, open(json_path, "w") as js:
        batch_t: list[str] = []
        batch_j: list[str] = []
        for i in range(lines):
            template, group = PATHS[rng.randrange(len(PATHS))]
            path = template.format(n=rng.randrange(100_000))
            if rng.random() < 0.1:
                path += f"?page={rng.randrange(9)}"
            method = "POST" if rng.random() < 0.2 else "GET"
            status = statuses[rng.randrange(len(statuses))]
            ms = rng.randrange(1, 4000) if status < 500 else rng.randrange(500, 12000)
            request_time = f"{ms // 1000}.{ms % 1000:03d}"
            ip = f"10.{i % 256}.{(i >> 8) % 256}.{rng.randrange(256)}"
            stamp = f"13/Oct/2025:{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d} +0000"
            agent = AGENTS[rng.randrange(len(AGENTS))]
            size = rng.randrange(100, 50_000)
            batch_t.append(
                f'{ip} - - [{stamp}] "{method} {path} HTTP/1.1" {status} {size} "-" "{agent}" '
                f"{request_time}\n"
            )
            batch_j.append(
                json.dumps(
                    {
                        "time": stamp,
                        "remote_addr": ip,
                        "method": method,
                        "uri": path,
                        "status": status,
                        "body_bytes_sent": size,
                        "http_user_agent": agent,
                        "request_time": float(request_time),
                    },
                    separators=(",", ":"),
                )
                + "\n"
            )
            expected.lines += 1
            cls = str(status // 100)
            expected.classes[cls] = expected.classes.get(cls, 0) + 1
            expected.routes[group] = expected.routes.get(group, 0) + 1
            expected.duration_sum += ms / 1000
            if len(batch_t) >= 10_000:
                text.writelines(batch_t)
                js.writelines(batch_j)
                batch_t.clear()
                batch_j.clear()
        text.writelines(batch_t)
        js.writelines(batch_j)
    return expected


def nginx_block(lines: int, seed: int = 11) -> bytes:
    """A block of access-log lines, repeated by the follow writer."""
    rng = random.Random(seed)
    out = []
    for i in range(lines):
        template, _ = PATHS[rng.randrange(len(PATHS))]
        out.append(
            f'10.0.{i % 256}.{rng.randrange(256)} - - [13/Oct/2025:14:02:11 +0000] "GET '
            f'{template.format(n=i)} HTTP/1.1" 200 {rng.randrange(100, 9999)} "-" '
            f'"{AGENTS[i % len(AGENTS)]}" 0.{rng.randrange(1000):03d}\n'
        )
    return "".join(out).encode()


# --- the children (each measured alone, pinned to one core) ----------------------------------


def pin(cpu: int) -> None:
    os.sched_setaffinity(0, {cpu})


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def redline_follower(path: Path, parser: str) -> tuple[Any, Any]:
    from exporter.config import parse_config
    from exporter.logs.counters import LogState
    from exporter.logs.pipeline import Pipeline
    from exporter.logs.tail import FileFollower, TailSettings

    text = REDLINE_CONFIG.format(buckets=list(BUCKETS), path=path, parser=parser)
    logs = parse_config(text, "bench").logs
    spec = logs.sources[0]
    state = LogState()
    state.set_buckets(logs.buckets)
    state.declare(spec.name, spec.kind, ())
    pipeline = Pipeline(spec, logs, state)
    return FileFollower(spec.name, TailSettings.of(spec), pipeline.feed, state), state


def child_read(path: Path, parser: str, cpu: int) -> dict[str, Any]:
    pin(cpu)
    follower, state = redline_follower(path, parser)
    started = time.perf_counter()
    while follower.poll():
        pass
    seconds = time.perf_counter() - started
    follower.close()
    classes: dict[str, float] = {}
    routes: dict[str, float] = {}
    for (_, route, _, code_class), n in state.requests.items():
        classes[code_class[0]] = classes.get(code_class[0], 0) + n
        routes[route] = routes.get(route, 0) + n
    return {
        "seconds": seconds,
        "lines": sum(state.lines.values()),
        "parse_errors": sum(state.parse_errors.values()),
        "classes": classes,
        "routes": routes,
        "duration_sum": sum(v[-1] for v in state.durations.values()),
    }


def child_write(path: Path, total: int, cpu: int) -> dict[str, Any]:
    pin(cpu)
    block = nginx_block(10_000)
    lines = written = 0
    with open(path, "ab", buffering=0) as f:
        while written + len(block) <= total:
            f.write(block)
            written += len(block)
            lines += 10_000
    return {"lines": lines, "bytes": written}


def child_follow(path: Path, total: int, cpu: int, writer_cpu: int) -> dict[str, Any]:
    """Follow ``path`` (from its end, as in production) while a writer process appends
    ``total`` bytes; sample the resident memory."""
    pin(cpu)
    # the file is empty when following starts, so from_start makes no difference here
    follower, state = redline_follower(path, "nginx_combined")
    follower.poll()
    writer = subprocess.Popen(
        [sys.executable, __file__, "--child", "write", str(path), str(total), str(writer_cpu)],
        stdout=subprocess.PIPE,
    )
    samples: list[tuple[float, int]] = []
    started = time.perf_counter()
    last_sample = 0.0
    while True:
        more = follower.poll()
        now = time.perf_counter()
        if now - last_sample >= 0.1:
            samples.append((now - started, rss_bytes()))
            last_sample = now
        if not more:
            if writer.poll() is not None:
                while follower.poll():
                    pass
                break
            time.sleep(0.01)
    seconds = time.perf_counter() - started
    samples.append((seconds, rss_bytes()))
    out, _ = writer.communicate()
    wrote = json.loads(out)
    # the first tenth of the run warms the allocator and the parsers' caches
    steady = [rss for t, rss in samples if t >= seconds / 10] or [samples[-1][1]]
    return {
        "seconds": seconds,
        "bytes": wrote["bytes"],
        "lines_written": wrote["lines"],
        "lines": sum(state.lines.values()),
        "rss_first": samples[0][1],
        "rss_steady_min": min(steady),
        "rss_steady_max": max(steady),
        "rss_last": samples[-1][1],
        "samples": len(samples),
    }


# --- the parent -------------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    lines_per_second: float | None
    cpu_seconds: float
    max_rss: int
    counts_ok: bool
    detail: str


def run_child(args: list[str], cpu: int) -> tuple[dict[str, Any], float, int]:
    """A child of this script: its JSON answer, CPU seconds and peak RSS (from wait4)."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", *args, str(cpu)], stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed with exit code {proc.returncode}")
    return json.loads(out), usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def check(result: dict[str, Any], expected: Expected) -> tuple[bool, str]:
    classes = {k: int(v) for k, v in result["classes"].items()}
    routes = {k: int(v) for k, v in result["routes"].items()}
    ok = (
        int(result["lines"]) == expected.lines
        and classes == expected.classes
        and routes == expected.routes
        and abs(result["duration_sum"] - expected.duration_sum) < 1e-6 * expected.lines
    )
    detail = f"lines {int(result['lines']):,}, by class {dict(sorted(classes.items()))}"
    return ok, detail


def run_mtail(log: Path, tmp: Path, cpu: int, expected: Expected) -> Run:
    progs = tmp / "progs"
    progs.mkdir(exist_ok=True)
    (progs / "nginx.mtail").write_text(MTAIL_PROGRAM)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            MTAIL,
            "--one_shot",
            "--one_shot_format=prometheus",
            "--progs",
            str(progs),
            "--logs",
            str(log),
            "--logtostderr",
            "--port=0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "GOMAXPROCS": "1"},
        preexec_fn=lambda: pin(cpu),
    )
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("mtail failed")
    result: dict[str, Any] = {"lines": 0, "classes": {}, "routes": {}, "duration_sum": 0.0}
    for line in out.splitlines():
        match = re.match(r"^(\w+)\{([^}]*)\} (\S+)$", line)
        if not match:
            continue
        name, labels_text, value = match.group(1), match.group(2), float(match.group(3))
        labels = dict(re.findall(r'(\w+)="([^"]*)"', labels_text))
        if name == "log_lines_total":
            result["lines"] += value
        elif name == "http_requests_total":
            cls, route = labels["code_class"], labels["route"]
            result["classes"][cls] = result["classes"].get(cls, 0) + value
            result["routes"][route] = result["routes"].get(route, 0) + value
        elif name == "http_request_duration_seconds_sum":
            result["duration_sum"] += value
    ok, detail = check(result, expected)
    return Run(
        MTAIL_NAME,
        expected.lines / seconds,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss * 1024,
        ok,
        detail,
    )


def run_redline(name: str, log: Path, parser: str, cpu: int, expected: Expected) -> Run:
    result, cpu_seconds, max_rss = run_child(["read", str(log), parser], cpu)
    ok, detail = check(result, expected)
    if result["parse_errors"]:
        ok = False
        detail += f", {int(result['parse_errors'])} parse errors"
    return Run(name, result["lines"] / result["seconds"], cpu_seconds, max_rss, ok, detail)


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def render(lines: int, runs: list[Run], follow: dict[str, Any] | None, mtail: Run | None) -> str:
    out = [
        f"## Log parsing: redline vs mtail ({lines:,}-line nginx access log, one core each)",
        "",
        "| reader | lines/s | ratio to mtail | CPU s | peak RSS | counts |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        ratio = (
            f"{run.lines_per_second / mtail.lines_per_second:.2f}"
            if mtail and mtail.lines_per_second and run.lines_per_second
            else "—"
        )
        speed = f"{run.lines_per_second:,.0f}" if run.lines_per_second else "—"
        counts = ("exact" if run.counts_ok else "WRONG") + f" ({run.detail})"
        out.append(
            f"| {run.name} | {speed} | {ratio} | {run.cpu_seconds:.2f} | {mib(run.max_rss)} "
            f"| {counts} |"
        )
    regex = next((r for r in runs if r.name == REGEX), None)
    if regex and regex.lines_per_second:
        verdict = "PASS" if regex.lines_per_second >= TARGET_LINES_PER_SECOND else "MISS"
        out += [
            "",
            f"Target (issue 4): at least {TARGET_LINES_PER_SECOND:,} lines/s per core on the regex "
            f"path: {verdict} ({regex.lines_per_second:,.0f}).",
        ]
    if follow:
        growth = follow["rss_steady_max"] - follow["rss_steady_min"]
        flat = growth < FLAT_MIB * 2**20
        out += [
            "",
            f"Following a file while another process appends {mib(follow['bytes'])} to it "
            f"({follow['lines_written']:,} lines, {follow['seconds']:.1f} s, "
            f"{follow['bytes'] / follow['seconds'] / 2**20:,.0f} MiB/s): lines counted "
            f"{int(follow['lines']):,} "
            f"({'exact' if int(follow['lines']) == follow['lines_written'] else 'WRONG'}); "
            f"RSS {mib(follow['rss_first'])} at start, {mib(follow['rss_steady_min'])} to "
            f"{mib(follow['rss_steady_max'])} after warm-up, {mib(follow['rss_last'])} at the end: "
            f"{'flat' if flat else 'GROWING'} (growth {mib(growth)}, {follow['samples']} samples).",
        ]
    out += [
        "",
        "redline reads through its real file follower (pread, line splitting, UTF-8 decoding) "
        "and pipeline (parse, level, method, route group, service, status class, histogram); "
        "mtail runs `--one_shot` (GOMAXPROCS=1) with a program matching the same regex and "
        "doing the same route grouping. lines/s is the wall time of the read (redline: "
        "after its start-up; mtail: the whole process, whose start-up takes milliseconds).",
    ]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200k lines, 128 MiB follow")
    parser.add_argument("--lines", type=int, help="lines of the generated log (1,000,000)")
    parser.add_argument("--follow-mib", type=int, help="MiB appended while following (1024)")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        kind, *rest = args.child
        if kind == "read":
            result = child_read(Path(rest[0]), rest[1], int(rest[2]))
        elif kind == "write":
            result = child_write(Path(rest[0]), int(rest[1]), int(rest[2]))
        elif kind == "follow":
            result = child_follow(Path(rest[0]), int(rest[1]), int(rest[3]), int(rest[2]))
        else:
            raise SystemExit(f"unknown child {kind}")
        print(json.dumps(result))
        return 0

    lines = args.lines or (200_000 if args.quick else 1_000_000)
    follow_mib = args.follow_mib if args.follow_mib is not None else (128 if args.quick else 1024)
    got = measure_all(lines, follow_mib)
    if args.json:  # for make bench (measure_in_child)
        print(json.dumps(dataclasses.asdict(got)))
        return 0
    table = render(lines, got.runs, got.follow, got.mtail)
    print(table)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table)
    return 0


@dataclass
class Measured:
    runs: list[Run]  # redline regex, redline JSON, mtail (when installed)
    mtail: Run | None
    follow: dict[str, Any] | None
    seconds: float


def measure_all(lines: int, follow_mib: int) -> Measured:
    started = time.monotonic()
    cpus = sorted(os.sched_getaffinity(0))
    cpu, other_cpu = cpus[-1], cpus[0]  # readers on one core; the follow writer on another
    with tempfile.TemporaryDirectory(prefix="redline-logs-bench-") as tmp_name:
        tmp = Path(tmp_name)
        text, js = tmp / "access.log", tmp / "access.json.log"
        print(f"generating {lines:,} lines ...", file=sys.stderr)
        expected = generate(text, js, lines)
        for path in (text, js):  # into the page cache, so every reader reads from memory
            with open(path, "rb") as f:
                while f.read(1 << 22):
                    pass
        runs: list[Run] = []
        print("redline regex path ...", file=sys.stderr)
        runs.append(run_redline(REGEX, text, "nginx_combined", cpu, expected))
        print("redline JSON path ...", file=sys.stderr)
        runs.append(run_redline(JSON, js, JSON_PARSER, cpu, expected))
        mtail: Run | None = None
        if shutil.which(MTAIL) or os.path.exists(MTAIL):
            print("mtail ...", file=sys.stderr)
            mtail = run_mtail(text, tmp, cpu, expected)
            runs.append(mtail)
        else:
            print("mtail is missing: run scripts/install-system.sh", file=sys.stderr)
        follow = None
        if follow_mib > 0:
            print(f"following while {follow_mib} MiB are appended ...", file=sys.stderr)
            target = tmp / "follow.log"
            target.touch()
            follow, _, _ = run_child(
                ["follow", str(target), str(follow_mib * 2**20), str(other_cpu)], cpu
            )
    return Measured(runs, mtail, follow, time.monotonic() - started)


def measure_in_child(lines: int, follow_mib: int) -> Measured:
    """:func:`measure_all` in a process of its own. Its readers' peak memory comes from the
    kernel's maximum resident set, which a child inherits from the process it was forked
    from: forked from ``make bench`` (aiohttp, asyncpg, the exporter... loaded), every reader
    would show at least that. This file imports little, so its children start small."""
    argv = [sys.executable, __file__, "--lines", str(lines), "--follow-mib", str(follow_mib)]
    out = subprocess.run([*argv, "--json"], stdout=subprocess.PIPE, check=False, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"bench/logs.py failed with exit code {out.returncode}")
    data = json.loads(out.stdout)
    runs = [Run(**r) for r in data["runs"]]
    mtail = next((r for r in runs if r.name == MTAIL_NAME), None)
    return Measured(runs, mtail, data["follow"], data["seconds"])


def section(quick: bool) -> Section:
    """This comparison's rows of ``make bench``'s table (issue 4's log targets)."""
    # Imported here, not at the top: the reader children run this file, and what it imports
    # counts in the resident memory measured for redline.
    from procs import OtherLoad
    from table import Row, Section, judge, num, peer_version, ratio

    lines, follow_mib = (200_000, 128) if quick else (1_000_000, 1024)
    with OtherLoad() as load:
        got = measure_in_child(lines, follow_mib)
    by = {r.name: r for r in got.runs}
    regex, js, mt = by[REGEX], by[JSON], got.mtail
    peer = (lambda f: f(mt)) if mt else (lambda f: None)
    rows = [
        Row(
            "regex path (nginx), lines/s on one core",
            num(regex.lines_per_second, 0, thousands=True),
            num(peer(lambda r: r.lines_per_second), 0, thousands=True),
            ratio(regex.lines_per_second, peer(lambda r: r.lines_per_second)),
            ">= 100,000/s",
            judge((regex.lines_per_second or 0) >= TARGET_LINES_PER_SECOND),
        ),
        Row(
            "JSON path, lines/s on one core (mtail: regex)",
            num(js.lines_per_second, 0, thousands=True),
            num(peer(lambda r: r.lines_per_second), 0, thousands=True),
            ratio(js.lines_per_second, peer(lambda r: r.lines_per_second)),
        ),
        Row(
            f"CPU for {lines:,} lines, regex path (s)",
            num(regex.cpu_seconds, 2),
            num(peer(lambda r: r.cpu_seconds), 2),
            ratio(regex.cpu_seconds, peer(lambda r: r.cpu_seconds)),
        ),
        Row(
            "peak resident memory, regex path (MiB)",
            num(regex.max_rss / 2**20, 1),
            num(peer(lambda r: r.max_rss / 2**20), 1),
            ratio(regex.max_rss, peer(lambda r: r.max_rss)),
            f"ratio <= {MEMORY_RATIO:g}",
            judge(mt is not None and regex.max_rss <= MEMORY_RATIO * mt.max_rss),
        ),
        Row(
            "regex path speed, ratio to mtail",
            ratio(regex.lines_per_second, peer(lambda r: r.lines_per_second)),
            target=f"ratio >= {SPEED_RATIO:g}",
            result=judge(
                mt is not None
                and mt.lines_per_second is not None
                and (regex.lines_per_second or 0) >= SPEED_RATIO * mt.lines_per_second
            ),
        ),
        Row(
            "counts equal the generated ones",
            "exact" if regex.counts_ok and js.counts_ok else "WRONG",
            "-" if mt is None else ("exact" if mt.counts_ok else "WRONG"),
            target="exact",
            result=judge(regex.counts_ok and js.counts_ok and (mt is None or mt.counts_ok)),
        ),
    ]
    notes = [
        f"a generated {lines:,}-line nginx access log (and the same records as JSON lines), "
        "read from the page cache, each reader alone and pinned to one core; redline through "
        "its real file follower and pipeline, mtail --one_shot with a program doing the same "
        "work"
    ]
    if mt is None:
        notes.append("mtail is missing (run scripts/install-system.sh): no peer figures")
    follow = got.follow
    if follow:
        growth = (follow["rss_steady_max"] - follow["rss_steady_min"]) / 2**20
        exact = int(follow["lines"]) == follow["lines_written"]
        rows.append(
            Row(
                f"memory growth following a file appended {follow_mib:,} MiB (MiB)",
                num(growth, 1),
                target="flat (< 16)",
                result=judge(growth < FLAT_MIB and exact),
            )
        )
        notes.append(
            f"following: {follow['lines_written']:,} lines appended by another process in "
            f"{follow['seconds']:.1f} s, {int(follow['lines']):,} counted "
            f"({'exact' if exact else 'WRONG'}); resident memory "
            f"{follow['rss_first'] / 2**20:.1f} MiB at start, "
            f"{follow['rss_steady_min'] / 2**20:.1f}-{follow['rss_steady_max'] / 2**20:.1f} MiB "
            "after the first tenth"
        )
    return Section(
        title=f"logs vs {peer_version([MTAIL, '--version'])} (issue 4)",
        rows=rows,
        notes=notes,
        detail=render(lines, got.runs, got.follow, got.mtail),
        other_cores=load.cores,
        busiest=load.busiest,
        seconds=got.seconds,
    )


if __name__ == "__main__":
    sys.exit(main())
