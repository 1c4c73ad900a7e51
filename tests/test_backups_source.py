"""The backups source end to end: integrity checks in the background (never in a scrape) on
real dumps, Supabase's Management API served on loopback in its documented shape and failing
in every way a feed fails, reloads, the app's /metrics, and promtool on the exposition."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import os
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from exporter.app import initial_runtime, make_app
from exporter.backups import verify
from exporter.backups.source import STATUSES, BackupSource
from exporter.config import parse_config
from exporter.secrets import Redactor
from tests.pg import BIN, SUPERUSER, Scrape, render, shared_cluster
from tests.promtool import promtool_problems

TOKEN = "sbp_test0123456789abcdef0123456789abcdef"
REF = "abcdefghijklmnopqrst"


@pytest.fixture(scope="module")
def custom_dump(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    cluster = shared_cluster()
    path = tmp_path_factory.mktemp("src") / "d.dump"
    subprocess.run(
        [str(BIN / "pg_dump"), "-U", SUPERUSER, "-d", "postgres", "-Fc", "-f", str(path)],
        env=cluster.env,
        check=True,
        timeout=60,
    )
    return path.read_bytes()


@pytest.fixture
async def source() -> AsyncIterator[Callable[..., Any]]:
    made: list[BackupSource] = []

    async def make(
        text: str, clock: Callable[[], float] | None = None, background: bool = False
    ) -> BackupSource:
        """A started source; without ``background`` the test runs each round itself."""
        kwargs: dict[str, Any] = {"clock": clock} if clock else {}
        src = BackupSource(
            parse_config(text, "test.yml"), Redactor(), background=background, **kwargs
        )
        await src.start()
        made.append(src)
        return src

    yield make
    for src in made:
        await src.close()


async def scrape(src: BackupSource) -> Scrape:
    loop = asyncio.get_running_loop()
    return Scrape(render(await src.collect(loop.time() + 5)))


def state(s: Scrape, name: str, states: tuple[str, ...], **labels: str) -> str:
    """The one state of ``states`` that is 1 ('' when none is)."""
    on = [x for x in states if any(v for _, v in s.series(name, **labels, **{_last(name): x}))]
    assert len(on) <= 1, on
    return on[0] if on else ""


def _last(name: str) -> str:
    return "reason" if name.endswith("failure_reason") else "status"


def status(s: Scrape, backup: str) -> str:
    return state(s, "redline_backup_status", STATUSES, backup=backup)


def verify_status(s: Scrape, backup: str, check: str) -> str:
    return state(
        s,
        "redline_backup_verify_status",
        ("ok", "failed", "error", "pending"),
        backup=backup,
        check=check,
    )


def files_yaml(directory: Path, checks: str, interval: str = "1h", glob: str = "*.dump") -> str:
    return f"""
backups:
  files:
    - name: agent-tables
      directory: {directory}
      glob: "{glob}"
      max_age: 25h
      verify:
        checks: {checks}
        interval: {interval}
        settle: 0s
        pg_restore_path: {BIN / "pg_restore"}
"""


# --- files and their checks -----------------------------------------------------------------------


async def test_checks_run_in_the_background_and_follow_the_newest_file(
    tmp_path: Path, source: Any, custom_dump: bytes
) -> None:
    good = tmp_path / "hotrod-1.dump"
    good.write_bytes(custom_dump)
    src = await source(files_yaml(tmp_path, "[pg_restore, pg_restore_full]"))
    s = await scrape(src)
    assert verify_status(s, "agent-tables", "pg_restore") == "pending"
    await src.verify_round("agent-tables")
    s = await scrape(src)
    assert status(s, "agent-tables") == "ok"
    for check in ("pg_restore", "pg_restore_full"):
        assert verify_status(s, "agent-tables", check) == "ok"
        assert (
            s.value(
                "redline_backup_verify_last_run_timestamp_seconds",
                backup="agent-tables",
                check=check,
            )
            > 0
        )
        assert (
            s.value("redline_backup_verify_duration_seconds", backup="agent-tables", check=check)
            >= 0
        )

    # last night's dump stopped half-way: a newer, truncated file
    bad = tmp_path / "hotrod-2.dump"
    bad.write_bytes(custom_dump[: len(custom_dump) // 2])
    os.utime(good, (time.time() - 120, time.time() - 120))
    os.utime(bad, (time.time() - 60, time.time() - 60))
    s = await scrape(src)
    assert verify_status(s, "agent-tables", "pg_restore_full") == "pending"  # not checked yet
    assert status(s, "agent-tables") == "ok"  # pending is no verdict
    await src.verify_round("agent-tables")
    s = await scrape(src)
    assert status(s, "agent-tables") == "corrupt"
    assert verify_status(s, "agent-tables", "pg_restore") == "ok"  # its TOC is intact
    assert verify_status(s, "agent-tables", "pg_restore_full") == "failed"
    reason = state(
        s,
        "redline_backup_verify_failure_reason",
        verify.REASONS,
        backup="agent-tables",
        check="pg_restore_full",
    )
    assert reason == "truncated"
    assert promtool_problems(s.text) == []


async def test_a_scrape_never_verifies(
    tmp_path: Path, source: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.sql.gz").write_bytes(gzip.compress(b"select 1;\n"))
    calls: list[str] = []

    async def counting_run_checks(*args: Any, **kwargs: Any) -> list[verify.CheckResult]:
        calls.append("run")
        return []

    monkeypatch.setattr(verify, "run_checks", counting_run_checks)
    src = await source(files_yaml(tmp_path, "[gzip]", glob="*.sql.gz"), background=True)
    await asyncio.sleep(0.05)  # the round at start
    assert calls == ["run"]
    for _ in range(5):
        await scrape(src)
    assert calls == ["run"]


async def test_background_interval(tmp_path: Path, source: Any) -> None:
    (tmp_path / "a.sql.gz").write_bytes(gzip.compress(b"select 1;\n"))
    src = await source(
        files_yaml(tmp_path, "[gzip, sha256]", interval="50ms", glob="*.sql.gz"), background=True
    )
    for _ in range(50):
        s = await scrape(src)
        if verify_status(s, "agent-tables", "sha256") == "failed":
            break
        await asyncio.sleep(0.02)
    assert verify_status(s, "agent-tables", "gzip") == "ok"
    assert (
        state(
            s,
            "redline_backup_verify_failure_reason",
            verify.REASONS,
            backup="agent-tables",
            check="sha256",
        )
        == "no_checksum"
    )
    # the job writes the sidecar after the dump: the next rounds pick it up, no restart needed
    data = (tmp_path / "a.sql.gz").read_bytes()
    (tmp_path / "a.sql.gz.sha256").write_text(hashlib.sha256(data).hexdigest() + "  a.sql.gz\n")
    for _ in range(50):
        s = await scrape(src)
        if verify_status(s, "agent-tables", "sha256") == "ok":
            break
        await asyncio.sleep(0.02)
    assert verify_status(s, "agent-tables", "sha256") == "ok"
    assert status(s, "agent-tables") == "ok"


async def test_a_file_still_being_written_is_not_checked(tmp_path: Path, source: Any) -> None:
    (tmp_path / "a.sql.gz").write_bytes(gzip.compress(b"select 1;\n")[:10])  # half-written
    text = files_yaml(tmp_path, "[gzip]", glob="*.sql.gz").replace("settle: 0s", "settle: 10m")
    src = await source(text)
    await src.verify_round("agent-tables")
    assert verify_status(await scrape(src), "agent-tables", "gzip") == "pending"


async def test_reload_keeps_unchanged_sets_and_drops_removed_ones(
    tmp_path: Path, source: Any
) -> None:
    (tmp_path / "a.sql.gz").write_bytes(gzip.compress(b"select 1;\n"))
    text = files_yaml(tmp_path, "[gzip]", glob="*.sql.gz")
    src = await source(text)
    await src.verify_round("agent-tables")
    extra = f"""    - name: other
      directory: {tmp_path}
      glob: "*.none"
      max_age: 1h
"""
    await src.reload(parse_config(text + extra, "t"))
    s = await scrape(src)
    assert verify_status(s, "agent-tables", "gzip") == "ok"  # kept: its config did not change
    assert status(s, "other") == "empty"
    await src.reload(parse_config(files_yaml(tmp_path, "[sql_complete]", glob="*.sql.gz"), "t"))
    s = await scrape(src)
    assert s.series("redline_backup_status", backup="other") == []
    assert verify_status(s, "agent-tables", "sql_complete") in ("pending", "failed")


# --- Supabase -------------------------------------------------------------------------------------

# Supabase's documented V1BackupsResponse, as the Management API answers it
BACKUPS: list[dict[str, Any]] = [
    {
        "is_physical_backup": True,
        "status": "COMPLETED",
        "inserted_at": "2025-10-13T03:00:41.123Z",
    },
    {
        "is_physical_backup": True,
        "status": "COMPLETED",
        "inserted_at": "2025-10-14T03:01:12.345Z",
    },
    {
        "is_physical_backup": True,
        "status": "COMPLETED",
        "inserted_at": "2025-10-12T03:00:05.000Z",
    },
]
GOOD = {
    "region": "us-east-1",
    "walg_enabled": True,
    "pitr_enabled": False,
    "backups": BACKUPS,
    "physical_backup_data": {},
}
NEWEST = 1760410872.345  # 2025-10-14T03:01:12.345Z


class Api:
    """A loopback Management API: answers what the test sets and records what it was sent."""

    def __init__(self) -> None:
        self.answer: Any = GOOD
        self.status = 200
        self.headers: dict[str, str] = {}
        self.raw: bytes | None = None
        self.hang = False
        self.seen: list[tuple[str, str]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.path, request.headers.get("Authorization", "")))
        if self.hang:
            await asyncio.sleep(30)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"message": "Unauthorized"}, status=401)
        if self.raw is not None:
            resp = web.StreamResponse(status=self.status, headers={"Content-Length": "10000"})
            await resp.prepare(request)
            await resp.write(self.raw)
            return resp  # closes with fewer bytes than announced
        if isinstance(self.answer, str):
            return web.Response(
                text=self.answer, status=self.status, headers=self.headers, content_type="text/html"
            )
        return web.json_response(self.answer, status=self.status, headers=self.headers)


@pytest.fixture
async def api(serve: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Api, str]:
    monkeypatch.setenv("REDLINE_TEST_SUPABASE_TOKEN", TOKEN)
    monkeypatch.setenv("REDLINE_TEST_SUPABASE_REF", REF)
    fake = Api()
    app = web.Application()
    app.router.add_get("/v1/projects/{ref}/database/backups", fake.handle)
    return fake, await serve(app)


def supabase_yaml(
    base_url: str, max_age: str = "25h", token: str = "${REDLINE_TEST_SUPABASE_TOKEN}"
) -> str:
    return f"""
backups:
  supabase:
    - name: supabase
      project_ref: ${{REDLINE_TEST_SUPABASE_REF}}
      access_token: {token}
      base_url: {base_url}
      max_age: {max_age}
      timeout: 300ms
"""


async def test_supabase_daily_backups(api: tuple[Api, str], source: Any) -> None:
    fake, url = api
    clock = [NEWEST + 3600]
    src = await source(supabase_yaml(url), clock=lambda: clock[0])
    assert await src.supabase_round("supabase") == 0
    assert fake.seen[-1] == (f"/v1/projects/{REF}/database/backups", f"Bearer {TOKEN}")
    s = await scrape(src)
    assert s.value("redline_backup_supabase_up", backup="supabase") == 1
    assert status(s, "supabase") == "ok"
    assert s.value("redline_backup_newest_timestamp_seconds", backup="supabase") == pytest.approx(
        NEWEST
    )
    assert s.value("redline_backup_newest_age_seconds", backup="supabase") == pytest.approx(3600)
    assert s.value("redline_backup_supabase_backups", backup="supabase") == 3
    assert s.value("redline_backup_supabase_pitr_enabled", backup="supabase") == 0
    assert (
        s.value("redline_backup_supabase_latest_status", backup="supabase", status="completed") == 1
    )
    assert s.value("redline_backup_supabase_data_age_seconds", backup="supabase") == 0
    assert promtool_problems(s.text) == []
    clock[0] = NEWEST + 25 * 3600 + 1
    assert status(await scrape(src), "supabase") == "stale"


async def test_supabase_latest_attempt_failed(api: tuple[Api, str], source: Any) -> None:
    fake, url = api
    fake.answer = {
        **GOOD,
        "backups": [
            *BACKUPS,
            {"is_physical_backup": True, "status": "FAILED", "inserted_at": "2025-10-15T03:00:00Z"},
        ],
    }
    src = await source(supabase_yaml(url), clock=lambda: NEWEST + 3600)
    await src.supabase_round("supabase")
    s = await scrape(src)
    assert status(s, "supabase") == "failed"
    assert s.value("redline_backup_supabase_latest_status", backup="supabase", status="failed") == 1
    # the newest good backup is still the restore point
    assert s.value("redline_backup_newest_timestamp_seconds", backup="supabase") == pytest.approx(
        NEWEST
    )


async def test_supabase_pitr(api: tuple[Api, str], source: Any) -> None:
    fake, url = api
    fake.answer = {
        **GOOD,
        "pitr_enabled": True,
        "physical_backup_data": {
            "earliest_physical_backup_date_unix": 1759800000,
            "latest_physical_backup_date_unix": 1760450000,
        },
    }
    src = await source(supabase_yaml(url, max_age="1h"), clock=lambda: 1760450000 + 600)
    await src.supabase_round("supabase")
    s = await scrape(src)
    assert s.value("redline_backup_supabase_pitr_enabled", backup="supabase") == 1
    assert s.value("redline_backup_newest_age_seconds", backup="supabase") == 600
    assert status(s, "supabase") == "ok"


async def test_supabase_unknown_status_and_no_backups(api: tuple[Api, str], source: Any) -> None:
    fake, url = api
    fake.answer = {
        "pitr_enabled": False,
        "backups": [{"status": "SOMETHING_NEW", "inserted_at": "2025-10-14T03:00:00Z"}],
    }
    src = await source(supabase_yaml(url), clock=lambda: NEWEST)
    await src.supabase_round("supabase")
    s = await scrape(src)
    assert (
        s.value("redline_backup_supabase_latest_status", backup="supabase", status="unknown") == 1
    )
    assert status(s, "supabase") == "empty"  # nothing completed: nothing to restore


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda f: setattr(f, "status", 500), "status"),
        (lambda f: setattr(f, "answer", "<html>Bad gateway</html>"), "json"),
        (lambda f: setattr(f, "answer", {"message": "no backups key"}), "json"),
        (lambda f: setattr(f, "raw", b'{"backups": ['), "truncated"),
        (lambda f: setattr(f, "hang", True), "timeout"),
    ],
)
async def test_supabase_failures_keep_the_last_good_answer(
    api: tuple[Api, str], source: Any, setup: Callable[[Api], None], reason: str
) -> None:
    fake, url = api
    clock = [NEWEST + 60]
    src = await source(supabase_yaml(url), clock=lambda: clock[0])
    await src.supabase_round("supabase")
    setup(fake)
    clock[0] += 600
    await src.supabase_round("supabase")
    s = await scrape(src)
    assert s.value("redline_backup_supabase_up", backup="supabase") == 0
    assert (
        state(s, "redline_backup_supabase_failure_reason", (reason,), backup="supabase") == reason
    )
    assert s.value("redline_backup_supabase_data_age_seconds", backup="supabase") == 600
    assert status(s, "supabase") == "ok"  # the last good answer, still within the RPO
    assert s.value("redline_backup_newest_age_seconds", backup="supabase") == pytest.approx(660)


async def test_supabase_rate_limited(api: tuple[Api, str], source: Any) -> None:
    fake, url = api
    fake.status, fake.headers = 429, {"Retry-After": "120"}
    src = await source(supabase_yaml(url), clock=lambda: NEWEST)
    assert await src.supabase_round("supabase") == 120
    s = await scrape(src)
    assert state(s, "redline_backup_supabase_failure_reason", ("rate_limited",), backup="supabase")
    assert status(s, "supabase") == "unreadable"  # no good answer yet


async def test_supabase_wrong_token_is_never_shown(
    api: tuple[Api, str],
    source: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url = api
    monkeypatch.setenv("REDLINE_TEST_SUPABASE_TOKEN", "sbp_wrong_token_value_123")
    caplog.set_level(logging.INFO)
    src = await source(supabase_yaml(url), clock=lambda: NEWEST)
    await src.supabase_round("supabase")
    s = await scrape(src)
    assert (
        state(s, "redline_backup_supabase_failure_reason", ("auth",), backup="supabase") == "auth"
    )
    assert "sbp_wrong_token_value_123" not in caplog.text + s.text


async def test_supabase_token_not_set(
    api: tuple[Api, str], source: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url = api
    monkeypatch.delenv("REDLINE_TEST_SUPABASE_TOKEN")
    src = await source(supabase_yaml(url), clock=lambda: NEWEST)
    await src.supabase_round("supabase")
    s = await scrape(src)
    assert (
        state(s, "redline_backup_supabase_failure_reason", ("secret",), backup="supabase")
        == "secret"
    )


async def test_supabase_before_the_first_answer(api: tuple[Api, str], source: Any) -> None:
    fake, url = api
    fake.hang = True
    src = await source(supabase_yaml(url), background=True)
    s = await scrape(src)
    # no state rather than a false alarm while the first call is on its way
    assert s.series("redline_backup_status", backup="supabase") == []
    assert s.value("redline_backup_max_age_seconds", backup="supabase") == 25 * 3600


# --- in the exporter ------------------------------------------------------------------------------


async def test_in_the_app(tmp_path: Path) -> None:
    (tmp_path / "a.sql.gz").write_bytes(gzip.compress(b"select 1;\n"))
    path = tmp_path / "redline.yml"
    path.write_text(files_yaml(tmp_path, "[gzip]", glob="*.sql.gz"))
    client = TestClient(TestServer(make_app(initial_runtime(path))))
    await client.start_server()
    try:
        resp = await client.get("/metrics")
        text = await resp.text()
    finally:
        await client.close()
    s = Scrape(text)
    assert s.value("redline_source_up", source="backups") == 1
    assert status(s, "agent-tables") == "ok"
