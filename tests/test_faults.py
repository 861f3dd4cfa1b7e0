"""Load and faults on real ``facelive serve`` processes on loopback (docs/reliability.md).

A short soak at 80 % of the capacity measured here and now, ``kill -9`` of a worker under
load, SIGTERM with requests in flight, and PostgreSQL restarted under load. Loads come from
``bench.loadgen`` in its own process; the long soak is ``python -m bench.soak``. No timing is
asserted beyond generous bounds: the machine may be busy.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.loadgen import ANSWER_CODES
from bench.server import LoadRun, loadgen_command
from bench.soak import MAX_GROWTH, measure_capacity, soak
from conftest import IMAGE_HOST, REPO, server_env
from facelive.auth.engine import StoreUnavailableError
from facelive.auth.setup import open_key_store
from facelive.errors import ShuttingDownError
from facelive.settings import Settings
from live_server import LiveServer, Reply

pytestmark = pytest.mark.timeout(240)

# No rate limit (the load is the point) and no per-request log lines to write.
LOAD_ENV = {"FACELIVE_RATE_LIMIT_RPS": "0", "FACELIVE_LOG_LEVEL": "warning"}
OK = {str(code) for code in ANSWER_CODES}


def _appcode(live: LiveServer) -> str:
    assert live.first_key is not None
    return live.first_key.appcode


def _established(pid: int, port: int) -> int:
    """TCP connections to local ``port`` that process ``pid`` holds open (accepted); 0 for a
    process that has exited (or is exiting: a zombie has no file descriptors left)."""
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        tables = [Path(f"/proc/{pid}/net/{t}").read_text() for t in ("tcp", "tcp6")]
    except OSError:
        return 0
    count = 0
    for line in "\n".join(tables).splitlines():
        fields = line.split()
        if len(fields) < 10 or fields[3] != "01":  # a header, or not ESTABLISHED
            continue
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        count += local_port == port and fields[9] in inodes
    return count


def _serving_workers(live: LiveServer, workers: int, timeout: float = 90.0) -> list[int]:
    """The worker PIDs once there are ``workers`` of them and each has accepted a connection.

    A worker accepts only after its start-up (models loaded), so this is when all serve.
    Probe connections are opened one by one and held until every worker holds one.
    """
    deadline = time.monotonic() + timeout
    probes: list[socket.socket] = []
    try:
        while time.monotonic() < deadline:
            pids = live.worker_pids()
            if len(pids) == workers and all(_established(pid, live.port) for pid in pids):
                return pids
            probes.append(socket.create_connection(("127.0.0.1", live.port), timeout=5))
            if len(probes) > 32:
                probes.pop(0).close()
            time.sleep(0.05)
    finally:
        for probe in probes:
            probe.close()
    raise AssertionError(f"not {workers} serving workers after {timeout} s: {live.worker_pids()}")


@pytest.fixture(scope="module")
def body(live_jpeg: bytes, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("load") / "body.json"
    path.write_text(json.dumps({"image_base64": base64.b64encode(live_jpeg).decode()}))
    return path


@pytest.fixture(scope="module")
def two_workers(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = server_env(model_dir, **LOAD_ENV)
    live = LiveServer(tmp_path_factory.mktemp("two-workers"), env, workers=2).start()
    try:
        _serving_workers(live, 2)
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def capacity(two_workers: LiveServer, body: Path) -> float:
    """Requests per second ``two_workers`` sustains now (a few seconds, closed loop)."""
    rps = measure_capacity(two_workers.port, _appcode(two_workers), body)
    assert rps > 0
    return rps


# --- connections spread over the workers ---------------------------------------------------


def test_a_pool_of_keep_alive_connections_is_spread_over_the_workers(
    two_workers: LiveServer, body: Path
) -> None:
    """Eight keep-alive connections opened at once: each worker holds about half. Without
    the connection ledger the first worker to wake took most of them (all 8 in 8 of 12
    trials), and kept them."""
    live = two_workers
    pids = _serving_workers(live, 2)
    time.sleep(0.5)  # the probes' connections are closed and gone
    command = loadgen_command(
        live.port, body, concurrency=8, duration=3.0, warmup=0.5, appcode=_appcode(live)
    )
    run = LoadRun.start(command)
    held = [0, 0]
    deadline = time.monotonic() + 30
    while sum(held) < 8 and time.monotonic() < deadline:
        time.sleep(0.1)
        held = [_established(pid, live.port) for pid in pids]
    result = run.result(timeout=60)
    assert result["errors"] == 0 and result["failures"] == [], result["codes"]
    assert sum(held) == 8, held
    assert max(held) - min(held) <= 2, held


# --- soak -----------------------------------------------------------------------------------


def test_soak_at_80_percent_of_capacity(
    two_workers: LiveServer, body: Path, capacity: float
) -> None:
    pids = _serving_workers(two_workers, 2)
    rate = 0.8 * capacity
    result = soak(
        two_workers.port, _appcode(two_workers), body, two_workers.worker_pids,
        rate=rate, duration=15.0, warmup=5.0, sample_s=0.5,
    )  # fmt: skip
    load = result.load
    assert load["errors"] == 0 and load["failures"] == [], load["codes"]
    assert set(load["codes"]) <= OK
    assert load["requests"] >= 0.5 * rate * 15.0, load  # the load really ran
    growth = result.growth()
    assert set(growth) == set(pids)
    start, end = result.rss_after_warmup(), result.rss_at_end()
    assert all(value < MAX_GROWTH for value in growth.values()), (start, end)


# --- kill -9 of a worker --------------------------------------------------------------------


def test_killed_worker_is_replaced_and_only_its_connections_fail(
    two_workers: LiveServer, body: Path, capacity: float
) -> None:
    live = two_workers
    before = _serving_workers(live, 2)
    concurrency = 6
    command = loadgen_command(
        live.port, body, concurrency=concurrency, duration=11.0, warmup=1.0,
        appcode=_appcode(live), rate=0.8 * capacity, timeout=30.0,
    )  # fmt: skip
    run = LoadRun.start(command)
    time.sleep(4.0)
    # The load's connections are spread over both workers (about half each); the victim is
    # the worker holding the most of them.
    held, victim = max((_established(pid, live.port), pid) for pid in before)
    survivor = next(pid for pid in before if pid != victim)
    killed_at = time.time()
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while victim in live.worker_pids() and time.monotonic() < deadline:
        time.sleep(0.05)  # until the supervisor has reaped it
    after = _serving_workers(live, 2)
    result = run.result(timeout=120)

    # uvicorn's supervisor started a new worker, and it serves.
    assert victim not in after and survivor in after
    assert len(set(after) - set(before)) == 1
    # Only requests on the killed worker's connections failed, each connection once, at the
    # kill; every answer that came back was a normal one.
    failures = result["failures"]
    assert 1 <= held <= concurrency
    assert len(failures) <= held, (held, failures)
    assert all(kind == "dropped" for _, _, kind in failures), failures
    assert len({conn for _, conn, _ in failures}) == len(failures)
    assert all(killed_at - 0.5 <= at <= killed_at + 5.0 for at, _, _ in failures), killed_at
    assert set(result["codes"]) <= OK | {"dropped"}, result["codes"]
    served_after = sum(
        n for second, codes in result["timeline"] if second > killed_at + 1 for n in codes.values()
    )
    assert served_after > 0


# --- SIGTERM --------------------------------------------------------------------------------


class _SlowImages(http.server.BaseHTTPRequestHandler):
    """``/short``: the JPEG after 1.5 s; ``/long``: after 30 s. Records each request."""

    server: _SlowImageServer

    def do_GET(self) -> None:
        self.server.seen.append(self.path)
        delay = 1.5 if self.path == "/short" else 30.0
        if self.server.closing.wait(delay):
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(self.server.jpeg)))
        self.end_headers()
        self.wfile.write(self.server.jpeg)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _SlowImageServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, jpeg: bytes) -> None:
        super().__init__((IMAGE_HOST, 0), _SlowImages)
        self.jpeg = jpeg
        self.seen: list[str] = []
        self.closing = threading.Event()

    def url(self, path: str) -> str:
        return f"http://{IMAGE_HOST}:{self.server_address[1]}{path}"

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # facelive hangs up on /long when it shuts down


@pytest.fixture
def slow_images(live_jpeg: bytes) -> Iterator[_SlowImageServer]:
    httpd = _SlowImageServer(live_jpeg)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield httpd
    httpd.closing.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_finishes_requests_in_flight_refuses_new_ones_and_exits_in_grace(
    model_dir: Path, tmp_path: Path, slow_images: _SlowImageServer, workers: int
) -> None:
    grace = 4
    env = server_env(
        model_dir, FACELIVE_URL_TIMEOUT_S="40", FACELIVE_SHUTDOWN_GRACE_S=str(grace), **LOAD_ENV
    )
    live = LiveServer(tmp_path / "term", env, workers=workers)
    answers: dict[str, Reply | Exception] = {}

    def fetch(path: str) -> None:
        try:
            answers[path] = live.check({"image_url": slow_images.url(path)})
        except (OSError, http.client.HTTPException) as exc:
            answers[path] = exc

    threads = [threading.Thread(target=fetch, args=(path,)) for path in ("/short", "/long")]
    try:
        live.start()
        if workers > 1:
            _serving_workers(live, workers)
        assert live.process is not None
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(slow_images.seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sorted(slow_images.seen) == ["/long", "/short"]  # both in flight
        signalled = time.monotonic()
        live.process.send_signal(signal.SIGTERM)

        # New connections: served until the signal is handled, then refused; never a hang.
        while True:
            try:
                assert live.request("GET", "/healthz", timeout=3).status == 200
            except (ConnectionResetError, http.client.RemoteDisconnected):
                pass  # accepted just as its worker began to shut down, then closed
            except ConnectionRefusedError:
                break
            assert time.monotonic() - signalled < 3.0, "still accepting connections"
            time.sleep(0.05)
        with pytest.raises(ConnectionRefusedError):
            live.request("GET", "/healthz", timeout=3)

        code = live.process.wait(timeout=grace + 15)
        exited = time.monotonic() - signalled
        for thread in threads:
            thread.join(timeout=10)
    finally:
        live.stop(signal.SIGKILL)
    # One worker re-raises SIGTERM once shut down (uvicorn); the supervisor exits with 0.
    assert code == (-signal.SIGTERM if workers == 1 else 0)
    short, long = answers["/short"], answers["/long"]
    assert isinstance(short, Reply) and short.json["code"] == 200  # finished within the grace
    # Cut at the end of the grace, with the envelope (not uvicorn's bare text 500).
    assert isinstance(long, Reply) and long.status == 500
    assert long.json["code"] == 5000 and long.json["msg"] == ShuttingDownError.default_msg
    assert long.json["request_id"] == long.headers["x-request-id"]
    assert exited < grace + 3.0  # not the 30 s /long would have taken


# --- PostgreSQL restarted under load ------------------------------------------------------


@dataclass(frozen=True)
class _Postgres:
    """A throw-away cluster of this test's own (scripts/postgres with its own folder)."""

    folder: str
    url: str

    def run(self, command: str) -> str:
        env = {**os.environ, "FACELIVE_PG_DIR": self.folder}
        done = subprocess.run(
            [str(REPO / "scripts" / "postgres"), command],
            env=env, capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
        return done.stdout.strip()


@pytest.fixture
def own_postgres() -> Iterator[_Postgres]:
    # In /tmp itself: the cluster's owner (postgres) must reach it, unlike pytest's tmp_path.
    folder = tempfile.mkdtemp(prefix="facelive-pg-restart-", dir="/tmp")
    cluster = _Postgres(folder, "")
    try:
        url = cluster.run("start").splitlines()[-1]
        yield _Postgres(folder, url)
    finally:
        cluster.run("stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_postgres_restart_under_load(
    model_dir: Path,
    tmp_path: Path,
    body: Path,
    live_jpeg: bytes,
    capacity: float,
    own_postgres: _Postgres,
) -> None:
    url = own_postgres.url
    env = server_env(model_dir, FACELIVE_DATABASE_URL=url, **LOAD_ENV)
    live = LiveServer(tmp_path / "pg", env, workers=2)
    store = open_key_store(Settings(data_dir=live.data_dir, database_url=url))
    image = {"image_base64": base64.b64encode(live_jpeg).decode()}
    try:
        _serving_workers(live.start(), 2)
        command = loadgen_command(
            live.port, body, concurrency=4, duration=13.0, warmup=1.0,
            appcode=_appcode(live), rate=0.5 * capacity, timeout=15.0,
        )  # fmt: skip
        run = LoadRun.start(command)
        time.sleep(4.0)
        keys_before = store.list_keys()
        usage_before = {(u.key_id, u.day, u.code): u.count for u in store.usage()}
        stopped_at = time.time()
        own_postgres.run("stop")

        reply = live.check(image)  # during the outage: a clear 5000, at once
        assert reply.status == 500
        envelope = reply.json
        assert envelope["code"] == 5000 and envelope["success"] is False
        assert envelope["data"] is None
        assert envelope["msg"] == StoreUnavailableError.default_msg
        assert envelope["msg_cn"] == StoreUnavailableError.default_msg_cn
        assert envelope["request_id"] == reply.headers["x-request-id"]
        assert envelope["request_id"] in live.log_path.read_text()  # the operator sees why
        assert live.request("GET", "/readyz").status == 503
        time.sleep(3.5)

        started_at = time.time()
        assert own_postgres.run("start").splitlines()[-1] == url  # same port: a restart
        result = run.result(timeout=120)

        # Recovered by itself (no restart of facelive), with nothing recorded before lost.
        assert live.check(image).json["code"] == 200
        assert live.request("GET", "/readyz").status == 200
        assert store.list_keys() == keys_before
        usage_after = {(u.key_id, u.day, u.code): u.count for u in store.usage()}
        assert all(usage_after.get(row, 0) >= n for row, n in usage_before.items())
        assert sum(usage_before.values()) > 0
    finally:
        store.close()
        live.stop()

    # Under load: answers before, 5000s during, answers again after; no hang, no drop.
    assert result["failures"] == [], result["failures"]
    timeline = result["timeline"]
    before = {c for second, codes in timeline if second + 1 <= stopped_at for c in codes}
    during = {
        c for second, codes in timeline if stopped_at + 1 <= second < started_at - 1 for c in codes
    }
    after = {c for second, codes in timeline if second >= started_at + 3 for c in codes}
    assert before and before <= OK, timeline
    assert during == {"5000"}, timeline
    assert after and after <= OK, timeline
