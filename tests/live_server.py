"""Starts a real ``facelive serve`` on loopback for the HTTP tests and talks to it."""

from __future__ import annotations

import base64
import contextlib
import hashlib
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

from bench.server import worker_pids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Credentials:
    appcode: str
    app_key: str
    app_secret: str
    id: str = ""


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value


@dataclass
class LiveServer:
    """One ``facelive serve`` process (its own process group) with its data dir and log."""

    data_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    workers: int | None = 1  # None: serve's default (one per core)
    process: subprocess.Popen[bytes] | None = None
    first_key: Credentials | None = None
    stdout: str = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def start(self, timeout: float = 60.0) -> LiveServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        out_path = self.data_dir / "server.out"
        with out_path.open("wb") as out, self.log_path.open("ab") as err:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "facelive",
                    "serve",
                    "--port",
                    str(self.port),
                    *(["--workers", str(self.workers)] if self.workers is not None else []),
                ],
                stdout=out,
                stderr=err,
                env={**os.environ, **self.env, "FACELIVE_DATA_DIR": str(self.data_dir)},
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if self.request("GET", "/readyz").status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"server not ready: {self.log_path.read_text()[-3000:]}")
        self.stdout = out_path.read_text()
        found = {
            name: re.search(rf"{name}\s+(\S+)", self.stdout)
            for name in ("APPCODE", "AppKey", "AppSecret")
        }
        if all(found.values()):
            self.first_key = Credentials(*(m.group(1) for m in found.values() if m is not None))
        return self

    def worker_pids(self) -> list[int]:
        """uvicorn's worker processes with ``workers`` > 1 ([] with one)."""
        assert self.process is not None
        return worker_pids(self.process.pid)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)
        self.process = None

    def logged(self, request_ids: set[str], timeout: float = 10.0) -> list[dict[str, Any]]:
        """The log lines of these requests. A line is written once its response has gone
        out, so it may trail the reply a little: this waits for all of them (or times out
        and returns those found)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [json.loads(line) for line in self.log_path.read_text().splitlines() if line]
            mine = [line for line in lines if line.get("request_id") in request_ids]
            if len(mine) >= len(request_ids) or time.monotonic() > deadline:
                return mine
            time.sleep(0.05)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def check(
        self,
        payload: dict[str, Any] | bytes,
        creds: Credentials | None = None,
        *,
        signed: bool = False,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        creds = creds or self.first_key
        assert creds is not None
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        all_headers = {"Content-Type": "application/json"}
        all_headers.update(signed_headers(creds) if signed else appcode_header(creds))
        all_headers.update(headers or {})
        return self.request("POST", "/api/face_liveness/v1", body, all_headers)


def appcode_header(creds: Credentials) -> dict[str, str]:
    return {"Authorization": f"APPCODE {creds.appcode}"}


def signed_headers(creds: Credentials, timestamp_ms: int | None = None) -> dict[str, str]:
    stamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    text = f"{creds.app_key}&{stamp}&{creds.app_secret}".encode()
    return {
        "x-ca-key": creds.app_key,
        "x-ca-timestamp": stamp,
        "x-ca-signature": hashlib.md5(text).hexdigest(),
    }


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# The operator console's token of the test servers that have it on (at least 16 characters).
ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def call(
    server: LiveServer,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = ADMIN,
) -> Reply:
    """A request to the console's API, ``/admin/api`` + ``path``."""
    data = None if body is None else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", **(headers or {})}
    return server.request(method, "/admin/api" + path, data, sent)


def ok(reply: Reply) -> Any:
    """The ``data`` of a successful console answer."""
    envelope = reply.json
    assert (reply.status, envelope["code"], envelope["success"]) == (200, 200, True), envelope
    assert reply.headers["x-request-id"] == envelope["request_id"]
    return envelope["data"]


def new_console_key(server: LiveServer, name: str) -> Credentials:
    made = ok(call(server, "POST", "/keys", {"name": name}))
    return Credentials(made["appcode"], made["app_key"], made["app_secret"], made["id"])
