"""The operator console's JSON API and per-key limits, over HTTP against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from live_server import ADMIN_TOKEN, Credentials, LiveServer, Reply, b64, call, new_console_key, ok

SAMPLES = "images/minivision-ai__Silent-Face-Anti-Spoofing/images/sample"


def assert_error(reply: Reply, status: int, code: int) -> dict[str, Any]:
    envelope = reply.json
    assert reply.status == status, envelope
    assert envelope["code"] == code and envelope["success"] is False
    assert envelope["data"] is None
    assert envelope["msg"] and envelope["msg_cn"]
    return envelope


def test_console_does_not_exist_without_a_token(server: LiveServer) -> None:
    assert "FACELIVE_ADMIN_TOKEN" not in server.env
    for method, path in [
        ("GET", "/admin"),
        ("GET", "/admin/api/keys"),
        ("POST", "/admin/api/keys"),
    ]:
        reply = server.request(method, path, b"{}", {"Authorization": f"Bearer {ADMIN_TOKEN}"})
        # Exactly what any path that does not exist answers.
        assert_error(reply, 404, 4006)
        assert "no such endpoint" in reply.json["msg"]


def test_demo_page_is_served_with_a_strict_policy(server: LiveServer) -> None:
    page = server.request("GET", "/")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    html = page.body.decode()
    assert '<meta name="viewport"' in html
    assert "https://" not in html and "http://" not in html  # nothing from a CDN
    for asset in ("/ui/demo.js", "/ui/style.css", "/ui/risk.js"):
        assert server.request("GET", asset).status == 200, asset


def test_admin_api_refuses_missing_and_wrong_tokens(admin_server: LiveServer) -> None:
    missing = assert_error(call(admin_server, "GET", "/keys", headers=None), 401, 4010)
    assert "Bearer" in missing["msg"] and "令牌" in missing["msg_cn"]
    for wrong in (
        {"Authorization": "Bearer not-the-token-at-all-000000"},
        {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
        {"Authorization": f"Basic {ADMIN_TOKEN}"},
        {"Authorization": f"APPCODE {ADMIN_TOKEN}"},
    ):
        reply = call(admin_server, "GET", "/keys", headers=wrong)
        assert_error(reply, 401, 4010)
        assert reply.headers["www-authenticate"] == "Bearer"
    # A write is refused before its body is even looked at, and creates nothing.
    assert_error(call(admin_server, "POST", "/keys", {"name": "x"}, headers=None), 401, 4010)
    names = [k["name"] for k in ok(call(admin_server, "GET", "/keys"))["keys"]]
    assert "x" not in names
    # The page itself is public: the token is typed into it.
    assert admin_server.request("GET", "/admin").status == 200


def test_console_creates_rotates_limits_and_revokes(admin_server: LiveServer) -> None:
    creds = new_console_key(admin_server, "console")
    assert admin_server.check({}, creds).json["code"] == 4001  # authenticated
    listed = ok(call(admin_server, "GET", "/keys"))
    mine = next(k for k in listed["keys"] if k["id"] == creds.id)
    assert mine["limits"] == {"rps": None, "burst": None, "daily_quota": None}
    assert mine["used_today"] == 1 and mine["revoked_at"] is None
    assert listed["defaults"]["rps"] == 5 and listed["defaults"]["burst"] == 40
    text = json.dumps(listed)
    assert creds.appcode not in text and creds.app_secret not in text

    limits = {"rps": 3.5, "burst": 7, "daily_quota": 500}
    assert ok(call(admin_server, "PUT", f"/keys/{creds.id}/limits", limits))["limits"] == limits
    bad = call(admin_server, "PUT", f"/keys/{creds.id}/limits", {"rps": 0, "burst": "x"})
    assert "rps" in assert_error(bad, 400, 4006)["msg"]
    assert_error(call(admin_server, "PUT", "/keys/key_nope/limits", {}), 404, 4006)
    assert_error(call(admin_server, "POST", "/keys", {"name": "  "}), 400, 4006)
    assert_error(call(admin_server, "POST", "/keys", {"nom": "typo"}), 400, 4006)

    fresh = ok(call(admin_server, "POST", f"/keys/{creds.id}/rotate"))
    assert fresh["id"] == creds.id and fresh["app_key"] == creds.app_key
    assert fresh["appcode"] != creds.appcode
    assert admin_server.check({}, creds).json["code"] == 4010
    rotated = Credentials(fresh["appcode"], fresh["app_key"], fresh["app_secret"], fresh["id"])
    assert admin_server.check({}, rotated, signed=True).json["code"] == 4001

    revoked = ok(call(admin_server, "POST", f"/keys/{creds.id}/revoke"))
    assert revoked["revoked_at"] is not None and revoked["limits"] == limits
    for signed in (False, True):
        assert_error(admin_server.check({}, rotated, signed=signed), 401, 4010)
    assert_error(call(admin_server, "POST", f"/keys/{creds.id}/rotate"), 400, 4006)
    assert_error(call(admin_server, "POST", "/keys/key_nope/revoke"), 404, 4006)


def test_a_keys_rate_limit_answers_4029_with_retry_after(admin_server: LiveServer) -> None:
    creds = new_console_key(admin_server, "one-per-second")
    ok(call(admin_server, "PUT", f"/keys/{creds.id}/limits", {"rps": 1, "burst": 1}))
    assert admin_server.check({}, creds).json["code"] == 4001
    reply = admin_server.check({}, creds)
    envelope = assert_error(reply, 429, 4029)
    assert int(reply.headers["retry-after"]) >= 1
    assert "1 requests per second" in envelope["msg"]
    # Other keys still get the server's default (5/s, bursts of 40).
    other = new_console_key(admin_server, "default-limits")
    assert [admin_server.check({}, other).json["code"] for _ in range(5)] == [4001] * 5


def test_a_daily_quota_answers_4029_on_the_request_after_it(admin_server: LiveServer) -> None:
    creds = new_console_key(admin_server, "two-a-day")
    ok(call(admin_server, "PUT", f"/keys/{creds.id}/limits", {"daily_quota": 2}))
    assert [admin_server.check({}, creds).json["code"] for _ in range(2)] == [4001, 4001]
    for _ in range(2):  # refusals do not use up anything, and keep being refusals
        reply = admin_server.check({}, creds)
        envelope = assert_error(reply, 429, 4029)
        assert 1 <= int(reply.headers["retry-after"]) <= 86400
        assert "daily quota of 2" in envelope["msg"] and "每日2次" in envelope["msg_cn"]
    used = ok(call(admin_server, "GET", "/keys"))["keys"]
    assert next(k for k in used if k["id"] == creds.id)["used_today"] == 2
    # Raising the quota lets the key through at once, in every worker.
    ok(call(admin_server, "PUT", f"/keys/{creds.id}/limits", {"daily_quota": 3}))
    assert admin_server.check({}, creds).json["code"] == 4001


def test_usage_and_recent_requests_hold_metadata_only(
    admin_server: LiveServer, fas_dev: Path
) -> None:
    creds = new_console_key(admin_server, "activity")
    image = b64((fas_dev / SAMPLES / "image_T1.jpg").read_bytes())
    live = admin_server.check({"image_base64": image}, creds).json
    assert live["code"] == 200
    admin_server.check({}, creds)

    usage = ok(call(admin_server, "GET", f"/usage?key_id={creds.id}&days=7"))
    assert {(r["code"], r["count"]) for r in usage["rows"]} == {(200, 1), (4001, 1)}
    assert {r["day"] for r in usage["rows"]} == {usage["until"]}
    assert_error(call(admin_server, "GET", "/usage?days=0"), 400, 4006)
    assert_error(call(admin_server, "GET", "/usage?days=abc"), 400, 4006)
    assert_error(call(admin_server, "GET", "/usage?key_id=key_nope"), 404, 4006)

    recent = ok(call(admin_server, "GET", f"/recent?key_id={creds.id}&limit=10"))
    assert [r["code"] for r in recent] == [4001, 200]  # newest first
    newest, scored = recent
    assert set(scored) == {"at", "key_id", "request_id", "code", "score", "latency_ms"}
    assert scored["request_id"] == live["request_id"]
    assert scored["score"] == live["data"]["liveness_score"]
    assert scored["latency_ms"] > 0 and newest["score"] is None
    everyone = ok(call(admin_server, "GET", "/recent?limit=1000"))
    assert len(everyone) >= 2 and everyone[0]["request_id"] == newest["request_id"]
    # The image went through memory only: not in the database, not in the logs.
    stored = b"".join(p.read_bytes() for p in admin_server.data_dir.glob("facelive.db*"))
    assert image[1000:1064].encode() not in stored
    assert image[1000:1064] not in admin_server.log_path.read_text()


def facelive_keys(server: LiveServer, *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "facelive", "keys", *args],
        env={**os.environ, "FACELIVE_DATA_DIR": str(server.data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if "--json" in args else done.stdout


@pytest.mark.timeout(120)
def test_the_cli_sees_and_does_what_the_console_does(admin_server: LiveServer) -> None:
    creds = new_console_key(admin_server, "cli-and-console")
    record = facelive_keys(
        admin_server, "limits", creds.id, "--rps", "2", "--burst", "3", "--daily", "9", "--json"
    )
    assert record["limits"] == {"rps": 2.0, "burst": 3, "daily_quota": 9}
    # Only the named limit changes; 'default' clears it.
    record = facelive_keys(admin_server, "limits", creds.id, "--daily", "default", "--json")
    assert record["limits"] == {"rps": 2.0, "burst": 3, "daily_quota": None}
    listed = ok(call(admin_server, "GET", "/keys"))["keys"]
    assert next(k for k in listed if k["id"] == creds.id)["limits"] == record["limits"]

    admin_server.check({}, creds)
    assert facelive_keys(admin_server, "usage", creds.id, "--json") == ok(
        call(admin_server, "GET", f"/usage?key_id={creds.id}")
    )
    assert facelive_keys(admin_server, "recent", "--key", creds.id, "--json") == ok(
        call(admin_server, "GET", f"/recent?key_id={creds.id}&limit=20")
    )
    text = facelive_keys(admin_server, "list")
    assert f"{creds.id}" in text and "rps 2 burst 3 daily default" in text
    table = facelive_keys(admin_server, "recent", "--key", creds.id)
    assert "4001" in table and creds.id in table
