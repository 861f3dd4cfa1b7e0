"""The load generator: ``python -m bench.loadgen ...`` in its own process, prints one JSON.

A closed loop of ``--concurrency`` keep-alive HTTP/1.1 connections on asyncio streams (no
third-party client: the loop is small and its own overhead is a few tens of microseconds per
request). Each connection sends the same body again as soon as its answer arrives, or, with
``--rate``, at the next free slot of a shared schedule of that many requests per second (a
slot missed is skipped, never made up in a burst). Signed requests get a fresh
``x-ca-timestamp`` each (strictly increasing, so no two requests share a signature: the server
refuses replays). Answers that arrive in the ``--duration`` seconds after ``--warmup`` count,
for throughput and latency alike (counting only requests also started in the window would
undercount by about latency / duration when latency is long).

Faults are counted, not fatal: a connection reset or closed while a request is in flight
(``dropped``), an answer not back within ``--timeout`` s (``timeout``) or a refused connect
(``refused``) is an error, listed with its time and connection in ``failures``, and the
connection reconnects. A keep-alive connection the server closed while idle, or announced
it would close (``Connection: close`` on an answer sent before the body was read, as the
5000 of an unreachable key store is), is reopened before the next request, as any HTTP
client does, and is not an error.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass, field

PATH = "/api/face_liveness/v1"
# Contract codes that are answers about the face, not failures of the service.
ANSWER_CODES = frozenset({200, 4004, 4005})


@dataclass
class Signer:
    """Strictly increasing millisecond timestamps, starting no earlier than ``first``."""

    app_key: str
    app_secret: str
    last: int = 0

    def headers(self) -> str:
        self.last = max(self.last + 1, int(time.time() * 1000))
        stamp = str(self.last)
        signature = hashlib.md5(  # noqa: S324  (the contract's signature is md5)
            f"{self.app_key}&{stamp}&{self.app_secret}".encode()
        ).hexdigest()
        return (
            f"x-ca-key: {self.app_key}\r\nx-ca-timestamp: {stamp}\r\n"
            f"x-ca-signature: {signature}\r\n"
        )


@dataclass
class Pacer:
    """Start times for ``rate`` requests per second over all connections; 0: no pacing."""

    rate: float
    next_at: float = 0.0

    def delay(self) -> float:
        """Seconds to wait before the next request may start."""
        if self.rate <= 0:
            return 0.0
        now = time.perf_counter()
        at = max(self.next_at, now)
        self.next_at = at + 1.0 / self.rate
        return at - now


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    codes: dict[str, int] = field(default_factory=dict)
    # Whole seconds since the epoch -> code -> answers (answers in the window only).
    timeline: dict[int, dict[str, int]] = field(default_factory=dict)
    # (seconds since the epoch, connection, "dropped" | "timeout" | "refused"), all of them.
    failures: list[tuple[float, int, str]] = field(default_factory=list)
    reconnects: int = 0

    def answer(self, code: int, ok: bool, latency_ms: float) -> None:
        self.latencies_ms.append(latency_ms)
        self.codes[str(code)] = self.codes.get(str(code), 0) + 1
        second = self.timeline.setdefault(int(time.time()), {})
        second[str(code)] = second.get(str(code), 0) + 1
        if not ok:
            self.errors += 1

    def failure(self, connection: int, kind: str, in_window: bool) -> None:
        self.failures.append((round(time.time(), 3), connection, kind))
        if in_window:
            self.errors += 1
            self.codes[kind] = self.codes.get(kind, 0) + 1


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body, and whether the server said it closes the connection after it."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    closes = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection":
            closes = value.strip().lower() == "close"
    return status, await reader.readexactly(length), closes


async def _connection(
    index: int,
    args: argparse.Namespace,
    body: bytes,
    signer: Signer | None,
    pacer: Pacer,
    window: tuple[float, float],
    tally: Tally,
) -> None:
    start_at, end_at = window
    streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    try:
        while time.perf_counter() < end_at:
            await asyncio.sleep(pacer.delay())
            if streams is not None and streams[0].at_eof():
                streams[1].close()  # closed by the server while idle: reopen, as clients do
                streams = None
                tally.reconnects += 1
            if streams is None:
                try:
                    streams = await asyncio.open_connection("127.0.0.1", args.port)
                except OSError:
                    tally.failure(index, "refused", start_at <= time.perf_counter() <= end_at)
                    await asyncio.sleep(0.05)
                    continue
            reader, writer = streams
            credentials = (
                signer.headers() if signer else f"Authorization: APPCODE {args.appcode}\r\n"
            )
            if args.new_connections:
                credentials += "Connection: close\r\n"
            request = (
                f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n{credentials}\r\n"
            ).encode()
            started = time.perf_counter()
            try:
                writer.write(request)
                writer.write(body)
                await writer.drain()
                status, answer, closes = await asyncio.wait_for(
                    _read_response(reader), args.timeout
                )
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                kind = "timeout" if isinstance(exc, TimeoutError) else "dropped"
                tally.failure(index, kind, start_at <= time.perf_counter() <= end_at)
                writer.close()
                streams = None
                continue
            finished = time.perf_counter()
            if closes:  # "Connection: close": a new connection for the next request, as
                writer.close()  # every HTTP client does (the server may still be closing)
                streams = None
                tally.reconnects += 1
            if not start_at <= finished <= end_at:
                continue  # counted: every answer that arrives inside the window
            try:
                code = int(json.loads(answer)["code"])
            except (ValueError, KeyError, TypeError):
                code = -status
            ok = status == 200 and code in ANSWER_CODES
            tally.answer(code, ok, (finished - started) * 1000.0)
    finally:
        if streams is not None:
            streams[1].close()


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(len(ordered) * q / 100)  # nearest rank
    return ordered[min(len(ordered), max(1, rank)) - 1]


async def run(args: argparse.Namespace) -> dict[str, object]:
    with open(args.body, "rb") as f:
        body = f.read()
    signer = Signer(args.app_key, args.app_secret, args.first_stamp) if args.signed else None
    now = time.perf_counter()
    window = (now + args.warmup, now + args.warmup + args.duration)
    tally = Tally()
    pacer = Pacer(args.rate)
    await asyncio.gather(
        *(_connection(i, args, body, signer, pacer, window, tally) for i in range(args.concurrency))
    )
    done = len(tally.latencies_ms)
    return {
        "concurrency": args.concurrency,
        "auth": "signed" if args.signed else "appcode",
        "new_connections": args.new_connections,
        "duration_s": args.duration,
        "requests": done,
        "errors": tally.errors,
        "codes": tally.codes,
        "throughput_rps": done / args.duration,
        "p50_ms": _percentile(tally.latencies_ms, 50),
        "p90_ms": _percentile(tally.latencies_ms, 90),
        "p99_ms": _percentile(tally.latencies_ms, 99),
        "last_stamp": signer.last if signer else None,
        "rate": args.rate,
        "timeline": sorted(tally.timeline.items()),
        "failures": tally.failures,
        "reconnects": tally.reconnects,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", required=True, help="file holding the JSON request body")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=0.0, help="requests/s in all; 0: no pacing")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per answer")
    parser.add_argument("--appcode", default="")
    parser.add_argument("--signed", action="store_true")
    parser.add_argument(
        "--new-connections",
        action="store_true",
        help="one connection per request (Connection: close), as simple clients do",
    )
    parser.add_argument("--app-key", default="")
    parser.add_argument("--app-secret", default="")
    parser.add_argument("--first-stamp", type=int, default=0)
    args = parser.parse_args()
    try:
        import uvloop  # a facelive dependency on Linux: less client CPU taken from the server
    except ImportError:
        result = asyncio.run(run(args))
    else:
        result = uvloop.run(run(args))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
