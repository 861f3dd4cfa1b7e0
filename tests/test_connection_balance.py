"""The connection ledger the workers share, and how long a worker leaves a pending connection
to the others (facelive.connection_balance). The spread itself over a real two-worker server
is tested in test_faults.py."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import stat
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from facelive.connection_balance import (
    GRACE_S,
    MAX_GRACE_S,
    PAUSE_S,
    SLOTS,
    BalancedServer,
    ConnectionLedger,
    LedgerFullError,
    create_ledger,
    grace_s,
)


@pytest.fixture
def other_process() -> Iterator[subprocess.Popen[bytes]]:
    """A live process whose pid another worker's slot can carry."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def test_no_grace_unless_another_worker_holds_fewer() -> None:
    assert grace_s(5, None) == 0.0  # alone
    assert grace_s(3, 3) == 0.0
    assert grace_s(0, 4) == 0.0
    assert grace_s(4, 3) == pytest.approx(GRACE_S)
    assert grace_s(4, 2) == pytest.approx(2 * GRACE_S)
    assert grace_s(500, 0) == MAX_GRACE_S


def test_the_ledger_file_is_private_and_zeroed(tmp_path: Path) -> None:
    path = create_ledger(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_size > 0
    assert set(path.read_bytes()) == {0}
    ledger = ConnectionLedger(path)
    assert ledger.fewest_elsewhere() is None  # no other worker yet
    ledger.release()


def test_each_worker_sees_the_fewest_any_other_live_worker_holds(
    tmp_path: Path, other_process: subprocess.Popen[bytes]
) -> None:
    path = create_ledger(tmp_path)
    mine = ConnectionLedger(path, pid=os.getpid())
    theirs = ConnectionLedger(path, pid=other_process.pid)
    third = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    fourth = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        another = ConnectionLedger(path, pid=third.pid)
        assert len({mine.slot, theirs.slot, another.slot}) == 3
        assert mine.fewest_elsewhere() == 0  # a new worker holds none
        theirs.publish(3)
        another.publish(5)
        assert mine.fewest_elsewhere() == 3
        mine.publish(1)
        assert theirs.fewest_elsewhere() == 1
        assert another.fewest_elsewhere() == 1
        # A worker that died (kill -9: no release) no longer counts, whatever it last wrote,
        # and the next worker to start takes its slot.
        another.publish(0)
        third.kill()
        third.wait()
        assert mine.fewest_elsewhere() == 3
        replacement = ConnectionLedger(path, pid=fourth.pid)
        assert replacement.slot == another.slot
        assert mine.fewest_elsewhere() == 0
        replacement.release()
    finally:
        for process in (third, fourth):
            process.kill()
            process.wait()
    theirs.release()  # a worker that stops cleanly frees its slot
    assert mine.fewest_elsewhere() is None
    mine.release()


class _OutOfDescriptors:
    """A listening socket whose ``accept`` fails as it does when the process has no file
    descriptor left: the connection stays pending and the socket stays readable."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.calls = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def accept(self) -> tuple[socket.socket, object]:
        self.calls += 1
        raise OSError(errno.EMFILE, "Too many open files")


def test_a_failing_accept_pauses_instead_of_spinning() -> None:
    server = BalancedServer(uvicorn.Config(app=lambda scope, receive, send: None))
    with socket.create_server(("127.0.0.1", 0)) as listening:
        listening.setblocking(False)
        failing = _OutOfDescriptors(listening)

        async def scenario() -> None:
            loop = asyncio.get_running_loop()
            loop.add_reader(failing.fileno(), server._on_pending, failing)  # type: ignore[arg-type]
            with socket.create_connection(listening.getsockname()):
                await asyncio.sleep(0.35)  # pending all along
            loop.remove_reader(failing.fileno())

        asyncio.run(scenario())
    # Once, then once after each PAUSE_S pause; a level-triggered spin would call it
    # thousands of times.
    assert 1 <= failing.calls <= 1 + 0.35 / PAUSE_S + 1, failing.calls


def test_a_full_ledger_is_refused(tmp_path: Path) -> None:
    path = create_ledger(tmp_path)
    parent = os.getppid()  # alive: every line taken by a live process
    path.write_bytes(struct.pack("<qq", parent, 1) * SLOTS)
    with pytest.raises(LedgerFullError):
        ConnectionLedger(path, pid=os.getpid())
