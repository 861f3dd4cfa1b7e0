"""Connecting the key store's engine: URL schemes, SQLite made safe for several processes
(WAL, busy timeout, BEGIN IMMEDIATE for writers), and a lost database named as such."""

from __future__ import annotations

import sqlite3
import time

from sqlalchemy import URL, Connection, make_url
from sqlalchemy.engine import ExceptionContext

from facelive.errors import InternalError

# Execution option that marks a writer's connection (see on_sqlite_begin).
WRITE = "facelive_write"
BUSY_TIMEOUT_MS = 5000
# Seconds a PostgreSQL connect may take: a stalled server must not hang requests.
PG_CONNECT_TIMEOUT_S = 5
# Seconds one PostgreSQL statement may take, waits for locks included: a request stuck behind
# another client's lock (a long migration, an operator's open transaction) fails with a 5000
# instead of holding its worker thread for as long as the lock is held. Every statement of
# the store touches a handful of rows; 10 s is far beyond any of them.
PG_STATEMENT_TIMEOUT_S = 10
# PostgreSQL's codes for "gave up waiting": statement timeout (or cancel), lock timeout.
_GAVE_UP = {"57014", "55P03"}


class StoreUnavailableError(InternalError):
    """The key-store database cannot be reached (down, restarting, connection lost).

    A 5000 the caller can only retry; the pool reconnects by itself (pre-ping) once the
    database is back, so no restart of facelive is needed.
    """

    default_msg = "the key store is unavailable, please retry later"
    default_msg_cn = "密钥存储暂时不可用，请稍后重试"


def engine_url(url: str) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres") and parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(
            f"unsupported database URL scheme {parsed.drivername!r}: use "
            "sqlite:////absolute/path/facelive.db or postgresql://user:password@host:port/db"
        )
    return parsed


def pg_connect_args() -> dict[str, object]:
    """libpq settings for every PostgreSQL connection of the store."""
    timeout_ms = round(PG_STATEMENT_TIMEOUT_S * 1000)
    return {
        "connect_timeout": PG_CONNECT_TIMEOUT_S,
        "options": f"-c statement_timeout={timeout_ms}",
    }


def _enable_wal(dbapi_conn: sqlite3.Connection) -> None:
    """WAL lets readers run beside the one writer, in this process and in others.

    Converting a new file to WAL needs an exclusive lock and answers SQLITE_BUSY at once,
    without waiting out busy_timeout, when other connections open the file at that moment
    (several workers starting on a fresh database), so it is retried for a while.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def on_sqlite_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    # Let SQLAlchemy emit BEGIN itself (see _on_sqlite_begin) instead of the driver.
    dbapi_conn.isolation_level = None
    dbapi_conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    _enable_wal(dbapi_conn)
    # Every commit survives a crash of the process (kill -9); a power cut may lose the last.
    dbapi_conn.execute("PRAGMA synchronous=NORMAL")
    dbapi_conn.execute("PRAGMA foreign_keys=ON")


def on_sqlite_begin(conn: Connection) -> None:
    # A deferred transaction that reads, then writes, fails at once with "database is locked"
    # when another process wrote in between; BEGIN IMMEDIATE takes the write lock up front,
    # so concurrent writers wait (busy_timeout) instead.
    write = conn.get_execution_options().get(WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _gave_up_waiting(exc: BaseException | None) -> bool:
    """The database gave up on a statement that waited too long: PostgreSQL's statement or
    lock timeout, SQLite's busy timeout."""
    if isinstance(exc, sqlite3.OperationalError):
        return exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return getattr(exc, "sqlstate", None) in _GAVE_UP


def on_store_error(context: ExceptionContext) -> BaseException | None:
    """SQLAlchemy's ``handle_error`` hook: a refused connect (no connection yet), a lost
    connection, or a statement the database gave up waiting for raises
    ``StoreUnavailableError`` instead; other errors pass unchanged.

    A failed pre-ping is left alone: the pool recognises its own error as a disconnect and
    opens a fresh connection, which is how requests recover after a database restart.
    """
    if context.is_pre_ping:
        return None
    if (
        context.is_disconnect
        or context.connection is None
        or _gave_up_waiting(context.original_exception)
    ):
        return StoreUnavailableError()
    return None
