"""The operator using the HotDash app in the demo: a bounded loop of requests to its API and
its dashboard tiles, so the request logs the exporter reads carry the routes the latency SLOs
count (alert_rules/slos.yml: hotdash-app-api-latency on ``api``, -tiles-latency on ``tiles``).

Requests go to the hotdash-app stand-in on 127.0.0.1 only, at ``--rate`` a second (exponential
gaps); the loop stops by itself after ``--max-requests`` requests or ``--max-seconds`` seconds,
whichever comes first (make demo-stop ends it sooner). A stand-in that is down or slow (a
drill) costs a failed or slow request, never the loop: each request has its own timeout.

``python -m exporter.demo.traffic --base http://127.0.0.1:13000``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from urllib.parse import urlsplit

import aiohttp

from exporter.demo.loops import pause, stop_on_signals
from exporter.durations import argparse_positive_seconds

DEFAULT_RATE = 2.0  # requests a second
DEFAULT_MAX_REQUESTS = 200_000
DEFAULT_MAX_SECONDS = 12 * 3600.0
REQUEST_TIMEOUT = 10.0  # seconds: past the stand-in's slow mode, well short of a hang
# what the admin app's pages ask for, with weights: mostly API reads, the dashboard's tiles
PATHS: tuple[tuple[str, float], ...] = (
    ("/api/orders", 4),
    ("/api/products", 3),
    ("/api/customers", 1),
    ("/app/tiles/sales", 2),
    ("/app/tiles/inventory", 2),
    ("/app/tiles/support", 1),
)


def loopback(base: str) -> str:
    """``base`` when it names 127.0.0.1 or localhost; ValueError otherwise (the demo never sends
    traffic anywhere else)."""
    host = urlsplit(base).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"--base {base!r} is not on loopback")
    return base.rstrip("/")


async def run(
    base: str,
    rate: float = DEFAULT_RATE,
    max_requests: int = DEFAULT_MAX_REQUESTS,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    stop: asyncio.Event | None = None,
    rng: random.Random | None = None,
) -> dict[str, int]:
    """Send requests until a limit or ``stop``; the count of answers by status (``error`` for
    a request that got none)."""
    base = loopback(base)
    stop = stop or asyncio.Event()
    rng = rng or random.Random()
    deadline = time.monotonic() + max_seconds
    paths = [p for p, _ in PATHS]
    weights = [w for _, w in PATHS]
    counts: dict[str, int] = {}
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for _ in range(max_requests):
            if stop.is_set() or time.monotonic() > deadline:
                break
            path = rng.choices(paths, weights)[0]
            try:
                async with http.get(base + path) as resp:
                    await resp.read()
                    key = str(resp.status)
            except (aiohttp.ClientError, TimeoutError):
                key = "error"  # the stand-in is down or dropped the connection (a drill)
            counts[key] = counts.get(key, 0) + 1
            await pause(stop, rng.expovariate(rate))
    return counts


async def _main(args: argparse.Namespace) -> int:
    stop = stop_on_signals()
    print(f"traffic: {args.rate}/s to {args.base}, at most {args.max_requests}", flush=True)
    counts = await run(args.base, args.rate, args.max_requests, args.max_seconds, stop)
    print(f"traffic stopped: {counts}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m exporter.demo.traffic",
        description="The operator's requests to the HotDash stand-in, bounded.",
    )
    parser.add_argument("--base", required=True, help="the hotdash-app stand-in's URL")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE)
    parser.add_argument("--max-requests", type=int, default=DEFAULT_MAX_REQUESTS)
    parser.add_argument(
        "--max-seconds", type=argparse_positive_seconds, default=DEFAULT_MAX_SECONDS
    )
    args = parser.parse_args(argv)
    try:
        loopback(args.base)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
