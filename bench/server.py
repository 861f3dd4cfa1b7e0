"""A real ``facelive serve`` on loopback for the HTTP benchmark: start-up time, credentials,
the load generator runs against it, and the memory of its worker processes.

The load generator and the ``/proc`` readings are also used on their own, by the soak
(``bench/soak.py``) and the fault tests (``tests/test_faults.py``)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def status_kb(pid: int, field_name: str) -> int:
    """A memory figure of ``/proc/PID/status`` in KiB (``VmRSS``, ``VmHWM``...); 0 if absent."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def worker_pids(server_pid: int) -> list[int]:
    """The uvicorn worker processes (spawned children) of ``facelive serve``; [] with one
    worker, which serves in the server process itself."""
    workers = []
    for pid in _children(server_pid):
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                workers.append(pid)
    return workers


def loadgen_command(
    port: int,
    body_path: Path,
    *,
    concurrency: int,
    duration: float,
    warmup: float,
    appcode: str = "",
    signed: tuple[str, str, int] | None = None,
    rate: float = 0.0,
    timeout: float = 60.0,
    new_connections: bool = False,
) -> list[str]:
    """``python -m bench.loadgen`` with these options; ``signed``: (AppKey, AppSecret, first
    timestamp) for signed requests, else ``appcode`` is sent."""
    command = [
        sys.executable, "-m", "bench.loadgen", "--port", str(port), "--body", str(body_path),
        "--concurrency", str(concurrency), "--duration", str(duration), "--warmup", str(warmup),
        "--rate", str(rate), "--timeout", str(timeout),
    ]  # fmt: skip
    if signed is not None:
        app_key, app_secret, first_stamp = signed
        command += [
            "--signed", "--app-key", app_key, "--app-secret", app_secret,
            "--first-stamp", str(first_stamp),
        ]  # fmt: skip
    else:
        command += ["--appcode", appcode]
    if new_connections:
        command.append("--new-connections")
    return command


@dataclass
class LoadRun:
    """A load generator running in its own process while the caller does something else."""

    process: subprocess.Popen[bytes]

    @classmethod
    def start(cls, command: list[str]) -> LoadRun:
        root = Path(__file__).resolve().parents[1]
        process = subprocess.Popen(  # noqa: S603  (our own interpreter and module)
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=root
        )
        return cls(process)

    def result(self, timeout: float) -> dict[str, Any]:
        """Waits for the run to end; its JSON result."""
        try:
            out, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            raise
        if self.process.returncode != 0:
            raise RuntimeError(f"load generator failed: {err.decode()[-2000:]}")
        result: dict[str, Any] = json.loads(out)
        return result


@dataclass
class Server:
    """One ``facelive serve`` (own process group, own data dir); ``workers`` None = default."""

    data_dir: Path
    env: dict[str, str]
    workers: int | None = None
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None
    ready_s: float = 0.0
    credentials: dict[str, str] = field(default_factory=dict)

    def start(self, timeout: float = 120.0) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "facelive", "serve", "--port", str(self.port)]
        if self.workers is not None:
            command += ["--workers", str(self.workers)]
        out_path = self.data_dir / "server.out"
        started = time.perf_counter()
        with out_path.open("wb") as out, (self.data_dir / "server.log").open("ab") as err:
            self.process = subprocess.Popen(  # noqa: S603  (our own interpreter and module)
                command,
                stdout=out,
                stderr=err,
                env={**os.environ, **self.env, "FACELIVE_DATA_DIR": str(self.data_dir)},
                start_new_session=True,
            )
        while not _ready(self.port):
            if self.process.poll() is not None or time.perf_counter() - started > timeout:
                self.stop()
                log = (self.data_dir / "server.log").read_text()[-2000:]
                raise RuntimeError(f"facelive serve did not become ready: {log}")
            time.sleep(0.02)
        self.ready_s = time.perf_counter() - started
        text = out_path.read_text()
        for name in ("APPCODE", "AppKey", "AppSecret"):
            match = re.search(rf"{name}\s+(\S+)", text)
            if match is None:
                raise RuntimeError(f"no {name} in the server's first-start output")
            self.credentials[name] = match.group(1)
        return self

    def worker_pids(self) -> list[int]:
        """uvicorn's worker processes (spawned children), or the server itself with one."""
        assert self.process is not None
        return worker_pids(self.process.pid) or [self.process.pid]

    def peak_rss_mb(self) -> list[float]:
        """Peak resident memory (VmHWM) of each worker so far, in MiB."""
        return [round(status_kb(pid, "VmHWM") / 1024, 1) for pid in self.worker_pids()]

    def rss_mb(self) -> list[float]:
        """Resident memory (VmRSS) of each worker now, in MiB."""
        return [round(status_kb(pid, "VmRSS") / 1024, 1) for pid in self.worker_pids()]

    def load(
        self,
        body_path: Path,
        concurrency: int,
        duration: float,
        warmup: float,
        signed: bool,
        first_stamp: int = 0,
        new_connections: bool = False,
    ) -> dict[str, object]:
        """One load-generator run in its own process; its JSON result."""
        credentials = self.credentials
        command = loadgen_command(
            self.port,
            body_path,
            concurrency=concurrency,
            duration=duration,
            warmup=warmup,
            appcode=credentials["APPCODE"],
            signed=(credentials["AppKey"], credentials["AppSecret"], first_stamp)
            if signed
            else None,
            new_connections=new_connections,
        )
        return LoadRun.start(command).result(timeout=duration + warmup + 120)

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)
        self.process = None
