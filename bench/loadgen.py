"""The load generator: ``python -m bench.loadgen ...`` in its own process, prints one JSON.

A closed loop of ``--concurrency`` keep-alive HTTP/1.1 connections on asyncio streams (no
third-party client: the loop is small and its own overhead is a few tens of microseconds per
request). Each connection sends the same body again as soon as its answer arrives. Signed
requests get a fresh ``x-ca-timestamp`` each (strictly increasing, so no two requests share a
signature: the server refuses replays). Answers that arrive in the ``--duration`` seconds
after ``--warmup`` count, for throughput and latency alike (counting only requests also
started in the window would undercount by about latency / duration when latency is long).
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
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    codes: dict[str, int] = field(default_factory=dict)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def _connection(
    port: int,
    body: bytes,
    auth: str,
    signer: Signer | None,
    window: tuple[float, float],
    tally: Tally,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start_at, end_at = window
    try:
        while time.perf_counter() < end_at:
            credentials = signer.headers() if signer else f"Authorization: APPCODE {auth}\r\n"
            request = (
                f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n{credentials}\r\n"
            ).encode()
            started = time.perf_counter()
            writer.write(request)
            writer.write(body)
            await writer.drain()
            status, answer = await _read_response(reader)
            finished = time.perf_counter()
            if not start_at <= finished <= end_at:
                continue  # counted: every answer that arrives inside the window
            tally.latencies_ms.append((finished - started) * 1000.0)
            try:
                code = int(json.loads(answer)["code"])
            except (ValueError, KeyError, TypeError):
                code = -status
            tally.codes[str(code)] = tally.codes.get(str(code), 0) + 1
            if status != 200 or code not in ANSWER_CODES:
                tally.errors += 1
    finally:
        writer.close()


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
    await asyncio.gather(
        *(
            _connection(args.port, body, args.appcode, signer, window, tally)
            for _ in range(args.concurrency)
        )
    )
    done = len(tally.latencies_ms)
    return {
        "concurrency": args.concurrency,
        "auth": "signed" if args.signed else "appcode",
        "duration_s": args.duration,
        "requests": done,
        "errors": tally.errors,
        "codes": tally.codes,
        "throughput_rps": done / args.duration,
        "p50_ms": _percentile(tally.latencies_ms, 50),
        "p90_ms": _percentile(tally.latencies_ms, 90),
        "p99_ms": _percentile(tally.latencies_ms, 99),
        "last_stamp": signer.last if signer else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", required=True, help="file holding the JSON request body")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--appcode", default="")
    parser.add_argument("--signed", action="store_true")
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
