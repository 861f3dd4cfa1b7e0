"""Every row of the contract's code table, over real HTTP, and one envelope shape for all."""

from __future__ import annotations

import io
import json
import re
import socket
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import new_key
from live_server import Credentials, LiveServer, Reply, b64

SAMPLES = "images/minivision-ai__Silent-Face-Anti-Spoofing/images/sample"
ENVELOPE_KEYS = {"code", "msg", "msg_cn", "success", "request_id", "data"}


def assert_envelope(reply: Reply, code: int, http: int) -> dict[str, Any]:
    assert reply.status == http, reply.body[:300]
    env = envelope_of(reply)
    assert env["code"] == code, env
    return env


def envelope_of(reply: Reply) -> dict[str, Any]:
    """The reply's envelope, after checking its shape for whatever code it carries."""
    assert reply.headers["content-type"].startswith("application/json")
    env = reply.json
    assert set(env) == ENVELOPE_KEYS
    code = env["code"]
    assert isinstance(code, int)
    assert env["success"] is (code == 200)
    assert isinstance(env["msg"], str) and env["msg"]
    assert isinstance(env["msg_cn"], str) and re.search("[\u4e00-\u9fff]", env["msg_cn"])
    assert isinstance(env["request_id"], str) and len(env["request_id"]) >= 16
    assert reply.headers["x-request-id"] == env["request_id"]
    if code in (200, 4004, 4005):
        data = env["data"]
        # The contract's three fields first, then facelive's extensions (docs/api.md).
        assert list(data)[:3] == ["liveness_score", "is_live", "risk_reason"]
        assert set(data) == {
            "liveness_score",
            "is_live",
            "risk_reason",
            "face",
            "image_width",
            "image_height",
        }
        x, y, w, h = data["face"]["box"]
        assert w > 0 and h > 0 and x < data["image_width"] and y < data["image_height"]
        assert len(data["face"]["landmarks"]) == 5
        assert 0.0 <= data["face"]["score"] <= 1.0
        assert 0.0 <= data["liveness_score"] <= 1.0
        assert data["is_live"] is (code == 200)
        assert isinstance(data["risk_reason"], str)
    else:
        assert env["data"] is None
    return env


def png(width: int, height: int, colour: int = 120) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height), colour).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def live_b64(fas_dev: Path) -> str:
    return b64((fas_dev / SAMPLES / "image_T1.jpg").read_bytes())


@pytest.fixture(scope="module")
def spoof_b64(fas_dev: Path) -> str:
    return b64((fas_dev / SAMPLES / "image_F2.jpg").read_bytes())


def raw_exchange(port: int, head: bytes, body_chunks: list[bytes], timeout: float = 10) -> bytes:
    """Send bytes on a raw socket and return what the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        for chunk in body_chunks:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
                if b"\r\n\r\n" in data and b'"request_id"' in data and data.rstrip().endswith(b"}"):
                    break
        except (ConnectionResetError, TimeoutError):
            pass
    return data


def parse_raw(data: bytes) -> Reply:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return Reply(status, headers, body)


class TestCodes:
    def test_200_live(self, server: LiveServer, creds: Credentials, live_b64: str) -> None:
        env = assert_envelope(server.check({"image_base64": live_b64}, creds), 200, 200)
        assert env["msg"] == "ok" and env["msg_cn"] == "成功"
        assert env["data"]["liveness_score"] > 0.8
        assert env["data"]["risk_reason"] == ""

    def test_4004_not_live_still_carries_the_score(
        self, server: LiveServer, creds: Credentials, spoof_b64: str
    ) -> None:
        env = assert_envelope(server.check({"image_base64": spoof_b64}, creds), 4004, 200)
        assert env["data"]["liveness_score"] < 0.8
        assert env["data"]["risk_reason"] == "spoof_suspected"

    def test_thresh_as_number_and_as_string(
        self, server: LiveServer, creds: Credentials, live_b64: str
    ) -> None:
        assert_envelope(server.check({"image_base64": live_b64, "thresh": 1}, creds), 4004, 200)
        env = assert_envelope(
            server.check({"image_base64": live_b64, "thresh": "0.5"}, creds), 200, 200
        )
        assert env["data"]["is_live"] is True

    def test_4005_too_poor_to_judge(
        self, server: LiveServer, creds: Credentials, fas_dev: Path
    ) -> None:
        frame = np.asarray(cv2.imread(str(fas_dev / SAMPLES / "image_T1.jpg")), np.float32)
        ok, dark = cv2.imencode(".png", (frame * 0.2).astype(np.uint8))
        assert ok
        payload = {"image_base64": b64(dark.tobytes()), "thresh": 1}
        env = assert_envelope(server.check(payload, creds), 4005, 200)
        assert "too_dark" in env["data"]["risk_reason"].split(",")
        assert "too poor to judge" in env["msg"]

    def test_4002_no_face(self, server: LiveServer, creds: Credentials) -> None:
        assert_envelope(server.check({"image_base64": b64(png(320, 240))}, creds), 4002, 200)

    @pytest.mark.parametrize(
        ("payload", "words"),
        [
            ({"image_base64": "!!!not base64!!!"}, "not valid base64"),
            ({"image_base64": b64(b"<html>hello</html>")}, "not a recognised image"),
            ({"image_base64": b64(png(14, 40))}, "width is 14 px, below the minimum of 15"),
            ({"image_base64": b64(png(40, 8193))}, "height is 8193 px, above the maximum of 8192"),
            ({}, "send image_base64 or image_url"),
            ({"image_base64": ""}, "send image_base64 or image_url"),
            ({"thresh": 0.5}, "send image_base64 or image_url"),
        ],
        ids=["bad-base64", "html", "too-small", "too-tall", "empty-body", "empty-b64", "no-img"],
    )
    def test_4001_bad_image(
        self, server: LiveServer, creds: Credentials, payload: dict[str, Any], words: str
    ) -> None:
        env = assert_envelope(server.check(payload, creds), 4001, 400)
        assert words in env["msg"]

    def test_4003_image_url_not_allowed(self, server: LiveServer, creds: Credentials) -> None:
        env = assert_envelope(
            server.check({"image_url": "http://127.0.0.1:9/x.jpg"}, creds), 4003, 400
        )
        assert "127.0.0.1" in env["msg"]

    @pytest.mark.parametrize(
        ("body", "words"),
        [
            (b"{not json", "not valid JSON"),
            (b"[1, 2, 3]", "must be a JSON object"),
            (b'"just a string"', "must be a JSON object"),
            (b"\xff\xfe\x00garbage", "not UTF-8"),
            (json.dumps({"image_base64": 123}).encode(), "image_base64 must be a string"),
            (json.dumps({"image_base64": "x", "thresh": 1.5}).encode(), "between 0 and 1"),
            (json.dumps({"image_base64": "x", "thresh": "abc"}).encode(), "between 0 and 1"),
            (json.dumps({"image_base64": "x", "thresh": True}).encode(), "between 0 and 1"),
            (json.dumps({"image_base64": "x", "thresh": [0.5]}).encode(), "between 0 and 1"),
            (b'{"image_base64": "x", "thresh": NaN}', "between 0 and 1"),
        ],
        ids=[
            "broken",
            "array",
            "string",
            "not-utf8",
            "b64-int",
            "thresh-1.5",
            "thresh-abc",
            "thresh-bool",
            "thresh-list",
            "thresh-nan",
        ],
    )
    def test_4006_malformed_parameters(
        self, server: LiveServer, creds: Credentials, body: bytes, words: str
    ) -> None:
        env = assert_envelope(server.check(body, creds), 4006, 400)
        assert words in env["msg"]

    def test_4010_missing_credentials(self, server: LiveServer) -> None:
        reply = server.request("POST", "/api/face_liveness/v1", b"{}", {})
        env = assert_envelope(reply, 4010, 401)
        assert "APPCODE" in env["msg"]

    def test_4011_stale_timestamp(self, server: LiveServer, creds: Credentials) -> None:
        import time

        from live_server import signed_headers

        stale = signed_headers(creds, int(time.time() * 1000) - 20 * 60 * 1000)
        reply = server.request("POST", "/api/face_liveness/v1", b"{}", stale)
        env = assert_envelope(reply, 4011, 401)
        assert "±300 s" in env["msg"]

    def test_4012_replay(self, server: LiveServer, creds: Credentials, live_b64: str) -> None:
        from live_server import signed_headers

        headers = {**signed_headers(creds), "Content-Type": "application/json"}
        body = json.dumps({"image_base64": live_b64}).encode()
        first = server.request("POST", "/api/face_liveness/v1", body, headers)
        assert_envelope(first, 200, 200)
        again = server.request("POST", "/api/face_liveness/v1", body, headers)
        assert_envelope(again, 4012, 401)

    def test_4029_rate_limit_with_retry_after(self, server: LiveServer) -> None:
        creds = new_key(server, "burst")
        codes = [server.check({}, creds).json["code"] for _ in range(60)]
        assert codes.count(4001) >= 40  # the burst is served
        assert 4029 in codes
        limited = server.check({}, creds)
        env = assert_envelope(limited, 4029, 429)
        assert int(limited.headers["retry-after"]) >= 1
        assert "rate limit" in env["msg"]

    def test_413_declared_oversize_body_is_refused_unread(
        self, server: LiveServer, creds: Credentials
    ) -> None:
        head = (
            "POST /api/face_liveness/v1 HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: APPCODE {creds.appcode}\r\nContent-Type: application/json\r\n"
            "Content-Length: 40000000\r\n\r\n"
        ).encode()
        reply = parse_raw(raw_exchange(server.port, head, []))  # the body is never sent
        env = assert_envelope(reply, 4001, 413)
        assert "larger than" in env["msg"]

    def test_413_streamed_oversize_body_is_cut_off(
        self, server: LiveServer, creds: Credentials
    ) -> None:
        head = (
            "POST /api/face_liveness/v1 HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: APPCODE {creds.appcode}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        ).encode()
        piece = b"A" * (1 << 20)
        chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        reply = parse_raw(raw_exchange(server.port, head, [chunk] * 40))
        assert_envelope(reply, 4001, 413)

    def test_image_over_20_mb_is_4001(self, server: LiveServer, creds: Credentials) -> None:
        big = b"\xff\xd8\xff" + b"\0" * (20 * 1024 * 1024 + 10)
        env = assert_envelope(server.check({"image_base64": b64(big)}, creds), 4001, 400)
        assert "20971520 bytes" in env["msg"]


def test_base64_variants_are_accepted(
    server: LiveServer, creds: Credentials, fas_dev: Path
) -> None:
    raw = (fas_dev / SAMPLES / "image_T1.jpg").read_bytes()
    plain = b64(raw)
    wrapped = "\r\n".join(plain[i : i + 76] for i in range(0, len(plain), 76))
    variants = {
        "data-url": "data:image/jpeg;base64," + plain,
        "mime-lines": wrapped,
        "no-padding": plain.rstrip("="),
        "url-safe": plain.replace("+", "-").replace("/", "_"),
    }
    for name, text in variants.items():
        env = server.check({"image_base64": text}, creds).json
        assert env["code"] == 200, name
    # Hand-built JSON with raw line breaks inside the string, as MSXML-based clients send it.
    body = ('{"image_base64":"' + wrapped.replace("\r\n", "\n") + '"}').encode()
    assert server.check(body, creds).json["code"] == 200


def test_both_image_fields_prefer_base64(
    server: LiveServer, creds: Credentials, live_b64: str
) -> None:
    payload = {"image_base64": live_b64, "image_url": "http://10.0.0.1/never-fetched.jpg"}
    assert server.check(payload, creds).json["code"] == 200


def test_wrong_method_and_unknown_path_get_envelopes(server: LiveServer) -> None:
    env = assert_envelope(server.request("GET", "/api/face_liveness/v1"), 4006, 405)
    assert "use POST" in env["msg"]
    env = assert_envelope(server.request("POST", "/api/nothing"), 4006, 404)
    assert "no such endpoint" in env["msg"]


def test_request_ids_are_unique(server: LiveServer) -> None:
    ids = {
        server.request("POST", "/api/face_liveness/v1", b"{}").json["request_id"] for _ in range(20)
    }
    assert len(ids) == 20
