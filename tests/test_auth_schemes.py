"""The authentication schemes, without HTTP, on a real SQLite store (the limiter:
test_rate_limit.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from facelive.auth.schemes import SCHEME_APPCODE, SCHEME_SIGNATURE, Authenticator, signature_for
from facelive.auth.secrets import SecretCipher
from facelive.auth.store import IssuedKey, KeyStore
from facelive.errors import AuthError, ReplayError, TimestampError

NOW = 1_764_000_000.0  # a fixed "server clock", seconds


@pytest.fixture
def store(tmp_path: Path) -> Iterator[KeyStore]:
    keys = KeyStore(f"sqlite:///{tmp_path / 'keys.db'}", SecretCipher(b"k" * 32))
    keys.create_schema()
    yield keys
    keys.close()


@pytest.fixture
def issued(store: KeyStore) -> IssuedKey:
    return store.create_key("unit")


def signed(issued: IssuedKey, stamp: str, signature: str | None = None) -> dict[str, str]:
    return {
        "x-ca-key": issued.key.app_key,
        "x-ca-timestamp": stamp,
        "x-ca-signature": signature or signature_for(issued.key.app_key, stamp, issued.app_secret),
    }


def test_signature_is_the_contracts_md5() -> None:
    assert (
        signature_for("key", "1700000000000", "secret")
        == hashlib.md5(b"key&1700000000000&secret").hexdigest()
    )


def test_appcode_and_signature_succeed(store: KeyStore, issued: IssuedKey) -> None:
    auth = Authenticator(store, 300, clock=lambda: NOW)
    assert (
        auth.authenticate({"authorization": f"APPCODE {issued.appcode}"}).scheme == SCHEME_APPCODE
    )
    principal = auth.authenticate(signed(issued, str(int(NOW * 1000))))
    assert principal.scheme == SCHEME_SIGNATURE
    assert principal.key.id == issued.key.id


@pytest.mark.parametrize("offset_s", [-299, 0, 299])
def test_window_edges_are_accepted(store: KeyStore, issued: IssuedKey, offset_s: int) -> None:
    auth = Authenticator(store, 300, clock=lambda: NOW)
    auth.authenticate(signed(issued, str(int((NOW + offset_s) * 1000))))


@pytest.mark.parametrize(
    ("offset_s", "words"),
    [
        (-301, "301 s behind"),
        (400, "400 s ahead of"),
        (8 * 3600, "+8 h off"),
        (-5 * 3600 + 30, "-5 h off"),
        (40 * 3600, "ahead of"),
    ],
)
def test_timestamps_outside_the_window(
    store: KeyStore, issued: IssuedKey, offset_s: int, words: str
) -> None:
    auth = Authenticator(store, 300, clock=lambda: NOW)
    with pytest.raises(TimestampError) as info:
        auth.authenticate(signed(issued, str(int((NOW + offset_s) * 1000))))
    assert words in info.value.msg
    assert info.value.code == 4011


def test_replay_is_refused(store: KeyStore, issued: IssuedKey) -> None:
    auth = Authenticator(store, 300, clock=lambda: NOW)
    headers = signed(issued, str(int(NOW * 1000)))
    auth.authenticate(headers)
    with pytest.raises(ReplayError):
        auth.authenticate(headers)
    upper = {**headers, "x-ca-signature": headers["x-ca-signature"].upper()}
    with pytest.raises(ReplayError):  # the same signature in other case is the same signature
        auth.authenticate(upper)


def test_bad_signature_never_burns_a_nonce(store: KeyStore, issued: IssuedKey) -> None:
    auth = Authenticator(store, 300, clock=lambda: NOW)
    stamp = str(int(NOW * 1000))
    with pytest.raises(AuthError):
        auth.authenticate(signed(issued, stamp, "0" * 32))
    auth.authenticate(signed(issued, stamp))  # the genuine one still goes through


def test_revoked_key_fails_both_modes(store: KeyStore, issued: IssuedKey) -> None:
    store.revoke(issued.key.id)
    auth = Authenticator(store, 300, clock=lambda: NOW)
    for headers in (
        {"authorization": f"APPCODE {issued.appcode}"},
        signed(issued, str(int(NOW * 1000))),
    ):
        with pytest.raises(AuthError, match="revoked"):
            auth.authenticate(headers)
