"""``facelive serve --workers N`` (N > 1): uvicorn's worker supervisor, refusing new
connections at once when told to stop.

uvicorn's ``Multiprocess`` already replaces a worker that dies (``kill -9``, the OOM killer):
it checks every half second and starts a new one. What it lacks is a clean refusal during
shutdown: the parent holds its own copy of the listening socket until the last worker has
exited, so for the whole grace period the kernel keeps accepting new connections that no
process will ever serve; they hang, then are reset at exit. ``Supervisor`` closes the
parent's copy first; each worker closes its own as its graceful shutdown starts, and from
then on a new connection is refused (``ECONNREFUSED``) while requests in flight finish.

Each worker serves with ``connection_balance.BalancedServer``, which spreads connections
evenly over the workers instead of letting the first to wake take a whole burst.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from uvicorn import Config, Server
from uvicorn.supervisors import multiprocess
from uvicorn.supervisors.multiprocess import Multiprocess

from facelive import connection_balance

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


class _BalancedWorker(multiprocess.Process):
    """uvicorn's worker process, serving with ``BalancedServer`` (connection_balance)."""

    @property
    def server(self) -> Server:
        if self._server is None:
            self._server = connection_balance.BalancedServer(config=self.config)
        return self._server


def serve_workers(config: Config) -> None:
    """Binds ``config``'s address and runs ``config.workers`` supervised worker processes
    until SIGTERM or SIGINT; returns once every worker has exited."""
    sock = config.bind_socket()
    ledger: Path | None = None
    try:
        ledger = connection_balance.create_ledger()
        os.environ[connection_balance.ENV] = str(ledger)  # inherited by the spawned workers
    except OSError as exc:  # no writable temporary directory: accept one at a time, unranked
        log.warning("connections will not be balanced over the workers: %s", exc)
    # uvicorn offers no hook for its workers' server class: ``Multiprocess`` creates each
    # (first, replacement, SIGTTIN) as ``multiprocess.Process``, looked up when it runs.
    spawn = multiprocess.Process
    multiprocess.Process = _BalancedWorker  # type: ignore[misc]
    try:
        Supervisor(config, sockets=[sock]).run()
    finally:
        multiprocess.Process = spawn  # type: ignore[misc]
        os.environ.pop(connection_balance.ENV, None)
        if ledger is not None:
            ledger.unlink(missing_ok=True)
        sock.close()
