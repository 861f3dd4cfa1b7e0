"""Closes the connection after an answer that left before its request body was read whole.

uvicorn keeps such a connection open and reads (and drops) the rest of the body, so that the
next request can follow on it: a client refused with 4010, 413 or 408 could keep trickling
bytes into it for as long as it liked. ``Connection: close`` on the answer makes uvicorn close
the connection as soon as the answer is sent.

Closing at once breaks clients that write their whole body before they read (Java's
``HttpClient`` failed 2 times in 25 with "header parser received no bytes"): the close
lands while they are still writing, or a socket closed with unread bytes sends a reset and
the client's kernel drops the answer. So, like a web server's lingering close, the answer is
sent, then the rest of a body of acceptable declared length is read and dropped for at most
``LINGER_S`` seconds, and only then is the connection closed. A chunked body, or one
declared over the limit, is not waited for.
"""

from __future__ import annotations

import anyio
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LINGER_S = 2.0


def _declared_length(scope: Scope) -> int | None:
    """The body's declared length; -1 for a chunked body; None for none."""
    for name, value in scope["headers"]:
        if name == b"transfer-encoding":
            return -1
        if name == b"content-length":
            text = value.strip()
            if not text:
                return None
            return int(text) if text.isdigit() else -1
    return None


async def _drain(receive: Receive) -> None:
    """Reads and drops what is left of the request body, for at most ``LINGER_S``."""
    with anyio.move_on_after(LINGER_S):
        while True:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                return


class CloseUnreadBody:
    """ASGI middleware: ``Connection: close`` on any answer sent while body bytes are unread,
    and a short lingering drain of a body up to ``linger_max_bytes`` before the close."""

    def __init__(self, app: ASGIApp, linger_max_bytes: int = 0) -> None:
        self.app = app
        self.linger_max_bytes = linger_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = _declared_length(scope) if scope["type"] == "http" else None
        if declared is None or declared == 0:
            await self.app(scope, receive, send)
            return
        linger = 0 < declared <= self.linger_max_bytes
        unread = True

        async def tracking_receive() -> Message:
            nonlocal unread
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                unread = False
            return message

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and unread:
                MutableHeaders(scope=message)["Connection"] = "close"
            last = message["type"] == "http.response.body" and not message.get("more_body")
            if last and unread and linger:
                # The whole answer goes out now; the close waits for the body (bounded).
                await send({**message, "more_body": True})
                await _drain(receive)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(message)

        await self.app(scope, tracking_receive, closing_send)
