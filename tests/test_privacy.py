"""No image and no secret leaks: every path of the service is run once against a real server
(each answer code, image_url, both authentication modes, keys made by the console's API and by
``facelive keys create``), then its logs (stdout, stderr), ``/metrics``, every answer and every
key listing are searched for the images' bytes, their base64, and every AppCode, AppSecret and
the admin token. Secrets may appear only where they are issued: the answer that creates or
rotates a key, and the first start's banner (docs/api.md#keys)."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import new_key, server_env
from facelive.auth.records import KeyLimits
from facelive.auth.setup import open_key_store
from facelive.settings import Settings
from live_server import Credentials, LiveServer, Reply, appcode_header, b64, signed_headers
from test_api_codes import parse_raw

ADMIN_TOKEN = "privacy-admin-token-5f0c2a9e41d7"
SAMPLES = "images/minivision-ai__Silent-Face-Anti-Spoofing/images/sample"
PATH = "/api/face_liveness/v1"


@dataclass
class Transcript:
    """What the run left behind, and what must not be in it."""

    answers: list[Reply] = field(default_factory=list)
    listings: list[str] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)
    first_start: str = ""
    stdout: str = ""
    stderr: str = ""
    metrics: str = ""

    def answer(self, reply: Reply) -> Reply:
        self.answers.append(reply)
        return reply

    def keep(self, name: str, creds: Credentials) -> Credentials:
        self.secrets[f"{name} AppCode"] = creds.appcode
        self.secrets[f"{name} AppSecret"] = creds.app_secret
        return creds

    @property
    def codes(self) -> set[int]:
        return {int(r.json["code"]) for r in self.answers if r.body}


def facelive(server: LiveServer, *args: str) -> str:
    env = {**os.environ, **server.env, "FACELIVE_DATA_DIR": str(server.data_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "facelive", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def admin(server: LiveServer, method: str, path: str, body: bytes | None = None) -> Reply:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    return server.request(method, "/admin/api" + path, body, headers)


def issued(reply: Reply) -> Credentials:
    data = reply.json["data"]
    return Credentials(data["appcode"], data["app_key"], data["app_secret"], data["id"])


def trickle(server: LiveServer, creds: Credentials) -> Reply:
    """Headers and half a body, then nothing: the body timeout answers (408)."""
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: APPCODE {creds.appcode}\r\n"
        "Content-Length: 1000\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head + b'{"image_base64":"')
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return parse_raw(data)


def images(fas_dev: Path) -> dict[str, bytes]:
    live = (fas_dev / SAMPLES / "image_T1.jpg").read_bytes()
    frame = np.asarray(cv2.imread(str(fas_dev / SAMPLES / "image_T1.jpg")), np.float32)
    ok, dark = cv2.imencode(".png", (frame * 0.2).astype(np.uint8))
    assert ok
    grey = io.BytesIO()
    Image.fromarray(np.random.default_rng(5).integers(0, 255, (240, 320), np.uint8)).save(
        grey, "PNG"
    )
    return {
        "live": live,
        "spoof": (fas_dev / SAMPLES / "image_F2.jpg").read_bytes(),
        "dark": dark.tobytes(),
        "no-face": grey.getvalue(),
        "not-an-image": b"%PDF-1.4 " + np.random.default_rng(6).bytes(3000),
    }


@pytest.fixture(scope="module")
def transcript(
    model_dir: Path, fas_dev: Path, image_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Transcript:
    env = server_env(
        model_dir,
        FACELIVE_ADMIN_TOKEN=ADMIN_TOKEN,
        FACELIVE_LOG_LEVEL="debug",
        FACELIVE_BODY_TIMEOUT_S="1",
    )
    server = LiveServer(tmp_path_factory.mktemp("privacy"), env).start()
    t = Transcript(images=images(fas_dev), first_start=server.stdout)
    t.secrets["admin token"] = ADMIN_TOKEN
    try:
        assert server.first_key is not None
        t.keep("first key", server.first_key)
        console = t.keep("console key", issued(admin(server, "POST", "/keys", b'{"name":"c"}')))
        made = facelive(server, "keys", "create", "--name", "cli", "--json")
        cli = t.keep("CLI key", Credentials(*_issued_from_json(made)))
        rotated = t.keep("rotated key", issued(admin(server, "POST", f"/keys/{cli.id}/rotate")))
        limited = t.keep("limited key", new_key(server, "limited", KeyLimits(0.01, 1, None)))
        # A key encrypted under another server key: its signed requests are a 5000.
        stranger = Settings(data_dir=server.data_dir, secret_key="ab" * 32)
        lost = t.keep("undecryptable key", _key_under(stranger))

        _run_every_path(server, t, console, rotated, limited, lost, image_server)

        t.listings += [
            admin(server, "GET", "/keys").body.decode(),
            admin(server, "GET", "/recent").body.decode(),
            admin(server, "GET", "/usage").body.decode(),
            facelive(server, "keys", "list"),
            facelive(server, "keys", "list", "--json"),
            facelive(server, "keys", "recent", "--json"),
            facelive(server, "keys", "usage", "--json"),
        ]
        # Last, a key store that fails under the server: 5000s whose tracebacks are logged.
        with sqlite3.connect(server.data_dir / "facelive.db") as db:
            db.execute("ALTER TABLE api_keys RENAME TO api_keys_gone")
        t.answer(server.check({"image_base64": b64(t.images["live"])}, rotated))
        t.answer(server.check({"image_base64": b64(t.images["live"])}, rotated, signed=True))
        t.metrics = server.request("GET", "/metrics").body.decode()
    finally:
        server.stop()  # so that its logs are complete
    t.stdout = (server.data_dir / "server.out").read_text()
    t.stderr = server.log_path.read_text()
    return t


def _issued_from_json(text: str) -> tuple[str, str, str, str]:
    data = json.loads(text)
    return data["appcode"], data["app_key"], data["app_secret"], data["id"]


def _key_under(settings: Settings) -> Credentials:
    store = open_key_store(settings)
    try:
        made = store.create_key("stranger")
    finally:
        store.close()
    return Credentials(made.appcode, made.key.app_key, made.app_secret, made.key.id)


def _run_every_path(
    server: LiveServer,
    t: Transcript,
    console: Credentials,
    rotated: Credentials,
    limited: Credentials,
    lost: Credentials,
    image_server: str,
) -> None:
    for creds, signed in ((console, False), (rotated, True)):
        for name in ("live", "spoof", "dark", "no-face", "not-an-image"):
            # thresh 1: the dark face is not live, and too poor to judge (4005).
            payload = {"image_base64": b64(t.images[name]), "thresh": 1 if name == "dark" else 0.8}
            t.answer(server.check(payload, creds, signed=signed))
    t.answer(server.check({"image_url": f"{image_server}/{SAMPLES}/image_T1.jpg"}, console))
    t.answer(server.check({"image_url": "http://10.0.0.1/x.jpg"}, console))  # 4003
    live = b64(t.images["live"])
    t.answer(server.check({"image_base64": live, "thresh": "high"}, console))  # 4006
    t.answer(server.check(b'{"image_base64": "' + live.encode(), console))  # 4006
    # Credentials sent wrong, or in the wrong place, are never echoed.
    near_miss = Credentials(console.appcode[:-1] + "x", console.app_key, console.app_secret)
    t.answer(server.check({"image_base64": live}, near_miss))  # 4010
    secret_as_code = Credentials(console.app_secret, console.app_key, console.app_secret)
    t.answer(server.check({"image_base64": live}, secret_as_code))  # 4010
    wrong_secret = Credentials(rotated.appcode, rotated.app_key, console.app_secret)
    t.answer(server.check({"image_base64": live}, wrong_secret, signed=True))  # 4010
    stale = signed_headers(rotated, int(time.time() * 1000) - 3_600_000)
    t.answer(server.request("POST", PATH, b"{}", stale))  # 4011
    once = {**signed_headers(rotated), "Content-Type": "application/json"}
    for _ in range(2):  # 200, then 4012
        t.answer(server.request("POST", PATH, f'{{"image_base64":"{live}"}}'.encode(), once))
    for _ in range(3):  # 4029
        t.answer(server.check({"image_base64": live}, limited))
    t.answer(server.check({"image_base64": live}, lost, signed=True))  # 5000
    big = {"Content-Length": str(40_000_000), **appcode_header(console)}
    t.answer(server.request("POST", PATH, None, big))  # 413
    t.answer(trickle(server, console))  # 408
    t.answer(admin(server, "GET", "/keys", None))
    wrong_token = {"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}x"}
    t.answer(server.request("GET", "/admin/api/keys", None, wrong_token))  # 4010
    t.answer(admin(server, "POST", f"/keys/{console.id}/revoke"))
    t.answer(server.check({"image_base64": live}, console))  # 4010: revoked


def leaks(haystack: bytes, needles: dict[str, bytes]) -> list[str]:
    return [name for name, needle in needles.items() if needle in haystack]


def image_traces(images: dict[str, bytes]) -> dict[str, bytes]:
    """Pieces of each image: raw bytes and base64 (plain and URL-safe) from its start, middle
    and end, long enough never to occur by chance."""
    traces: dict[str, bytes] = {}
    for name, data in images.items():
        text = base64.b64encode(data)
        for where in (len(data) // 8, len(data) // 2, len(data) - 100):
            traces[f"{name} bytes @{where}"] = data[where : where + 24]
        for where in (40, len(text) // 3, len(text) // 2, len(text) - 80):
            piece = text[where : where + 24]
            traces[f"{name} base64 @{where}"] = piece
            traces[f"{name} url-safe base64 @{where}"] = piece.replace(b"+", b"-").replace(
                b"/", b"_"
            )
    return traces


def secret_traces(secrets: dict[str, str]) -> dict[str, bytes]:
    return {name: value.encode() for name, value in secrets.items()}


def error_messages(t: Transcript) -> bytes:
    """Every answer (status line, headers and body) except the two that issue secrets."""
    parts = []
    for reply in t.answers:
        data = reply.json.get("data") if reply.body else None
        if isinstance(data, dict) and "app_secret" in data:
            continue
        parts.append(f"{reply.status} {reply.headers}".encode() + reply.body)
    return b"\n".join(parts)


def test_every_path_was_run(transcript: Transcript) -> None:
    assert transcript.codes >= {200, 4001, 4002, 4003, 4004, 4005, 4006}
    assert transcript.codes >= {4010, 4011, 4012, 4029, 5000}
    assert {413, 408} <= {r.status for r in transcript.answers}
    assert len(transcript.secrets) == 13


@pytest.mark.parametrize("where", ["stdout", "stderr", "metrics", "answers", "listings"])
def test_no_secret_anywhere(transcript: Transcript, where: str) -> None:
    texts = {
        # The first start's banner issues the first key, once, by design; nothing after it.
        "stdout": transcript.stdout.replace(transcript.first_start, "", 1).encode(),
        "stderr": transcript.stderr.encode(),
        "metrics": transcript.metrics.encode(),
        "answers": error_messages(transcript),
        "listings": "\n".join(transcript.listings).encode(),
    }
    assert texts[where] or where == "stdout"
    assert leaks(texts[where], secret_traces(transcript.secrets)) == []


@pytest.mark.parametrize("where", ["stdout", "stderr", "metrics", "answers"])
def test_no_image_anywhere(transcript: Transcript, where: str) -> None:
    texts = {
        "stdout": transcript.stdout.encode(),
        "stderr": transcript.stderr.encode(),
        "metrics": transcript.metrics.encode(),
        "answers": error_messages(transcript),
    }
    assert leaks(texts[where], image_traces(transcript.images)) == []


def test_the_search_would_find_a_leak(transcript: Transcript) -> None:
    """The searches above mean something: the log has a line per request and the tracebacks
    of the broken key store, and the traces match what a client sends."""
    lines = [line for line in transcript.stderr.splitlines() if '"event":"request"' in line]
    assert len(lines) >= len(transcript.answers)
    assert transcript.stderr.count('"traceback"') >= 2
    for name, data in transcript.images.items():
        sent = json.dumps({"image_base64": b64(data)}).encode() + data
        traces = image_traces({name: data})
        assert {n for n in traces if "url-safe" not in n} <= set(leaks(sent, traces)), name
    assert leaks(transcript.first_start.encode(), secret_traces(transcript.secrets)) == [
        "first key AppCode",
        "first key AppSecret",
    ]


def test_the_first_key_is_shown_only_at_first_start(transcript: Transcript) -> None:
    first = transcript.first_start
    assert transcript.secrets["first key AppSecret"] in first
    assert transcript.stdout.count(transcript.secrets["first key AppSecret"]) == 1
    assert transcript.stdout.startswith(first)


def test_listings_show_public_parts_only(transcript: Transcript) -> None:
    keys = transcript.listings[0]
    assert "app_key" in keys and "app_secret" not in keys and "appcode" not in keys
    assert "app_secret" not in transcript.listings[4] and "appcode" not in transcript.listings[4]
