"""``facelive serve --workers N`` (N > 1): uvicorn's worker supervisor, refusing new
connections at once when told to stop.

uvicorn's ``Multiprocess`` already replaces a worker that dies (``kill -9``, the OOM killer):
it checks every half second and starts a new one. What it lacks is a clean refusal during
shutdown: the parent holds its own copy of the listening socket until the last worker has
exited, so for the whole grace period the kernel keeps accepting new connections that no
process will ever serve; they hang, then are reset at exit. ``Supervisor`` closes the
parent's copy first; each worker closes its own as its graceful shutdown starts, and from
then on a new connection is refused (``ECONNREFUSED``) while requests in flight finish.
"""

from __future__ import annotations

import contextlib
import logging

from uvicorn import Config
from uvicorn.supervisors.multiprocess import Multiprocess

__all__ = ["Supervisor", "serve_workers"]

log = logging.getLogger("uvicorn.error")


class Supervisor(Multiprocess):
    """``Multiprocess`` that stops listening before it asks its workers to finish."""

    def handle_term(self) -> None:
        self._stop_listening()
        super().handle_term()

    def handle_int(self) -> None:
        self._stop_listening()
        super().handle_int()

    def _stop_listening(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()
        log.info("stopped listening; waiting for requests in flight")


def serve_workers(config: Config) -> None:
    """Binds ``config``'s address and runs ``config.workers`` supervised worker processes
    until SIGTERM or SIGINT; returns once every worker has exited."""
    sock = config.bind_socket()
    try:
        Supervisor(config, sockets=[sock]).run()
    finally:
        sock.close()
