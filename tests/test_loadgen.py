"""The load generator behaves as an HTTP client: an answer that says ``Connection: close`` is
followed by a new connection, never by a request on the closing one; ``--new-connections``
opens one connection per request, as simple clients do."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from bench.loadgen import run

LINGER_S = 0.2  # the server closes a while after its answer, as facelive's lingering close does


async def _serve(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, close: bool, heads: list[bytes]
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            heads.append(head)
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            body = b'{"code": 200}'
            extra = b"Connection: close\r\n" if close else b""
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + b"Content-Length: %d\r\n" % len(body)
                + extra
                + b"\r\n"
                + body
            )
            await writer.drain()
            if b"\r\nConnection: close\r\n" in head:
                return
            if close:
                await asyncio.sleep(LINGER_S)  # a request sent meanwhile is never answered
                return
    except (asyncio.IncompleteReadError, ConnectionError):
        return
    finally:
        writer.close()


async def _load(
    tmp_path: Path, close: bool, new_connections: bool = False
) -> tuple[dict[str, object], int, list[bytes]]:
    """The run's result, how many connections the server saw, and every request head."""
    heads: list[bytes] = []
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await _serve(reader, writer, close, heads)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    body = tmp_path / "body.json"
    body.write_bytes(b'{"image_base64": "AAAA"}')
    args = argparse.Namespace(
        port=port, body=str(body), concurrency=2, duration=1.5, warmup=0.1, rate=0.0,
        timeout=2.0, appcode="x", signed=False, app_key="", app_secret="", first_stamp=0,
        new_connections=new_connections,
    )  # fmt: skip
    try:
        return await run(args), connections, heads
    finally:
        server.close()


def test_connection_close_answers_are_followed_by_a_new_connection(tmp_path: Path) -> None:
    result, _, _ = asyncio.run(_load(tmp_path, close=True))
    assert result["failures"] == []
    assert result["errors"] == 0
    assert isinstance(result["requests"], int) and result["requests"] >= 10
    # Every answer closed its connection; those outside the timed window count too.
    assert isinstance(result["reconnects"], int) and result["reconnects"] >= result["requests"]


def test_keep_alive_answers_reuse_the_connection(tmp_path: Path) -> None:
    result, connections, heads = asyncio.run(_load(tmp_path, close=False))
    assert result["failures"] == []
    assert result["errors"] == 0
    assert isinstance(result["requests"], int) and result["requests"] >= 10
    assert result["reconnects"] == 0
    assert connections == 2  # one per --concurrency
    assert not any(b"Connection: close" in head for head in heads)


def test_new_connections_sends_each_request_on_its_own_connection(tmp_path: Path) -> None:
    result, connections, heads = asyncio.run(_load(tmp_path, close=False, new_connections=True))
    assert result["failures"] == [] and result["errors"] == 0
    assert result["new_connections"] is True
    assert isinstance(result["requests"], int) and result["requests"] >= 10
    assert len(heads) >= result["requests"]
    assert connections == len(heads)  # never a second request on a connection
    assert all(b"\r\nConnection: close\r\n" in head for head in heads)
