"""A real ``facelive serve`` on loopback for the HTTP benchmark: start-up time, credentials,
the load generator runs against it, and the peak memory of its worker processes."""

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


def _status_kb(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


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
        workers = []
        for pid in _children(self.process.pid):
            with contextlib.suppress(OSError):
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    workers.append(pid)
        return workers or [self.process.pid]

    def peak_rss_mb(self) -> list[float]:
        """Peak resident memory (VmHWM) of each worker so far, in MiB."""
        return [round(_status_kb(pid, "VmHWM") / 1024, 1) for pid in self.worker_pids()]

    def load(
        self,
        body_path: Path,
        concurrency: int,
        duration: float,
        warmup: float,
        signed: bool,
        first_stamp: int = 0,
    ) -> dict[str, object]:
        """One load-generator run in its own process; its JSON result."""
        command = [
            sys.executable, "-m", "bench.loadgen", "--port", str(self.port),
            "--body", str(body_path), "--concurrency", str(concurrency),
            "--duration", str(duration), "--warmup", str(warmup),
        ]  # fmt: skip
        if signed:
            command += [
                "--signed", "--app-key", self.credentials["AppKey"],
                "--app-secret", self.credentials["AppSecret"], "--first-stamp", str(first_stamp),
            ]  # fmt: skip
        else:
            command += ["--appcode", self.credentials["APPCODE"]]
        root = Path(__file__).resolve().parents[1]
        done = subprocess.run(  # noqa: S603
            command, capture_output=True, check=True, cwd=root, timeout=duration + warmup + 120
        )
        result: dict[str, object] = json.loads(done.stdout)
        return result

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
