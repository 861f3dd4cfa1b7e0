"""A small Python client for a facelive server (or any ``face_liveness/v1`` service).

Standard library only, and nothing from the rest of facelive, so the module can also be
copied into a project on its own. Exceptions, by the envelope's ``code``:

    ClientError                    (code, msg, msg_cn, request_id, http_status)
    ├── TransportError             no response: connection refused or reset (code None)
    │   └── ClientTimeoutError     no complete response within ``timeout`` (never retried)
    ├── UnexpectedResponseError    a response that is not the contract's envelope
    ├── ImageError                 4001  image empty, undecodable or outside the size limits
    │   └── ImageUrlError          4003  ``url`` could not be fetched or is not allowed
    ├── NoFaceDetectedError        4002
    ├── PoorQualityError           4005  carries the score; retake the photo
    ├── InvalidRequestError        4006  e.g. ``thresh`` outside [0, 1]
    ├── AuthenticationError        4010, 4011 (clock), 4012 (replay)
    ├── RateLimitedError           4029  carries ``retry_after`` seconds
    └── ServerError                5000, HTTP 503 and other 5xx

Code 4004 (not live) is a verdict, not an error: ``check`` returns it with ``is_live`` false.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
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

ENDPOINT = "/api/face_liveness/v1"
# A verdict: live (200) or not live (4004). 4005 carries a score too but raises.
_VERDICT_CODES = frozenset({200, 4004})
_MAX_BACKOFF_S = 30.0


class ClientError(Exception):
    """Base of every error ``check`` raises; ``code`` is None when no envelope came back."""

    def __init__(
        self,
        msg: str,
        *,
        code: int | None = None,
        msg_cn: str = "",
        request_id: str = "",
        http_status: int | None = None,
    ) -> None:
        super().__init__(f"{code}: {msg}" if code is not None else msg)
        self.code = code
        self.msg = msg
        self.msg_cn = msg_cn
        self.request_id = request_id
        self.http_status = http_status


class TransportError(ClientError):
    """The request got no response: connection refused, reset, or closed early."""


class ClientTimeoutError(TransportError):
    """No complete response within ``timeout``; not retried, since the server may be busy."""


class UnexpectedResponseError(ClientError):
    """A response that is not the envelope: a proxy's error page, a redirect, bad JSON."""


class ImageError(ClientError):
    """4001: the image is empty, not decodable, unsupported, or outside the size limits."""


class ImageUrlError(ImageError):
    """4003: the server could not fetch ``url``, or it points somewhere not allowed."""


class NoFaceDetectedError(ClientError):
    """4002: the image decoded, but no face was found."""


class PoorQualityError(ClientError):
    """4005: the face is too poor to judge (``reasons``: ``too_dark``, ...); retake the photo."""

    def __init__(self, msg: str, *, liveness_score: float, risk_reason: str, **kw: Any):
        super().__init__(msg, **kw)
        self.liveness_score = liveness_score
        self.risk_reason = risk_reason
        self.reasons = tuple(r for r in risk_reason.split(",") if r)


class InvalidRequestError(ClientError):
    """4006: a malformed parameter, such as ``thresh`` outside [0, 1]."""


class AuthenticationError(ClientError):
    """4010 bad credentials, 4011 timestamp off (check the clock), 4012 signature replayed."""


class RateLimitedError(ClientError):
    """4029: too many requests; wait ``retry_after`` seconds. Never retried by the client."""

    def __init__(self, msg: str, *, retry_after: float | None, **kw: Any) -> None:
        super().__init__(msg, **kw)
        self.retry_after = retry_after


class ServerError(ClientError):
    """5000 or HTTP 5xx: the server failed; raised once the retries are spent."""


_ERRORS: dict[int, type[ClientError]] = {
    4001: ImageError,
    4002: NoFaceDetectedError,
    4003: ImageUrlError,
    4006: InvalidRequestError,
    4010: AuthenticationError,
    4011: AuthenticationError,
    4012: AuthenticationError,
    5000: ServerError,
}


@dataclass(frozen=True, slots=True)
class LivenessResult:
    """One verdict: ``code`` 200 live or 4004 not live; ``is_live`` is score > thresh.

    ``extra`` holds any fields of ``data`` beyond the contract's three (a newer server's).
    """

    liveness_score: float
    is_live: bool
    risk_reason: str
    request_id: str
    code: int
    msg: str
    msg_cn: str
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib would turn a redirected POST into a GET without its body: surface it instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class _RetryableError(Exception):
    """An attempt failed in a way that is safe to repeat; carries the error to raise at the end."""

    def __init__(self, error: ClientError, delay_s: float | None = None) -> None:
        self.error = error
        self.delay_s = delay_s


class Client:
    """Checks photos against ``base_url`` with an APPCODE or with AppKey + AppSecret.

    ``base_url`` is the server's root (``http://host:8080``) or the full endpoint URL.
    ``timeout`` (seconds) bounds each attempt. Up to ``retries`` more attempts follow a
    connection failure, code 5000 or HTTP 503, after ``backoff`` × 2^n seconds (jittered).
    A Client is safe to share between threads.
    """

    def __init__(
        self,
        base_url: str,
        *,
        appcode: str | None = None,
        app_key: str | None = None,
        app_secret: str | None = None,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        if appcode is not None and (app_key is not None or app_secret is not None):
            raise ValueError("give either appcode or app_key and app_secret, not both")
        if appcode is None and (app_key is None or app_secret is None):
            raise ValueError("give appcode, or both app_key and app_secret")
        if timeout <= 0 or retries < 0 or backoff < 0:
            raise ValueError("timeout must be > 0, retries and backoff >= 0")
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, not {base_url!r}")
        base = base_url.rstrip("/")
        self.url = base if base.endswith(ENDPOINT) else base + ENDPOINT
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._appcode = appcode
        self._app_key = app_key
        self._app_secret = app_secret
        self._opener = urllib.request.build_opener(_NoRedirect)
        self._lock = threading.Lock()
        self._last_stamp = 0

    def check(
        self,
        image: str | os.PathLike[str] | bytes | None = None,
        thresh: float | None = None,
        *,
        url: str | None = None,
    ) -> LivenessResult:
        """Judges one photo: a file path or the image bytes, or ``url=`` for the server to fetch.

        Returns for a verdict (live or not); raises a ``ClientError`` subclass otherwise.
        """
        if (image is None) == (url is None):
            raise ValueError("give exactly one of image (a path or bytes) and url")
        body: dict[str, Any] = {}
        if url is not None:
            body["image_url"] = url
        elif image is not None:
            data = image if isinstance(image, bytes) else Path(image).read_bytes()
            body["image_base64"] = base64.b64encode(data).decode("ascii")
        if thresh is not None:
            body["thresh"] = thresh
        payload = json.dumps(body).encode()
        for attempt in range(self.retries + 1):
            try:
                return self._attempt(payload)
            except _RetryableError as retry:
                if attempt == self.retries:
                    raise retry.error from None
                delay = self.backoff * 2**attempt * random.uniform(0.5, 1.0)  # noqa: S311
                time.sleep(min(max(delay, retry.delay_s or 0.0), _MAX_BACKOFF_S))
        raise AssertionError("unreachable")

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._appcode is not None:
            headers["Authorization"] = f"APPCODE {self._appcode}"
            return headers
        assert self._app_key is not None and self._app_secret is not None
        stamp = self._next_stamp()
        text = f"{self._app_key}&{stamp}&{self._app_secret}"
        headers["x-ca-key"] = self._app_key
        headers["x-ca-timestamp"] = str(stamp)
        headers["x-ca-signature"] = hashlib.md5(text.encode()).hexdigest()  # noqa: S324
        return headers

    def _next_stamp(self) -> int:
        """Milliseconds since 1970 (UTC), never repeated by this Client.

        The signature covers only key and timestamp, and the server accepts each once, so two
        requests in the same millisecond would collide: the later one takes the next ms.
        """
        with self._lock:
            self._last_stamp = max(int(time.time() * 1000), self._last_stamp + 1)
            return self._last_stamp

    def _attempt(self, payload: bytes) -> LivenessResult:
        # The scheme was checked in __init__: only http(s), never file: or custom schemes.
        request = urllib.request.Request(self.url, payload, self._headers(), method="POST")  # noqa: S310
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return _parse(response.status, response.headers["Retry-After"], response.read())
        except urllib.error.HTTPError as error:
            with error:
                return _parse(error.code, error.headers["Retry-After"], error.read())
        except (TimeoutError, urllib.error.URLError) as error:
            if isinstance(error, TimeoutError) or isinstance(error.reason, TimeoutError):
                raise ClientTimeoutError(f"no response within {self.timeout} s") from error
            fault = TransportError(f"cannot reach {self.url}: {error.reason}")
            raise _RetryableError(fault) from error
        except (OSError, HTTPException) as error:
            raise _RetryableError(
                TransportError(f"connection to {self.url} failed: {error!r}")
            ) from error


def _parse(status: int, retry_header: str | None, raw: bytes) -> LivenessResult:
    """One response as a result, a ``_RetryableError``, or a raised ``ClientError``."""
    retry_after = _seconds(retry_header)
    try:
        envelope = json.loads(raw)
        code = envelope["code"]
        if not isinstance(code, int):
            raise TypeError("code is not an integer")
    except (ValueError, TypeError, KeyError):
        text = raw[:200].decode("utf-8", "replace")
        if status == 503:
            raise _RetryableError(
                ServerError(f"HTTP 503: {text}", http_status=503), retry_after
            ) from None
        kind = ServerError if status >= 500 else UnexpectedResponseError
        raise kind(f"HTTP {status}, not an envelope: {text!r}", http_status=status) from None
    msg = str(envelope.get("msg") or "")
    about: dict[str, Any] = {
        "code": code,
        "msg_cn": str(envelope.get("msg_cn") or ""),
        "request_id": str(envelope.get("request_id") or ""),
        "http_status": status,
    }
    data = envelope.get("data")
    if code in _VERDICT_CODES or code == 4005:
        data = data if isinstance(data, dict) else {}
        try:
            score, live = float(data["liveness_score"]), bool(data["is_live"])
            reason = str(data.get("risk_reason") or "")
        except (KeyError, TypeError, ValueError):
            raise UnexpectedResponseError(f"code {code} without valid data", **about) from None
        if code == 4005:
            raise PoorQualityError(msg, liveness_score=score, risk_reason=reason, **about)
        known = {"liveness_score", "is_live", "risk_reason"}
        return LivenessResult(
            liveness_score=score,
            is_live=live,
            risk_reason=reason,
            request_id=about["request_id"],
            code=code,
            msg=msg,
            msg_cn=about["msg_cn"],
            extra=MappingProxyType({k: v for k, v in data.items() if k not in known}),
        )
    if code == 4029:
        raise RateLimitedError(msg, retry_after=retry_after, **about)
    failure = _ERRORS.get(code, ServerError if status >= 500 else ClientError)(msg, **about)
    if code == 5000 or status == 503:
        raise _RetryableError(failure, retry_after)
    raise failure


def _seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds, or None (the HTTP-date form is not worth parsing here)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
