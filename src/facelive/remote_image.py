"""Fetch a client's ``image_url`` as hostile input: no SSRF, no DNS rebinding, bounded cost.

Every hop (the first URL and each redirect) is parsed, resolved once with ``getaddrinfo``,
checked address by address, and then connected to by that exact IP, so a name that
re-resolves to an internal address between the check and the connect gains nothing. One
deadline covers DNS, connects, TLS, redirects and the body; one byte limit covers the body.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import queue
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import urllib3.exceptions
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.response import BaseHTTPResponse
from urllib3.util.ssl_match_hostname import CertificateError as HostnameMismatchError

from facelive.errors import BadImageError, ImageFetchError
from facelive.public_address import IPAddress, IPNetwork, canonical, refusal_reason

__all__ = ["UrlPolicy", "fetch_image"]


MAX_URL_LENGTH = 2048
_CHUNK = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters kept as they are when re-quoting a path: reserved ones and existing escapes.
_PATH_SAFE = "!$%&'()*+,/:;=?@[]~"
_HOST_CHARS = re.compile(r"[a-z0-9_.-]+")
_ALLOW_NAME = re.compile(
    r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*"
)


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """What an ``image_url`` may reach and how much it may cost.

    ``timeout_s`` is the total budget in seconds for the whole fetch, redirects included.
    ``allow_networks`` and ``allow_hosts`` (lower-case names) open non-public addresses to
    an operator's own image servers; everything else must resolve to public addresses only.
    """

    max_bytes: int = 20 * 1024 * 1024
    timeout_s: float = 5.0
    max_redirects: int = 3
    allow_networks: tuple[IPNetwork, ...] = ()
    allow_hosts: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.timeout_s <= 0 or self.max_redirects < 0:
            raise ValueError("max_bytes and timeout_s must be > 0, max_redirects >= 0")

    @classmethod
    def from_allowlist(cls, allowlist: str, **kwargs: Any) -> UrlPolicy:
        """Parses ``"10.0.0.0/8, 127.0.0.1, images.internal"``: networks, bare IPs, host names.

        A bare IP is a /32 or /128. Raises ValueError naming the first entry that is neither.
        """
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for raw in allowlist.split(","):
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=True))
                continue
            except ValueError as exc:
                if "/" in entry or ":" in entry:
                    raise ValueError(f"allow-list entry {entry!r} is not a network: {exc}") from exc
            name = entry.removesuffix(".")
            # A name whose last label is numeric is a mistyped address, never a real host.
            if len(name) > 253 or not _ALLOW_NAME.fullmatch(name) or name.rsplit(".")[-1].isdigit():
                raise ValueError(f"allow-list entry {entry!r} is not an IP, network or host name")
            hosts.add(name)
        return cls(allow_networks=tuple(networks), allow_hosts=frozenset(hosts), **kwargs)


def fetch_image(url: str, policy: UrlPolicy) -> bytes:
    """Returns the body of ``url`` (http/https only), following at most ``max_redirects``.

    Raises ImageFetchError (4003) for anything refused or failed, BadImageError (4001) for a
    body over ``policy.max_bytes``. The bytes are neither logged nor kept.
    """
    deadline = _Deadline(policy.timeout_s)
    try:
        for _ in range(policy.max_redirects + 1):
            target = _Target.parse(url)
            address = _checked_address(target, _resolve(target.host, target.port, deadline), policy)
            outcome = _get(target, address, policy, deadline)
            if isinstance(outcome, bytes):
                return outcome
            url = urljoin(target.url, outcome.location)
    finally:
        deadline.release()
    n = policy.max_redirects
    raise ImageFetchError(
        f"image_url redirected more than {n} times", f"图片URL重定向次数超过{n}次"
    )


@dataclass(frozen=True, slots=True)
class _Target:
    """One validated hop: ``host`` is ASCII, lower-case, without brackets."""

    url: str
    scheme: str
    host: str
    port: int
    path: str  # the request-target: path and query, percent-encoded

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @classmethod
    def parse(cls, url: str) -> _Target:
        if len(url) > MAX_URL_LENGTH:
            raise ImageFetchError(
                f"image_url is longer than {MAX_URL_LENGTH} characters",
                f"图片URL长度超过{MAX_URL_LENGTH}个字符",
            )
        if any(ch <= " " or ch == "\x7f" for ch in url):
            raise ImageFetchError(
                "image_url contains whitespace or control characters", "图片URL包含空白或控制字符"
            )
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ImageFetchError(
                f"image_url is not a valid URL: {exc}", "图片URL格式无效"
            ) from exc
        scheme = parts.scheme.lower()
        if not scheme:
            raise ImageFetchError(
                "image_url has no scheme; only http:// and https:// are allowed",
                "图片URL缺少协议，只支持http或https",
            )
        if scheme not in _DEFAULT_PORTS:
            raise ImageFetchError(
                f"image_url scheme {scheme!r} is not allowed; only http and https are",
                f"图片URL协议{scheme}不被允许，只支持http或https",
            )
        if "@" in parts.netloc:
            raise ImageFetchError(
                "image_url must not contain a user name or password", "图片URL不能包含用户名或密码"
            )
        if not parts.hostname:
            raise ImageFetchError("image_url has no host", "图片URL缺少主机名")
        if port == 0:
            raise ImageFetchError("image_url has port 0", "图片URL端口无效")
        path = quote(parts.path or "/", safe=_PATH_SAFE)
        if parts.query:
            path += "?" + quote(parts.query, safe=_PATH_SAFE)
        host = _ascii_host(parts.hostname)
        return cls(url, scheme, host, port or _DEFAULT_PORTS[scheme], path)


def _ascii_host(host: str) -> str:
    """The host as sent in DNS and ``Host``: IDNA for names; IPv6 literals stay as they are."""
    invalid = ImageFetchError(
        f"image_url host {host!r} is not a valid host name", f"图片URL主机名{host}无效"
    )
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise invalid from None
        return host
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise invalid from None
    if not _HOST_CHARS.fullmatch(ascii_host):
        raise invalid
    return ascii_host


def _resolve(host: str, port: int, deadline: _Deadline) -> list[IPAddress]:
    """All addresses of ``host``; the lookup runs in a thread so a slow resolver meets the deadline.

    Literal IPs go through ``getaddrinfo`` too, so ``2130706433`` or ``0x7f.1`` come back
    as the address the socket would really use.
    """
    answers: queue.SimpleQueue[list[Any] | Exception] = queue.SimpleQueue()

    def lookup() -> None:
        try:
            answers.put(socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP))
        except (OSError, UnicodeError) as exc:
            answers.put(exc)

    threading.Thread(target=lookup, name="facelive-image-dns", daemon=True).start()
    try:
        outcome = answers.get(timeout=deadline.remaining())
    except queue.Empty:
        raise deadline.error() from None
    families = (socket.AF_INET, socket.AF_INET6)
    found = [] if isinstance(outcome, Exception) else [i for i in outcome if i[0] in families]
    if not found:
        raise ImageFetchError(
            f"image_url host {host} could not be resolved", f"图片URL主机名{host}无法解析"
        )
    return [canonical(ipaddress.ip_address(str(info[4][0]))) for info in found]


def _checked_address(target: _Target, addresses: list[IPAddress], policy: UrlPolicy) -> IPAddress:
    """The address to connect to, after every resolved address passed the policy."""
    if target.host.removesuffix(".") not in policy.allow_hosts:
        for ip in addresses:
            if any(ip in net for net in policy.allow_networks):
                continue
            refusal = refusal_reason(ip)
            if refusal is not None:
                en, cn = refusal
                raise ImageFetchError(
                    f"image_url resolves to {ip}, {en} address, which is not allowed",
                    f"图片URL解析到{cn}{ip}，不允许访问",
                )
    return addresses[0]


class _Deadline:
    """The one time budget of a fetch.

    Socket timeouts bound each wait, not a peer that trickles a byte at a time (in headers,
    TLS or body), so at expiry a timer shuts the watched socket down, which wakes whatever
    read is blocked on it.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._fired = False
        self._sock: socket.socket | None = None
        self._timer: threading.Timer | None = None

    @property
    def expired(self) -> bool:
        return self._fired or time.monotonic() >= self._end

    def remaining(self) -> float:
        """Seconds left; raises the timeout error when none are."""
        left = self._end - time.monotonic()
        if left <= 0:
            raise self.error()
        return left

    def error(self) -> ImageFetchError:
        return ImageFetchError(
            f"image_url timed out after {self.seconds:g} s",
            f"获取图片URL超时（{self.seconds:g}秒）",
        )

    def watch(self, sock: socket.socket) -> None:
        """Watches a duplicate of ``sock``: TLS wrapping detaches the original, but shutting
        down the duplicate still ends the connection both share."""
        duplicate = sock.dup()
        self.release()
        with self._lock:
            self._sock = duplicate
            self._timer = threading.Timer(max(self._end - time.monotonic(), 0.0), self._fire)
            self._timer.daemon = True
            self._timer.start()

    def release(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def _fire(self) -> None:
        with self._lock:
            self._fired = True
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RDWR)


class _WatchedHTTPConnection(HTTPConnection):
    """Hands its socket to the deadline the moment it exists."""

    deadline: _Deadline

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self.deadline.watch(sock)
        return sock


class _WatchedHTTPSConnection(HTTPSConnection):
    """Hands its socket to the deadline before the TLS handshake starts."""

    deadline: _Deadline

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self.deadline.watch(sock)
        return sock


@dataclass(frozen=True, slots=True)
class _Redirect:
    location: str


def _connection(target: _Target, ip: IPAddress, deadline: _Deadline) -> HTTPConnection:
    """A connection to the checked ``ip``; TLS still verifies the certificate for ``host``."""
    conn: _WatchedHTTPConnection | _WatchedHTTPSConnection
    if target.scheme == "https":
        conn = _WatchedHTTPSConnection(
            str(ip),
            target.port,
            timeout=deadline.remaining(),
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
        )
    else:
        conn = _WatchedHTTPConnection(str(ip), target.port, timeout=deadline.remaining())
    conn.deadline = deadline
    return conn


def _get(
    target: _Target, ip: IPAddress, policy: UrlPolicy, deadline: _Deadline
) -> bytes | _Redirect:
    """One GET to ``ip``: the body of a 2xx, or where a redirect points."""
    conn = _connection(target, ip, deadline)
    response: BaseHTTPResponse | None = None
    headers = {
        "Host": target.host_header,
        "User-Agent": "facelive-image-fetch",
        "Accept": "image/*",
        # Compressed bodies could expand past max_bytes after the check; ask for none.
        "Accept-Encoding": "identity",
        "Connection": "close",
    }
    try:
        conn.request("GET", target.path, headers=headers, preload_content=False)
        response = conn.getresponse()
        status = response.status
        if status in _REDIRECTS:
            location = response.headers.get("Location")
            if not location:
                raise ImageFetchError(
                    f"image_url returned HTTP {status} without a Location header",
                    f"图片URL返回HTTP {status}重定向，但缺少Location头",
                )
            return _Redirect(location)
        if not 200 <= status < 300:
            raise ImageFetchError(f"image_url returned HTTP {status}", f"图片URL返回HTTP {status}")
        return _read_body(response, policy, deadline)
    except (
        urllib3.exceptions.HTTPError,
        http.client.HTTPException,
        OSError,
        HostnameMismatchError,  # urllib3 matches names itself and raises this ValueError
    ) as exc:
        raise _transport_error(exc, target, ip, deadline) from exc
    finally:
        if response is not None:
            response.close()
        conn.close()
        deadline.release()


def _read_body(response: BaseHTTPResponse, policy: UrlPolicy, deadline: _Deadline) -> bytes:
    """Streams the body, stopping as soon as it passes the limit or the deadline."""
    limit = policy.max_bytes
    too_large = BadImageError(
        f"image at image_url is larger than {limit} bytes", f"图片URL中的图片超过{limit}字节"
    )
    declared = response.headers.get("Content-Length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    for chunk in response.stream(_CHUNK, decode_content=False):
        body += chunk
        if len(body) > limit:
            raise too_large
        if deadline.expired:
            raise deadline.error()
    # The deadline ends a close-delimited body with a clean EOF: that body is cut short.
    if deadline.expired:
        raise deadline.error()
    return bytes(body)


def _transport_error(
    exc: Exception, target: _Target, ip: IPAddress, deadline: _Deadline
) -> ImageFetchError:
    """The specific ImageFetchError for a failure below HTTP (socket, TLS, framing)."""
    host = target.host
    if deadline.expired:
        return deadline.error()
    reason = _reason(exc)
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return ImageFetchError(
            f"could not connect to image_url host {host} ({ip}): {reason}",
            f"无法连接图片URL主机{host}（{ip}）",
        )
    if isinstance(exc, TimeoutError | urllib3.exceptions.TimeoutError):
        return deadline.error()
    if isinstance(exc, ssl.SSLError | HostnameMismatchError | urllib3.exceptions.SSLError):
        return ImageFetchError(
            f"TLS with image_url host {host} failed: {reason}",
            f"与图片URL主机{host}的TLS连接失败（证书或握手错误）",
        )
    return ImageFetchError(
        f"the connection to image_url host {host} ({ip}) failed: {reason}",
        f"与图片URL主机{host}（{ip}）的连接失败或响应无效",
    )


def _reason(exc: BaseException) -> str:
    """The innermost cause in words: urllib3 wraps the socket error that says what happened."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
