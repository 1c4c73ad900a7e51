"""The demo's ports come from one place (exporter/demo/layout.py) and move together with
REDLINE_DEMO_PORT_OFFSET, with its state directory, so several demos run on one machine: two
checkouts', and the suite's drill modules side by side (tests/conftest.py gives each its own
offset). (tests/test_drills*.py run whole stacks; here only what needs no stack.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import pytest
import yaml

from exporter.demo import layout
from tests.demo_slots import DEMO_SLOTS, demo_lock, demo_offsets, move_demo

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("raw", "offset"), [(None, 0), ("", 0), (" 100 ", 100), ("0", 0)])
def test_the_offset_is_read_from_the_environment(raw: str | None, offset: int) -> None:
    environ = {} if raw is None else {layout.OFFSET_VARIABLE: raw}
    assert layout.port_offset(environ) == offset


@pytest.mark.parametrize("raw", ["abc", "-1", "1.5", str(layout.MAX_OFFSET + 1)])
def test_a_bad_offset_is_refused_with_the_variable_named(raw: str) -> None:
    with pytest.raises(ValueError, match=rf"REDLINE_DEMO_PORT_OFFSET='{raw}'.*0 to \d+"):
        layout.port_offset({layout.OFFSET_VARIABLE: raw})


def test_moved_shifts_the_demo_ports_and_nothing_else() -> None:
    text = (
        "url: http://127.0.0.1:13000/health\n"
        "dsn: postgresql://redline@127.0.0.1:15432/shop\n"
        "other: http://127.0.0.1:5432/\n"
        "remote: https://example.com:13000/\n"
    )
    assert layout.moved(text, 100) == (
        "url: http://127.0.0.1:13100/health\n"
        "dsn: postgresql://redline@127.0.0.1:15532/shop\n"
        "other: http://127.0.0.1:5432/\n"
        "remote: https://example.com:13000/\n"
    )
    assert layout.moved(text, 0) == text


def test_the_demo_at_an_offset_keeps_its_state_in_its_own_directory() -> None:
    text = (
        "url: http://127.0.0.1:13000/health\n"
        "paths: [.demo/logs/*.ndjson]\n"
        "token_file: .demo/secrets/fly-token\n"
        'cmdline: "exporter\\.demo\\.standins"\n'
        "other: /srv/x.demo/y\n"
    )
    relocated = (
        "url: http://127.0.0.1:13000/health\n"
        "paths: [.demo-100/logs/*.ndjson]\n"
        "token_file: .demo-100/secrets/fly-token\n"
        'cmdline: "exporter\\.demo\\.standins"\n'
        "other: /srv/x.demo/y\n"
    )
    assert layout.relocated(text, 100) == relocated
    assert layout.relocated(text, 0) == text
    # moving the ports leaves the paths (tests move only a database port to their own server)
    assert layout.moved(text, 100) == text.replace(":13000/", ":13100/")
    assert layout.state_name(0) == ".demo" and layout.state_name(100) == ".demo-100"


def _layout_in(offset: str, code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, layout.OFFSET_VARIABLE: offset}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    )


def test_every_port_of_the_demo_moves_by_the_offset() -> None:
    code = """
import json
from exporter.demo import layout, run, standins
from exporter.rules.demo import DemoProfile
p = DemoProfile()
print(json.dumps({
    "ports": [layout.EXPORTER_PORT, layout.PROMETHEUS_PORT, layout.RECEIVER_PORT,
              layout.PLATFORM_PORT, layout.POSTGRES_PORT, *[q for a in layout.ALERTMANAGERS
                                      for q in (a.port, a.cluster_port)],
              *standins.DEFAULT_PORTS.values()],
    "profile": [*p.exporters, *p.prometheus, *p.alertmanagers, p.receiver_url],
    "exporter_argv": list(run.component("exporter").argv),
}))
"""
    state = ROOT / ".demo-100"
    made = not state.exists()
    try:
        done = _layout_in("100", code)
    finally:
        if made:  # the runner's Prometheus and Alertmanager dirs, made when it lists them
            shutil.rmtree(state, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    base = [
        9877,
        9090,
        9097,
        13004,
        15432,
        9093,
        9094,
        9095,
        9096,
        *layout.BASE_STANDIN_PORTS.values(),
    ]
    assert seen["ports"] == [p + 100 for p in base]
    # the generated Prometheus and Alertmanager configs of the demo (exporter/rules/demo.py)
    assert seen["profile"] == [
        "127.0.0.1:9977",
        "127.0.0.1:9190",
        "127.0.0.1:9193",
        "127.0.0.1:9195",
        "http://127.0.0.1:9197",
    ]
    # the exporter reads default.yml with its ports moved, not the embedded one
    argv = seen["exporter_argv"]
    assert argv[argv.index("--config.file") + 1].endswith(".demo-100/redline.yml")


def test_the_demos_prometheus_scrapes_the_platform_at_the_offset() -> None:
    """The Fly and Supabase jobs of the demo's prometheus.yml come from the exporter's config
    as the demo runs it, moved: at an offset they scrape that demo's platform stand-in with its
    own token files (they once scraped the base port: another demo's stand-in, or nothing)."""
    code = """
from exporter import rules
from exporter.demo import layout
print(rules.build(layout.repo(), profile="demo")["prometheus/prometheus.yml"])
"""
    done = _layout_in("100", code)
    assert done.returncode == 0, done.stderr
    jobs = {j["job_name"]: j for j in yaml.safe_load(done.stdout)["scrape_configs"]}
    for job in (jobs["fly-federate"], jobs["supabase"]):
        assert [c["targets"] for c in job["static_configs"]] == [["127.0.0.1:13104"]], job
    token = jobs["fly-federate"]["authorization"]["credentials_file"]
    assert token == str(ROOT / ".demo-100" / "secrets" / "fly-token")
    assert str(ROOT / ".demo-100" / "secrets") in yaml.safe_dump(jobs["supabase"])


def test_the_moved_default_config_points_at_the_moved_standins() -> None:
    default = resources.files("exporter").joinpath("default.yml").read_text("utf-8")
    moved = yaml.safe_load(layout.moved(default, 100))
    urls = [p["url"] for s in moved["services"] for p in s["probes"] if "url" in p]
    assert urls
    for url in urls:
        port = int(url.split("127.0.0.1:")[1].split("/")[0])
        assert port - 100 in layout.BASE_STANDIN_PORTS.values(), url
    assert all(":15532/" in d["dsn"] for d in moved["databases"])


def test_a_bad_offset_stops_the_demo_with_a_clear_message() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "exporter.demo.run", "status"],
        capture_output=True,
        text=True,
        env={**os.environ, layout.OFFSET_VARIABLE: "lots"},
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode != 0
    assert "REDLINE_DEMO_PORT_OFFSET='lots'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("held", [True, False])
def test_the_suite_knows_when_a_parent_holds_the_demo_lock(tmp_path: Path, held: bool) -> None:
    """`flock /tmp/redline-demo.lock make test` must not wait for its own lock
    (tests/conftest.py); without it the demo's tests take the lock themselves."""
    lock = tmp_path / "demo.lock"
    lock.touch()
    code = (
        "import sys; from pathlib import Path; from tests.conftest import _held_by_an_ancestor;"
        "print(_held_by_an_ancestor(Path(sys.argv[1])))"
    )
    argv = [sys.executable, "-c", code, str(lock)]
    done = subprocess.run(
        ["flock", str(lock), *argv] if held else argv,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(held)


def test_the_suites_demo_offsets_never_meet() -> None:
    """The offsets tests/conftest.py hands the drill modules: no port of one stack is a port of
    another or of a `make demo` at the base ports, and all are below the ephemeral range."""
    offsets = [0, *demo_offsets()]
    assert len(set(offsets)) == len(offsets) == DEMO_SLOTS + 1
    bases = set(layout._BASE_PORTS)
    taken: set[int] = set()
    for offset in offsets:
        ports = {p + offset for p in bases}
        assert not ports & taken, offset
        assert max(ports) < 32768, offset
        taken |= ports
    assert demo_lock(0) == Path("/tmp/redline-demo.lock")
    assert len({demo_lock(o) for o in offsets}) == len(offsets)


def test_a_demo_module_is_moved_to_its_offset_and_back() -> None:
    """What tests/conftest.py does around a drill module, in this process: every value the demo's
    modules took from the offset at import follows, and all of it comes back afterwards."""
    from exporter.demo import database, drills, faults, run, standins

    before = (layout.OFFSET, run.EXPORTER_ADDRESS, dict(faults.DEFAULT_PORTS), database.STATE)
    previous = os.environ.get(layout.OFFSET_VARIABLE)
    try:
        move_demo("1230")
        assert layout.OFFSET == 1230 and layout.STATE_DIR == ROOT / ".demo-1230"
        assert run.EXPORTER_ADDRESS == "127.0.0.1:11107"
        assert run.STATE_DIR == layout.STATE_DIR and run.PROMETHEUS_DIR.parent == layout.STATE_DIR
        assert faults.DEFAULT_PORTS == standins.DEFAULT_PORTS
        assert standins.DEFAULT_PORTS["hotdash-app"] == 14230
        assert database.STATE == ROOT / ".demo-1230" / "postgres.json"
        assert drills.Stack().prometheus == "http://127.0.0.1:10320"
        assert layout.REPORTS_DIR == ROOT / ".demo-1230" / "drills"
        # what the stack's processes read: the environment they inherit
        assert os.environ[layout.OFFSET_VARIABLE] == "1230"
    finally:
        move_demo(previous)
    after = (layout.OFFSET, run.EXPORTER_ADDRESS, dict(faults.DEFAULT_PORTS), database.STATE)
    assert after == before
    assert os.environ.get(layout.OFFSET_VARIABLE) == previous


def test_the_demo_renders_its_slo_rules_without_simulating_test_cases() -> None:
    """`make demo` writes no promtool tests, so the SLO alerts' cases are not simulated for it
    (at the demo's 5 s evaluations that was most of its start): the rules are the same."""
    from decimal import Decimal

    from exporter.rules import slo, stackmodel
    from exporter.rules.demo import profile

    model = stackmodel.load(ROOT)
    demo = profile("demo")
    assert demo is not None
    burn = demo.alerts(model.alerts, model.stack.evaluation_interval).alerts[slo.ALERT]
    one = model.slos.model_copy(update={"slos": model.slos.slos[:1]})
    step = Decimal(30)  # production's: fewer steps to simulate here
    (full,) = slo.alerts(one, burn, step)
    (bare,) = slo.alerts(one, burn, step, with_cases=False)
    assert full.cases and full.quiet is not None
    assert bare.cases == () and bare.quiet is None
    assert bare.rules == full.rules and bare.description == full.description


def test_a_stopped_component_not_yet_reaped_counts_as_stopped() -> None:
    """A component `make demo` started is reaped by init once it exits, which some inits do
    only every second or two: `make demo-stop` must not wait for that (it did, 2 s a process).
    Here the zombie's parent is a process of ours that never reaps it."""
    from exporter.demo import run

    code = (
        "import os, sys, time\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os._exit(0)\n"
        "print(pid, flush=True)\n"
        "time.sleep(30)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        deadline = time.monotonic() + 10
        while not run._zombie(child):
            assert time.monotonic() < deadline, "the child never became a zombie"
            time.sleep(0.05)
        os.kill(child, 0)  # signal 0 still reaches it
        assert not run._alive(child)
        assert run._alive(parent.pid) and not run._zombie(parent.pid)
    finally:
        parent.kill()
        parent.wait()
