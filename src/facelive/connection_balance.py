"""Spreads connections evenly over ``facelive serve``'s worker processes.

The workers share one listening socket. uvicorn's event loop (libuv) accepts every pending
connection at once when the socket becomes readable, so the first worker to wake takes a
whole burst: a client opening a pool of eight keep-alive connections found all eight on one
worker in 8 of 12 trials, and since a keep-alive connection stays with the worker that
accepted it, that worker then served alone, at 100-125 checks/s against 150-170 with the
load split (docs/performance.md). Both cores were never used.

Here each worker accepts one connection at a time itself, and the workers keep a
``ConnectionLedger``: a small shared file where each writes how many connections it holds.
A worker that holds more than the least-loaded live worker waits ``GRACE_S`` per connection
of difference (at most ``MAX_GRACE_S``) before it takes a pending connection, so the other
takes it first; if the other does not (it is busy or gone), the waiting one takes it after
all. Workers that hold the same number accept at once, so busy servers accept at full speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import mmap
import os
import socket
import struct
import tempfile
from pathlib import Path

from uvicorn import Server

__all__ = ["ENV", "BalancedServer", "ConnectionLedger", "LedgerFullError", "create_ledger"]

log = logging.getLogger("uvicorn.error")

# The ledger's path, set by the supervisor for the workers it spawns.
ENV = "FACELIVE_CONNECTION_LEDGER"
SLOTS = 128  # twice the most workers settings allow: dead workers' lines are reused
_SLOT = struct.Struct("<qq")  # pid, connections held
GRACE_S = 0.004
MAX_GRACE_S = 0.02
PAUSE_S = 0.1  # after a failed accept (out of file descriptors)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def create_ledger(directory: Path | None = None) -> Path:
    """A new, zeroed ledger file (readable by its owner only), in the temporary directory
    unless told; it lives in the page cache: the workers share it through ``mmap``."""
    fd, name = tempfile.mkstemp(prefix="facelive-connections-", dir=directory)
    try:
        os.ftruncate(fd, SLOTS * _SLOT.size)
    finally:
        os.close(fd)
    return Path(name)


class LedgerFullError(RuntimeError):
    """Every slot holds a live process."""


class ConnectionLedger:
    """One slot per live worker: its pid and how many connections it holds."""

    def __init__(self, path: Path, pid: int | None = None) -> None:
        self.pid = pid or os.getpid()
        with path.open("r+b") as f:
            self._map = mmap.mmap(f.fileno(), SLOTS * _SLOT.size)
            fcntl.flock(f, fcntl.LOCK_EX)  # two workers starting together must not share a slot
            try:
                self._slot = self._claim()
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _claim(self) -> int:
        for slot in range(SLOTS):
            pid, _ = _SLOT.unpack_from(self._map, slot * _SLOT.size)
            if pid in (0, self.pid) or not _alive(pid):
                _SLOT.pack_into(self._map, slot * _SLOT.size, self.pid, 0)
                return slot
        raise LedgerFullError(f"no free slot among {SLOTS} in the connection ledger")

    @property
    def slot(self) -> int:
        return self._slot

    def publish(self, held: int) -> None:
        _SLOT.pack_into(self._map, self._slot * _SLOT.size, self.pid, held)

    def fewest_elsewhere(self) -> int | None:
        """The fewest connections any other live worker holds; None when there is none."""
        fewest: int | None = None
        for slot, (pid, held) in enumerate(_SLOT.iter_unpack(self._map)):
            if pid == 0 or slot == self._slot or (fewest is not None and held >= fewest):
                continue
            if _alive(pid):
                fewest = held
        return fewest

    def release(self) -> None:
        with contextlib.suppress(ValueError):  # already closed
            _SLOT.pack_into(self._map, self._slot * _SLOT.size, 0, 0)
            self._map.close()


def grace_s(held: int, fewest_elsewhere: int | None) -> float:
    """How long a worker holding ``held`` connections leaves a pending one to the others."""
    if fewest_elsewhere is None or held <= fewest_elsewhere:
        return 0.0
    return min(MAX_GRACE_S, GRACE_S * (held - fewest_elsewhere))


class BalancedServer(Server):
    """A uvicorn worker that accepts from the shared sockets itself, one connection at a
    time, yielding to less loaded workers as the ledger tells."""

    _ledger: ConnectionLedger | None = None
    _listening: tuple[socket.socket, ...] = ()
    _paused = False

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn's own start-up (lifespan, "started"), with no listener of its own.
        await super().startup(sockets=[])
        if self.should_exit or not sockets:
            return
        path = os.environ.get(ENV)
        try:
            self._ledger = ConnectionLedger(Path(path)) if path else None
        except (OSError, LedgerFullError) as exc:  # accept one at a time, unranked
            log.warning("connections will not be balanced over the workers: %s", exc)
        self._listening = tuple(sockets)
        loop = asyncio.get_running_loop()
        for sock in self._listening:
            sock.listen(self.config.backlog)  # bound, not yet listening (Config.bind_socket)
            sock.setblocking(False)
            loop.add_reader(sock.fileno(), self._on_pending, sock)

    def _held(self) -> int:
        return len(self.server_state.connections)

    def _on_pending(self, sock: socket.socket) -> None:
        held = self._held()
        wait = 0.0
        if self._ledger is not None:
            self._ledger.publish(held)
            wait = grace_s(held, self._ledger.fewest_elsewhere())
        if wait <= 0:
            self._accept(sock)
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(sock.fileno())
        loop.call_later(wait, self._after_grace, sock)

    def _after_grace(self, sock: socket.socket) -> None:
        if self.should_exit or sock.fileno() < 0:
            return
        self._accept(sock)  # still pending: no other worker took it
        if not self._paused:
            asyncio.get_running_loop().add_reader(sock.fileno(), self._on_pending, sock)

    def _accept(self, sock: socket.socket) -> None:
        try:
            conn, _ = sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # another worker took it, or the client gave up
        except OSError as exc:
            # Out of file descriptors (EMFILE, ENFILE) and the like: the connection stays
            # pending and the socket readable, so stop watching it a while rather than spin.
            log.warning("accept failed (%s); pausing accepts for %.1f s", exc, PAUSE_S)
            self._pause(sock)
            return
        if self._ledger is not None:
            self._ledger.publish(self._held() + 1)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        asyncio.get_running_loop().create_task(self._serve_connection(conn))

    def _pause(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(sock.fileno())
        self._paused = True

        def resume() -> None:
            self._paused = False
            if not self.should_exit and sock.fileno() >= 0:
                loop.add_reader(sock.fileno(), self._on_pending, sock)

        loop.call_later(PAUSE_S, resume)

    async def _serve_connection(self, conn: socket.socket) -> None:
        config = self.config
        loop = asyncio.get_running_loop()

        def protocol() -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config,
                server_state=self.server_state,
                app_state=self.lifespan.state,
                _loop=loop,
            )

        try:
            await loop.connect_accepted_socket(protocol, conn)
        except OSError:
            conn.close()

    async def on_tick(self, counter: int) -> bool:
        if self._ledger is not None:
            self._ledger.publish(self._held())  # connections closed since the last accept
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()
        for sock in self._listening:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(sock.fileno())
        if self._ledger is not None:
            self._ledger.release()
            self._ledger = None
        await super().shutdown(sockets=sockets)
