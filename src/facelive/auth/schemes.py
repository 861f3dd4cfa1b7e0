"""The contract's two authentication schemes, behind one ``authenticate(headers)`` call.

- ``Authorization: APPCODE <code>``.
- ``x-ca-key``, ``x-ca-timestamp`` (milliseconds since the epoch, UTC) and ``x-ca-signature``
  = hex md5 of ``app_key&timestamp&app_secret`` (upper-case hex accepted), accepted once.

Header names are case-insensitive and values are stripped, since hand-built clients send odd
casing and stray spaces. Every secret comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from facelive.auth.store import ApiKey, KeyStore
from facelive.errors import AuthError, ReplayError, TimestampError

SCHEME_APPCODE = "appcode"
SCHEME_SIGNATURE = "signature"

_MISSING = (
    "missing credentials: send 'Authorization: APPCODE <AppCode>', or x-ca-key, "
    "x-ca-timestamp and x-ca-signature",
    "缺少认证信息：请发送 Authorization: APPCODE <AppCode>，"
    "或 x-ca-key、x-ca-timestamp、x-ca-signature",
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made a request, and how they proved it."""

    key: ApiKey
    scheme: str


def signature_for(app_key: str, timestamp: str, app_secret: str) -> str:
    """The contract's signature: lower-case hex md5 of ``app_key&timestamp&app_secret``."""
    text = f"{app_key}&{timestamp}&{app_secret}".encode()
    return hashlib.md5(text, usedforsecurity=False).hexdigest()


def _revoked(key: ApiKey) -> AuthError:
    return AuthError(f"key {key.id} has been revoked", f"密钥{key.id}已被吊销，请使用新的密钥")


class Authenticator:
    """Checks credentials against the key store; raises 4010, 4011 or 4012 on failure."""

    def __init__(
        self, store: KeyStore, window_s: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.window_s = window_s
        self.clock = clock

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        authorization = (headers.get("authorization") or "").strip()
        if authorization:
            scheme, _, code = authorization.partition(" ")
            if scheme.upper() != "APPCODE" or not code.strip():
                raise AuthError(
                    "Authorization header must be 'APPCODE <AppCode>' (with one space)",
                    "Authorization请求头格式应为 'APPCODE <AppCode>'（注意英文空格）",
                )
            return self._appcode(code.strip())
        if headers.get("x-ca-key") is not None:
            return self._signature(headers)
        raise AuthError(*_MISSING)

    def _appcode(self, code: str) -> Principal:
        key = self.store.authenticate_appcode(code)
        if key is None:
            raise AuthError("unknown AppCode", "AppCode无效")
        if not key.active:
            raise _revoked(key)
        return Principal(key, SCHEME_APPCODE)

    def _signature(self, headers: Mapping[str, str]) -> Principal:
        app_key = (headers.get("x-ca-key") or "").strip()
        stamp = (headers.get("x-ca-timestamp") or "").strip()
        signature = (headers.get("x-ca-signature") or "").strip().lower()
        for name, value in (
            ("x-ca-key", app_key),
            ("x-ca-timestamp", stamp),
            ("x-ca-signature", signature),
        ):
            if not value:
                raise AuthError(f"missing header {name}", f"缺少请求头{name}")
        if not stamp.isdigit() or len(stamp) > 16:
            raise TimestampError(
                f"x-ca-timestamp {stamp[:32]!r} is not a number of milliseconds since 1970 (UTC)",
                "x-ca-timestamp必须是毫秒级时间戳（自1970年起的UTC毫秒数）",
            )
        found = self.store.signing_secret(app_key)
        if found is None:
            raise AuthError("unknown x-ca-key", "x-ca-key无效")
        key, secret = found
        if not hmac.compare_digest(signature_for(app_key, stamp, secret), signature):
            raise AuthError(
                "x-ca-signature does not match: it must be the hex md5 of "
                "'app_key&timestamp&app_secret', with the timestamp exactly as sent",
                "签名x-ca-signature不匹配：应为 md5(app_key&timestamp&app_secret) 的十六进制字符串",
            )
        if not key.active:
            raise _revoked(key)
        timestamp_ms = int(stamp)
        self._check_window(timestamp_ms)
        expires = datetime.fromtimestamp(timestamp_ms / 1000 + self.window_s + 60, tz=UTC)
        if not self.store.use_nonce(app_key, timestamp_ms, signature, expires):
            raise ReplayError()
        return Principal(key, SCHEME_SIGNATURE)

    def _check_window(self, timestamp_ms: int) -> None:
        now = self.clock()
        skew = timestamp_ms / 1000 - now
        if abs(skew) <= self.window_s:
            return
        if abs(timestamp_ms - now) <= self.window_s:
            raise TimestampError(
                "x-ca-timestamp looks like seconds; send milliseconds since 1970 (UTC)",
                "x-ca-timestamp看起来是秒级时间戳，请使用毫秒级时间戳",
            )
        hours = round(skew / 3600)
        if hours and abs(hours) <= 26 and abs(skew - hours * 3600) <= self.window_s:
            raise TimestampError(
                f"x-ca-timestamp is {hours:+d} h off the server clock: the client probably "
                "sends local time instead of UTC milliseconds since 1970",
                f"x-ca-timestamp与服务器时间相差{hours:+d}小时：客户端可能使用了本地时间，"
                "请使用UTC毫秒时间戳",
            )
        direction = "ahead of" if skew > 0 else "behind"
        raise TimestampError(
            f"x-ca-timestamp is {abs(skew):.0f} s {direction} the server clock; "
            f"the allowed window is ±{self.window_s} s",
            f"x-ca-timestamp与服务器时间相差{abs(skew):.0f}秒，超出允许的±{self.window_s}秒",
        )
