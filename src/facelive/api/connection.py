"""Closes the connection after an answer that left before its request body was read whole.

uvicorn keeps such a connection open and reads (and drops) the rest of the body, so that the
next request can follow on it: a client refused with 4010, 413 or 408 could keep trickling
bytes into it for as long as it liked. ``Connection: close`` on the answer makes uvicorn close
the connection as soon as the answer is sent.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding":
            return True
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
    return False


class CloseUnreadBody:
    """ASGI middleware: ``Connection: close`` on any answer sent while body bytes are unread."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
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
            await send(message)

        await self.app(scope, tracking_receive, closing_send)
