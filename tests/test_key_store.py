"""The key store on SQLite and on a real PostgreSQL: every store test runs on both.

PostgreSQL comes from ``FACELIVE_TEST_DATABASE_URL`` (a role that may create databases), or,
when that is unset, from ``scripts/postgres start``, which provisions a throw-away server. A
missing PostgreSQL fails these tests; it never skips them. Each PostgreSQL test gets a fresh
database of its own, dropped afterwards, so runs side by side do not meet (the
``database_url`` fixture in conftest.py, helpers in databases.py).
"""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, make_url, text

from databases import in_threads, plain_postgres, release_together, store_child
from facelive.auth import engine
from facelive.auth.engine import StoreUnavailableError
from facelive.auth.secrets import (
    KEY_FILE,
    SecretCipher,
    SecretDecryptionError,
    load_or_create_server_key,
)
from facelive.auth.store import (
    ApiKey,
    KeyLimits,
    KeyStore,
    RecentRequest,
    UsageRow,
    appcode_hash,
)
from facelive.errors import InternalError

SERVER_KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))

COUNT_USAGE = """
print("ready", flush=True)
sys.stdin.readline()
for _ in range(int(sys.argv[4])):
    store.record_usage(sys.argv[3], 200)
store.close()
print("done", flush=True)
"""
CREATE_THEN_DIE = """
import os, signal
issued = store.create_key("doomed")
print(issued.key.id, issued.appcode, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.fixture
def cipher() -> SecretCipher:
    return SecretCipher(SERVER_KEY)


@pytest.fixture
def store(database_url: str, cipher: SecretCipher) -> Iterator[KeyStore]:
    opened = KeyStore(database_url, cipher)
    opened.create_schema()
    yield opened
    opened.close()


def _open(database_url: str, key: bytes = SERVER_KEY) -> KeyStore:
    opened = KeyStore(database_url, SecretCipher(key))
    opened.create_schema()
    return opened


def _raw_rows(database_url: str, query: str) -> list[tuple[Any, ...]]:
    """Rows read past the store, as anyone holding a copy of the database would."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(query))]
    finally:
        engine.dispose()


# --- keys --------------------------------------------------------------------------------


def test_create_list_get(store: KeyStore) -> None:
    first = store.create_key("first")
    second = store.create_key("second")
    assert first.key.id.startswith("key_") and len(first.key.id) == 4 + 12
    assert len(first.key.app_key) == 24 and len(first.appcode) == 32
    assert len(first.app_secret) == 32
    assert int(first.key.app_key + first.appcode + first.app_secret, 16) >= 0  # all hex
    assert first.key.active and first.key.revoked_at is None
    assert first.key.created_at.tzinfo is not None
    assert first.key.created_at.utcoffset() == timedelta(0)

    assert store.list_keys() == [first.key, second.key]
    assert store.get_key(second.key.id) == second.key
    assert store.get_key("key_000000000000") is None
    assert store.count_keys() == 2
    got = store.get_key(first.key.id)
    assert got is not None and got.created_at.tzinfo is UTC


def test_appcode_authentication(store: KeyStore) -> None:
    issued = store.create_key("app")
    other = store.create_key("other")
    assert store.authenticate_appcode(issued.appcode) == issued.key
    assert store.authenticate_appcode(other.appcode) == other.key
    assert store.authenticate_appcode(issued.appcode.upper()) is None
    assert store.authenticate_appcode("0" * 32) is None
    assert store.authenticate_appcode("") is None

    revoked = store.revoke(issued.key.id)
    found = store.authenticate_appcode(issued.appcode)
    assert found == revoked
    assert found is not None and not found.active
    assert found.revoked_at is not None and found.revoked_at.tzinfo is UTC


def test_signing_secret_round_trip(store: KeyStore) -> None:
    issued = store.create_key("signer")
    assert store.signing_secret(issued.key.app_key) == (issued.key, issued.app_secret)
    assert store.signing_secret("f" * 24) is None
    store.revoke(issued.key.id)
    found = store.signing_secret(issued.key.app_key)
    assert found is not None
    assert not found[0].active and found[1] == issued.app_secret


def test_secrets_are_not_stored_in_plaintext(store: KeyStore, database_url: str) -> None:
    issued = store.create_key("raw")
    [row] = _raw_rows(database_url, "SELECT * FROM api_keys")
    stored = " ".join(str(value) for value in row)
    assert issued.app_secret not in stored
    assert issued.appcode not in stored
    [(code_hash, secret_enc)] = _raw_rows(
        database_url, "SELECT appcode_hash, secret_enc FROM api_keys"
    )
    assert code_hash == hashlib.sha256(issued.appcode.encode()).hexdigest()
    assert code_hash == appcode_hash(issued.appcode)
    assert secret_enc.startswith("v1:")
    assert SecretCipher(SERVER_KEY).decrypt(secret_enc, issued.key.app_key) == issued.app_secret


def test_wrong_server_key_cannot_read_secrets(store: KeyStore, database_url: str) -> None:
    issued = store.create_key("k")
    other = _open(database_url, OTHER_KEY)
    try:
        assert other.authenticate_appcode(issued.appcode) == issued.key
        with pytest.raises(SecretDecryptionError):
            other.signing_secret(issued.key.app_key)
    finally:
        other.close()


def test_rotate_replaces_both_secrets(store: KeyStore) -> None:
    old = store.create_key("rotating")
    new = store.rotate(old.key.id)
    assert new.key == old.key  # same id, app_key, name and created_at
    assert new.appcode != old.appcode and new.app_secret != old.app_secret
    assert store.authenticate_appcode(old.appcode) is None
    assert store.authenticate_appcode(new.appcode) == old.key
    assert store.signing_secret(old.key.app_key) == (old.key, new.app_secret)
    assert store.count_keys() == 1


def test_rotate_unknown_or_revoked(store: KeyStore) -> None:
    with pytest.raises(KeyError):
        store.rotate("key_missing00000")
    issued = store.create_key("gone")
    store.revoke(issued.key.id)
    with pytest.raises(ValueError, match="revoked"):
        store.rotate(issued.key.id)
    assert store.authenticate_appcode(issued.appcode) is not None  # left untouched


def test_revoke(store: KeyStore) -> None:
    with pytest.raises(KeyError):
        store.revoke("key_missing00000")
    issued = store.create_key("r")
    keep = store.create_key("keep")
    first = store.revoke(issued.key.id)
    assert first.revoked_at is not None and not first.active
    assert first.revoked_at >= issued.key.created_at
    again = store.revoke(issued.key.id)
    assert again.revoked_at == first.revoked_at
    assert store.get_key(issued.key.id) == first
    assert store.get_key(keep.key.id) == keep.key
    assert [key.active for key in store.list_keys()] == [False, True]


def test_create_schema_is_idempotent_and_concurrent(database_url: str) -> None:
    stores = [KeyStore(database_url, SecretCipher(SERVER_KEY)) for _ in range(4)]
    try:
        each_once = iter(stores)  # next() is atomic under the GIL: one store per thread
        in_threads(4, lambda: next(each_once).create_schema())
        for each in stores:
            each.create_schema()
        issued = stores[0].create_key("after")
        assert stores[3].get_key(issued.key.id) == issued.key
    finally:
        for each in stores:
            each.close()


# --- nonces ------------------------------------------------------------------------------


def test_nonce_is_accepted_once(store: KeyStore, database_url: str) -> None:
    expires = datetime.now(UTC) + timedelta(minutes=6)
    assert store.use_nonce("a" * 24, 1_700_000_000_000, "s" * 32, expires)
    assert not store.use_nonce("a" * 24, 1_700_000_000_000, "s" * 32, expires)
    # Any part that differs makes a different nonce.
    assert store.use_nonce("b" * 24, 1_700_000_000_000, "s" * 32, expires)
    assert store.use_nonce("a" * 24, 1_700_000_000_001, "s" * 32, expires)
    assert store.use_nonce("a" * 24, 1_700_000_000_000, "t" * 32, expires)

    worker = _open(database_url)  # as another worker process would
    try:
        assert not worker.use_nonce("a" * 24, 1_700_000_000_000, "s" * 32, expires)
        assert worker.use_nonce("c" * 24, 1, "x", expires)
        assert not store.use_nonce("c" * 24, 1, "x", expires)
    finally:
        worker.close()


def test_nonce_race_has_one_winner(store: KeyStore) -> None:
    expires = datetime.now(UTC) + timedelta(minutes=6)
    wins = in_threads(8, lambda: store.use_nonce("k" * 24, 42, "sig", expires))
    assert sorted(wins) == [False] * 7 + [True]


def test_expired_nonces_are_purged(store: KeyStore, database_url: str) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    future = datetime.now(UTC) + timedelta(minutes=6)
    assert store.use_nonce("k" * 24, 1, "old", past)
    fresh = _open(database_url)  # a new instance purges on its first use
    try:
        assert fresh.use_nonce("k" * 24, 2, "new", future)
    finally:
        fresh.close()
    rows = _raw_rows(database_url, "SELECT signature FROM signature_nonces")
    assert rows == [("new",)]


# --- usage -------------------------------------------------------------------------------


def test_usage_by_day_and_code(store: KeyStore) -> None:
    day1 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    day2 = datetime(2024, 3, 2, 0, 30, tzinfo=UTC)
    for when, code in [(day1, 200), (day1, 200), (day1, 4004), (day2, 200)]:
        store.record_usage("key_a", code, when)
    store.record_usage("key_b", 4001, day1)
    # 23:30 at UTC-5 is 04:30 the next day in UTC.
    store.record_usage(
        "key_b", 4001, datetime(2024, 3, 1, 23, 30, tzinfo=timezone(-timedelta(hours=5)))
    )

    assert store.usage("key_a") == [
        UsageRow("key_a", date(2024, 3, 1), 200, 2),
        UsageRow("key_a", date(2024, 3, 1), 4004, 1),
        UsageRow("key_a", date(2024, 3, 2), 200, 1),
    ]
    assert store.usage(since=date(2024, 3, 2)) == [
        UsageRow("key_a", date(2024, 3, 2), 200, 1),
        UsageRow("key_b", date(2024, 3, 2), 4001, 1),
    ]
    assert len(store.usage()) == 5
    assert store.usage("key_none") == []
    with pytest.raises(ValueError, match="timezone"):
        store.record_usage("key_a", 200, datetime(2024, 3, 1, 12, 0))

    store.record_usage("key_c", 200)
    [today] = store.usage("key_c")
    assert today.day == datetime.now(UTC).date() and today.count == 1


def test_usage_counts_from_threads(store: KeyStore) -> None:
    def fifty() -> None:
        for _ in range(50):
            store.record_usage("key_t", 200, datetime(2024, 1, 1, tzinfo=UTC))

    in_threads(8, fifty)
    assert store.usage("key_t") == [UsageRow("key_t", date(2024, 1, 1), 200, 400)]


def test_usage_counts_from_processes(store: KeyStore, database_url: str) -> None:
    args = (database_url, SERVER_KEY.hex(), "key_p", "200")
    outputs = release_together([store_child(COUNT_USAGE, *args) for _ in range(2)])
    assert outputs == ["done\n"] * 2
    [row] = store.usage("key_p")
    assert row.count == 400 and row.code == 200


# --- durability --------------------------------------------------------------------------


def test_data_survives_reopening(store: KeyStore, database_url: str) -> None:
    kept = store.create_key("kept")
    gone = store.create_key("gone")
    revoked = store.revoke(gone.key.id)
    store.record_usage(kept.key.id, 200, datetime(2024, 5, 1, tzinfo=UTC))
    store.close()

    reopened = _open(database_url)
    try:
        assert reopened.list_keys() == [kept.key, revoked]
        assert reopened.authenticate_appcode(kept.appcode) == kept.key
        assert reopened.signing_secret(kept.key.app_key) == (kept.key, kept.app_secret)
        assert reopened.usage() == [UsageRow(kept.key.id, date(2024, 5, 1), 200, 1)]
    finally:
        reopened.close()


def test_key_survives_kill_9(store: KeyStore, database_url: str) -> None:
    child = store_child(CREATE_THEN_DIE, database_url, SERVER_KEY.hex())
    out, _ = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    key_id, appcode = out.split()
    reopened = _open(database_url)
    try:
        found = reopened.get_key(key_id)
        assert found is not None and found.name == "doomed"
        assert reopened.authenticate_appcode(appcode) == found
    finally:
        reopened.close()


# --- URLs and health ---------------------------------------------------------------------


def test_ping_and_close(store: KeyStore) -> None:
    assert store.ping()
    store.close()
    assert store.ping()  # a closed store reconnects on use


def test_ping_false_when_unreachable(tmp_path: Path, cipher: SecretCipher) -> None:
    missing = KeyStore(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}", cipher)
    refused = KeyStore("postgresql://facelive@127.0.0.1:1/facelive", cipher)
    try:
        assert not missing.ping()
        assert not refused.ping()
    finally:
        missing.close()
        refused.close()


def test_unreachable_database_is_store_unavailable(tmp_path: Path, cipher: SecretCipher) -> None:
    # A 5000 that says what is wrong; the pool reconnects once the database is back.
    missing = KeyStore(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}", cipher)
    refused = KeyStore("postgresql://facelive@127.0.0.1:1/facelive", cipher)
    try:
        for store in (missing, refused):
            with pytest.raises(StoreUnavailableError) as info:
                store.authenticate_appcode("0" * 32)
            assert info.value.code == 5000
            assert info.value.msg == "the key store is unavailable, please retry later"
    finally:
        missing.close()
        refused.close()


def hold_write_lock(database_url: str) -> Callable[[], None]:
    """Another client takes a lock that blocks writing a key and keeps it (an operator's
    open transaction, a long migration); returns its release."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        lite = sqlite3.connect(str(url.database), isolation_level=None)
        lite.execute("BEGIN IMMEDIATE")
        return lite.close  # closing rolls back
    pg = psycopg.connect(plain_postgres(database_url))
    pg.execute("LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE")
    return pg.close


def test_a_write_stuck_behind_another_clients_lock_gives_up(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 5000 once the database's own timeout passes, not a request (and its worker thread)
    held for as long as the lock is; the store works again once the lock is gone."""
    monkeypatch.setattr(engine, "BUSY_TIMEOUT_MS", 1000)
    monkeypatch.setattr(engine, "PG_STATEMENT_TIMEOUT_S", 1)
    opened = _open(database_url)
    try:
        opened.create_key("before")
        release = hold_write_lock(database_url)
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError) as info:
                opened.create_key("stuck")
            waited = time.monotonic() - started
        finally:
            release()
        assert info.value.code == 5000
        assert 0.5 <= waited < 10
        opened.create_key("after")
        assert sorted(k.name for k in opened.list_keys()) == ["after", "before"]
    finally:
        opened.close()


def test_url_for(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert KeyStore.url_for(data_dir, None) == f"sqlite:///{data_dir / 'facelive.db'}"
    assert data_dir.is_dir()
    url = "postgresql://u:p@db:5432/facelive"
    assert KeyStore.url_for(tmp_path / "unused", url) == url
    assert not (tmp_path / "unused").exists()


def test_postgres_url_aliases(postgres_server: str, cipher: SecretCipher) -> None:
    for scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        url = scheme + "://" + postgres_server.split("://", 1)[1]
        aliased = KeyStore(url, cipher)
        try:
            assert aliased.ping()
        finally:
            aliased.close()


def test_unsupported_database_url(cipher: SecretCipher) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        KeyStore("mysql://u@localhost/db", cipher)


# --- SecretCipher ------------------------------------------------------------------------


def test_cipher_round_trip_and_random_nonce(cipher: SecretCipher) -> None:
    first = cipher.encrypt("s3cret", "app")
    assert first.startswith("v1:") and "s3cret" not in first
    assert cipher.encrypt("s3cret", "app") != first
    assert cipher.decrypt(first, "app") == "s3cret"


@settings(max_examples=50, deadline=None)
@given(plaintext=st.text(), aad=st.text())
def test_cipher_round_trips_any_text(plaintext: str, aad: str) -> None:
    cipher = SecretCipher(SERVER_KEY)
    assert cipher.decrypt(cipher.encrypt(plaintext, aad), aad) == plaintext


def _flip(token: str, index: int) -> str:
    chars = list(token)
    chars[index] = "A" if chars[index] != "A" else "B"
    return "".join(chars)


@pytest.mark.parametrize(
    "alter",
    [
        pytest.param(lambda t: _flip(t, 10), id="nonce"),
        pytest.param(lambda t: _flip(t, 30), id="ciphertext"),
        pytest.param(lambda t: _flip(t, len(t) - 5), id="tag"),
        pytest.param(lambda t: t[:-8], id="truncated"),
        pytest.param(lambda t: "v1:" + "A" * 8, id="too-short"),
        pytest.param(lambda t: "v2:" + t[3:], id="version"),
        pytest.param(lambda t: t[3:], id="no-version"),
        pytest.param(lambda t: t[:20] + "*" + t[20:], id="not-base64"),
        pytest.param(lambda t: t + "é", id="non-ascii"),
    ],
)
def test_cipher_detects_tampering(cipher: SecretCipher, alter: Callable[[str], str]) -> None:
    token = cipher.encrypt("a" * 32, "app")
    with pytest.raises(SecretDecryptionError):
        cipher.decrypt(alter(token), "app")


def test_cipher_rejects_wrong_key_and_other_row(cipher: SecretCipher) -> None:
    token = cipher.encrypt("a" * 32, "app-one")
    with pytest.raises(SecretDecryptionError):
        SecretCipher(OTHER_KEY).decrypt(token, "app-one")
    with pytest.raises(SecretDecryptionError):
        cipher.decrypt(token, "app-two")  # moved to another key's row
    assert issubclass(SecretDecryptionError, InternalError)
    with pytest.raises(ValueError, match="32 bytes"):
        SecretCipher(b"short")


# --- server key --------------------------------------------------------------------------


def test_server_key_created_private_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"
    key = load_or_create_server_key(data_dir, None)
    path = data_dir / KEY_FILE
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert path.read_text().strip() == key.hex()
    assert load_or_create_server_key(data_dir, None) == key
    assert sorted(p.name for p in data_dir.iterdir()) == [KEY_FILE]  # no temporary left


def test_existing_data_dir_mode_is_kept(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    load_or_create_server_key(tmp_path, None)
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755


def test_server_key_race_ends_with_one_key(tmp_path: Path) -> None:
    keys = in_threads(8, lambda: load_or_create_server_key(tmp_path / "d", None))
    assert len(set(keys)) == 1
    assert (tmp_path / "d" / KEY_FILE).read_text().strip() == keys[0].hex()


def test_configured_key_overrides_file(tmp_path: Path) -> None:
    configured = "AB" * 32
    assert load_or_create_server_key(tmp_path, configured) == bytes.fromhex(configured)
    assert not (tmp_path / KEY_FILE).exists()
    load_or_create_server_key(tmp_path, None)
    assert load_or_create_server_key(tmp_path, f" {configured}\n") == bytes.fromhex(configured)


@pytest.mark.parametrize("bad", ["", "abc", "0" * 63, "0" * 65, "g" * 64, "0x" + "0" * 62])
def test_malformed_configured_key(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="64 hexadecimal digits"):
        load_or_create_server_key(tmp_path, bad)
    assert not (tmp_path / KEY_FILE).exists()


def test_malformed_key_file(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_text("not a key\n")
    with pytest.raises(ValueError, match=KEY_FILE):
        load_or_create_server_key(tmp_path, None)
    assert (tmp_path / KEY_FILE).read_text() == "not a key\n"  # never overwritten


def test_api_key_active() -> None:
    now = datetime.now(UTC)
    assert ApiKey("key_1", "n", "a", now, None).active
    assert not ApiKey("key_1", "n", "a", now, now).active


# --- per-key limits ----------------------------------------------------------------------


def test_limits_default_to_the_server_and_can_be_set_and_cleared(store: KeyStore) -> None:
    issued = store.create_key("limited")
    assert issued.key.limits == KeyLimits()
    changed = store.set_limits(issued.key.id, KeyLimits(rps=2.5, burst=3, daily_quota=1000))
    assert changed.limits == KeyLimits(2.5, 3, 1000)
    # Every read path carries the limits, so a request needs no extra query for them.
    assert store.get_key(issued.key.id) == changed
    assert store.list_keys() == [changed]
    assert store.authenticate_appcode(issued.appcode) == changed
    assert store.signing_secret(issued.key.app_key) == (changed, issued.app_secret)
    # Limits survive rotation and revocation.
    assert store.rotate(issued.key.id).key.limits == changed.limits
    assert store.revoke(issued.key.id).limits == changed.limits
    cleared = store.set_limits(issued.key.id, KeyLimits(burst=5))
    assert cleared.limits == KeyLimits(None, 5, None)


def test_limits_refuse_unknown_keys_and_bad_values(store: KeyStore) -> None:
    with pytest.raises(KeyError):
        store.set_limits("key_nope", KeyLimits(rps=1.0))
    for bad in ({"rps": 0.0}, {"rps": -1.0}, {"burst": 0}, {"daily_quota": 0}):
        with pytest.raises(ValueError, match="must be"):
            KeyLimits(**bad)


def test_an_older_database_gains_the_limit_columns(database_url: str) -> None:
    """A database made before the limits existed: its keys keep working, with defaults."""
    first = _open(database_url)
    issued = first.create_key("from-before")
    first.close()
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:  # back to the first release's schema
            for column in ("rate_limit_rps", "rate_limit_burst", "daily_quota"):
                conn.execute(text(f"ALTER TABLE api_keys DROP COLUMN {column}"))
            conn.execute(text("DROP TABLE recent_requests"))
            conn.execute(text("DROP TABLE limit_state"))
    finally:
        engine.dispose()
    assert len(_raw_rows(database_url, "SELECT * FROM api_keys")[0]) == 7

    _open(database_url).close()
    migrated = _open(database_url)  # a second migration finds nothing to do
    try:
        key = migrated.get_key(issued.key.id)
        assert key is not None and key.limits == KeyLimits()
        assert migrated.authenticate_appcode(issued.appcode) == key
        updated = migrated.set_limits(key.id, KeyLimits(rps=1.0, burst=1, daily_quota=2))
        assert updated.limits == KeyLimits(1.0, 1, 2)
        migrated.record_request(_entry(key.id, 200))
        assert [r.key_id for r in migrated.recent()] == [key.id]
    finally:
        migrated.close()
    assert len(_raw_rows(database_url, "SELECT * FROM api_keys")[0]) == 10
    assert _raw_rows(database_url, "SELECT key_id FROM limit_state") == []  # created, empty


# --- recent requests ---------------------------------------------------------------------


def _entry(
    key_id: str, code: int, score: float | None = None, at: datetime | None = None, n: int = 0
) -> RecentRequest:
    moment = at or datetime.now(UTC)
    return RecentRequest(moment, key_id, f"req{n:029d}", code, score, 12.5 + n)


def test_recent_requests_keep_only_the_newest(database_url: str) -> None:
    kept = KeyStore(database_url, SecretCipher(SERVER_KEY), recent_kept=5)
    kept.create_schema()
    try:
        when = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)
        for n in range(8):
            code = 200 if n % 2 == 0 else 4004
            kept.record_request(_entry(f"key_{n % 2}", code, round(0.5 + n / 100, 2), when, n))
        newest = kept.recent(100)
        assert [r.request_id for r in newest] == [f"req{n:029d}" for n in (7, 6, 5, 4, 3)]
        assert newest[0] == RecentRequest(when, "key_1", f"req{7:029d}", 4004, 0.57, 19.5)
        assert len(_raw_rows(database_url, "SELECT id FROM recent_requests")) == 5
        assert [r.request_id[-1] for r in kept.recent(2)] == ["7", "6"]
        assert {r.key_id for r in kept.recent(100, key_id="key_0")} == {"key_0"}
        # Every request is still counted in the daily usage, beyond the recent window.
        assert sum(r.count for r in kept.usage()) == 8
        kept.record_request(_entry("key_x", 4002, None, when, 9))
        assert kept.recent(1)[0].score is None
    finally:
        kept.close()
