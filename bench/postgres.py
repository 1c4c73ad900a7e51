"""redline's Postgres source against postgres_exporter, side by side on this machine.

    .venv/bin/python bench/postgres.py [--scrapes 20] [--rate 3500] [--quick]

One PostgreSQL 15 (tests/pg.py: a temp cluster on loopback, pg_stat_statements preloaded) under
a bounded, rate-limited pgbench load; then, one exporter at a time so they never compete:

- postgres_exporter (Debian prometheus-postgres-exporter 0.11, which has no stat_statements
  collector of its own: it gets pg_stat_statements, tables and replication from the queries.yaml
  example the package ships, with PostgreSQL 13+'s column names, as its users do);
- redline with one database and its defaults (every sub-collector, top 20 statements and
  tables).

Each connects as its own pg_monitor role, so pg_stat_statements tells their statements apart
(utility statements included: pg_stat_statements.track_utility is on). Per exporter: the wall
time of GET /metrics (median of N), the statements one scrape issues and their server-side
execution time (deltas of pg_stat_statements read between scrapes, as the superuser), the
exporter's CPU per scrape, and the series exposed. Prints a table and writes
bench/results/postgres.md when run alone; ``make bench`` (run.py) takes its rows through
:func:`section`. Exits 0 when the bench ran (the table is a report, not a test).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import psutil
from procs import OtherLoad
from table import ERROR, Row, Section, judge, num, peer_version, ratio

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))

from tests.pg import BIN, MONITOR_USER, Cluster, free_port, new_cluster  # noqa: E402

RESULTS = BENCH_DIR / "results" / "postgres.md"
PGEXP_BIN = "/usr/bin/prometheus-postgres-exporter"
PGEXP_QUERIES = "/usr/share/doc/prometheus-postgres-exporter/examples/queries.yaml"
PGEXP_USER, PGEXP_PASSWORD = "pgexp", "pgexp-bench-pw"
SUPER_DSN_PASSWORD = "postgres-superuser-pw"  # tests/pg.py's initdb password
SCRAPE_TIMEOUT = "10"
# PostgreSQL 13 renamed pg_stat_statements' timing columns; the example predates that.
PG13_RENAMES = {
    "total_time": "total_exec_time",
    "min_time": "min_exec_time",
    "max_time": "max_exec_time",
    "mean_time": "mean_exec_time",
    "stddev_time": "stddev_exec_time",
}


@dataclass
class Run:
    name: str
    wall: list[float] = field(default_factory=list)  # seconds per scrape
    statements: list[int] = field(default_factory=list)  # per scrape
    db_ms: list[float] = field(default_factory=list)  # server execution ms per scrape
    cpu: list[float] = field(default_factory=list)  # exporter CPU seconds per scrape
    series: int = 0
    db_series: int = 0
    error: str = ""


def pgexp_queries(path: Path) -> Path:
    text = Path(PGEXP_QUERIES).read_text()
    for old, new in PG13_RENAMES.items():
        text = re.sub(rf"\b{old}\b(?= / 1000)", new, text)
    path.write_text(text)
    return path


def redline_config(path: Path, cluster: Cluster) -> Path:
    # host and logs off: only the database is compared
    path.write_text(
        f"""host: {{enabled: false}}
databases:
  - name: bench
    dsn: '{cluster.dsn()}'
"""
    )
    return path


async def wait_ready(session: aiohttp.ClientSession, url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            async with session.get(url) as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout}s")
        await asyncio.sleep(0.2)


async def measure(
    run: Run, cmd: list[str], env: dict[str, str], url: str, role: str, scrapes: int, su: str
) -> Run:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    conn = await asyncpg.connect(su)
    stats = (
        "SELECT coalesce(sum(calls), 0)::int8, coalesce(sum(total_exec_time), 0)::float8 "
        "FROM pg_stat_statements WHERE userid = $1::regrole"
    )
    headers = {"X-Prometheus-Scrape-Timeout-Seconds": SCRAPE_TIMEOUT}
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, url)
            ps = psutil.Process(proc.pid)
            body = ""
            for i in range(scrapes + 2):  # two warm-up scrapes: connecting, caches
                calls0, ms0 = await conn.fetchrow(stats, role)
                cpu0 = sum(ps.cpu_times()[:2])
                t0 = time.perf_counter()
                async with session.get(url, headers=headers) as response:
                    body = await response.text()
                wall = time.perf_counter() - t0
                calls1, ms1 = await conn.fetchrow(stats, role)
                cpu1 = sum(ps.cpu_times()[:2])
                if i >= 2:
                    run.wall.append(wall)
                    run.statements.append(calls1 - calls0)
                    run.db_ms.append(ms1 - ms0)
                    run.cpu.append(cpu1 - cpu0)
            lines = [ln for ln in body.splitlines() if ln and not ln.startswith("#")]
            run.series = len(lines)
            run.db_series = sum(
                1 for ln in lines if re.match(r"(pg_|redline_pg_|redline_sql_)", ln)
            )
    except Exception as e:  # a report, not a test: say what failed and go on
        run.error = f"{type(e).__name__}: {e}"
    finally:
        await conn.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if proc.stderr is not None and run.error:
            run.error += " | " + proc.stderr.read().decode(errors="replace")[-500:]
    return run


def med(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def render(runs: list[Run], opts: argparse.Namespace, tps: str) -> str:
    pe, rl = runs
    rows = [
        ("scrape wall time, median (ms)", lambda r: f"{med(r.wall) * 1000:.1f}"),
        (
            "statements per scrape (median, min-max)",
            lambda r: (
                f"{med(r.statements):g} ({min(r.statements, default=0)}-"
                f"{max(r.statements, default=0)})"
            ),
        ),
        (
            "server execution time per scrape, median (min-max) (ms)",
            lambda r: (
                f"{med(r.db_ms):.2f} ({min(r.db_ms, default=0):.2f}-{max(r.db_ms, default=0):.2f})"
            ),
        ),
        (
            "exporter CPU per scrape, mean (ms)",
            lambda r: f"{sum(r.cpu) / len(r.cpu) * 1000:.1f}" if r.cpu else "nan",
        ),
        ("series exposed (all / database)", lambda r: f"{r.series} / {r.db_series}"),
    ]
    out = [
        f"# redline vs postgres_exporter: Postgres ({time.strftime('%Y-%m-%d')})",
        "",
        f"`bench/postgres.py --scrapes {opts.scrapes} --rate {opts.rate}"
        f"{' --quick' if opts.quick else ''}` on {platform.node()} ({os.cpu_count()} CPUs), "
        f"PostgreSQL 15, pgbench scale {opts.scale} at {tps}; one exporter at a time; "
        "medians of the measured scrapes after two warm-up scrapes.",
        "",
        "| | postgres_exporter | redline | target |",
        "|---|---|---|---|",
    ]
    targets = ["faster", "fewer", "no more", "", ""]
    for (label, fmt), target in zip(rows, targets, strict=True):
        out.append(f"| {label} | {fmt(pe)} | {fmt(rl)} | {target} |")
    verdict = []
    if pe.wall and rl.wall:
        verdict.append(
            f"scrape {med(pe.wall) / med(rl.wall):.1f}x faster"
            if med(rl.wall) < med(pe.wall)
            else "scrape NOT faster"
        )
        verdict.append(
            "fewer statements"
            if med(rl.statements) < med(pe.statements)
            else "NOT fewer statements"
        )
        verdict.append(
            "no more database time" if med(rl.db_ms) <= med(pe.db_ms) else "MORE database time"
        )
    out += ["", "redline: " + ", ".join(verdict) if verdict else "no verdict"]
    for run in runs:
        if run.error:
            out.append(f"\n{run.name} failed: {run.error}")
    out += [
        "",
        "postgres_exporter runs its built-in queries plus the package's queries.yaml example "
        "(pg_stat_statements with every statement and no LIMIT, pg_stat_user_tables, "
        "pg_statio_user_tables, replication, postmaster, idle processes); redline runs its "
        "defaults: canary, activity, per-database, top 20 tables, replication, top 20 statements.",
    ]
    return "\n".join(out) + "\n"


@dataclass
class Measured:
    postgres_exporter: Run
    redline: Run
    tps: str  # the load as the server saw it
    other_cores: float
    busiest: list[tuple[str, float]]
    seconds: float


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--rate", type=int, default=3500, help="pgbench transactions/s")
    parser.add_argument("--quick", action="store_true", help="scale 1 and 5 scrapes")
    opts = parser.parse_args(argv)
    opts.scale = 1 if opts.quick else 10
    if opts.quick:
        opts.scrapes = min(opts.scrapes, 5)
    if not 1 <= opts.scrapes <= 1000 or not 1 <= opts.rate <= 100_000:
        parser.error("--scrapes 1..1000, --rate 1..100000")
    return opts


def postmaster_pid(cluster: Cluster) -> list[int]:
    """The server's pid (its backends are its children), for OtherLoad; none once stopped."""
    try:
        return [int((cluster.data / "postmaster.pid").read_text().split("\n", 1)[0])]
    except (OSError, ValueError):
        return []


async def measure_both(opts: argparse.Namespace) -> Measured:
    """One cluster under load; postgres_exporter then redline scraping it."""
    if not os.path.exists(PGEXP_BIN):
        raise RuntimeError(f"{PGEXP_BIN} is missing: run scripts/install-system.sh")
    started = time.monotonic()
    cluster = new_cluster()
    work = Path(tempfile.mkdtemp(prefix="redline-bench-pg-"))
    load: subprocess.Popen[bytes] | None = None
    try:
        cluster.start()
        cluster.psql(
            f"CREATE ROLE {PGEXP_USER} LOGIN PASSWORD '{PGEXP_PASSWORD}'; "
            f"GRANT pg_monitor TO {PGEXP_USER};"
        )
        print(f"pgbench -i -s {opts.scale} ...", file=sys.stderr)
        cluster.pgbench("-i", "-q", "-s", str(opts.scale), "postgres", timeout=300)
        cluster.psql("SELECT pg_stat_statements_reset()")
        # the load runs through both exporters' turns and is stopped at the end
        load = subprocess.Popen(
            [
                str(BIN / "pgbench"),
                "-n",
                "-c",
                "4",
                "-j",
                "2",
                "-R",
                str(opts.rate),
                "-T",
                "900",
                "postgres",
            ],
            env=cluster.env,
            cwd=str(cluster.base),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **cluster.as_user,
        )
        await asyncio.sleep(2)
        su = f"postgresql://postgres:{SUPER_DSN_PASSWORD}@127.0.0.1:{cluster.port}/postgres"
        commits = "SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'"
        conn = await asyncpg.connect(su)
        commits0, t0 = await conn.fetchval(commits), time.monotonic()

        with OtherLoad(lambda: postmaster_pid(cluster)) as other:
            port = free_port()
            pe_env = {
                **os.environ,
                "DATA_SOURCE_NAME": (
                    f"postgresql://{PGEXP_USER}:{PGEXP_PASSWORD}@127.0.0.1:{cluster.port}/"
                    "postgres?sslmode=disable"
                ),
            }
            pe_cmd = [
                PGEXP_BIN,
                f"--web.listen-address=127.0.0.1:{port}",
                f"--extend.query-path={pgexp_queries(work / 'queries.yaml')}",
            ]
            print("postgres_exporter ...", file=sys.stderr)
            pe = await measure(
                Run("postgres_exporter"),
                pe_cmd,
                pe_env,
                f"http://127.0.0.1:{port}/metrics",
                PGEXP_USER,
                opts.scrapes,
                su,
            )

            port = free_port()
            rl_cmd = [
                sys.executable,
                "-m",
                "exporter",
                "run",
                "--config.file",
                str(redline_config(work / "redline.yml", cluster)),
                "--web.listen-address",
                f"127.0.0.1:{port}",
            ]
            print("redline ...", file=sys.stderr)
            rl = await measure(
                Run("redline"),
                rl_cmd,
                {**os.environ, "PYTHONPATH": str(REPO)},
                f"http://127.0.0.1:{port}/metrics",
                MONITOR_USER,
                opts.scrapes,
                su,
            )
        # the load as the server saw it (pgbench's own and the exporters' transactions)
        rate = (await conn.fetchval(commits) - commits0) / (time.monotonic() - t0)
        tps = f"{rate:.0f} commits/s (pgbench -R {opts.rate})"
        await conn.close()
    finally:
        if load is not None:
            load.terminate()
            try:
                load.wait(timeout=30)
            except subprocess.TimeoutExpired:
                load.kill()
        cluster.destroy()
        shutil.rmtree(work, ignore_errors=True)
    return Measured(pe, rl, tps, other.cores, other.busiest, time.monotonic() - started)


def section(quick: bool) -> Section:
    """This comparison's rows of ``make bench``'s table (issue 3's targets)."""
    opts = options(["--quick"] if quick else [])
    got = asyncio.run(measure_both(opts))
    pe, rl = got.postgres_exporter, got.redline
    error = "; ".join(f"{r.name}: {r.error}" for r in (pe, rl) if r.error)
    ok = not error and bool(pe.wall and rl.wall)

    def target(passed: bool) -> str:
        return judge(passed) if ok else ERROR

    wall = (med(rl.wall) * 1000, med(pe.wall) * 1000)
    statements = (med(rl.statements), med(pe.statements))
    db_ms = (med(rl.db_ms), med(pe.db_ms))
    cpu = [sum(r.cpu) / len(r.cpu) * 1000 if r.cpu else float("nan") for r in (rl, pe)]
    rows = [
        Row(
            f"scrape wall time, median of {opts.scrapes} (ms)",
            num(wall[0], 1),
            num(wall[1], 1),
            ratio(*wall),
            "faster",
            target(wall[0] < wall[1]),
        ),
        Row(
            "statements per scrape, median",
            num(statements[0], 0),
            num(statements[1], 0),
            ratio(*statements),
            "fewer",
            target(statements[0] < statements[1]),
        ),
        Row(
            "server execution time per scrape, median (ms)",
            num(db_ms[0], 2),
            num(db_ms[1], 2),
            ratio(*db_ms),
            "no more",
            target(db_ms[0] <= db_ms[1]),
        ),
        Row("exporter CPU per scrape, mean (ms)", num(cpu[0], 1), num(cpu[1], 1), ratio(*cpu)),
        Row(
            "series exposed, database ones",
            str(rl.db_series),
            str(pe.db_series),
            ratio(rl.db_series, pe.db_series),
        ),
    ]
    notes = [
        f"PostgreSQL 15 (tests/pg.py), pgbench scale {opts.scale} at {got.tps}; one exporter "
        "at a time; medians after two warm-up scrapes; statements and server time from "
        "pg_stat_statements, by each exporter's own role",
        "postgres_exporter runs its built-in queries plus the queries.yaml example Debian ships "
        "(pg_stat_statements with every statement); redline its defaults (top 20 statements "
        "and tables)",
    ]
    if error:
        notes.insert(0, f"failed: {error}")
    return Section(
        title=f"Postgres vs {peer_version([PGEXP_BIN, '--version'])} (issue 3)",
        rows=rows,
        notes=notes,
        detail=render([pe, rl], opts, got.tps),
        other_cores=got.other_cores,
        busiest=got.busiest,
        seconds=got.seconds,
    )


async def main(argv: list[str] | None = None) -> int:
    opts = options(argv)
    try:
        got = await measure_both(opts)
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 2
    table = render([got.postgres_exporter, got.redline], opts, got.tps)
    print(table)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
