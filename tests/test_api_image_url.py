"""image_url over real HTTP: fetched from the allow-listed test host, refused elsewhere."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from conftest import IMAGE_HOST
from live_server import Credentials, LiveServer

SAMPLE = "images/minivision-ai__Silent-Face-Anti-Spoofing/images/sample/image_T1.jpg"


def test_allowed_url_is_fetched_and_judged(
    server: LiveServer, creds: Credentials, image_server: str
) -> None:
    env = server.check({"image_url": f"{image_server}/{SAMPLE}"}, creds).json
    assert env["code"] == 200
    assert env["data"]["is_live"] is True


def test_missing_remote_image_is_4003(
    server: LiveServer, creds: Credentials, image_server: str
) -> None:
    reply = server.check({"image_url": f"{image_server}/nothing.jpg"}, creds)
    assert (reply.status, reply.json["code"]) == (400, 4003)
    assert "404" in reply.json["msg"]


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1:8080/x.jpg", "127.0.0.1"),
        ("http://localhost/x.jpg", "127.0.0.1"),
        ("http://[::1]/x.jpg", "::1"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://10.1.2.3/x.jpg", "10.1.2.3"),
        ("http://192.168.0.10/x.jpg", "192.168.0.10"),
        ("http://2130706433/x.jpg", "127.0.0.1"),
        ("http://[::ffff:127.0.0.1]/x.jpg", "127.0.0.1"),
        ("http://0x7f000001/x.jpg", "127.0.0.1"),
        ("http://0177.0.0.1/x.jpg", "127.0.0.1"),
        ("http://0/x.jpg", "0.0.0.0"),
        ("http://167772161/x.jpg", "10.0.0.1"),
        ("http://[::ffff:a9fe:a9fe]/latest/meta-data/", "169.254.169.254"),
        ("gopher://127.0.0.2:70/_x", "gopher"),
        ("file:///etc/passwd", "file"),
        ("gopher://example.com/", "gopher"),
        ("ftp://example.com/x.jpg", "ftp"),
    ],
)
def test_internal_and_non_http_urls_are_refused(
    server: LiveServer, creds: Credentials, url: str, words: str
) -> None:
    reply = server.check({"image_url": url}, creds)
    assert (reply.status, reply.json["code"]) == (400, 4003), reply.json
    assert words in reply.json["msg"]
    assert reply.json["msg_cn"]


class _Redirect(http.server.BaseHTTPRequestHandler):
    target = "http://10.0.0.1/secret.jpg"

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.target)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Slow(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.end_headers()
        for _ in range(30):
            try:
                self.wfile.write(b"\xff")
                self.wfile.flush()
            except OSError:
                return
            time.sleep(0.5)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Hop(http.server.BaseHTTPRequestHandler):
    """``/to?URL`` redirects to URL."""

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.path.partition("?")[2])
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Endless(http.server.BaseHTTPRequestHandler):
    """A chunked body that never ends (1 GiB at most); ``sent`` counts what went out."""

    protocol_version = "HTTP/1.1"
    sent = 0

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"\xff" * 65536
        try:
            while _Endless.sent < 1 << 30:
                self.wfile.write(b"10000\r\n" + chunk + b"\r\n")
                _Endless.sent += len(chunk)
        except OSError:
            return

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer((IMAGE_HOST, 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://{IMAGE_HOST}:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def redirector() -> Iterator[str]:
    yield from _serve(_Redirect)


@pytest.fixture
def slow_server() -> Iterator[str]:
    yield from _serve(_Slow)


@pytest.fixture
def hop_server() -> Iterator[str]:
    yield from _serve(_Hop)


@pytest.fixture
def endless_server() -> Iterator[str]:
    _Endless.sent = 0
    yield from _serve(_Endless)


def test_redirect_into_the_private_network_is_refused(
    server: LiveServer, creds: Credentials, redirector: str
) -> None:
    reply = server.check({"image_url": f"{redirector}/photo.jpg"}, creds)
    assert reply.json["code"] == 4003
    assert "10.0.0.1" in reply.json["msg"]


def test_slow_url_does_not_stall_other_requests(
    server: LiveServer, creds: Credentials, slow_server: str
) -> None:
    results: list[int] = []

    def slow() -> None:
        results.append(server.check({"image_url": f"{slow_server}/x.jpg"}, creds).json["code"])

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    for _ in range(5):
        assert server.check({}, creds).json["code"] == 4001
    quick = time.monotonic() - started
    thread.join(timeout=30)
    assert results == [4003]  # cut off by the 2 s total fetch timeout of the test server
    assert quick < 1.5


def test_redirect_chain_to_an_odd_spelling_of_a_private_address_is_refused(
    server: LiveServer, creds: Credentials, hop_server: str
) -> None:
    url = f"{hop_server}/to?{hop_server}/to?http://167772161/x.jpg"
    reply = server.check({"image_url": url}, creds)
    assert (reply.status, reply.json["code"]) == (400, 4003)
    assert "10.0.0.1" in reply.json["msg"]


def test_endless_body_is_cut_off_and_the_server_carries_on(
    server: LiveServer, creds: Credentials, endless_server: str
) -> None:
    started = time.monotonic()
    reply = server.check({"image_url": f"{endless_server}/x.jpg"}, creds)
    # Cut at 20 MB (4001) or, on a slow machine, at the 2 s fetch timeout (4003).
    assert reply.json["code"] in (4001, 4003), reply.json
    assert time.monotonic() - started < 15
    assert _Endless.sent < 64 << 20  # of the 1 GiB on offer
    assert server.check({}, creds).json["code"] == 4001  # still serving
