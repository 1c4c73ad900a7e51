"""The bench's probe targets: one process serving N loopback HTTP targets.

Run as ``python bench/targets.py --ports 10 --ready-file F``. It listens on ``--ports`` loopback
ports (chosen by the kernel) and answers ``GET /t/<i>`` with 200 and a small JSON body, then
closes the connection (each probe opens a fresh one, as blackbox_exporter does).
``GET /stats`` answers ``{"requests": N}``, the number of ``/t/`` requests served so far: the bench
counts probes by it, so the count is what really reached a target, not what an exporter claims.

Why a raw asyncio protocol and not aiohttp's server: this process shares the 2 cores with the
exporter being measured, so the cheaper it is per request the less it disturbs the wall times.
Why several ports: a fresh connection per probe leaves a TIME_WAIT entry per (client port, server
port) pair for 60 s; spreading targets over ports multiplies the ephemeral-port budget.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from pathlib import Path

MAX_HEADER_BYTES = 16 * 1024  # a request head larger than this is not a probe: drop it


class Counter:
    requests = 0


def _response(status: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class TargetProtocol(asyncio.Protocol):
    """One connection: read the request head, answer, close (the server closes first, so the
    TIME_WAIT entry stays on the server side, where it costs no ephemeral port)."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        if b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > MAX_HEADER_BYTES:
                self.transport.close()
            return
        request_line = self.buffer.split(b"\r\n", 1)[0].split(b" ")
        path = request_line[1] if len(request_line) >= 2 else b""
        if path.startswith(b"/t/"):
            Counter.requests += 1
            body = b'{"status":"ok","target":"' + path[3:] + b'"}'
            self.transport.write(_response("200 OK", body))
        elif path == b"/stats":
            body = json.dumps({"requests": Counter.requests}).encode()
            self.transport.write(_response("200 OK", body))
        else:
            self.transport.write(_response("404 Not Found", b'{"status":"not found"}'))
        self.transport.close()


async def serve(ports: int, ready_file: Path) -> None:
    loop = asyncio.get_running_loop()
    servers = [
        # backlog: redline opens all 1,000 connections at once; the default backlog (100) would
        # drop SYNs and add 1 s retransmits to the measured wall time.
        await loop.create_server(TargetProtocol, "127.0.0.1", 0, backlog=4096)
        for _ in range(ports)
    ]
    bound = [s.sockets[0].getsockname()[1] for s in servers]
    # Written then renamed, so the bench never reads a half-written file.
    tmp = ready_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"ports": bound, "pid": os.getpid()}))
    tmp.rename(ready_file)

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ports", type=int, default=10)
    parser.add_argument("--ready-file", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.ports, args.ready_file))


if __name__ == "__main__":
    main()
