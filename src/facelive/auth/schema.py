"""Creating the key store's schema and upgrading one made by an older facelive, the same on
SQLite and PostgreSQL; safe when several processes start at once."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, func, inspect, literal, select, text

from facelive.auth.tables import LIMIT_COLUMNS, api_keys, limit_state, metadata, usage_daily

# Arbitrary constant naming the PostgreSQL advisory lock that serialises schema creation.
_SCHEMA_LOCK_ID = 0x66616365  # "face"
# A 4029 answer is a limit at work, not a request served: it uses no quota.
NOT_COUNTED = (4029,)


def create_or_upgrade(conn: Connection) -> None:
    """Creates missing tables and adds the columns older databases lack, in the caller's
    write transaction (SQLite's BEGIN IMMEDIATE; on PostgreSQL an advisory lock is taken
    here), so concurrent starts run it one after the other. Idempotent."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _SCHEMA_LOCK_ID})
    limits_new = not inspect(conn).has_table(limit_state.name)
    metadata.create_all(conn, checkfirst=True)
    _add_missing_columns(conn)
    if limits_new:
        _seed_quota_counts(conn)


def _add_missing_columns(conn: Connection) -> None:
    """``ALTER TABLE api_keys ADD COLUMN`` for each limit column a database made by an older
    facelive lacks. Each is nullable, so existing keys keep the server defaults."""
    present = {column["name"] for column in inspect(conn).get_columns("api_keys")}
    preparer = conn.dialect.identifier_preparer
    for name in LIMIT_COLUMNS:
        if name in present:
            continue
        column = api_keys.c[name]
        kind = column.type.compile(dialect=conn.dialect)
        conn.execute(text(f"ALTER TABLE api_keys ADD COLUMN {preparer.quote(name)} {kind}"))


def _seed_quota_counts(conn: Connection) -> None:
    """When ``limit_state`` is new in a database that already served requests, today's quota
    counts start from the requests served today (as the older quota check counted them)."""
    t = usage_daily
    today = datetime.now(UTC).date()
    served = (
        select(t.c.key_id, literal(today, limit_state.c.quota_day.type), func.sum(t.c["count"]))
        .where(t.c.day == today, t.c.code.not_in(NOT_COUNTED))
        .group_by(t.c.key_id)
    )
    columns = ["key_id", "quota_day", "quota_used"]
    conn.execute(limit_state.insert().from_select(columns, served))
