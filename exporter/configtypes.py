"""Value types and the base model shared by every part of the configuration.

Area models (probes in exporter/config.py, databases in exporter/postgres/config.py, ...) build
on these, so a duration, a size or a secret reference is written and checked the same way
everywhere.
"""

from __future__ import annotations

import re
import zoneinfo
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from exporter import assertions, durations
from exporter.secrets import FileSecret, check_template

# --- scalar types -----------------------------------------------------------------------------

_SIZE = re.compile(r"^(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$")
_SIZE_UNITS = {
    None: 1,
    "B": 1,
    "KB": 1000,
    "KiB": 1024,
    "MB": 1000**2,
    "MiB": 1024**2,
    "GB": 1000**3,
    "GiB": 1024**3,
}
NAME_RE = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
METRIC_NAME_RE = r"^[a-z][a-z0-9_]{0,62}$"


def _duration(value: Any) -> float:
    """A duration (exporter/durations.py: ``500ms``, ``0.5s``, ``1h30m``) or a YAML number of
    seconds."""
    return float(durations.parse(value))


def _size(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("a size such as 1MiB")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and (match := _SIZE.match(value.strip())):
        return int(match.group(1)) * _SIZE_UNITS[match.group(2)]
    raise ValueError(f"{value!r} is not a size such as 1048576, 512KiB or 1MiB")


def _template(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return check_template(value)


def _file_secret(value: Any) -> FileSecret:
    if not isinstance(value, str) or not value:
        raise ValueError("expected the path of a file holding the secret")
    return FileSecret(value)


def _regex(value: Any) -> re.Pattern[str]:
    if isinstance(value, re.Pattern):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a regular expression in a string")
    try:
        return re.compile(value)
    except re.error as e:
        raise ValueError(f"bad regular expression {value!r}: {e}") from None


def _assertion(value: Any) -> assertions.Assertion:
    if isinstance(value, assertions.Assertion):
        return value
    return assertions.parse(value)


def _host_port(value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$", value):
        raise ValueError(f"{value!r} is not HOST:PORT (IPv6 as [::1]:53)")
    if not 0 < int(value.rsplit(":", 1)[1]) < 65536:
        raise ValueError(f"port out of range in {value!r}")
    return value


def _status_spec(value: Any) -> str:
    """HTTP status codes: '200', '2xx', '200-399'."""
    text = str(value).strip()
    if re.match(r"^[1-5]xx$", text) or re.match(r"^[1-5]\d\d$", text):
        return text
    match = re.match(r"^([1-5]\d\d)-([1-5]\d\d)$", text)
    if match and int(match.group(1)) <= int(match.group(2)):
        return text
    raise ValueError(f"{value!r} is not a status code, a class such as 2xx, or a range 200-399")


Duration = Annotated[float, BeforeValidator(_duration)]
Size = Annotated[int, BeforeValidator(_size), Field(gt=0)]
Template = Annotated[str, BeforeValidator(_template)]
SecretFile = Annotated[FileSecret, BeforeValidator(_file_secret)]
Regex = Annotated[re.Pattern[str], BeforeValidator(_regex)]
JsonAssertion = Annotated[assertions.Assertion, BeforeValidator(_assertion)]
HostPort = Annotated[str, BeforeValidator(_host_port)]
StatusSpec = Annotated[str, BeforeValidator(_status_spec)]
Name = Annotated[str, Field(pattern=NAME_RE)]


def status_matches(specs: tuple[str, ...], code: int) -> bool:
    for spec in specs:
        if spec.endswith("xx"):
            if code // 100 == int(spec[0]):
                return True
        elif "-" in spec:
            low, high = spec.split("-")
            if int(low) <= code <= int(high):
                return True
        elif code == int(spec):
            return True
    return False


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        arbitrary_types_allowed=True,
        str_strip_whitespace=False,
        defer_build=True,
    )


def check_timezone(value: str, example: str = "Europe/Paris") -> str:
    """``value`` when it is a time zone this machine knows; ValueError otherwise."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} (an IANA name such as UTC or {example})"
        ) from None
    return value


def unique_names(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what} name {name!r} is used twice")
        seen.add(name)
