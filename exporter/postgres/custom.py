"""Custom SQL metrics (sql_exporter-style): each configured query's label and value columns
become ``redline_sql_<name>`` series, with the query's state in ``redline_pg_query_status``.

A query that fails, times out or returns something unusable changes only its own status (and
makes the ``custom`` sub-collector report failure); the other queries and sub-collectors carry
on. ``min_interval`` keeps a result for that long, and concurrent scrapes share one run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import functools
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from exporter import metrics as m
from exporter.postgres.base import Context, SubCollector, describe
from exporter.postgres.config import CustomMetric, CustomQuery, Database

STATUSES: tuple[str, ...] = ("ok", "error", "timeout", "bad_result", "too_many_rows")


@dataclass
class Result:
    status: str  # one of STATUSES
    message: str  # why, when not ok (logged, never a label)
    duration: float
    finished: float  # loop.time()
    samples: list[tuple[CustomMetric, dict[str, str], float]] = field(default_factory=list)


def _value(value: Any) -> float | str | None:
    """A value column as a float, None for NULL, or the reason it is not a number."""
    if value is None:
        return None
    if isinstance(value, bool | int | float | decimal.Decimal):
        return float(value)
    if isinstance(value, dt.timedelta):
        return "an interval (use extract(epoch FROM ...) for seconds)"
    if isinstance(value, dt.datetime | dt.date):
        return "a timestamp (use extract(epoch FROM ...) for a Unix time)"
    return f"{type(value).__name__} {str(value)[:40]!r}"


def evaluate(query: CustomQuery, rows: list[Any], duration: float, now: float) -> Result:
    """Turn a query's rows into samples and a status."""
    status, problems = "ok", []
    if len(rows) > query.max_rows:
        status = "too_many_rows"
        problems.append(f"{len(rows)} rows, more than max_rows {query.max_rows}; the rest dropped")
        rows = rows[: query.max_rows]
    columns = set(rows[0].keys()) if rows else set()
    needed = [*query.labels, *(metric.column for metric in query.metrics)]
    absent = [c for c in needed if rows and c not in columns]
    if absent:
        found = ", ".join(sorted(columns))
        return Result(
            "bad_result",
            f"column(s) {', '.join(absent)} not in the result (it has {found})",
            duration,
            now,
        )
    samples: list[tuple[CustomMetric, dict[str, str], float]] = []
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for row in rows:
        labels = {label: "" if row[label] is None else str(row[label]) for label in query.labels}
        for metric in query.metrics:
            value = _value(row[metric.column])
            if value is None:
                continue  # NULL: no sample (e.g. max() over no rows)
            if isinstance(value, str):
                problems.append(f"column {metric.column} is {value}, not a number")
                status = "bad_result" if status == "ok" else status
                continue
            key = (metric.name, tuple(sorted(labels.items())))
            if key in seen:
                problems.append(f"two rows with the same labels {dict(key[1])} for {metric.name}")
                status = "bad_result" if status == "ok" else status
                continue
            seen.add(key)
            samples.append((metric, labels, value))
    return Result(status, "; ".join(problems[:3]), duration, now, samples)


class Custom(SubCollector):
    name = "custom"

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.results: dict[str, Result] = {}
        self.running: dict[str, asyncio.Task[Result]] = {}

    async def collect(self, ctx: Context) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        results = await asyncio.gather(*(self._result(ctx, q) for q in self.db.queries))
        for query, result in zip(self.db.queries, results, strict=True):
            labels = {"query": query.name}
            for metric, metric_labels, value in result.samples:
                ctx.add_named(
                    m.SQL_METRIC_PREFIX + metric.name,
                    metric.help or f"Custom SQL metric from query {query.name}.",
                    metric.type,
                    value,
                    metric_labels,
                )
            for status in STATUSES:
                value = 1.0 if status == result.status else 0.0
                ctx.add(m.PG_QUERY_STATUS, value, **labels, status=status)
            ctx.add(m.PG_QUERY_DURATION, result.duration, **labels)
            # 0 for a result of this scrape; the age at the scrape's start for a kept one
            ctx.add(m.PG_QUERY_AGE, round(max(0.0, started - result.finished), 3), **labels)
            if result.status != "ok":
                ctx.failed = True
            ctx.problems[f"query {query.name}"] = (
                f"{result.status}: {result.message}" if result.status != "ok" else None
            )

    async def _result(self, ctx: Context, query: CustomQuery) -> Result:
        loop = asyncio.get_running_loop()
        cached = self.results.get(query.name)
        if cached is not None and loop.time() - cached.finished < query.min_interval:
            return cached
        task = self.running.get(query.name)
        if task is None:
            task = loop.create_task(self._run(ctx, query))
            self.running[query.name] = task
            task.add_done_callback(functools.partial(self._finished, query.name))
        # Shielded: a scrape that gives up does not cancel a run another scrape is sharing; the
        # run ends by itself at its own deadline.
        return await asyncio.shield(task)

    def _finished(self, name: str, _task: asyncio.Task[Result]) -> None:
        self.running.pop(name, None)

    async def _run(self, ctx: Context, query: CustomQuery) -> Result:
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            rows = await ctx.fetch(query.sql, timeout=query.timeout)
        except (TimeoutError, asyncpg.QueryCanceledError):
            result = Result(
                "timeout",
                f"no answer within its timeout ({query.timeout:g}s) or the scrape's deadline",
                0.0,
                0.0,
            )
        except Exception as e:
            result = Result("error", describe(e), 0.0, 0.0)
        else:
            result = evaluate(query, rows, 0.0, 0.0)
        result.duration = loop.time() - start
        result.finished = loop.time()
        self.results[query.name] = result
        return result
