"""Hostile requests over real HTTP: every one gets the contract's envelope (or, for HEAD, its
status and request id), never a bare 500, and the server is healthy after each.

What test_api_codes.py already covers is not repeated here: the declared and the streamed
oversize body (413), NaN / bool / list / "abc" thresholds, a non-UTF-8 body, GET.
"""

from __future__ import annotations

import io
import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from conftest import UNLIMITED, new_key, server_env
from facelive.api.request_body import max_body_bytes
from fuzzing import MB, PeakRss
from live_server import Credentials, LiveServer, Reply, b64, signed_headers
from test_api_codes import assert_envelope, parse_raw

BODY_TIMEOUT_S = 2
HEADER_TIMEOUT_S = 2
LIMIT = max_body_bytes(20 * 1024 * 1024)
PATH = "/api/face_liveness/v1"


@pytest.fixture(scope="module")
def hostile(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server that gives a request's headers HEADER_TIMEOUT_S and its body BODY_TIMEOUT_S
    seconds to arrive."""
    env = server_env(
        model_dir,
        FACELIVE_BODY_TIMEOUT_S=str(BODY_TIMEOUT_S),
        FACELIVE_HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S),
    )
    live = LiveServer(tmp_path_factory.mktemp("hostile"), env).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def key(hostile: LiveServer) -> Credentials:
    return new_key(hostile, "hostile", UNLIMITED)


@pytest.fixture(autouse=True)
def still_healthy(hostile: LiveServer) -> Iterator[None]:
    yield
    assert hostile.process is not None and hostile.process.poll() is None
    assert hostile.request("GET", "/healthz").json == {"status": "ok"}


@pytest.fixture(scope="module")
def photo(live_jpeg: bytes) -> str:
    return b64(live_jpeg)


def head(creds: Credentials | None, *lines: str) -> bytes:
    """A raw request head for the liveness endpoint, with ``lines`` as extra headers."""
    auth = [f"Authorization: APPCODE {creds.appcode}"] if creds else []
    text = "\r\n".join([f"POST {PATH} HTTP/1.1", "Host: x", *auth, *lines]) + "\r\n\r\n"
    return text.encode("latin-1")


def read_until_closed(sock: socket.socket, timeout: float = 15) -> bytes:
    """Everything the server sends until it closes the connection; fails if it does not."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the server kept the connection open; it sent {data[:300]!r}")
    return data


def send_raw(server: LiveServer, data: bytes) -> Reply:
    """Send ``data`` on a fresh connection; the answer, once the server has closed it."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(data)
        return parse_raw(read_until_closed(sock))


def body_with(photo: str, **fields: str) -> bytes:
    """A liveness body with ``fields`` given as raw JSON values after the photo."""
    rest = "".join(f',"{name}":{value}' for name, value in fields.items())
    return f'{{"image_base64":"{photo}"{rest}}}'.encode()


class TestBodies:
    def test_an_oversize_body_is_answered_at_once_and_the_connection_closed(
        self, hostile: LiveServer, key: Credentials
    ) -> None:
        reply = send_raw(hostile, head(key, f"Content-Length: {LIMIT + 1}") + b"A" * 65536)
        assert_envelope(reply, 4001, 413)
        assert reply.headers["connection"] == "close"

    def test_an_endless_chunked_body_is_cut_off_near_the_limit(
        self, hostile: LiveServer, key: Credentials
    ) -> None:
        piece = b"A" * MB
        chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        sent = 0
        with socket.create_connection(("127.0.0.1", hostile.port)) as sock:
            sock.sendall(head(key, "Transfer-Encoding: chunked"))

            def send_for_ever() -> None:
                nonlocal sent
                try:
                    while sent < 4 * LIMIT:
                        sock.sendall(chunk)
                        sent += len(chunk)
                except OSError:
                    pass  # the server closed the connection

            sender = threading.Thread(target=send_for_ever, daemon=True)
            sender.start()
            reply = parse_raw(read_until_closed(sock, timeout=60))
            sender.join(timeout=30)
        assert_envelope(reply, 4001, 413)
        # What was sent beyond the limit is what the sockets' buffers held, never the rest.
        assert sent < LIMIT + 32 * MB, sent

    def test_an_unauthenticated_body_is_never_read(self, hostile: LiveServer) -> None:
        reply = send_raw(hostile, head(None, "Content-Length: 10000000") + b'{"image_base64":"')
        assert_envelope(reply, 4010, 401)
        assert reply.headers["connection"] == "close"

    def test_a_refused_client_still_writing_its_body_reads_the_answer(
        self, hostile: LiveServer
    ) -> None:
        """A client that writes its whole body before it reads (Java's HttpClient) is refused
        after the head; the server must read and drop the rest of an acceptable body before
        it closes, or the client's writes fail and the reset drops the answer unread."""
        body = b'{"image_base64":"' + b"A" * 60_000 + b'"}'
        with socket.create_connection(("127.0.0.1", hostile.port)) as sock:
            sock.sendall(head(None, f"Content-Length: {len(body)}"))
            time.sleep(0.3)  # the refusal is sent while the body is still on its way
            for start in range(0, len(body), 4096):
                sock.sendall(body[start : start + 4096])  # no broken pipe, no reset
                time.sleep(0.02)
            reply = parse_raw(read_until_closed(sock))
        assert_envelope(reply, 4010, 401)
        assert reply.headers["connection"] == "close"

    @pytest.mark.parametrize("framing", ["Content-Length: 100000", "Transfer-Encoding: chunked"])
    def test_a_trickling_body_is_timed_out(
        self, hostile: LiveServer, key: Credentials, framing: str
    ) -> None:
        """A byte every 0.2 s: never idle, so only a total body timeout stops it."""
        byte = b"1\r\n{\r\n" if "chunked" in framing else b"{"
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", hostile.port)) as sock:
            sock.sendall(head(key, framing))
            # Generous: the point is that it ends, not how fast.
            while time.monotonic() - started < BODY_TIMEOUT_S + 20:
                if select.select([sock], [], [], 0.2)[0]:
                    break
                try:
                    sock.sendall(byte)
                except OSError:
                    break
            reply = parse_raw(read_until_closed(sock))
        env = assert_envelope(reply, 4006, 408)
        assert f"did not arrive within {BODY_TIMEOUT_S} s" in env["msg"]
        assert "秒" in env["msg_cn"]
        assert reply.headers["connection"] == "close"
        assert time.monotonic() - started < BODY_TIMEOUT_S + 20

    def test_a_client_that_leaves_mid_body_is_no_internal_error(
        self, hostile: LiveServer, key: Credentials
    ) -> None:
        with socket.create_connection(("127.0.0.1", hostile.port)) as sock:
            sock.sendall(head(key, "Content-Length: 100000") + b'{"image_base64":"')
        deadline = time.monotonic() + 10
        while b'code="4006"' not in hostile.request("GET", "/metrics").body:
            assert time.monotonic() < deadline, "the abandoned request was never answered"
            time.sleep(0.1)
        assert b'code="5000"' not in hostile.request("GET", "/metrics").body
        assert "internal error" not in hostile.log_path.read_text()


class TestSlowHeaders:
    """uvicorn alone keeps a connection whose headers never finish open for ever."""

    def test_a_connection_that_sends_nothing_is_closed_at_the_deadline(
        self, hostile: LiveServer
    ) -> None:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", hostile.port)) as sock:
            assert read_until_closed(sock, timeout=HEADER_TIMEOUT_S + 20) == b""
        assert time.monotonic() - started >= HEADER_TIMEOUT_S - 0.5

    def test_headers_trickled_a_byte_at_a_time_are_cut_off(
        self, hostile: LiveServer, key: Credentials
    ) -> None:
        """A byte every 0.2 s: never idle, so only a total deadline stops it."""
        started = time.monotonic()
        received = b""
        with socket.create_connection(("127.0.0.1", hostile.port)) as sock:
            for byte in head(key, "Content-Length: 2") * 100:
                if select.select([sock], [], [], 0.2)[0]:
                    received = read_until_closed(sock)
                    break
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    break
            else:
                pytest.fail("the server kept waiting for the headers")
        assert received == b""  # no request yet, so nothing to answer
        elapsed = time.monotonic() - started
        assert HEADER_TIMEOUT_S - 0.5 <= elapsed < HEADER_TIMEOUT_S + 20

    def test_headers_in_pieces_within_the_deadline_are_served(self, hostile: LiveServer) -> None:
        with socket.create_connection(("127.0.0.1", hostile.port)) as sock:
            for piece in (
                b"GET /healthz HTTP/1.1\r\n",
                b"Host: x\r\n",
                b"Connection: close\r\n\r\n",
            ):
                sock.sendall(piece)
                time.sleep(HEADER_TIMEOUT_S / 5)
            reply = parse_raw(read_until_closed(sock))
        assert reply.status == 200
        assert json.loads(reply.body) == {"status": "ok"}

    def test_a_kept_alive_connection_gets_the_whole_deadline_after_each_answer(
        self, hostile: LiveServer, key: Credentials, photo: str
    ) -> None:
        """The deadline stops while a request is judged and starts again after its answer."""
        body = body_with(photo)
        request = head(key, f"Content-Length: {len(body)}") + body
        with socket.create_connection(("127.0.0.1", hostile.port)) as sock:
            sock.settimeout(30)
            for _ in range(3):
                time.sleep(HEADER_TIMEOUT_S * 0.6)  # 3 x 0.6: longer than one deadline in all
                sock.sendall(request)
                assert_envelope(read_reply(sock), 200, 200)
            idle = time.monotonic()
            assert read_until_closed(sock, timeout=HEADER_TIMEOUT_S + 20) == b""
        assert time.monotonic() - idle >= HEADER_TIMEOUT_S - 0.5


def read_reply(sock: socket.socket) -> Reply:
    """One answer with a Content-Length from a connection that stays open."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed after {data[:300]!r}"
        data += chunk
    reply = parse_raw(data)
    body = reply.body
    while len(body) < int(reply.headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "the connection closed mid-answer"
        body += chunk
    return Reply(reply.status, reply.headers, body)


class TestJson:
    @pytest.mark.parametrize("depth", [5000, 200_000])
    def test_deeply_nested_json(self, hostile: LiveServer, key: Credentials, depth: int) -> None:
        body = b'{"image_base64":"x","a":' + b"[" * depth + b"]" * depth + b"}"
        env = assert_envelope(hostile.check(body, key), 4006, 400)
        assert "JSON" in env["msg"]

    @pytest.mark.parametrize("kind", ["2M-keys", "3M-objects"])
    def test_huge_json_is_refused_before_it_is_parsed(
        self, hostile: LiveServer, key: Credentials, kind: str
    ) -> None:
        if kind == "2M-keys":
            value = b"{" + b",".join(b'"k%d":0' % i for i in range(2_000_000)) + b"}"
        else:
            value = b'{"a":[' + b",".join([b"{}"] * 3_000_000) + b"]}"
        assert len(value) > 8 * MB
        peak = PeakRss(hostile.process.pid if hostile.process else 0)
        peak.reset()
        env = assert_envelope(hostile.check(value, key), 4006, 400)
        assert "too many JSON fields" in env["msg"]
        # The body itself, read and joined; parsed, 2M keys took 340 MB and a second.
        assert peak.growth_mb < 150, peak.growth_mb

    @pytest.mark.parametrize(
        ("thresh", "code"),
        [
            ("Infinity", 4006),
            ("-Infinity", 4006),
            ("1e400", 4006),
            ("1" + "0" * 400, 4006),
            ('"NaN"', 4006),
            ('"inf"', 4006),
            ('""', 4006),
            ("{}", 4006),
            ('{"value":0.5}', 4006),
            ('"1' + "0" * 5000 + '"', 4006),
            ('" 0.5 "', 200),
            ("-0.0", 200),
            ("null", 200),
        ],
        ids=[
            "Infinity",
            "-Infinity",
            "1e400",
            "int-401-digits",
            "str-NaN",
            "str-inf",
            "str-empty",
            "object",
            "object-value",
            "str-5001-digits",
            "str-spaces",
            "minus-zero",
            "null",
        ],
    )
    def test_odd_thresholds(
        self, hostile: LiveServer, key: Credentials, photo: str, thresh: str, code: int
    ) -> None:
        env = assert_envelope(
            hostile.check(body_with(photo, thresh=thresh), key), code, 400 if code != 200 else 200
        )
        if code == 4006:
            assert "thresh must be a number between 0 and 1" in env["msg"]

    def test_a_number_of_5000_digits_anywhere(
        self, hostile: LiveServer, key: Credentials, photo: str
    ) -> None:
        """Python refuses to read integers over 4300 digits: that was a 5000."""
        env = assert_envelope(hostile.check(body_with(photo, n="7" * 5000), key), 4006, 400)
        assert "too many digits" in env["msg"]

    @pytest.mark.parametrize(
        ("body", "code", "words"),
        [
            (b'{"image_base64":"\xff\xfe\xfd"}', 4006, "not UTF-8"),
            (b'{"image_base64":"\xc0\xaf"}', 4006, "not UTF-8"),
            (b'{"image_base64":"\\ud800\\udfff\\ud800"}', 4001, "not valid base64"),
            (b'{"image_url":"http://\xe4\xbe\x8b\xe5\xad\x90.test/\x00"}', 4003, "image_url"),
        ],
        ids=["bytes-ff", "overlong", "lone-surrogates", "nul-in-url"],
    )
    def test_bad_text_inside_json(
        self, hostile: LiveServer, key: Credentials, body: bytes, code: int, words: str
    ) -> None:
        env = assert_envelope(hostile.check(body, key), code, 400)
        assert words in env["msg"]

    def test_duplicated_keys_the_last_one_wins(
        self, hostile: LiveServer, key: Credentials, photo: str
    ) -> None:
        body = body_with(photo, image_base64='"!!"')
        assert_envelope(hostile.check(body, key), 4001, 400)  # the second image_base64
        both = f'{{"image_base64":"!!","thresh":2,"image_base64":"{photo}","thresh":0.5}}'
        env = assert_envelope(hostile.check(both.encode(), key), 200, 200)
        assert env["data"]["is_live"] is True


class TestHeaders:
    @pytest.mark.parametrize(
        "content_type",
        [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json; charset=GBK",
            "APPLICATION/JSON",
            "image/jpeg",
            None,
        ],
    )
    def test_any_content_type_is_read_as_json(
        self, hostile: LiveServer, key: Credentials, photo: str, content_type: str | None
    ) -> None:
        lines = [f"Content-Type: {content_type}"] if content_type else []
        body = body_with(photo)
        framing = (f"Content-Length: {len(body)}", "Connection: close")
        reply = send_raw(hostile, head(key, *lines, *framing) + body)
        assert_envelope(reply, 200, 200)

    def test_a_form_body_is_not_json(
        self, hostile: LiveServer, key: Credentials, photo: str
    ) -> None:
        form = f"image_base64={photo}&thresh=0.5".encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        env = assert_envelope(hostile.check(form, key, headers=headers), 4006, 400)
        assert "not valid JSON" in env["msg"]

    def test_odd_case_and_spaces_in_header_names_and_values(
        self, hostile: LiveServer, key: Credentials, photo: str
    ) -> None:
        body = body_with(photo)
        lines = [
            f"aUtHoRiZaTiOn:    appcode    {key.appcode}   ",
            "cOnTeNt-TyPe:application/json",
            f"CONTENT-LENGTH:   {len(body)}  ",
            "Connection: close",
        ]
        reply = send_raw(hostile, head(None, *lines) + body)
        assert_envelope(reply, 200, 200)

    def test_odd_case_and_spaces_in_signed_headers(
        self, hostile: LiveServer, key: Credentials, photo: str
    ) -> None:
        signed = signed_headers(key)
        body = body_with(photo)
        lines = [
            f"X-CA-KEY:   {signed['x-ca-key']}  ",
            f"x-Ca-TimeStamp:\t{signed['x-ca-timestamp']}",
            f"X-Ca-Signature: {signed['x-ca-signature'].upper()} ",
            f"Content-Length: {len(body)}",
            "Connection: close",
        ]
        reply = send_raw(hostile, head(None, *lines) + body)
        assert_envelope(reply, 200, 200)

    @pytest.mark.parametrize("value", [b"APPCODE \xff\xfe\x80", b"\xe4\xbd\xa0\xe5\xa5\xbd"])
    def test_non_ascii_credentials(self, hostile: LiveServer, value: bytes) -> None:
        raw = f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n".encode()
        reply = send_raw(
            hostile, raw + b"Authorization: " + value + b"\r\nConnection: close\r\n\r\n{}"
        )
        assert_envelope(reply, 4010, 401)

    @pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"])
    def test_methods_other_than_post(
        self, hostile: LiveServer, key: Credentials, method: str
    ) -> None:
        reply = hostile.request(method, PATH, b"{}", {"Authorization": f"APPCODE {key.appcode}"})
        env = assert_envelope(reply, 4006, 405)
        assert f"method {method} is not allowed here; use POST" in env["msg"]
        assert method in env["msg_cn"]

    def test_head_gets_405_with_a_request_id_and_no_body(self, hostile: LiveServer) -> None:
        reply = hostile.request("HEAD", PATH)
        assert reply.status == 405
        assert reply.body == b""
        assert len(reply.headers["x-request-id"]) == 32


def _png(mode: str, side: int) -> bytes:
    out = io.BytesIO()
    Image.new(mode, (side, side), 128 if mode == "L" else (128, 128, 128, 0)).save(
        out, "PNG", optimize=True
    )
    return out.getvalue()


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_a_50_megapixel_png_of_100_kb_is_decoded_within_bounded_memory(
    hostile: LiveServer, key: Credentials, mode: str
) -> None:
    """7100 x 7100 is within the contract's 8192 px a side, so it is decoded (docs/api.md):
    two to two and a half times its decoded size (151 MB) at the peak, under three."""
    data = _png(mode, 7100)
    assert len(data) < 300_000
    peak = PeakRss(hostile.process.pid if hostile.process else 0)
    peak.reset()
    reply = hostile.check({"image_base64": b64(data)}, key)
    env = assert_envelope(reply, 4002, 200)
    assert env["msg"] == "no face detected in the image"
    decoded_mb = 7100 * 7100 * 3 // MB
    assert peak.growth_mb < 3 * decoded_mb, peak.growth_mb


def test_answers_stay_json_envelopes_after_all_this(
    hostile: LiveServer, key: Credentials, photo: str
) -> None:
    env = assert_envelope(hostile.check({"image_base64": photo}, key), 200, 200)
    assert json.loads(hostile.request("GET", "/readyz").body)["status"] == "ready"
    assert env["data"]["liveness_score"] > 0.8
