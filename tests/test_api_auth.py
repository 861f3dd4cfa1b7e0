"""Both authentication modes, exactly as the contract's sample clients compute them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import new_key, shared_seed
from facelive.auth.setup import open_key_store
from facelive.auth.store import KeyStore
from facelive.settings import Settings
from live_server import Credentials, LiveServer, appcode_header, b64, signed_headers

SAMPLE = "images/minivision-ai__Silent-Face-Anti-Spoofing/images/sample/image_T1.jpg"
PATH = "/api/face_liveness/v1"


def seed_python_samples() -> list[str]:
    """The two Python programs of the seed's section 4.1, verbatim."""
    text = (shared_seed() / "face_liveness_api_v1.txt").read_text(encoding="utf-8")
    section = text[text.index("4.1 Python") + len("4.1 Python") : text.index("4.2 PHP")]
    first, _, second = section.strip().partition("\nimport base64")
    return [first.strip() + "\n", ("import base64" + second).strip() + "\n"]


@pytest.mark.parametrize("mode", ["appcode", "signature"])
def test_seed_python_samples_run_unchanged(
    server: LiveServer, fas_dev: Path, tmp_path: Path, mode: str
) -> None:
    creds = new_key(server, f"seed-{mode}")
    appcode_sample, signed_sample = seed_python_samples()
    program = appcode_sample if mode == "appcode" else signed_sample
    assert "requests.post(url" in program
    # Only the URL, the credentials and the image path change.
    program = (
        program.replace("https://face-api.shiliuai.com", server.base_url)
        .replace("你的APPCODE", creds.appcode)
        .replace("你的APPKEY", creds.app_key)
        .replace("你的APPSECRET", creds.app_secret)
    )
    (tmp_path / "face_live.jpg").write_bytes((fas_dev / SAMPLE).read_bytes())
    (tmp_path / "sample.py").write_text(program, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "sample.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    env = json.loads(proc.stdout)
    assert env["code"] == 200
    assert env["data"]["is_live"] is True


def test_upper_case_signature_and_odd_header_spelling(
    server: LiveServer, creds: Credentials, fas_dev: Path
) -> None:
    body = json.dumps({"image_base64": b64((fas_dev / SAMPLE).read_bytes())}).encode()
    headers = signed_headers(creds)
    odd = {
        "X-CA-KEY": "  " + headers["x-ca-key"] + " ",
        "X-Ca-Timestamp": headers["x-ca-timestamp"] + "  ",
        "x-ca-SIGNATURE": headers["x-ca-signature"].upper(),
        "Content-Type": "application/json",
    }
    assert server.request("POST", PATH, body, odd).json["code"] == 200
    spaced = {"authorization": f"appcode   {creds.appcode}  "}
    assert server.request("POST", PATH, body, spaced).json["code"] == 200


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({"Authorization": "APPCODE nope"}, "unknown AppCode"),
        ({"Authorization": "Bearer abc"}, "must be 'APPCODE <AppCode>'"),
        ({"Authorization": "APPCODE"}, "must be 'APPCODE <AppCode>'"),
        ({"x-ca-key": "nope", "x-ca-timestamp": "1", "x-ca-signature": "x"}, "unknown x-ca-key"),
        ({"x-ca-key": "k"}, "missing header x-ca-timestamp"),
    ],
)
def test_bad_credentials_are_4010(server: LiveServer, headers: dict[str, str], words: str) -> None:
    reply = server.request("POST", PATH, b"{}", headers)
    assert reply.status == 401
    assert reply.json["code"] == 4010
    assert words in reply.json["msg"]


def test_wrong_signature_is_4010(server: LiveServer, creds: Credentials) -> None:
    headers = signed_headers(Credentials(creds.appcode, creds.app_key, "wrong-secret"))
    reply = server.request("POST", PATH, b"{}", headers)
    assert (reply.status, reply.json["code"]) == (401, 4010)
    assert "md5" in reply.json["msg"]


def test_local_time_instead_of_utc_is_explained(server: LiveServer, creds: Credentials) -> None:
    eight_hours_ahead = int(time.time() * 1000) + 8 * 3600 * 1000
    reply = server.request("POST", PATH, b"{}", signed_headers(creds, eight_hours_ahead))
    assert (reply.status, reply.json["code"]) == (401, 4011)
    assert "+8 h" in reply.json["msg"] and "local time" in reply.json["msg"]
    assert "本地时间" in reply.json["msg_cn"]


def test_seconds_instead_of_milliseconds_is_explained(
    server: LiveServer, creds: Credentials
) -> None:
    reply = server.request("POST", PATH, b"{}", signed_headers(creds, int(time.time())))
    assert reply.json["code"] == 4011
    assert "looks like seconds" in reply.json["msg"]


def test_non_numeric_timestamp_is_4011(server: LiveServer, creds: Credentials) -> None:
    headers = {**signed_headers(creds), "x-ca-timestamp": "yesterday"}
    assert server.request("POST", PATH, b"{}", headers).json["code"] == 4011


def facelive_cli(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs the ``facelive`` command against the server's own data dir."""
    return subprocess.run(
        [sys.executable, "-m", "facelive", *args],
        env={**os.environ, "FACELIVE_DATA_DIR": str(server.data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _store(server: LiveServer) -> KeyStore:
    return open_key_store(Settings(data_dir=server.data_dir))


def test_revoked_key_stops_at_once(server: LiveServer) -> None:
    creds = new_key(server, "to-revoke")
    assert server.check({}, creds).json["code"] == 4001  # authenticated
    assert server.check({}, creds, signed=True).json["code"] == 4001
    proc = facelive_cli(server, "keys", "revoke", creds.id)
    assert proc.returncode == 0, proc.stderr
    for signed in (False, True):
        reply = server.check({}, creds, signed=signed)
        assert (reply.status, reply.json["code"]) == (401, 4010)
        assert "revoked" in reply.json["msg"]


def test_rotate_replaces_both_secrets(server: LiveServer) -> None:
    creds = new_key(server, "to-rotate")
    proc = facelive_cli(server, "keys", "rotate", creds.id, "--json")
    assert proc.returncode == 0, proc.stderr
    fresh = json.loads(proc.stdout)
    assert fresh["id"] == creds.id and fresh["app_key"] == creds.app_key
    new = Credentials(fresh["appcode"], fresh["app_key"], fresh["app_secret"], fresh["id"])
    assert server.check({}, creds).json["code"] == 4010
    assert server.check({}, creds, signed=True).json["code"] == 4010
    assert server.check({}, new).json["code"] == 4001
    assert server.check({}, new, signed=True).json["code"] == 4001


def test_keys_cli_create_json_and_list(server: LiveServer) -> None:
    proc = facelive_cli(server, "keys", "create", "--name", "cli", "--json")
    created = json.loads(proc.stdout)
    assert set(created) == {"id", "name", "appcode", "app_key", "app_secret"}
    creds = Credentials(created["appcode"], created["app_key"], created["app_secret"])
    assert server.request("POST", PATH, b"{}", appcode_header(creds)).json["code"] == 4001
    listed = facelive_cli(server, "keys", "list", "--json")
    rows = json.loads(listed.stdout)
    assert created["id"] in {r["id"] for r in rows}
    assert created["appcode"] not in listed.stdout and created["app_secret"] not in listed.stdout


def test_usage_is_counted_per_key_day_and_code(server: LiveServer) -> None:
    creds = new_key(server, "usage")
    for _ in range(3):
        server.check({}, creds)
    server.check({"image_base64": "%%%"}, creds)
    store = _store(server)
    try:
        rows = {(r.code, r.count) for r in store.usage(creds.id)}
    finally:
        store.close()
    assert rows == {(4001, 4)}
