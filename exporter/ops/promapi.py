"""A small client of Prometheus's (and Alertmanager's) HTTP API with clear errors.

Every failure is an :class:`ApiError` whose message says what went wrong in words an operator
can act on: the server cannot be reached, it answered an HTTP error, its answer is not the API's
JSON (a wrong URL, a proxy's login page), or Prometheus refused the query. Callers print the
message; nothing here ends in a traceback.

    prom = PromClient("http://127.0.0.1:9090")
    prom.query("up", at=1760400000)              # [Sample(labels, value)]
    prom.query_range("up", start, end, step)     # [Series(labels, points)]

Range queries longer than Prometheus's 11,000 points per series are split and joined.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TIMEOUT = 60.0
MAX_POINTS = 11_000  # Prometheus refuses range queries with more points per series


class ApiError(Exception):
    """What went wrong talking to a server. ``kind``: unreachable, timeout, http, bad_json,
    query (the server refused the query or answered with an error status)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float
    timestamp: float = 0.0


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]] = field(default_factory=list)


def check_url(url: str, what: str = "Prometheus") -> str:
    """``url`` without a trailing slash; ApiError when it is no http(s) URL."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ApiError("unreachable", f"{what} URL {url!r} is not http://HOST:PORT or https://...")
    return url.rstrip("/")


def _number(text: Any) -> float:
    """Prometheus sends sample values as strings: "1.5", "NaN", "+Inf", "-Inf"."""
    return float(text)


class _Http:
    what = "server"

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = check_url(url, self.what)
        self.timeout = timeout

    def _request(self, path: str, params: dict[str, str] | None = None, post: bool = False) -> Any:
        url = f"{self.url}{path}"
        data = None
        if params and post:
            data = urllib.parse.urlencode(params).encode()
        elif params:
            url += "?" + urllib.parse.urlencode(params)
        request = urllib.request.Request(url, data=data, headers={"Accept": "application/json"})
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                body = resp.read()
                content_type = resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            body = e.read()
            try:
                answer = json.loads(body)
            except ValueError:
                answer = None
            if isinstance(answer, dict) and answer.get("status") == "error":
                raise ApiError(
                    "query", f"{self.what} at {self.url} refused {path}: {answer.get('error')}"
                ) from None
            snippet = body.decode(errors="replace").strip().replace("\n", " ")[:200]
            raise ApiError(
                "http", f"{self.what} at {self.url} answered HTTP {e.code} for {path}: {snippet}"
            ) from None
        except TimeoutError:
            raise ApiError(
                "timeout", f"{self.what} at {self.url} did not answer within {self.timeout:g} s"
            ) from None
        except urllib.error.URLError as e:
            reason = e.reason
            if isinstance(reason, TimeoutError):
                raise ApiError(
                    "timeout", f"{self.what} at {self.url} did not answer within {self.timeout:g} s"
                ) from None
            text = getattr(reason, "strerror", None) or str(reason)
            raise ApiError(
                "unreachable", f"cannot reach {self.what} at {self.url}: {text}"
            ) from None
        except (OSError, ValueError) as e:
            raise ApiError("unreachable", f"cannot reach {self.what} at {self.url}: {e}") from None
        try:
            return json.loads(body)
        except ValueError:
            kind = content_type.split(";")[0] or "no content type"
            raise ApiError(
                "bad_json",
                f"{self.what} at {self.url} answered {path} with something that is not JSON "
                f"({kind}): is this the {self.what} address?",
            ) from None


class PromClient(_Http):
    what = "Prometheus"

    def _api(self, path: str, params: dict[str, str]) -> Any:
        answer = self._request(path, params, post=True)
        if not isinstance(answer, dict) or "status" not in answer:
            raise ApiError(
                "bad_json",
                f"Prometheus at {self.url} answered {path} with JSON that is not Prometheus's API",
            )
        if answer["status"] != "success":
            raise ApiError(
                "query", f"Prometheus at {self.url} refused {path}: {answer.get('error')}"
            )
        data = answer.get("data")
        if not isinstance(data, dict):
            raise ApiError("bad_json", f"Prometheus at {self.url}: {path} answered without data")
        return data

    def check(self) -> str:
        """Prometheus's version ("" from a server of the same API that names none, as
        VictoriaMetrics answers ``{"status": "success", "data": {}}``); ApiError when it does
        not answer as Prometheus's API."""
        answer = self._request("/api/v1/status/buildinfo")
        try:
            if answer["status"] == "success" and isinstance(answer["data"], dict):
                return str(answer["data"].get("version", ""))
        except (KeyError, TypeError):
            pass
        raise ApiError(
            "bad_json",
            f"{self.url} answered /api/v1/status/buildinfo, but not as Prometheus does",
        )

    def query(self, expr: str, at: float) -> list[Sample]:
        """An instant query. A scalar result becomes one sample without labels."""
        data = self._api("/api/v1/query", {"query": expr, "time": _ts(at)})
        kind, result = data.get("resultType"), data.get("result")
        try:
            if kind == "vector":
                return [
                    Sample(dict(r["metric"]), _number(r["value"][1]), float(r["value"][0]))
                    for r in result
                ]
            if kind == "scalar":
                return [Sample({}, _number(result[1]), float(result[0]))]
        except (KeyError, TypeError, IndexError, ValueError):
            pass
        raise ApiError("bad_json", f"Prometheus at {self.url}: unexpected answer to {expr!r}")

    def raw(self, selector: str, start: float, end: float) -> list[Series]:
        """The raw samples of ``selector`` in (start, end], as stored (a range-vector selector
        evaluated at ``end``): exact timestamps, no step."""
        seconds = max(1, math.ceil(end - start))
        data = self._api("/api/v1/query", {"query": f"{selector}[{seconds}s]", "time": _ts(end)})
        return self._matrix(data, selector)

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        """A range query; split into pieces of at most MAX_POINTS points and joined."""
        if end < start:
            return []
        series: dict[tuple[tuple[str, str], ...], Series] = {}
        chunk = step * (MAX_POINTS - 1)
        t = start
        while t <= end:
            stop = min(end, t + chunk)
            params = {"query": expr, "start": _ts(t), "end": _ts(stop), "step": f"{step:g}"}
            data = self._api("/api/v1/query_range", params)
            for piece in self._matrix(data, expr):
                key = tuple(sorted(piece.labels.items()))
                if key in series:
                    series[key].points.extend(piece.points)
                else:
                    series[key] = piece
            t = stop + step
        return list(series.values())

    def rules(self) -> list[dict[str, Any]]:
        """The alerting rules Prometheus evaluates (/api/v1/rules?type=alert), each with its
        group's interval."""
        data = self._request("/api/v1/rules", {"type": "alert"})
        out: list[dict[str, Any]] = []
        try:
            for group in data["data"]["groups"]:
                for rule in group.get("rules", []):
                    out.append({**rule, "group_interval": float(group.get("interval") or 0)})
        except (KeyError, TypeError):
            raise ApiError(
                "bad_json", f"Prometheus at {self.url}: unexpected /api/v1/rules"
            ) from None
        return out

    def _matrix(self, data: dict[str, Any], expr: str) -> list[Series]:
        if data.get("resultType") != "matrix":
            raise ApiError(
                "bad_json", f"Prometheus at {self.url}: {expr!r} did not answer a range of samples"
            )
        try:
            return [
                Series(dict(r["metric"]), [(float(t), _number(v)) for t, v in r["values"]])
                for r in data["result"]
            ]
        except (KeyError, TypeError, ValueError):
            raise ApiError(
                "bad_json", f"Prometheus at {self.url}: unexpected answer to {expr!r}"
            ) from None


class AlertmanagerClient(_Http):
    what = "Alertmanager"

    def _list(self, path: str) -> list[dict[str, Any]]:
        answer = self._request(path)
        if not isinstance(answer, list):
            raise ApiError(
                "bad_json", f"Alertmanager at {self.url} answered {path} with no list: wrong URL?"
            )
        return [a for a in answer if isinstance(a, dict)]

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds now (it keeps no history)."""
        return self._list("/api/v2/alerts")

    def silences(self) -> list[dict[str, Any]]:
        return self._list("/api/v2/silences")


def _ts(t: float) -> str:
    return f"{t:.3f}"
