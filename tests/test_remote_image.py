"""``image_url`` fetching: address policy, rebinding, redirects, size and time limits.

Every server here is a throw-away one on 127.0.0.1; refused addresses are never connected
to (a spy on urllib3's ``create_connection`` proves it), so nothing leaves the machine.
"""

from __future__ import annotations

import base64
import datetime
import http.server
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import urllib3.util.connection
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from facelive.errors import BadImageError, ImageFetchError
from facelive.remote_image import UrlPolicy, fetch_image

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
LOOPBACK_ONLY = UrlPolicy.from_allowlist("127.0.0.1")
MiB = 1024 * 1024


class Handler(http.server.BaseHTTPRequestHandler):
    """Routes: /png, /hops/N (N redirects, then the PNG), /to?URL, /a/b/rel, /no-location,
    /big-declared, /forever, /trickle, /slow-headers, /gigabyte, /chunked-forever,
    /huge-chunk, /chunked-trickle, /endless-headers, /endless-header-line; else 404."""

    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.hosts.append(self.headers.get("Host", ""))
        path, _, query = self.path.partition("?")
        if path == "/png":
            self.reply(200, PNG, {"Content-Type": "image/png"})
        elif path.startswith("/hops/"):
            left = int(path.removeprefix("/hops/"))
            target = f"/hops/{left - 1}" if left > 1 else "/png"
            self.reply(302, b"", {"Location": target})
        elif path == "/to":
            self.reply(302, b"", {"Location": query})
        elif path == "/a/b/rel":
            self.reply(301, b"", {"Location": "../../png"})
        elif path == "/no-location":
            self.reply(302, b"", {})
        elif path == "/big-declared":
            self.reply(200, b"x" * 1000, {"Content-Length": str(10 * MiB)})
        elif path == "/forever":
            self.stream_forever()
        elif path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.trickle(b"x" * 1000)
        elif path == "/slow-headers":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Pad: ")
            self.trickle(b"a" * 1000)
        elif path == "/gigabyte":  # honestly declared, and really sent if read
            self.send_response(200)
            self.send_header("Content-Length", str(1024 * MiB))
            self.end_headers()
            self.stream(lambda data: data)
        elif path == "/chunked-forever":  # 64 KiB chunks, never a last chunk
            self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            self.stream(lambda data: b"%x\r\n%s\r\n" % (len(data), data))
        elif path == "/huge-chunk":  # one chunk that says it is 1 GiB long
            self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            self.wfile.write(b"%x\r\n" % (1024 * MiB))
            self.stream(lambda data: data)
        elif path == "/chunked-trickle":  # a 1-byte chunk every 50 ms, never a last chunk
            self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            self.trickle(b"1\r\nx\r\n" * 1000, step=7)
        elif path == "/endless-headers":  # header lines as fast as the client reads them
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            self.stream(lambda data: b"X-Pad: a\r\n" * 4096)
        elif path == "/endless-header-line":  # one header line that never ends
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Pad: ")
            self.stream(lambda data: b"a" * len(data))
        else:
            self.reply(404, b"not here", {})

    def reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        headers.setdefault("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def stream_forever(self) -> None:
        # HTTP/1.0 with no Content-Length: the body ends only when the server closes.
        self.send_response(200)
        self.end_headers()
        self.stream(lambda data: data)

    def stream(self, frame: Callable[[bytes], bytes]) -> None:
        """Writes ``frame(64 KiB)`` until 1 GiB of payload is out or the client hangs up."""
        chunk = b"x" * 65536
        try:
            while self.server.streamed < 1024 * MiB:
                self.wfile.write(frame(chunk))
                self.server.streamed += len(chunk)
        except OSError:
            pass
        finally:
            self.server.stream_done.set()

    def trickle(self, data: bytes, step: int = 1) -> None:
        try:
            for i in range(0, len(data), step):
                self.wfile.write(data[i : i + step])
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.hosts: list[str] = []
        self.streamed = 0
        self.stream_done = threading.Event()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients here hang up early on purpose


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every (address, port) urllib3 opens a socket to, in order."""
    seen: list[tuple[str, int]] = []
    real = urllib3.util.connection.create_connection

    def spy(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        seen.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", spy)
    return seen


FakeDns = Callable[[str, list[str]], list[str]]


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    """``fake_dns(name, answers)`` makes the n-th lookup of ``name`` return answers[n] (the
    last one repeats); an answer lists addresses joined by commas, "" means NXDOMAIN.
    Returns the list of fake names looked up. Other names resolve for real.
    """
    real = socket.getaddrinfo
    lookups: list[str] = []
    table: dict[str, list[str]] = {}

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in table:
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        answers = table[host]
        answer = answers[min(lookups.count(host), len(answers)) - 1]
        if not answer:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in ip else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (ip, port),
            )
            for ip in answer.split(",")
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def register(name: str, answers: list[str]) -> list[str]:
        table[name] = answers
        return lookups

    return register


def refused(url: str, policy: UrlPolicy = LOOPBACK_ONLY) -> ImageFetchError:
    with pytest.raises(ImageFetchError) as info:
        fetch_image(url, policy)
    err = info.value
    assert err.code == 4003
    assert err.msg_cn != ImageFetchError.default_msg_cn, "every refusal says why in Chinese too"
    return err


# --- a normal fetch -------------------------------------------------------------------------


def test_fetches_a_png_from_an_allow_listed_server(
    server: Server, connects: list[tuple[str, int]]
) -> None:
    assert fetch_image(server.url("/png"), LOOPBACK_ONLY) == PNG
    assert server.hosts == [f"127.0.0.1:{server.port}"]
    assert connects == [("127.0.0.1", server.port)]


def test_scheme_is_case_insensitive(server: Server) -> None:
    url = f"HTTP://127.0.0.1:{server.port}/png"
    assert fetch_image(url, LOOPBACK_ONLY) == PNG


def test_allow_hosts_opens_a_name_that_resolves_to_loopback(
    server: Server, fake_dns: FakeDns
) -> None:
    fake_dns("images.test", ["127.0.0.1"])
    url = f"http://images.test:{server.port}/png"
    policy = UrlPolicy(allow_hosts=frozenset({"images.test"}))
    assert fetch_image(url, policy) == PNG
    assert server.hosts == [f"images.test:{server.port}"]
    err = refused(url, UrlPolicy())
    assert err.msg == "image_url resolves to 127.0.0.1, a loopback address, which is not allowed"


# --- addresses that are not public ----------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "address", "kind"),
    [
        ("127.0.0.1", "127.0.0.1", "loopback"),
        ("localhost", "", "loopback"),
        ("[::1]", "::1", "loopback"),
        ("169.254.169.254", "169.254.169.254", "link-local"),
        ("10.0.0.1", "10.0.0.1", "private"),
        ("192.168.1.1", "192.168.1.1", "private"),
        ("172.16.0.1", "172.16.0.1", "private"),
        ("[::ffff:127.0.0.1]", "127.0.0.1", "loopback"),
        ("[::ffff:10.0.0.1]", "10.0.0.1", "private"),
        ("2130706433", "127.0.0.1", "loopback"),
        ("0177.0.0.1", "127.0.0.1", "loopback"),
        ("127.1", "127.0.0.1", "loopback"),
        ("0x7f.0.0.1", "127.0.0.1", "loopback"),
        ("0x7f.1", "127.0.0.1", "loopback"),
        ("0x7f000001", "127.0.0.1", "loopback"),
        ("017700000001", "127.0.0.1", "loopback"),
        ("0", "0.0.0.0", "unspecified"),
        ("167772161", "10.0.0.1", "private"),
        ("0x0a.0.0.1", "10.0.0.1", "private"),
        ("0300.0250.0.1", "192.168.0.1", "private"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254", "link-local"),
        ("[::ffff:7f00:1]", "127.0.0.1", "loopback"),
        ("[0:0:0:0:0:ffff:127.0.0.1]", "127.0.0.1", "loopback"),
        ("[::ffff:a9fe:a9fe]", "169.254.169.254", "link-local"),
        ("[::127.0.0.1]", "::7f00:1", "reserved"),
        ("0.0.0.0", "0.0.0.0", "unspecified"),
        ("224.0.0.1", "224.0.0.1", "multicast"),
        ("100.64.0.1", "100.64.0.1", "non-public"),
        ("[fe80::1]", "fe80::1", "link-local"),
        ("[fc00::1]", "fc00::1", "private"),
        ("[fec0::1]", "fec0::1", "site-local"),
        ("[2002:7f00:1::]", "2002:7f00:1::", "loopback (embedded 127.0.0.1)"),
        ("[64:ff9b::a9fe:a9fe]", "64:ff9b::a9fe:a9fe", "link-local (embedded 169.254.169.254)"),
    ],
)
def test_non_public_addresses_are_refused_before_connecting(
    host: str, address: str, kind: str, connects: list[tuple[str, int]]
) -> None:
    err = refused(f"http://{host}:8080/x.png", UrlPolicy())
    assert f"resolves to {address}" in err.msg
    assert f"{kind} address, which is not allowed" in err.msg
    assert "不允许访问" in err.msg_cn
    assert connects == []


def test_ipv4_allow_list_does_not_open_other_loopback_addresses(
    connects: list[tuple[str, int]],
) -> None:
    err = refused("http://127.0.0.2:8080/", LOOPBACK_ONLY)
    assert "127.0.0.2, a loopback address" in err.msg
    assert connects == []


def test_private_address_message_in_both_languages() -> None:
    err = refused("http://10.0.0.5/", UrlPolicy())
    assert err.msg == "image_url resolves to 10.0.0.5, a private address, which is not allowed"
    assert err.msg_cn == "图片URL解析到私有地址10.0.0.5，不允许访问"


def test_one_bad_address_among_good_ones_refuses(
    fake_dns: FakeDns, connects: list[tuple[str, int]]
) -> None:
    # A name with a public and a private record: refusing only some would be a coin toss.
    fake_dns("mixed.test", ["93.184.216.34,192.168.0.7"])
    err = refused("http://mixed.test/", UrlPolicy())
    assert "192.168.0.7, a private address" in err.msg
    assert connects == []


@pytest.mark.parametrize(
    ("answer", "address", "kind"),
    [
        ("10.0.0.1", "10.0.0.1", "a private"),
        ("127.0.0.1", "127.0.0.1", "a loopback"),
        ("::ffff:127.0.0.1", "127.0.0.1", "a loopback"),
        ("::ffff:10.0.0.1", "10.0.0.1", "a private"),
        ("::1", "::1", "a loopback"),
        ("169.254.169.254", "169.254.169.254", "a link-local"),
        ("fd12:3456::1", "fd12:3456::1", "a private"),
        ("0.0.0.0", "0.0.0.0", "an unspecified"),
    ],
)
def test_public_looking_name_that_resolves_inside_is_refused(
    answer: str, address: str, kind: str, fake_dns: FakeDns, connects: list[tuple[str, int]]
) -> None:
    # What an attacker's DNS answers for a name of their own; no real lookup is made.
    lookups = fake_dns("images.example.com", [answer])
    err = refused("http://images.example.com/face.jpg", UrlPolicy())
    assert err.msg == f"image_url resolves to {address}, {kind} address, which is not allowed"
    assert lookups == ["images.example.com"]
    assert connects == []


def test_unresolvable_host_is_refused(fake_dns: FakeDns) -> None:
    fake_dns("nowhere.test", [""])
    err = refused("http://nowhere.test/", UrlPolicy())
    assert err.msg == "image_url host nowhere.test could not be resolved"
    assert err.msg_cn == "图片URL主机名nowhere.test无法解析"


# --- URLs refused on sight ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("file:///etc/passwd", "file"),
        ("gopher://x/", "gopher"),
        ("ftp://x/a.png", "ftp"),
        ("data:image/png;base64,iVBORw0KGgo=", "data"),
        ("javascript:alert(1)", "javascript"),
    ],
)
def test_other_schemes_are_refused(url: str, scheme: str) -> None:
    err = refused(url)
    assert err.msg == f"image_url scheme {scheme!r} is not allowed; only http and https are"
    assert scheme in err.msg_cn


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("127.0.0.1/x.png", "has no scheme"),
        ("//127.0.0.1/x.png", "has no scheme"),
        ("http://user:pass@127.0.0.1/", "user name or password"),
        ("http://user@127.0.0.1/", "user name or password"),
        ("http:///x.png", "has no host"),
        ("http://127.0.0.1:99999/", "not a valid URL"),
        ("http://127.0.0.1:0/", "port 0"),
        ("http://[::1/", "not a valid URL"),
        ("http://bad%2fhost/", "not a valid host name"),
        ("http://a..b/", "not a valid host name"),
        ("http://127.0.0.1/a b", "whitespace or control characters"),
        ("http://127.0.0.1/\nHost: x", "whitespace or control characters"),
        ("http://example.com/" + "a" * 2048, "longer than 2048 characters"),
    ],
)
def test_malformed_urls_are_refused(
    url: str, message: str, connects: list[tuple[str, int]]
) -> None:
    assert message in refused(url).msg
    assert connects == []


# --- DNS rebinding --------------------------------------------------------------------------


def test_connects_to_the_address_that_was_checked(
    server: Server, fake_dns: FakeDns, connects: list[tuple[str, int]]
) -> None:
    # Any later lookup would say 10.0.0.1; the fetch must not make one.
    lookups = fake_dns("rebind.test", ["127.0.0.1", "10.0.0.1"])
    assert fetch_image(f"http://rebind.test:{server.port}/png", LOOPBACK_ONLY) == PNG
    assert lookups == ["rebind.test"]
    assert connects == [("127.0.0.1", server.port)]
    assert server.hosts == [f"rebind.test:{server.port}"]


def test_every_redirect_hop_is_resolved_and_checked_again(
    server: Server, fake_dns: FakeDns, connects: list[tuple[str, int]]
) -> None:
    lookups = fake_dns("rebind.test", ["127.0.0.1", "10.0.0.1"])
    url = f"http://rebind.test:{server.port}/to?http://rebind.test:{server.port}/png"
    err = refused(url)
    assert "resolves to 10.0.0.1, a private address" in err.msg
    assert lookups == ["rebind.test", "rebind.test"]
    assert connects == [("127.0.0.1", server.port)]


# --- redirects ------------------------------------------------------------------------------


def test_redirect_to_a_private_address_is_refused_before_connecting(
    server: Server, connects: list[tuple[str, int]]
) -> None:
    err = refused(server.url("/to?http://10.0.0.1/latest/meta-data"))
    assert err.msg == "image_url resolves to 10.0.0.1, a private address, which is not allowed"
    assert connects == [("127.0.0.1", server.port)]


def test_redirect_to_another_scheme_is_refused(server: Server) -> None:
    err = refused(server.url("/to?file:///etc/passwd"))
    assert "scheme 'file' is not allowed" in err.msg


@pytest.mark.parametrize(
    ("target", "address"),
    [
        ("http://10.0.0.1/", "10.0.0.1"),
        ("http://167772161/", "10.0.0.1"),
        ("http://0x0a.0.0.1/", "10.0.0.1"),
        ("http://0300.0250.0.1/", "192.168.0.1"),
        ("http://0xa9.0xfe.0xa9.0xfe/latest/meta-data/", "169.254.169.254"),
        ("http://[::ffff:a9fe:a9fe]/latest/meta-data/", "169.254.169.254"),
        ("http://127.0.0.2/", "127.0.0.2"),  # loopback, but not the allow-listed address
        ("http://0/", "0.0.0.0"),
        ("http://internal.example.com/", "192.168.7.7"),  # a name that resolves inside
    ],
)
def test_redirect_chain_into_the_private_network_is_refused_before_connecting(
    server: Server,
    fake_dns: FakeDns,
    connects: list[tuple[str, int]],
    target: str,
    address: str,
) -> None:
    fake_dns("internal.example.com", ["192.168.7.7"])
    # Two hops on the allow-listed server, then the target.
    url = server.url("/to?" + server.url("/to?" + target))
    err = refused(url)
    assert f"image_url resolves to {address}, a" in err.msg
    assert connects == [("127.0.0.1", server.port)] * 2


@pytest.mark.parametrize(
    ("target", "scheme"),
    [
        ("gopher://127.0.0.1:6379/_FLUSHALL", "gopher"),
        ("dict://127.0.0.1:11211/stats", "dict"),
        ("file:/etc/passwd", "file"),
    ],
)
def test_redirect_chain_to_another_scheme_is_refused(
    server: Server, connects: list[tuple[str, int]], target: str, scheme: str
) -> None:
    err = refused(server.url("/to?" + server.url("/to?" + target)))
    assert err.msg == f"image_url scheme {scheme!r} is not allowed; only http and https are"
    assert connects == [("127.0.0.1", server.port)] * 2


def test_three_redirects_are_followed(server: Server) -> None:
    assert fetch_image(server.url("/hops/3"), LOOPBACK_ONLY) == PNG
    assert len(server.hosts) == 4


def test_four_redirects_are_too_many(server: Server) -> None:
    err = refused(server.url("/hops/4"))
    assert err.msg == "image_url redirected more than 3 times"
    assert len(server.hosts) == 4


def test_zero_redirects_means_none_are_followed(server: Server) -> None:
    policy = UrlPolicy.from_allowlist("127.0.0.1", max_redirects=0)
    err = refused(server.url("/hops/1"), policy)
    assert err.msg == "image_url redirected more than 0 times"
    assert len(server.hosts) == 1


def test_relative_location_is_resolved_against_the_current_url(server: Server) -> None:
    assert fetch_image(server.url("/a/b/rel"), LOOPBACK_ONLY) == PNG


def test_redirect_without_location_is_an_error(server: Server) -> None:
    err = refused(server.url("/no-location"))
    assert err.msg == "image_url returned HTTP 302 without a Location header"


def test_http_error_status_is_reported(server: Server) -> None:
    err = refused(server.url("/missing.png"))
    assert err.msg == "image_url returned HTTP 404"
    assert "404" in err.msg_cn


# --- size -----------------------------------------------------------------------------------


def test_declared_length_over_the_limit_is_refused_at_once(server: Server) -> None:
    policy = UrlPolicy.from_allowlist("127.0.0.1", max_bytes=MiB)
    with pytest.raises(BadImageError) as info:
        fetch_image(server.url("/big-declared"), policy)
    assert info.value.code == 4001
    assert info.value.msg == f"image at image_url is larger than {MiB} bytes"
    assert str(MiB) in info.value.msg_cn


def test_endless_body_is_cut_off_just_past_the_limit(server: Server) -> None:
    policy = UrlPolicy.from_allowlist("127.0.0.1", max_bytes=MiB)
    start = time.monotonic()
    with pytest.raises(BadImageError, match=f"larger than {MiB} bytes"):
        fetch_image(server.url("/forever"), policy)
    assert time.monotonic() - start < 2.0
    assert server.stream_done.wait(5.0), "the server should see the client hang up"
    # What the server got out is the limit plus what loopback socket buffers absorb.
    assert server.streamed < 48 * MiB


@pytest.mark.parametrize("path", ["/gigabyte", "/chunked-forever", "/huge-chunk"])
def test_gigabyte_bodies_are_cut_off_at_the_default_limit(server: Server, path: str) -> None:
    # The contract's 20 MiB, and time enough that only the size can stop it.
    policy = UrlPolicy.from_allowlist("127.0.0.1", timeout_s=30.0)
    assert policy.max_bytes == 20 * MiB
    with pytest.raises(BadImageError, match=f"larger than {20 * MiB} bytes"):
        fetch_image(server.url(path), policy)
    assert server.stream_done.wait(5.0), "the server should see the client hang up"
    assert server.streamed < 64 * MiB  # of the 1 GiB on offer


def test_body_at_the_limit_is_accepted(server: Server) -> None:
    policy = UrlPolicy.from_allowlist("127.0.0.1", max_bytes=len(PNG))
    assert fetch_image(server.url("/png"), policy) == PNG


# --- time -----------------------------------------------------------------------------------


def timed_out(url: str) -> float:
    policy = UrlPolicy.from_allowlist("127.0.0.1", timeout_s=1.0)
    start = time.monotonic()
    err = refused(url, policy)
    elapsed = time.monotonic() - start
    assert err.msg == "image_url timed out after 1 s"
    assert err.msg_cn == "获取图片URL超时（1秒）"
    return elapsed


def test_trickled_body_is_cut_off_by_the_total_deadline(server: Server) -> None:
    assert 0.9 < timed_out(server.url("/trickle")) < 3.0


def test_trickled_headers_are_cut_off_by_the_total_deadline(server: Server) -> None:
    assert 0.9 < timed_out(server.url("/slow-headers")) < 3.0


def test_endless_trickle_of_chunks_is_cut_off_by_the_total_deadline(server: Server) -> None:
    assert 0.9 < timed_out(server.url("/chunked-trickle")) < 3.0


@pytest.mark.parametrize(
    ("path", "reason"),
    [("/endless-headers", "got more than 100 headers"), ("/endless-header-line", "header line")],
)
def test_endless_headers_are_refused(server: Server, path: str, reason: str) -> None:
    policy = UrlPolicy.from_allowlist("127.0.0.1", timeout_s=30.0)
    err = refused(server.url(path), policy)
    assert err.msg.startswith("the connection to image_url host 127.0.0.1 (127.0.0.1) failed: ")
    assert reason in err.msg
    assert server.stream_done.wait(5.0), "the server should see the client hang up"


def test_server_that_never_answers_times_out() -> None:
    # The kernel completes the handshake for a listening socket; nobody ever reads or writes.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        assert 0.9 < timed_out(f"http://127.0.0.1:{port}/png") < 3.0


def test_slow_dns_counts_against_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def slow(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host == "slow.test":
            time.sleep(3.0)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    assert 0.9 < timed_out("http://slow.test/png") < 2.0


def test_refused_connection_is_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    err = refused(f"http://127.0.0.1:{port}/png")
    assert err.msg.startswith("could not connect to image_url host 127.0.0.1 (127.0.0.1): ")
    assert "refused" in err.msg.lower()


# --- TLS ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TlsServer:
    server: Server
    cert: Path  # the self-signed certificate, which is its own trust anchor


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TlsServer]:
    """The PNG server behind a self-signed certificate for ``img.test`` and 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "facelive test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("img.test"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = tmp_path / "cert.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem = tmp_path / "key.pem"
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_pem, key_pem)
    srv = Server()
    srv.socket = context.wrap_socket(srv.socket, server_side=True)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield TlsServer(srv, cert_pem)
    srv.shutdown()
    srv.server_close()


def test_https_verifies_the_url_host_while_connecting_to_the_checked_ip(
    tls_server: TlsServer,
    fake_dns: FakeDns,
    connects: list[tuple[str, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_server.cert))  # trust the test certificate
    fake_dns("img.test", ["127.0.0.1"])
    fake_dns("other.test", ["127.0.0.1"])
    port = tls_server.server.port
    assert fetch_image(f"https://img.test:{port}/png", LOOPBACK_ONLY) == PNG
    assert tls_server.server.hosts == [f"img.test:{port}"]
    assert connects == [("127.0.0.1", port)]
    err = refused(f"https://other.test:{port}/png")
    assert err.msg.startswith("TLS with image_url host other.test failed: ")
    assert "doesn't match" in err.msg
    assert "TLS" in err.msg_cn


def test_untrusted_certificate_is_refused(tls_server: TlsServer) -> None:
    err = refused(f"https://127.0.0.1:{tls_server.server.port}/png")
    assert err.msg.startswith("TLS with image_url host 127.0.0.1 failed: ")
    assert "certificate verify failed" in err.msg
    assert "TLS" in err.msg_cn


# --- the policy -----------------------------------------------------------------------------


def test_allowlist_parses_networks_addresses_and_names() -> None:
    policy = UrlPolicy.from_allowlist(
        " 10.0.0.0/8, 127.0.0.1 ,images.internal,::1, 2001:db8::/32, Cache.Example.COM. ,,"
    )
    assert policy.allow_networks == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
        ipaddress.ip_network("2001:db8::/32"),
    )
    assert policy.allow_hosts == frozenset({"images.internal", "cache.example.com"})


def test_allowlist_passes_other_settings_through() -> None:
    policy = UrlPolicy.from_allowlist("", max_bytes=10, timeout_s=2.5, max_redirects=1)
    assert policy == UrlPolicy(max_bytes=10, timeout_s=2.5, max_redirects=1)


@pytest.mark.parametrize(
    "allowlist",
    [
        "10.0.0.0/33",
        "10.0.0.1/8",
        "fe80::1::2",
        "999.1.1.1",
        "0177.0.0.1",
        "http://images.internal",
        "*.internal",
        "images internal",
        "-bad.example",
        "10.0.0.0/8, not a host!",
    ],
)
def test_allowlist_garbage_is_a_value_error(allowlist: str) -> None:
    with pytest.raises(ValueError, match="allow-list entry"):
        UrlPolicy.from_allowlist(allowlist)


@pytest.mark.parametrize(
    "kwargs",
    [{"max_bytes": 0}, {"timeout_s": 0.0}, {"max_redirects": -1}],
)
def test_policy_limits_must_make_sense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        UrlPolicy(**kwargs)
