"""The durable API-key store: one SQLAlchemy Core implementation over SQLite and PostgreSQL.

Several processes (uvicorn workers, ``facelive keys``) share one database, so every write is
one transaction that commits before the method returns, and every check-and-set (nonces,
usage counters, rotation) is made atomic by the database itself, never by this process.

Secrets at rest: an APPCODE is kept only as its sha256; an AppSecret, which the signature
scheme needs back, is encrypted with ``SecretCipher`` bound to its key's ``app_key``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Engine,
    Executable,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from facelive.auth.engine import (
    WRITE,
    StoreUnavailableError,
    engine_url,
    on_sqlite_begin,
    on_sqlite_connect,
    on_store_error,
    pg_connect_args,
)
from facelive.auth.records import ApiKey, IssuedKey, KeyLimits, RecentRequest, UsageRow
from facelive.auth.schema import create_or_upgrade
from facelive.auth.secrets import SecretCipher
from facelive.auth.tables import api_keys, recent_requests, signature_nonces, usage_daily

__all__ = [
    "ApiKey",
    "IssuedKey",
    "KeyLimits",
    "KeyStore",
    "RecentRequest",
    "UsageRow",
    "appcode_hash",
]

_NONCE_PURGE_EVERY_S = 60.0
_KEY_COLUMNS = (
    api_keys.c.id,
    api_keys.c.name,
    api_keys.c.app_key,
    api_keys.c.created_at,
    api_keys.c.revoked_at,
    api_keys.c.rate_limit_rps,
    api_keys.c.rate_limit_burst,
    api_keys.c.daily_quota,
)


def appcode_hash(appcode: str) -> str:
    """Hex sha256 of an APPCODE, the only form in which it is stored.

    No salt or slow hash is needed: issued APPCODEs are 128 random bits, so no dictionary or
    brute-force search over the hash can find them.
    """
    return hashlib.sha256(appcode.encode("utf-8")).hexdigest()


def _usage_day(key_id: str, code: int, when: datetime | None) -> dict[str, object]:
    """The parameters of ``KeyStore._usage_upsert``: ``when`` (default now) counts on its
    UTC day; a naive datetime is refused."""
    moment = datetime.now(UTC) if when is None else when
    if moment.tzinfo is None:
        raise ValueError("usage is counted by timezone-aware datetimes only")
    return {"key_id": key_id, "day": moment.astimezone(UTC).date(), "code": code}


def _key_from_row(row: Sequence[Any]) -> ApiKey:
    key_id, name, app_key, created_at, revoked_at, rps, burst, quota = row
    limits = KeyLimits(
        None if rps is None else float(rps),
        None if burst is None else int(burst),
        None if quota is None else int(quota),
    )
    return ApiKey(key_id, name, app_key, created_at, revoked_at, limits)


class KeyStore:
    """API keys, signature nonces and daily usage counts in one database.

    Safe to share between threads; several processes may open the same database at once.
    """

    def __init__(self, url: str, cipher: SecretCipher, recent_kept: int = 1000) -> None:
        """``recent_kept``: how many recent requests ``record_request`` keeps (newest)."""
        parsed = engine_url(url)
        self._cipher = cipher
        self._recent_kept = max(1, recent_kept)
        pg = parsed.get_backend_name() == "postgresql"
        connect_args = pg_connect_args() if pg else {}
        # pre-ping: a connection the database dropped (restart) is replaced, not used.
        self._engine: Engine = create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
        self._dialect = self._engine.dialect.name
        event.listen(self._engine, "handle_error", on_store_error)
        if self._dialect == "sqlite":
            event.listen(self._engine, "connect", on_sqlite_connect)
            event.listen(self._engine, "begin", on_sqlite_begin)
        # Same pool; transactions begun from it take SQLite's write lock at BEGIN.
        self._writer = self._engine.execution_options(**{WRITE: True})
        # A lone statement is atomic by itself. On PostgreSQL it runs without BEGIN and
        # COMMIT, a round trip each; SQLite keeps BEGIN IMMEDIATE, since a lone write would
        # take the write lock only after reading, and fail at once if another wrote between.
        self._one_statement = (
            self._writer
            if self._dialect == "sqlite"
            else self._engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._next_purge = 0.0
        # The per-request statements are built once and bound per call: building and
        # cache-keying a statement costs more Python time than running it.
        self._by_appcode = select(*_KEY_COLUMNS, api_keys.c.appcode_hash).where(
            api_keys.c.appcode_hash == bindparam("appcode_hash")
        )
        self._by_app_key = select(*_KEY_COLUMNS, api_keys.c.secret_enc).where(
            api_keys.c.app_key == bindparam("app_key")
        )
        self._count_usage = self._usage_upsert()
        # Without preserve_rowcount, psycopg answers -1 for an INSERT's rowcount.
        self._use_nonce = (
            self.insert(signature_nonces)
            .on_conflict_do_nothing()
            .execution_options(preserve_rowcount=True)
        )
        self._remember_request = recent_requests.insert()
        cutoff = (
            select(recent_requests.c.id)
            .order_by(recent_requests.c.id.desc())
            .offset(self._recent_kept)
            .limit(1)
            .scalar_subquery()
        )
        self._forget_old_requests = recent_requests.delete().where(recent_requests.c.id <= cutoff)

    @staticmethod
    def url_for(data_dir: Path, database_url: str | None) -> str:
        """``database_url`` when set, else the SQLite file in ``data_dir`` (created)."""
        if database_url:
            return database_url
        data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{data_dir.resolve() / 'facelive.db'}"

    def create_schema(self) -> None:
        """Creates missing tables and adds columns that older databases lack; safe when
        several processes start at once (one transaction under the write lock)."""
        with self._writer.begin() as conn:
            create_or_upgrade(conn)

    # --- keys ---------------------------------------------------------------------------

    def create_key(self, name: str) -> IssuedKey:
        key = ApiKey(
            id="key_" + secrets.token_hex(6),
            name=name,
            app_key=secrets.token_hex(12),
            created_at=datetime.now(UTC),
            revoked_at=None,
        )
        appcode, app_secret = secrets.token_hex(16), secrets.token_hex(16)
        with self._writer.begin() as conn:
            conn.execute(
                api_keys.insert().values(
                    id=key.id,
                    name=key.name,
                    app_key=key.app_key,
                    appcode_hash=appcode_hash(appcode),
                    secret_enc=self._cipher.encrypt(app_secret, key.app_key),
                    created_at=key.created_at,
                    revoked_at=None,
                )
            )
        return IssuedKey(key, appcode, app_secret)

    def list_keys(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        query = select(*_KEY_COLUMNS).order_by(api_keys.c.created_at, api_keys.c.id)
        with self._engine.connect() as conn:
            return [_key_from_row(row) for row in conn.execute(query)]

    def get_key(self, key_id: str) -> ApiKey | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(*_KEY_COLUMNS).where(api_keys.c.id == key_id)).first()
        return None if row is None else _key_from_row(row)

    def set_limits(self, key_id: str, limits: KeyLimits) -> ApiKey:
        """Replaces the key's own limits (``None`` fields: the server default); they apply
        from the next request, in every worker. ``KeyError`` if the key is unknown."""
        with self._writer.begin() as conn:
            conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id)
                .values(
                    rate_limit_rps=limits.rps,
                    rate_limit_burst=limits.burst,
                    daily_quota=limits.daily_quota,
                )
            )
            row = conn.execute(select(*_KEY_COLUMNS).where(api_keys.c.id == key_id)).first()
        if row is None:
            raise KeyError(key_id)
        return _key_from_row(row)

    def count_keys(self) -> int:
        """How many keys exist, revoked ones included."""
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(api_keys)).scalar_one())

    def revoke(self, key_id: str) -> ApiKey:
        """Revokes a key at once; revoking again keeps the first time. ``KeyError`` if unknown."""
        with self._writer.begin() as conn:
            conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
            row = conn.execute(select(*_KEY_COLUMNS).where(api_keys.c.id == key_id)).first()
        if row is None:
            raise KeyError(key_id)
        return _key_from_row(row)

    def rotate(self, key_id: str) -> IssuedKey:
        """New APPCODE and AppSecret for the same id and AppKey; the old ones stop working.

        ``KeyError`` if the key is unknown, ``ValueError`` if it is revoked.
        """
        appcode, app_secret = secrets.token_hex(16), secrets.token_hex(16)
        with self._writer.begin() as conn:
            # FOR UPDATE (PostgreSQL) / BEGIN IMMEDIATE (SQLite): no revoke slips in between.
            query = select(*_KEY_COLUMNS).where(api_keys.c.id == key_id).with_for_update()
            row = conn.execute(query).first()
            if row is None:
                raise KeyError(key_id)
            key = _key_from_row(row)
            if not key.active:
                raise ValueError(f"key {key_id} is revoked; create a new key instead")
            conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id)
                .values(
                    appcode_hash=appcode_hash(appcode),
                    secret_enc=self._cipher.encrypt(app_secret, key.app_key),
                )
            )
        return IssuedKey(key, appcode, app_secret)

    # --- authentication -----------------------------------------------------------------

    def authenticate_appcode(self, appcode: str) -> ApiKey | None:
        """The key this APPCODE belongs to, revoked or not (the caller words the refusal)."""
        wanted = appcode_hash(appcode)
        with self._engine.connect() as conn:
            row = conn.execute(self._by_appcode, {"appcode_hash": wanted}).first()
        if row is None or not hmac.compare_digest(row[-1], wanted):
            return None
        return _key_from_row(row[:-1])

    def signing_secret(self, app_key: str) -> tuple[ApiKey, str] | None:
        """The key with this AppKey (revoked or not) and its decrypted AppSecret.

        Raises ``SecretDecryptionError`` when the server key is not the one that encrypted it.
        """
        with self._engine.connect() as conn:
            row = conn.execute(self._by_app_key, {"app_key": app_key}).first()
        if row is None:
            return None
        key = _key_from_row(row[:-1])
        return key, self._cipher.decrypt(row[-1], key.app_key)

    def use_nonce(
        self, app_key: str, timestamp_ms: int, signature: str, expires_at: datetime
    ) -> bool:
        """Records a signature as used: True the first time, False for a replay.

        Atomic across processes (primary key + ON CONFLICT DO NOTHING). Nonces past
        ``expires_at`` are deleted now and then; by then the timestamp check refuses them.
        """
        now = time.monotonic()
        with self._writer.begin() as conn:
            if now >= self._next_purge:
                self._next_purge = now + _NONCE_PURGE_EVERY_S
                conn.execute(
                    signature_nonces.delete().where(
                        signature_nonces.c.expires_at < datetime.now(UTC)
                    )
                )
            used = {
                "app_key": app_key,
                "timestamp_ms": timestamp_ms,
                "signature": signature,
                "expires_at": expires_at,
            }
            return conn.execute(self._use_nonce, used).rowcount == 1

    # --- usage --------------------------------------------------------------------------

    def record_usage(self, key_id: str, code: int, when: datetime | None = None) -> None:
        """Counts one response with ``code`` for ``key_id`` on the UTC day of ``when`` (now)."""
        with self._writer.begin() as conn:
            conn.execute(self._count_usage, _usage_day(key_id, code, when))

    def record_request(self, entry: RecentRequest) -> None:
        """Counts the answer in the daily usage and keeps its metadata among the newest
        ``recent_kept`` requests, older ones deleted, in one transaction."""
        with self._writer.begin() as conn:
            conn.execute(self._count_usage, _usage_day(entry.key_id, entry.code, entry.at))
            conn.execute(
                self._remember_request,
                {
                    "at": entry.at,
                    "key_id": entry.key_id,
                    "request_id": entry.request_id,
                    "code": entry.code,
                    "score": entry.score,
                    "latency_ms": entry.latency_ms,
                },
            )
            conn.execute(self._forget_old_requests)

    def recent(self, limit: int = 100, key_id: str | None = None) -> list[RecentRequest]:
        """The newest recorded requests first, at most ``limit``."""
        t = recent_requests
        query = select(t.c.at, t.c.key_id, t.c.request_id, t.c.code, t.c.score, t.c.latency_ms)
        if key_id is not None:
            query = query.where(t.c.key_id == key_id)
        query = query.order_by(t.c.id.desc()).limit(max(0, limit))
        with self._engine.connect() as conn:
            return [
                RecentRequest(at, key, rid, int(code), score, float(ms))
                for at, key, rid, code, score, ms in conn.execute(query)
            ]

    def usage(self, key_id: str | None = None, since: date | None = None) -> list[UsageRow]:
        """Daily counts, by day, key and code; ``since`` is an inclusive UTC day."""
        t = usage_daily
        query = select(t.c.key_id, t.c.day, t.c.code, t.c["count"]).order_by(
            t.c.day, t.c.key_id, t.c.code
        )
        if key_id is not None:
            query = query.where(t.c.key_id == key_id)
        if since is not None:
            query = query.where(t.c.day >= since)
        with self._engine.connect() as conn:
            return [
                UsageRow(row_key, day, int(code), int(count))
                for row_key, day, code, count in conn.execute(query)
            ]

    # --- lifecycle ----------------------------------------------------------------------

    def ping(self) -> bool:
        """True when the database answers ``SELECT 1``."""
        try:
            with self._engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except (OperationalError, StoreUnavailableError):
            return False
        return True

    def execute_write(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> tuple[Any, ...] | None:
        """Runs one write statement, atomic on its own, committed before this returns; its
        first row, if it returns rows. On PostgreSQL one round trip (plus the pool's ping).

        The way in for ``facelive.auth.rate_limit``, which builds its own statements.
        """
        with self._one_statement.begin() as conn:
            result = conn.execute(statement, parameters)
            row = result.first() if result.returns_rows else None
            return None if row is None else tuple(row)

    def close(self) -> None:
        """Closes pooled connections; the store can be used again (it reconnects)."""
        self._engine.dispose()

    def _usage_upsert(self) -> postgresql.Insert | sqlite.Insert:
        """Adds one to a (key, UTC day, code) count; bound with ``_usage_day``."""
        count = usage_daily.c["count"]
        insert = self.insert(usage_daily).values(
            key_id=bindparam("key_id"), day=bindparam("day"), code=bindparam("code"), count=1
        )
        return insert.on_conflict_do_update(
            index_elements=[usage_daily.c.key_id, usage_daily.c.day, usage_daily.c.code],
            set_={"count": count + 1},
        )

    def insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """An INSERT with this database's ``ON CONFLICT`` clauses."""
        if self._dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)
