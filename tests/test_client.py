"""facelive.client against the real server, and its retry rules against scripted fakes."""

from __future__ import annotations

import http.server
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import FrozenInstanceError, dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageOps

import facelive.client
from conftest import new_key
from facelive.client import (
    AuthenticationError,
    Client,
    ClientError,
    ClientTimeoutError,
    ImageError,
    ImageUrlError,
    InvalidRequestError,
    LivenessResult,
    NoFaceDetectedError,
    PoorQualityError,
    RateLimitedError,
    ServerError,
    TransportError,
    UnexpectedResponseError,
)
from live_server import Credentials, LiveServer

SAMPLES = "images/minivision-ai__Silent-Face-Anti-Spoofing/images/sample"


def client_for(server: LiveServer, creds: Credentials, mode: str, **kw: Any) -> Client:
    if mode == "appcode":
        return Client(server.base_url, appcode=creds.appcode, **kw)
    return Client(server.base_url, app_key=creds.app_key, app_secret=creds.app_secret, **kw)


@pytest.mark.parametrize("mode", ["appcode", "signed"])
def test_live_and_spoof_verdicts_in_both_modes(
    server: LiveServer, fas_dev: Path, spoof_jpeg: bytes, mode: str
) -> None:
    client = client_for(server, new_key(server, f"client-{mode}"), mode)
    live = client.check(fas_dev / SAMPLES / "image_T1.jpg")
    assert (live.code, live.is_live, live.risk_reason) == (200, True, "")
    assert live.liveness_score > 0.8
    assert len(live.request_id) == 32
    assert (live.msg, live.msg_cn) == ("ok", "成功")
    spoof = client.check(spoof_jpeg)
    assert (spoof.code, spoof.is_live, spoof.risk_reason) == (4004, False, "spoof_suspected")
    assert spoof.liveness_score <= 0.8
    with pytest.raises(FrozenInstanceError):
        spoof.is_live = True  # type: ignore[misc]


def test_path_as_str_bytes_and_url_give_the_same_score(
    server: LiveServer, creds: Credentials, fas_dev: Path, image_server: str
) -> None:
    client = client_for(server, creds, "appcode")
    path = fas_dev / SAMPLES / "image_T1.jpg"
    scores = {
        client.check(str(path)).liveness_score,
        client.check(path.read_bytes()).liveness_score,
        client.check(url=f"{image_server}/{SAMPLES}/image_T1.jpg").liveness_score,
    }
    assert len(scores) == 1


def test_thresh_is_sent(server: LiveServer, creds: Credentials, live_jpeg: bytes) -> None:
    client = client_for(server, creds, "signed")
    score = client.check(live_jpeg).liveness_score
    assert client.check(live_jpeg, thresh=score - 0.01).is_live is True
    strict = client.check(live_jpeg, thresh=min(score + 0.001, 1.0))
    assert (strict.is_live, strict.code) == (False, 4004)


def test_signed_requests_in_the_same_millisecond_do_not_collide(
    server: LiveServer, live_jpeg: bytes
) -> None:
    """The server accepts each (key, timestamp) signature once; the client must never repeat."""
    client = client_for(server, new_key(server, "client-burst"), "signed")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: client.check(live_jpeg), range(8)))
    assert [r.code for r in results] == [200] * 8
    assert len({r.request_id for r in results}) == 8


@pytest.mark.parametrize("mode", ["appcode", "signed"])
def test_bad_credentials_raise_authentication_error(
    server: LiveServer, creds: Credentials, live_jpeg: bytes, mode: str
) -> None:
    wrong = Credentials("nope", creds.app_key, "wrong-secret")
    with pytest.raises(AuthenticationError) as caught:
        client_for(server, wrong, mode).check(live_jpeg)
    error = caught.value
    assert (error.code, error.http_status) == (4010, 401)
    assert error.msg and error.msg_cn
    assert len(error.request_id) == 32


def no_face_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (128, 128, 128)).save(out, "JPEG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("kwargs", "kind", "code"),
    [
        ({"image": b"not an image"}, ImageError, 4001),
        ({"image": no_face_jpeg()}, NoFaceDetectedError, 4002),
        ({"url": "http://127.0.0.1:1/x.jpg"}, ImageUrlError, 4003),
        ({"image": b"x", "thresh": 1.5}, InvalidRequestError, 4006),
    ],
)
def test_request_errors_are_typed_by_code(
    server: LiveServer,
    creds: Credentials,
    kwargs: dict[str, Any],
    kind: type[ClientError],
    code: int,
) -> None:
    with pytest.raises(kind) as caught:
        client_for(server, creds, "appcode").check(**kwargs)
    assert type(caught.value) is kind
    assert caught.value.code == code
    assert caught.value.request_id


def test_too_dark_face_raises_poor_quality(
    server: LiveServer, creds: Credentials, fas_dev: Path
) -> None:
    """The recipe of test_api_codes: a live frame at 20 % brightness, judged with thresh 1."""
    upright = ImageOps.exif_transpose(Image.open(fas_dev / SAMPLES / "image_T1.jpg"))
    frame = upright.point(lambda v: int(v * 0.2))
    out = io.BytesIO()
    frame.save(out, "PNG")
    with pytest.raises(PoorQualityError) as caught:
        client_for(server, creds, "signed").check(out.getvalue(), thresh=1)
    assert caught.value.code == 4005
    assert "too_dark" in caught.value.reasons
    assert 0 <= caught.value.liveness_score <= 1


def test_missing_file_raises_before_any_request(server: LiveServer, creds: Credentials) -> None:
    with pytest.raises(FileNotFoundError):
        client_for(server, creds, "appcode").check("/nonexistent/face.jpg")


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"appcode": "a", "app_key": "k", "app_secret": "s"},
        {"app_key": "k"},
        {"appcode": "a", "timeout": 0},
        {"appcode": "a", "retries": -1},
    ],
)
def test_bad_client_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        Client("http://127.0.0.1:8080", **kwargs)


def test_base_url_forms_and_scheme() -> None:
    for base in ("http://h:1", "http://h:1/", "http://h:1/api/face_liveness/v1"):
        assert Client(base, appcode="a").url == "http://h:1/api/face_liveness/v1"
    with pytest.raises(ValueError, match="http"):
        Client("file:///etc/passwd", appcode="a")
    with pytest.raises(ValueError, match="exactly one"):
        Client("http://h:1", appcode="a").check(b"x", url="http://example.com/x.jpg")


# --- retries, against a scripted loopback server -------------------------------------------


def envelope(code: int, data: dict[str, Any] | None = None) -> bytes:
    return json.dumps(
        {"code": code, "msg": f"m{code}", "msg_cn": "中", "success": code == 200,
         "request_id": f"r{code}", "data": data}
    ).encode()  # fmt: skip


LIVE = envelope(200, {"liveness_score": 0.93, "is_live": True, "risk_reason": ""})


@dataclass
class Script:
    """Replies in order (status, body, headers); the last one repeats. Records each request."""

    replies: list[tuple[int, bytes, dict[str, str]]]
    seen: list[dict[str, str]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def scripted() -> Iterator[Script]:
    script = Script([])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            index = min(len(script.seen), len(script.replies) - 1)
            script.seen.append({k.lower(): v for k, v in self.headers.items()})
            status, body, headers = script.replies[index]
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    script.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield script
    httpd.shutdown()
    httpd.server_close()


def fast(url: str, **kw: Any) -> Client:
    return Client(url, app_key="k", app_secret="s", backoff=0.01, **kw)


@pytest.mark.parametrize(
    "failure",
    [
        (503, b"<html>overloaded</html>", {}),
        (503, b"", {"Retry-After": "0"}),
        (500, envelope(5000), {}),
    ],
)
def test_503_and_5000_are_retried_with_a_fresh_signature(
    scripted: Script, failure: tuple[int, bytes, dict[str, str]]
) -> None:
    scripted.replies = [failure, failure, (200, LIVE, {})]
    result = fast(scripted.url, retries=2).check(b"img")
    assert result == LivenessResult(0.93, True, "", "r200", 200, "m200", "中")
    assert len(scripted.seen) == 3
    stamps = [h["x-ca-timestamp"] for h in scripted.seen]
    assert len(set(stamps)) == 3
    assert len({h["x-ca-signature"] for h in scripted.seen}) == 3


def test_concurrent_signed_requests_never_share_a_timestamp(scripted: Script) -> None:
    """Against a fast fake many requests fall in one millisecond; each still gets its own."""
    scripted.replies = [(200, LIVE, {})]
    client = fast(scripted.url)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: client.check(b"img"), range(80)))
    stamps = [int(h["x-ca-timestamp"]) for h in scripted.seen]
    assert len(stamps) == len(set(stamps)) == 80
    assert abs(min(stamps) - time.time() * 1000) < 60_000


def test_retries_give_up_with_server_error(scripted: Script) -> None:
    scripted.replies = [(500, envelope(5000), {})]
    with pytest.raises(ServerError) as caught:
        fast(scripted.url, retries=3).check(b"img")
    assert (caught.value.code, caught.value.http_status) == (5000, 500)
    assert len(scripted.seen) == 4


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (401, 4010, AuthenticationError),
        (401, 4012, AuthenticationError),
        (400, 4001, ImageError),
        (400, 4006, InvalidRequestError),
        (200, 4002, NoFaceDetectedError),
        (400, 4099, ClientError),
    ],
)
def test_4xxx_is_never_retried(
    scripted: Script, status: int, code: int, kind: type[ClientError]
) -> None:
    scripted.replies = [(status, envelope(code), {}), (200, LIVE, {})]
    with pytest.raises(kind) as caught:
        fast(scripted.url, retries=2).check(b"img")
    assert type(caught.value) is kind
    assert (caught.value.code, caught.value.msg, caught.value.request_id) == (
        code,
        f"m{code}",
        f"r{code}",
    )
    assert len(scripted.seen) == 1


def test_rate_limit_raises_with_retry_after(scripted: Script) -> None:
    scripted.replies = [(429, envelope(4029), {"Retry-After": "7"}), (200, LIVE, {})]
    with pytest.raises(RateLimitedError) as caught:
        fast(scripted.url).check(b"img")
    assert (caught.value.code, caught.value.retry_after) == (4029, 7.0)
    assert len(scripted.seen) == 1


def test_poor_quality_raises_with_the_score(scripted: Script) -> None:
    data = {"liveness_score": 0.41, "is_live": False, "risk_reason": "too_dark,blurred"}
    scripted.replies = [(200, envelope(4005, data), {})]
    with pytest.raises(PoorQualityError) as caught:
        fast(scripted.url).check(b"img")
    assert caught.value.liveness_score == 0.41
    assert caught.value.reasons == ("too_dark", "blurred")
    assert len(scripted.seen) == 1


def test_extra_data_fields_are_kept(scripted: Script) -> None:
    data = {"liveness_score": 0.2, "is_live": False, "risk_reason": "spoof_suspected", "x": 1}
    scripted.replies = [(200, envelope(4004, data), {})]
    result = fast(scripted.url).check(b"img")
    assert (result.is_live, dict(result.extra)) == (False, {"x": 1})


def test_non_envelope_and_redirect_are_unexpected(scripted: Script) -> None:
    scripted.replies = [(404, b"<html>not here</html>", {})]
    with pytest.raises(UnexpectedResponseError, match="HTTP 404"):
        fast(scripted.url).check(b"img")
    scripted.replies = [(307, b"", {"Location": "http://elsewhere/"})]
    with pytest.raises(UnexpectedResponseError, match="HTTP 307"):
        fast(scripted.url).check(b"img")
    scripted.replies = [(200, envelope(200, None), {})]
    with pytest.raises(UnexpectedResponseError, match="without valid data") as caught:
        fast(scripted.url).check(b"img")
    assert caught.value.request_id == "r200"
    assert len(scripted.seen) == 3


@pytest.fixture
def raw_listener() -> Iterator[tuple[socket.socket, list[socket.socket]]]:
    """A loopback socket nobody answers on; accepted connections are kept open and counted."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield listener, accepted
    listener.close()
    for conn in accepted:
        conn.close()


def test_timeout_is_honoured_and_not_retried(
    raw_listener: tuple[socket.socket, list[socket.socket]],
) -> None:
    listener, accepted = raw_listener
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    started = time.monotonic()
    with pytest.raises(ClientTimeoutError):
        fast(url, timeout=0.5, retries=2).check(b"img")
    elapsed = time.monotonic() - started
    assert 0.4 < elapsed < 2.0
    assert len(accepted) == 1


def test_dropped_connections_are_retried() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    count = 0

    def drop() -> None:
        nonlocal count
        while True:
            try:
                conn = listener.accept()[0]
            except OSError:
                return
            count += 1
            conn.recv(65536)
            conn.close()

    threading.Thread(target=drop, daemon=True).start()
    try:
        with pytest.raises(TransportError) as caught:
            fast(f"http://127.0.0.1:{listener.getsockname()[1]}", retries=2).check(b"img")
    finally:
        listener.close()
    assert type(caught.value) is TransportError
    assert caught.value.code is None
    assert count == 3


def test_public_surface_is_pinned() -> None:
    assert facelive.client.__all__ == [
        "AuthenticationError",
        "Client",
        "ClientError",
        "ClientTimeoutError",
        "ImageError",
        "ImageUrlError",
        "InvalidRequestError",
        "LivenessResult",
        "NoFaceDetectedError",
        "PoorQualityError",
        "RateLimitedError",
        "ServerError",
        "TransportError",
        "UnexpectedResponseError",
    ]
