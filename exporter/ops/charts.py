"""Small PNG charts for the capacity report, drawn with matplotlib's Agg backend (no display, no
global pyplot state): the level over the window, the fitted trend and the growth scenario over
the horizon, the limit and the warning line, and a dot where each line reaches the limit."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, DateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MultipleLocator

from exporter.ops.common import DAY, fmt_date, fmt_value, nice_up

if TYPE_CHECKING:
    from exporter.ops.capacity import Capacity, Resource

WIDTH, HEIGHT, DPI = 6.4, 2.9, 100  # 640 x 290 pixels: readable at a glance, small in a report
HOURS = "%m-%d %H:%M"  # UTC, as every time in the reports


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime(HOURS)


def _dt(t: float) -> float:
    """Unix time as matplotlib's date number."""
    return float(date2num(datetime.fromtimestamp(t, UTC)))


def capacity_chart(
    path: Path, res: Resource, c: Capacity, growth: Callable[[float], float] | None
) -> None:
    """The chart of one resource: its history, the trend, ``growth`` (the level ``t`` seconds
    after the end under the growth scenario, computed by exporter/ops/capacity.py; None when
    the resource does not grow with traffic) and the limit."""
    assert res.fit is not None and res.limit is not None
    fit, limit, unit = res.fit, res.limit, res.kind.unit
    fig = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()

    ax.plot(
        [_dt(t) for t, _ in res.points],
        [v for _, v in res.points],
        ".",
        markersize=2,
        color="#4c72b0",
        label="observed",
    )
    # the trend from the first point to the horizon (or a bit past the crossing)
    end = c.end + c.horizon
    for crossing in (res.trend, res.growth):
        if crossing.status == "beyond" and crossing.when is not None:
            end = max(end, min(crossing.when, c.end + 3 * c.horizon))
    first = res.points[0][0]
    # dates on the axis and at the crossings, with the hour when the chart spans a few days at
    # most (a short horizon, or a demo's minutes of history)
    hours = (end - first) < 3 * DAY
    n = 200
    ts = [first + (end - first) * i / n for i in range(n + 1)]
    ax.plot(
        [_dt(t) for t in ts],
        [fit.at(t - c.end) for t in ts],
        "-",
        color="#222222",
        linewidth=1,
        label="trend",
    )
    if growth is not None:
        f = growth
        future = [c.end + c.horizon * i / n for i in range(n + 1)]
        values = [f(t - c.end) for t in future]
        top = limit * 1.15
        ax.plot(
            [_dt(t) for t, v in zip(future, values, strict=True) if v <= top],
            [v for v in values if v <= top],
            "--",
            color="#8172b2",
            linewidth=1,
            label=f"{c.growth:g}x growth",
        )
    ax.axhline(limit, color="#c44e52", linewidth=1.2, label="limit")
    if res.warn_share is not None:
        ax.axhline(
            res.warn_share * limit, color="#dd8452", linewidth=0.8, linestyle=":", label="warning"
        )
    ax.axvline(_dt(c.end), color="#999999", linewidth=0.6)
    for crossing, color in ((res.trend, "#222222"), (res.growth, "#8172b2")):
        # a crossing far past the drawn range stays in the table: a dot there would squash
        # the whole chart into its first pixels
        if (
            crossing.status in ("date", "beyond")
            and crossing.when is not None
            and (crossing.when <= end)
        ):
            ax.plot([_dt(crossing.when)], [limit], "o", color=color, markersize=5)
            ax.annotate(
                _stamp(crossing.when) if hours else fmt_date(crossing.when),
                (_dt(crossing.when), limit),
                textcoords="offset points",
                xytext=(0, 7),
                ha="center",
                fontsize=7,
                color=color,
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
            )
    ymax = max([limit * 1.15, *(v for _, v in res.points)])
    ax.set_ylim(0, ymax)
    ax.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=7))
    ax.xaxis.set_major_formatter(DateFormatter(HOURS if hours else "%Y-%m-%d"))
    if unit == "bytes":  # ticks on round numbers of the unit shown (GiB, MiB)
        base = 1024 ** max(0, min(4, int(math.log(max(ymax, 1), 1024))))
        ax.yaxis.set_major_locator(MultipleLocator(nice_up(ymax / base / 5) * base))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt_value(v, unit)))
    ax.tick_params(labelsize=7)
    ax.set_title(f"{res.kind.title} {res.name}", fontsize=9, loc="left")
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=5, frameon=False)
    ax.grid(True, linewidth=0.3, alpha=0.5)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    # no timestamps or versions in the file: the same data draws the same bytes
    fig.savefig(path, format="png", metadata={"Software": None})
