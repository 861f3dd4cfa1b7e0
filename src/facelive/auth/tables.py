"""The key store's tables, the same on SQLite and PostgreSQL.

Every time is a timezone-aware UTC ``datetime`` going in and coming out (``UtcDateTime``),
whichever database holds it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC ``datetime`` in and out; a naive value is refused rather than guessed.

    PostgreSQL keeps ``timestamptz`` and answers in the session's zone, converted back to UTC
    here. SQLite has no zone: values are stored as naive UTC text (which sorts by time) and
    tagged UTC when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the key store only stores timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData()

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", Text, nullable=False),
    # The public AppKey sent in x-ca-key.
    Column("app_key", String(64), nullable=False, unique=True),
    # Hex sha256 of the APPCODE; the APPCODE itself is never stored.
    Column("appcode_hash", String(64), nullable=False, unique=True),
    # The AppSecret, encrypted by SecretCipher with app_key as associated data.
    Column("secret_enc", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    # Per-key limits; NULL means the server's default. Added after the first release, so
    # KeyStore.create_schema adds them to older databases (LIMIT_COLUMNS).
    Column("rate_limit_rps", Float, nullable=True),
    Column("rate_limit_burst", Integer, nullable=True),
    Column("daily_quota", BigInteger, nullable=True),
)

# Columns of api_keys that databases created before them lack; added by ALTER TABLE.
LIMIT_COLUMNS = ("rate_limit_rps", "rate_limit_burst", "daily_quota")

# One row per accepted signature, so that each is accepted once even across processes.
signature_nonces = Table(
    "signature_nonces",
    metadata,
    Column("app_key", String(64), nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False),
    Column("signature", String(64), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False, index=True),
    PrimaryKeyConstraint("app_key", "timestamp_ms", "signature"),
)

# Responses per key, UTC day and contract code (200, 4001, 4010...).
usage_daily = Table(
    "usage_daily",
    metadata,
    Column("key_id", String(32), nullable=False),
    Column("day", Date, nullable=False),
    Column("code", Integer, nullable=False),
    Column("count", BigInteger, nullable=False),
    PrimaryKeyConstraint("key_id", "day", "code"),
)

# Metadata of the latest requests (never images), trimmed to the newest N rows so that every
# worker and the operator console share one bounded log.
recent_requests = Table(
    "recent_requests",
    metadata,
    # SQLite only auto-numbers an INTEGER PRIMARY KEY; PostgreSQL gets a BIGSERIAL.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("request_id", String(32), nullable=False),
    Column("code", Integer, nullable=False),
    # Calibrated liveness score when a face was scored, else NULL.
    Column("score", Float, nullable=True),
    Column("latency_ms", Float, nullable=False),
)

# The limiter's state, one row per key, read and written by one upsert per request
# (facelive.auth.rate_limit) so that every worker and server sharing the database enforces
# one rate, one daily quota and one failed-attempt count per key. Times are integer
# microseconds since the epoch: exact arithmetic on both databases.
limit_state = Table(
    "limit_state",
    metadata,
    Column("key_id", String(32), primary_key=True),
    # GCRA's "theoretical arrival time": when the key's token bucket will be full again
    # (facelive.auth.rate_limit); NULL until a rate limit first applies to the key.
    Column("rate_tat_us", BigInteger, nullable=True),
    # Requests admitted on quota_day (UTC), whether or not the key has a quota, so that a
    # quota set during the day counts what was already served.
    Column("quota_day", Date, nullable=True),
    Column("quota_used", BigInteger, nullable=False, server_default="0"),
    # Failed liveness attempts (not live) counted since fail_since_us, a fixed window.
    Column("fail_since_us", BigInteger, nullable=True),
    Column("fail_count", Integer, nullable=False, server_default="0"),
    # Which limits refused the latest request (a bit set; 0: admitted), so that the one
    # upsert can say it through RETURNING.
    Column("refused", SmallInteger, nullable=False, server_default="0"),
)
