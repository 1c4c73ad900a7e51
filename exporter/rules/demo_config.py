"""exporter/default.yml, the demo's config, derived from the operator's file: config/hotrod.yml
passed through config/demo.yml (its edits, then its address map), so the demo has production's
names and thresholds by construction and cannot drift from it.

:func:`derive` is the pure stage (the two files' data and the demo layout in, YAML text out);
:func:`build` reads the files, derives, and checks the result loads as a config. Every problem is
a :class:`DemoConfigError` naming the file, the path and the value:

- an edit whose path names nothing in config/hotrod.yml, or an edit without its reason;
- an address-map entry that matches nothing (a production address that changed or went away);
- anything left in the output that is not the demo's: a URL, host or DNS name that is not
  loopback, a ``${VAR}`` reference (the demo reads no environment), an absolute file path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from exporter import configpath
from exporter.config import ConfigError, parse_config, read_yaml
from exporter.rules.render import Ordered, render
from exporter.rules.spec import SpecError

OPERATOR = "config/hotrod.yml"
DEMO = "config/demo.yml"
OUTPUT = "exporter/default.yml"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
# Keys whose value is a host, HOST:PORT or a DNS name the exporter contacts.
HOST_KEYS = frozenset({"address", "resolver", "query", "shop", "smarthost"})
# Keys whose value is a file the exporter reads or writes (and every *_file key); a log source's
# ``paths`` are files too, a route group's are URL paths.
PATH_KEYS = frozenset({"directory", "state_file"})
EDITS = ("drop", "replace", "set", "add")
_PLACEHOLDER = re.compile(r"\{\{([a-z_]+)(?::([\w-]+))?\}\}")
_ENV = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)

PREAMBLE = """\
redline's embedded default config: the Hot Rod AN stack as served by the loopback stand-ins
(python -m exporter.demo.standins, started by `make demo`). `redline run` uses it when no
--config.file is given. It is config/hotrod.yml with the edits and address map of
config/demo.yml (exporter/rules/demo_config.py): same services, probe names, thresholds and
JSON series as production; read the reasons and the comments in those two files.

Flip a stand-in into a fault to watch a probe change state, e.g.
  redline demo break agent-service wrong_version        (redline demo heal to undo)
(modes: ok, slow, failing, down, wrong_version, degraded; docs/demo.md)."""


class DemoConfigError(SpecError):
    """config/demo.yml cannot turn config/hotrod.yml into a loopback-only demo config."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def layout_values() -> dict[str, str]:
    """The demo layout's values config/demo.yml may name as {{name}} or {{port:NAME}}, read
    from the demo's own modules (where the stand-ins and the runner take them from). Ports are
    the base ones, without REDLINE_DEMO_PORT_OFFSET: the demo moves them when it runs, and the
    generated file is the same whatever the environment says."""
    from exporter.demo import database, layout, standins

    values = {
        "host": layout.HOST,
        "postgres_db": layout.POSTGRES_DB,
        "heartbeat_token": layout.HEARTBEAT_TOKEN,
        "backup_set": layout.BACKUP_SET,
        "backup_heartbeat": layout.BACKUP_HEARTBEAT,
        "backup_glob": f"{layout.BACKUP_GLOB_PREFIX}*.dump",
        "shopify_token": standins.Shopify.API_TOKEN,
        "chatwoot_token": standins.Chatwoot.API_TOKEN,
        "restore_user": database.RESTORE_USER,
        "port:postgres": str(layout.BASE_POSTGRES_PORT),
        "port:platform": str(layout.BASE_PLATFORM_PORT),
    }
    values.update({f"port:{name}": str(port) for name, port in layout.BASE_STANDIN_PORTS.items()})
    return values


# --- the pure stage -----------------------------------------------------------------------------


def _copy(value: Any) -> Any:
    """A deep copy that shares nothing (YAML aliases become separate values) and keeps the
    order of mappings as written."""
    if isinstance(value, dict):
        return Ordered((k, _copy(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    """``value`` with ``fn`` applied to every string value (never to mapping keys)."""
    if isinstance(value, dict):
        return Ordered((k, _map_strings(v, fn)) for k, v in value.items())
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    return fn(value) if isinstance(value, str) else value


def _fill(layout: Mapping[str, str], where: str, problems: list[str]) -> Callable[[str], str]:
    def sub(match: re.Match[str]) -> str:
        key = match.group(1) + (f":{match.group(2)}" if match.group(2) else "")
        if key not in layout:
            problems.append(f"{DEMO}: {where}: unknown {{{{{key}}}}} (known: {', '.join(layout)})")
            return match.group(0)
        return layout[key]

    return lambda text: _PLACEHOLDER.sub(sub, text)


def _places(data: Any, path: str, where: str, problems: list[str]) -> list[configpath.Place]:
    try:
        return configpath.resolve(data, path)
    except configpath.PathError as e:
        problems.append(f"{DEMO}: {where}: names nothing in {OPERATOR}: {e}")
        return []


def _edit(data: Any, edit: Any, where: str, fill: Callable[[str], str], problems: list[str]) -> Any:
    if not isinstance(edit, dict):
        problems.append(f"{DEMO}: {where}: an edit is a mapping ({', '.join(EDITS)}, why)")
        return data
    actions = [a for a in EDITS if a in edit]
    if len(actions) != 1:
        problems.append(f"{DEMO}: {where}: needs exactly one of {', '.join(EDITS)}")
        return data
    action = actions[0]
    allowed = {action, "why", {"replace": "with", "set": "values", "add": "value"}.get(action)}
    if unknown := set(edit) - allowed:
        problems.append(f"{DEMO}: {where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    if not isinstance(edit.get("why"), str) or not edit["why"].strip():
        problems.append(f"{DEMO}: {where}: say why ('why:'): the demo differs here on purpose")
    path = edit[action]
    if action == "add":
        return _add(data, path, edit, where, fill, problems)
    # drop takes one path or a list of them (one reason for several places)
    paths = path if action == "drop" and isinstance(path, list) else [path]
    places = [p for one in paths for p in _places(data, one, where, problems)]
    if action == "set":
        values = edit.get("values")
        if not isinstance(values, dict) or not values:
            problems.append(f"{DEMO}: {where}: set needs 'values', a mapping of keys to set")
            return data
        for place in places:
            target = configpath.get(data, place)
            if not isinstance(target, dict):
                shown = configpath.show(data, place)
                problems.append(f"{DEMO}: {where}: {shown} is not a mapping: nothing to set")
                continue
            for key, value in values.items():
                target[key] = _map_strings(_copy(value), fill)
        return data
    if action == "replace" and "with" not in edit:
        problems.append(f"{DEMO}: {where}: replace needs 'with', the value to put there")
        return data
    # later places first, so dropping a list item never shifts the index of one still to drop
    for place in sorted(places, key=lambda p: [(isinstance(s, int), s) for s in p], reverse=True):
        parent = configpath.get(data, place[:-1])
        if action == "drop":
            del parent[place[-1]]
        else:
            parent[place[-1]] = _map_strings(_copy(edit["with"]), fill)
    return data


def _add(
    data: Any, path: Any, edit: Any, where: str, fill: Callable[[str], str], problems: list[str]
) -> Any:
    if "value" not in edit:
        problems.append(f"{DEMO}: {where}: add needs 'value', the demo's own part")
        return data
    try:
        steps = configpath.parse(path)
    except configpath.PathError as e:
        problems.append(f"{DEMO}: {where}: {e}")
        return data
    last = steps[-1]
    parent_path = "".join(str(s) for s in steps[:-1]).lstrip(".")
    parents = _places(data, parent_path, where, problems) if parent_path else [()]
    for place in parents:
        parent = configpath.get(data, place)
        if not isinstance(parent, dict) or last.text == "*":
            problems.append(f"{DEMO}: {where}: add names a new key of a mapping")
        elif last.text in parent:
            problems.append(
                f"{DEMO}: {where}: {path} is already in {OPERATOR}: "
                "edit it there, or set/replace it here with the reason"
            )
        else:
            parent[last.text] = _map_strings(_copy(edit["value"]), fill)
    return data


def _address_map(
    addresses: Any, fill: Callable[[str], str], problems: list[str]
) -> list[tuple[str, str, re.Pattern[str]]]:
    if not isinstance(addresses, dict):
        problems.append(f"{DEMO}: addresses: a mapping of production address -> demo address")
        return []
    out = []
    for source, target in addresses.items():
        if not isinstance(source, str) or not isinstance(target, str) or not source:
            problems.append(f"{DEMO}: addresses: {source!r}: both sides are strings")
            continue
        # a URL or host matches at a boundary (a path, a port, a query, or the end)
        tail = "" if source.endswith("}") else r"(?=$|[/:?#])"
        out.append((source, fill(target), re.compile(re.escape(source) + tail)))
    return sorted(out, key=lambda entry: -len(entry[0]))  # longest first


def _apply_addresses(
    data: Any, entries: list[tuple[str, str, re.Pattern[str]]], problems: list[str]
) -> Any:
    used = dict.fromkeys((source for source, _, _ in entries), 0)

    def swap(text: str) -> str:
        for source, target, pattern in entries:
            text, n = pattern.subn(lambda _: target, text)  # noqa: B023 (used right here)
            used[source] += n
        return text

    data = _map_strings(data, swap)
    for source, n in used.items():
        if n == 0:
            problems.append(
                f"{DEMO}: addresses: {source!r} matches nothing in {OPERATOR} (after the edits): "
                "remove the entry, or fix it to the address the operator's file now uses"
            )
    return data


def _host(value: str) -> str:
    """The host of HOST, HOST:PORT or [V6]:PORT."""
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _strings(value: Any, place: configpath.Place, key: str) -> Iterator[tuple[Any, str, str]]:
    """(place, nearest mapping key, text) of every string value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, (*place, k), str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, (*place, i), key)
    elif isinstance(value, str):
        yield place, key, value


def _is_file(place: configpath.Place, key: str) -> bool:
    if key == "paths":
        return place[:2] == ("logs", "sources")
    return key in PATH_KEYS or key.endswith("_file")


def _leftovers(data: Any) -> list[tuple[configpath.Place, str]]:
    """(place, 'PATH = VALUE: why') of everything in the demo config that is not the demo's."""
    out = []
    for place, key, text in _strings(data, (), ""):
        shown = f"{configpath.show(data, place)} = {text!r}"
        if env := _ENV.search(text):
            out.append((place, f"{shown}: reads {env.group(0)}, which the demo does not set"))
        elif _URL.match(text):
            host = urlsplit(text).hostname or ""
            if host not in LOOPBACK:
                out.append((place, f"{shown}: contacts {host!r}, not loopback"))
        elif key in HOST_KEYS and _host(text) not in LOOPBACK:
            out.append((place, f"{shown}: contacts {_host(text)!r}, not loopback"))
        elif _is_file(place, key) and text.startswith(("/", "~")):
            why = "reads an absolute path, which is production's, not the demo's"
            out.append((place, f"{shown}: {why}"))
    return out


def leftovers(data: Any) -> list[str]:
    """What in the demo config is not the demo's: each as 'PATH = VALUE: why'."""
    return [text for _, text in _leftovers(data)]


def _without_standin(data: Any, left: list[tuple[configpath.Place, str]]) -> list[int]:
    """Indexes of the services none of whose probes reach loopback: every probe's address is a
    leftover. A service with one probe on a stand-in and one elsewhere is not among them (that
    is drift inside what the demo shows)."""
    services = data.get("services") if isinstance(data, dict) else None
    out = []
    for i, service in enumerate(services if isinstance(services, list) else []):
        probes = service.get("probes") if isinstance(service, dict) else None
        if not isinstance(probes, list) or not probes:
            continue
        off = {p[3] for p, _ in left if p[:3] == ("services", i, "probes") and len(p) > 3}
        if off == set(range(len(probes))):
            out.append(i)
    return out


def derive(operator: Any, demo: Any, layout: Mapping[str, str]) -> str:
    """The demo config's text from the operator's config data, the demo map's data and the demo
    layout's values (:func:`layout_values`). DemoConfigError listing every problem."""
    problems: list[str] = []
    if not isinstance(operator, dict):
        raise DemoConfigError([f"{OPERATOR}: the config must be a mapping at the top"])
    if not isinstance(demo, dict):
        raise DemoConfigError([f"{DEMO}: a mapping with edits and addresses"])
    if unknown := set(demo) - {"edits", "addresses", "services_without_standin"}:
        problems.append(f"{DEMO}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    policy = demo.get("services_without_standin", "fail")
    if policy not in ("fail", "leave_out"):
        problems.append(f"{DEMO}: services_without_standin: fail or leave_out, not {policy!r}")
    data = _copy(operator)
    edits = demo.get("edits") or []
    if not isinstance(edits, list):
        problems.append(f"{DEMO}: edits: a list of edits")
        edits = []
    for i, edit in enumerate(edits):
        data = _edit(data, edit, f"edits[{i}]", _fill(layout, f"edits[{i}]", problems), problems)
    entries = _address_map(demo.get("addresses"), _fill(layout, "addresses", problems), problems)
    data = _apply_addresses(data, entries, problems)
    left = _leftovers(data)
    left_out: list[str] = []
    if policy == "leave_out":
        # a whole service the demo has no stand-in for (one the operator just added) is left
        # out, and the file says so; anything else unmapped is drift and fails below
        for i in reversed(_without_standin(data, left)):
            hosts = sorted(
                {
                    text.split(": contacts ", 1)[-1].split(",")[0]
                    for p, text in left
                    if p[:2] == ("services", i) and ": contacts " in text
                }
            )
            left_out.insert(
                0, f"{data['services'][i]['name']} (no stand-in for {', '.join(hosts)})"
            )
            del data["services"][i]
        left = _leftovers(data)
    for _, leftover in left:
        problems.append(
            f"{OUTPUT}: {leftover} (map it in {DEMO} addresses, or drop it there with the reason)"
        )
    if problems:
        raise DemoConfigError(problems)
    preamble = PREAMBLE
    if left_out:
        preamble += (
            "\n\nLeft out, as config/demo.yml's services_without_standin says (map an address of"
            "\nthe service to a stand-in there to bring it in): " + "; ".join(left_out) + "."
        )
    return render(data, [OPERATOR, DEMO], preamble=preamble)


# --- files --------------------------------------------------------------------------------------


def _read(root: Path, rel: str) -> Any:
    path = root / rel
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise DemoConfigError([f"{rel}: cannot read: {e.strerror}"]) from None
    try:
        return read_yaml(text, rel)[0]
    except ConfigError as e:
        raise DemoConfigError([str(i) for i in e.issues]) from None


def build(root: Path) -> str:
    """exporter/default.yml's text from the files under ``root``; DemoConfigError when it
    cannot be derived or does not load as a config."""
    text = derive(_read(root, OPERATOR), _read(root, DEMO), layout_values())
    try:
        config = parse_config(text, OUTPUT)
    except ConfigError as e:
        raise DemoConfigError(
            [f"the derived config does not load: {i}" for i in e.issues]
        ) from None
    # and with every default filled in (a default URL is a production address too)
    if left := leftovers(config.model_dump(mode="json")):
        raise DemoConfigError([f"{OUTPUT} (with its defaults): {x}" for x in left])
    return text
