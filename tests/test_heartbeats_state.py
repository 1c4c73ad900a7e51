"""The heartbeat state file: atomic saves, a missing, corrupt or unwritable file (reported,
never fatal, nothing in memory lost), and an exporter restart that finds every ping again."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from exporter.config import parse_config
from exporter.heartbeats import state
from exporter.heartbeats.source import HeartbeatSource
from exporter.secrets import Redactor
from tests.pg import Scrape, render

T0 = 1_760_000_000.0


def sample_states() -> dict[str, state.JobState]:
    rollups = state.JobState()
    rollups.apply("start", T0)
    rollups.apply("success", T0 + 95.5)
    purge = state.JobState()
    purge.apply("failure", T0 + 10)
    return {"metric-rollups": rollups, "retention-purge": purge}


def test_roundtrip_and_atomic_save(tmp_path: Path) -> None:
    path = tmp_path / "heartbeats.json"
    store = state.StateStore(str(path))
    assert store.load() == {} and store.status == "missing"
    assert store.save(state.encode(sample_states()), T0)
    assert (store.status, store.last_save, store.saves) == ("ok", T0, 1)
    assert os.listdir(tmp_path) == ["heartbeats.json"]  # no temp file left behind
    again = state.StateStore(str(path))
    assert again.load() == sample_states()
    assert again.status == "ok"
    doc = json.loads(path.read_text())
    assert doc["version"] == 1
    assert doc["jobs"]["metric-rollups"]["last_duration"] == 95.5


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"",
        b'{"version": 1, "jobs": {"a": {"status": "sideways"}}}',
        b'{"version": 1, "jobs": {"a": {"successes": -3}}}',
        b'{"version": 1, "jobs": {"a": {"last_ping": "yesterday"}}}',
        b'{"version": 1, "jobs": {"a": {"unknown_key": 1}}}',
        b'{"version": 99, "jobs": {}}',
        b"\xff\xfe\x00",
        b"[]",
    ],
)
def test_corrupt_file_is_set_aside(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "heartbeats.json"
    path.write_bytes(content)
    store = state.StateStore(str(path))
    assert store.load() == {}
    assert store.status == "corrupt"
    assert "is not a valid state file" in store.message
    # kept for a person to look at; the next save writes a fresh file
    assert (tmp_path / "heartbeats.json.corrupt").read_bytes() == content
    assert not path.exists()
    assert store.save(state.encode(sample_states()), T0)
    assert store.status == "ok"


def test_unwritable_then_fixed(tmp_path: Path) -> None:
    """Tests run as root, whom permissions do not stop: the state file's directory is made
    impossible instead (a regular file stands where the directory should be)."""
    blocker = tmp_path / "state"
    blocker.write_text("a file, not a directory")
    store = state.StateStore(str(blocker / "heartbeats.json"))
    assert store.load() == {}
    assert not store.save(state.encode(sample_states()), T0)
    assert store.status == "unwritable"
    assert "cannot be written: Not a directory" in store.message
    blocker.unlink()
    blocker.mkdir()
    assert store.save(state.encode(sample_states()), T0)
    assert store.status == "ok"


def test_disabled() -> None:
    store = state.StateStore(None)
    assert store.load() == {}
    assert store.status == "disabled"
    assert store.save(b"{}", T0)


def config(path: Path | None) -> str:
    line = f"  state_file: {path}\n" if path else ""
    return f"""heartbeats:
{line}  token: t0ken-for-tests
  jobs:
    - {{name: metric-rollups, schedule: "0 2 * * *", grace: 30m}}
    - {{name: retention-purge, period: 1d}}
"""


async def test_restart_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "heartbeats.json"
    clock = [T0]
    first = HeartbeatSource(parse_config(config(path), "t"), Redactor(), clock=lambda: clock[0])
    await first.start()
    first.ping("metric-rollups", "start")
    clock[0] += 120
    first.ping("metric-rollups", "success")
    first.ping("retention-purge", "failure")
    await first._request_save()
    await first.close()

    second = HeartbeatSource(parse_config(config(path), "t"), Redactor(), clock=lambda: clock[0])
    await second.start()
    try:
        assert second.states == first.states
        loop_deadline = 1e12  # collect only reads memory here: no deadline to honour
        before = Scrape(render(await first.collect(loop_deadline)))
        after = Scrape(render(await second.collect(loop_deadline)))
        last_save = "redline_heartbeat_state_last_save_timestamp_seconds"
        assert [x for x in before.samples if x[0] != last_save] == [
            x for x in after.samples if x[0] != last_save
        ]
        assert after.value(last_save) == path.stat().st_mtime  # the file's, from the first run
        assert (
            after.value("redline_heartbeat_last_duration_seconds", heartbeat="metric-rollups")
            == 120
        )
        assert (
            after.value("redline_heartbeat_status", heartbeat="retention-purge", status="down") == 1
        )
    finally:
        await second.close()


async def test_close_saves_what_is_pending(tmp_path: Path) -> None:
    path = tmp_path / "heartbeats.json"
    src = HeartbeatSource(parse_config(config(path), "t"), Redactor(), clock=lambda: T0)
    await src.start()
    src.ping("retention-purge", "success")
    src._request_save()  # as the handler does; close comes before the writer gets to it
    await src.close()
    assert state.StateStore(str(path)).load()["retention-purge"].successes == 1


async def test_corrupt_file_at_start_is_reported_and_state_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "heartbeats.json"
    path.write_text('{"version": 1, "jobs": ')
    src = HeartbeatSource(parse_config(config(path), "t"), Redactor(), clock=lambda: T0)
    await src.start()
    try:
        s = Scrape(render(await src.collect(1e12)))
        assert s.value("redline_heartbeat_state_file_status", status="corrupt") == 1
        assert s.value("redline_heartbeat_status", heartbeat="metric-rollups", status="never") == 1
        src.ping("metric-rollups", "success")
        assert await src._request_save()
        s = Scrape(render(await src.collect(1e12)))
        assert s.value("redline_heartbeat_state_file_status", status="ok") == 1
        assert s.value("redline_heartbeat_state_last_save_timestamp_seconds") == T0
    finally:
        await src.close()


async def test_reload_moves_the_state_to_a_new_file(tmp_path: Path) -> None:
    src = HeartbeatSource(
        parse_config(config(tmp_path / "a.json"), "t"), Redactor(), clock=lambda: T0
    )
    await src.start()
    try:
        src.ping("retention-purge", "success")
        await src._request_save()
        await src.reload(parse_config(config(tmp_path / "b.json"), "t"))
        assert src._saved is not None
        await src._saved
        assert state.StateStore(str(tmp_path / "b.json")).load() == src.states
    finally:
        await src.close()
