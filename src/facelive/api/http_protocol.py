"""uvicorn's HTTP protocol with a deadline for a request's line and headers.

uvicorn has no timeout for a request that has started but whose headers never finish: its
keep-alive timeout covers only idle time between requests, and any byte cancels it. A
client that opens connections and sends nothing, or a header byte every few seconds
(slowloris), holds each connection open for ever, until the process runs out of file
descriptors. The application cannot help: it sees a request only once its headers are
complete, and from then on ``body_timeout_s`` bounds the body.

So the headers get ``header_timeout_s`` in all, counted from when the connection opens or,
on a kept-alive connection, from the end of the previous response. A client that misses it
is disconnected without an answer: there is no request yet to answer.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from facelive.settings import Settings

__all__ = ["HeaderDeadlineProtocol", "header_timeout_s"]


@functools.cache
def header_timeout_s() -> float:
    """Read once per worker process: every worker is started with the same environment."""
    return Settings().header_timeout_s


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that closes a connection whose request headers are late."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        waiting = bool(self.pipeline)  # a pipelined request already has its headers
        super().on_response_complete()
        if not waiting and not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(header_timeout_s(), self._headers_late)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_late(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()
