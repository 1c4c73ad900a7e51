"""The deployment of deploy/ (one Debian VM with systemd), run as far as a test machine can:

- every unit passes ``systemd-analyze verify`` (systemd 252, Debian 12). One substitution: the
  exporter's ExecStart binary, /opt/redline/venv/bin/redline on the VM, is this checkout's
  .venv/bin/redline (verify checks that the binary exists);
- each service is started with its unit's own ExecStart command line: the unit's Environment=
  defaults, then its EnvironmentFile (here a file in a temp dir, as /etc/redline/*.env is on the
  VM) overriding addresses and paths with free ports and temp dirs, expanded as systemd does
  (``${VAR}`` one argument, ``$VAR`` split on spaces). Prometheus gets the generated config for
  those addresses and the generated rules; it must scrape the exporter, itself and Alertmanager
  and remote-write to VictoriaMetrics;
- the public endpoint, deploy/nginx/redline-public.conf, served by the real nginx with a
  certificate chain made here (a root CA, an intermediate, the server's certificate; nginx serves
  the server's and the intermediate's, the client trusts the root only): heartbeats and log
  ingest pass to the exporter with their tokens and are refused without, nothing else is
  reachable, and plain HTTP is no way in. The site file is used as shipped, but for its listen
  ports, certificate paths and upstream port (replaced by the test's) and its access log path.

systemd itself does not run here (no PID 1 systemd in the test container): what the units'
sandboxing settings (ProtectSystem=, User=, StateDirectory=) do is checked by verify only.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from exporter.demo.servers import ServerError, free_ports
from exporter.rules import build, prometheus_config
from exporter.rules.demo import DemoProfile
from exporter.rules.render import render
from exporter.rules.spec import ScrapeTarget, load_stack

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
VM_REDLINE = "/opt/redline/venv/bin/redline"
HEARTBEAT_TOKEN = "deploy-heartbeat-token"
INGEST_TOKEN = "deploy-ingest-token"


def service_lines(path: Path, key: str) -> list[str]:
    """Every value of ``key`` in the unit's [Service] section, in order."""
    out, section = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped
        elif section == "[Service]" and stripped.startswith(f"{key}="):
            out.append(stripped.split("=", 1)[1])
    return out


def environment(path: Path, files: dict[str, Path]) -> dict[str, str]:
    """The unit's environment: Environment= defaults, then its EnvironmentFile= (mapped through
    ``files``; a leading - means optional) overriding them, as systemd applies them."""
    env: dict[str, str] = {}
    for value in service_lines(path, "Environment"):
        for word in shlex.split(value):
            name, _, val = word.partition("=")
            env[name] = val
    for value in service_lines(path, "EnvironmentFile"):
        optional = value.startswith("-")
        name = value.lstrip("-")
        local = files.get(name)
        if local is None or not local.exists():
            assert optional, f"{path.name}: {name} is required and the test has no stand-in"
            continue
        for line in local.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                key, _, val = line.partition("=")
                env[key.strip()] = val.strip().strip('"')
    return env


def command(path: Path, env: dict[str, str]) -> list[str]:
    """ExecStart expanded as systemd does: ``${VAR}`` is one argument (empty stays an empty
    part of its word), ``$VAR`` alone is split on whitespace (empty: no argument)."""
    (line,) = service_lines(path, "ExecStart")
    argv: list[str] = []
    for word in shlex.split(line):
        alone = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if alone:
            argv.extend(env.get(alone.group(1), "").split())
            continue
        argv.append(
            re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env.get(m.group(1), ""), word)
        )
    return argv


# --- systemd-analyze verify ------------------------------------------------------------------


def test_every_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    assert {u.name for u in UNITS} == {
        "redline.service",
        "redline-prometheus.service",
        "redline-alertmanager.service",
        "redline-victoria-metrics.service",
    }
    binary = shutil.which("systemd-analyze")
    assert binary, "systemd-analyze is missing: run scripts/install-system.sh"
    redline = Path(sys.executable).parent / "redline"
    assert redline.exists()
    for path in UNITS:
        text = path.read_text()
        copy = tmp_path / path.name
        copy.write_text(text.replace(VM_REDLINE, str(redline)))
        result = subprocess.run(
            [binary, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0 and not result.stderr.strip(), (
            f"{path.name}: {result.stdout}{result.stderr}"
        )


def test_verify_fails_on_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: a unit naming a binary that does not exist."""
    broken = tmp_path / "redline.service"
    broken.write_text((DEPLOY / "systemd" / "redline.service").read_text())
    result = subprocess.run(
        ["systemd-analyze", "verify", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0 and VM_REDLINE in result.stderr


def test_expansion_follows_systemd() -> None:
    path = DEPLOY / "systemd" / "redline-alertmanager.service"
    env = environment(path, {})
    argv = command(path, env)
    assert "--cluster.listen-address=" in argv  # ${X} empty: the word stays, empty
    assert not any(a.startswith("--cluster.peer") for a in argv)  # $X empty: no argument
    env["ALERTMANAGER_PEERS"] = "--cluster.peer=a:9094 --cluster.peer=b:9094"
    assert command(path, env)[-2:] == ["--cluster.peer=a:9094", "--cluster.peer=b:9094"]


# --- the services, started as their units start them -------------------------------------------


@dataclass
class Deployed:
    ports: dict[str, int]
    procs: dict[str, subprocess.Popen[bytes]]
    logs: Path
    ca: trustme.CA

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect is an answer (HTTPError 3xx), not a place to go


def _wait(url: str, what: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30):
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(NoRedirect)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"{what} exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with opener.open(url, timeout=1):
                return
        except urllib.error.HTTPError as e:
            if e.code < 500:
                return  # it answers (nginx's plain HTTP port: a redirect)
            time.sleep(0.2)  # 503: Prometheus still loading, not ready
        except OSError:
            time.sleep(0.2)
    raise ServerError(f"{what} did not answer {url}: {log.read_text(errors='replace')[-2000:]}")


EXPORTER_CONFIG = """\
# the public endpoint's two users: heartbeats and log ingest (config/hotrod.yml's shapes)
services:
  - name: hotdash-app
    probes: [{{name: health, kind: http, url: "http://127.0.0.1:{vm}/health"}}]
host: {{enabled: false}}
heartbeats:
  state_file: {state}/heartbeats.json
  token_file: /etc/redline/secrets/heartbeat-token
  jobs:
    - {{name: metric-rollups, schedule: "0 2 * * *", timezone: UTC, grace: 30m}}
logs:
  sources:
    - name: fly
      kind: ingest
      bearer_token_file: /etc/redline/secrets/ingest-token
      parsers: [json]
"""


def _site(tmp: Path, ports: dict[str, int], cert: Path, key: Path) -> Path:
    text = (DEPLOY / "nginx" / "redline-public.conf").read_text()
    replacements = {
        "listen 443 ssl;": f"listen 127.0.0.1:{ports['https']} ssl;",
        "listen [::]:443 ssl;": "",
        "listen 80;": f"listen 127.0.0.1:{ports['http']};",
        "listen [::]:80;": "",
        "/etc/redline/tls/fullchain.pem": str(cert),
        "/etc/redline/tls/privkey.pem": str(key),
        "http://127.0.0.1:9877": f"http://127.0.0.1:{ports['redline']}",
        "/var/log/nginx/redline-public.access.log": str(tmp / "nginx-access.log"),
    }
    for old, new in replacements.items():
        assert old in text, f"deploy/nginx/redline-public.conf no longer has {old!r}"
        text = text.replace(old, new)
    site = tmp / "redline-public.conf"
    site.write_text(text)
    main = tmp / "nginx.conf"
    # Debian's /etc/nginx/nginx.conf includes sites-enabled/* inside http {}; the same here
    main.write_text(
        f"pid {tmp}/nginx.pid;\nerror_log {tmp}/nginx-error.log;\nevents {{}}\n"
        f"http {{\n  client_body_temp_path {tmp}/body;\n  proxy_temp_path {tmp}/proxy;\n"
        f"  access_log off;\n  include {site};\n}}\n"
    )
    return main


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    tmp = tmp_path_factory.mktemp("deploy")
    names = ("redline", "prometheus", "alertmanager", "vm", "https", "http")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    secrets = tmp / "secrets"
    secrets.mkdir(mode=0o750)
    for name, value in (("heartbeat-token", HEARTBEAT_TOKEN), ("ingest-token", INGEST_TOKEN)):
        (secrets / name).write_text(value + "\n")
        (secrets / name).chmod(0o640)
    config = tmp / "redline.yml"
    config.write_text(
        EXPORTER_CONFIG.format(vm=ports["vm"], state=tmp).replace(
            "/etc/redline/secrets", str(secrets)
        )
    )
    # the generated configs for these addresses
    stack = load_stack(ROOT / "alert_rules")
    stack = stack.model_copy(
        update={
            "exporters": (ScrapeTarget(address=f"127.0.0.1:{ports['redline']}"),),
            "prometheus": (f"127.0.0.1:{ports['prometheus']}",),
            "alertmanagers": (f"127.0.0.1:{ports['alertmanager']}",),
            "remote_write": tuple(
                rw.model_copy(update={"url": f"http://127.0.0.1:{ports['vm']}/api/v1/write"})
                for rw in stack.remote_write
            ),
        }
    )
    prom_dir = tmp / "prometheus"
    (prom_dir / "rules").mkdir(parents=True)
    rule_files = []
    for rule in sorted((ROOT / "prometheus" / "rules").glob("*.yml")):
        shutil.copy(rule, prom_dir / "rules" / rule.name)
        rule_files.append(f"rules/{rule.name}")
    (prom_dir / "prometheus.yml").write_text(
        render(prometheus_config.config(stack, rule_files), "tests/test_deploy.py")
    )
    # Alertmanager: the generated routes with the demo's webhook receivers (no credentials)
    am_dir = tmp / "alertmanager"
    am_dir.mkdir()
    demo = build(ROOT, DemoProfile(receiver_url="http://127.0.0.1:9"))
    (am_dir / "alertmanager.yml").write_text(demo["alertmanager/alertmanager.yml"])

    env_files = {
        "/etc/redline/redline.env": (
            f"REDLINE_CONFIG={config}\nREDLINE_LISTEN=127.0.0.1:{ports['redline']}\n"
        ),
        "/etc/redline/prometheus.env": (
            f"PROMETHEUS_CONFIG={prom_dir / 'prometheus.yml'}\n"
            f"PROMETHEUS_DATA={tmp / 'prom-data'}\n"
            f"PROMETHEUS_LISTEN=127.0.0.1:{ports['prometheus']}\n"
        ),
        "/etc/redline/alertmanager.env": (
            f"ALERTMANAGER_CONFIG={am_dir / 'alertmanager.yml'}\n"
            f"ALERTMANAGER_DATA={tmp / 'am-data'}\n"
            f"ALERTMANAGER_LISTEN=127.0.0.1:{ports['alertmanager']}\n"
        ),
        "/etc/redline/victoria-metrics.env": (
            f"VM_LISTEN=127.0.0.1:{ports['vm']}\nVM_DATA={tmp / 'vm-data'}\n"
        ),
    }
    files = {}
    for name, text in env_files.items():
        local = tmp / Path(name).name
        local.write_text(text)
        files[name] = local
    order = [
        ("redline-victoria-metrics", "vm", "/health"),
        ("redline-alertmanager", "alertmanager", "/-/ready"),
        ("redline", "redline", "/-/ready"),
        ("redline-prometheus", "prometheus", "/-/ready"),
    ]
    procs: dict[str, subprocess.Popen[bytes]] = {}
    redline = str(Path(sys.executable).parent / "redline")
    ca = trustme.CA()
    intermediate = ca.create_child_ca()
    leaf = intermediate.issue_cert("127.0.0.1", "localhost")
    chain = tmp / "fullchain.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    key = tmp / "privkey.pem"
    leaf.private_key_pem.write_to_path(str(key))
    key.chmod(0o600)
    try:
        for name, port_name, ready in order:
            path = DEPLOY / "systemd" / f"{name}.service"
            argv = command(path, environment(path, files))
            argv = [redline if a == VM_REDLINE else a for a in argv]
            log = tmp / f"{name}.log"
            with log.open("wb") as out:
                procs[name] = subprocess.Popen(
                    argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            _wait(f"http://127.0.0.1:{ports[port_name]}{ready}", name, procs[name], log)
        nginx_conf = _site(tmp, ports, chain, key)
        nginx_log = tmp / "nginx.log"
        with nginx_log.open("wb") as out:
            procs["nginx"] = subprocess.Popen(
                [shutil.which("nginx") or "/usr/sbin/nginx", "-c", str(nginx_conf), "-p", str(tmp),
                 "-g", "daemon off;"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        _wait(
            f"http://127.0.0.1:{ports['http']}/", "nginx", procs["nginx"], tmp / "nginx-error.log"
        )
        yield Deployed(ports, procs, tmp, ca)
    finally:
        for proc in reversed(list(procs.values())):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


def _query(d: Deployed, base: str, expr: str) -> list[dict[str, object]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as resp:
        return list(json.loads(resp.read())["data"]["result"])


@pytest.mark.slow
def test_prometheus_scrapes_the_stack_and_writes_to_victoriametrics(deployed: Deployed) -> None:
    prom, vm = deployed.url("prometheus"), deployed.url("vm")
    deadline = time.monotonic() + 90
    jobs: dict[str, str] = {}
    stored: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        up = _query(deployed, prom, "up")
        jobs = {r["metric"]["job"]: r["value"][1] for r in up}  # type: ignore[index]
        stored = _query(deployed, vm, 'up{job="redline"}')
        if jobs == {"redline": "1", "prometheus": "1", "alertmanager": "1"} and stored:
            break
        time.sleep(1)
    assert jobs == {"redline": "1", "prometheus": "1", "alertmanager": "1"}, jobs
    assert stored, "VictoriaMetrics has no sample of up from Prometheus's remote_write"
    assert stored[0]["metric"]["cluster"] == "hotrod"  # type: ignore[index]


def _https(d: Deployed, path: str, token: str | None, body: bytes = b"", method: str = "POST"):
    context = ssl.create_default_context()
    d.ca.configure_trust(context)  # the root only: nginx must send the intermediate
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(
        f"https://127.0.0.1:{d.ports['https']}{path}",
        data=body if method == "POST" else None,
        method=method,
        headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


@pytest.mark.slow
def test_the_public_endpoint_passes_heartbeats_and_ingest_with_their_tokens(
    deployed: Deployed,
) -> None:
    assert _https(deployed, "/heartbeat/metric-rollups", HEARTBEAT_TOKEN) == 200
    assert _https(deployed, "/heartbeat/metric-rollups", None) == 401
    assert _https(deployed, "/heartbeat/metric-rollups", "wrong") == 401
    line = b'{"message": "request", "status": 200}\n'
    assert _https(deployed, "/ingest/fly", INGEST_TOKEN, line) in (200, 202, 204)
    assert _https(deployed, "/ingest/fly", None, line) == 401
    # what stays on loopback
    for path in ("/metrics", "/status", "/probe?target=hotdash-app", "/-/reload"):
        assert _https(deployed, path, HEARTBEAT_TOKEN, method="GET") == 404, path
    assert _https(deployed, "/heartbeat/metric-rollups", HEARTBEAT_TOKEN, method="GET") == 403
    # the ping reached the exporter
    with urllib.request.urlopen(f"{deployed.url('redline')}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    assert 'redline_heartbeat_successes_total{heartbeat="metric-rollups"} 1.0' in text
    # the token is never in nginx's log
    access = (deployed.logs / "nginx-access.log").read_text()
    assert "/heartbeat/metric-rollups" in access
    assert HEARTBEAT_TOKEN not in access and INGEST_TOKEN not in access


@pytest.mark.slow
def test_plain_http_and_an_untrusted_chain_are_no_way_in(deployed: Deployed) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{deployed.ports['http']}/heartbeat/metric-rollups", method="GET"
    )
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as answer:
        opener.open(request, timeout=10)
    assert answer.value.code == 308
    assert answer.value.headers["Location"].startswith("https://")
    # a client that does not trust the root refuses the chain
    with pytest.raises(urllib.error.URLError) as refused:
        urllib.request.urlopen(
            f"https://127.0.0.1:{deployed.ports['https']}/heartbeat/x",
            timeout=10,
            context=ssl.create_default_context(),
        )
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)


def test_os_environment_is_not_needed() -> None:
    """The units name every variable their ExecStart uses."""
    for path in UNITS:
        env = environment(path, {})
        (line,) = service_lines(path, "ExecStart")
        used = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", line)) - {"MAINPID"}
        assert used <= set(env), f"{path.name}: {used - set(env)} have no default"
