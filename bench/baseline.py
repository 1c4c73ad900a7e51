"""Reference floor: what a bare aiohttp client costs per fresh-connection GET.

Run as ``python bench/baseline.py --urls-file F --rounds 3 [--loop uvloop]``; prints one JSON line
``{"ms_per_get": ..., "gets": ..., "ok": ...}``. It runs in its own process so that the number is
this process's CPU alone (``time.process_time``), measured after a warm-up round.

With ``--serve`` it stays up after the warm-up (printing ``{"ready": true}``) and makes one round
per line read on its standard input, printing that round's JSON line, until the input ends: the
bench then takes the floor round by round between the exporter's own scrapes (bench/blackbox.py
``Floor``), so that both see the same minutes of the machine. Measured minutes apart, the floor
alone moved from 0.34 to 0.60 ms between runs.

The client is set up as redline's (exporter/probes/base.py ``new_session``: fresh connection per
request, no DNS cache, no cookies) and, like one redline scrape, sends all GETs of a round at
once. Whatever redline spends per probe beyond this number is redline's own code. ``--loop``
picks the event loop (asyncio's own, or uvloop, which redline runs on when
``REDLINE_EVENT_LOOP=uvloop`` asks for it: exporter/eventloop.py), so that the floor is taken on
the same loop as the exporter measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp


async def one_round(session: aiohttp.ClientSession, urls: list[str]) -> int:
    async def get(url: str) -> bool:
        async with session.get(url) as response:
            await response.read()
            return response.status == 200

    results = await asyncio.gather(*(get(u) for u in urls), return_exceptions=True)
    return sum(1 for r in results if r is True)


def new_session() -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(force_close=True, limit=0, use_dns_cache=False)
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        timeout=aiohttp.ClientTimeout(total=30),
    )


async def measured(
    session: aiohttp.ClientSession, urls: list[str], rounds: int
) -> dict[str, float]:
    cpu_start = time.process_time()
    ok = 0
    for _ in range(rounds):
        ok += await one_round(session, urls)
    cpu = time.process_time() - cpu_start
    gets = rounds * len(urls)
    return {"ms_per_get": cpu * 1000 / gets, "gets": gets, "ok": ok}


async def measure(urls: list[str], rounds: int) -> dict[str, float]:
    async with new_session() as session:
        await one_round(session, urls)  # warm-up: imports, first-use allocations
        return await measured(session, urls, rounds)


async def serve(urls: list[str]) -> None:
    """A round per line of standard input (read off the loop: the thread is idle meanwhile
    and the round's CPU is counted from the loop's own work)."""
    loop = asyncio.get_running_loop()
    async with new_session() as session:
        await one_round(session, urls)
        print(json.dumps({"ready": True}), flush=True)
        while await loop.run_in_executor(None, sys.stdin.readline):
            print(json.dumps(await measured(session, urls, 1)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--urls-file", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--serve", action="store_true", help="a round per line of stdin")
    args = parser.parse_args()
    urls = args.urls_file.read_text().split()
    factory = None
    if args.loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        if args.serve:
            runner.run(serve(urls))
            return
        result = runner.run(measure(urls, args.rounds))
    print(json.dumps({**result, "loop": args.loop}))


if __name__ == "__main__":
    main()
