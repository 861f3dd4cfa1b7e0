"""Operator actions on the key store, as JSON-ready records: the one implementation behind
``facelive keys`` and the console's ``/admin/api``, so the two never disagree.

Errors: ``KeyError`` for an unknown key id, ``ValueError`` for a value the operator can fix
(its message says how); each edge words them for its audience.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from facelive.auth.records import ApiKey, IssuedKey, KeyLimits, RecentRequest
from facelive.auth.store import KeyStore

MAX_NAME_LENGTH = 100
MAX_USAGE_DAYS = 366
MAX_RECENT = 1000


def key_record(key: ApiKey, used_today: int | None = None) -> dict[str, Any]:
    """A key's public parts and limits (``None``: the server default); never its secrets."""
    record: dict[str, Any] = {
        "id": key.id,
        "name": key.name,
        "app_key": key.app_key,
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
        "limits": limits_record(key.limits),
    }
    if used_today is not None:
        record["used_today"] = used_today
    return record


def limits_record(limits: KeyLimits) -> dict[str, Any]:
    return {"rps": limits.rps, "burst": limits.burst, "daily_quota": limits.daily_quota}


def issued_record(issued: IssuedKey) -> dict[str, Any]:
    """The only record that carries an AppCode and AppSecret: shown once, never stored."""
    return {
        "id": issued.key.id,
        "name": issued.key.name,
        "appcode": issued.appcode,
        "app_key": issued.key.app_key,
        "app_secret": issued.app_secret,
    }


def list_keys(store: KeyStore, today: date | None = None) -> list[dict[str, Any]]:
    """Every key, oldest first, with how many requests it made today (UTC, 4029 excluded)."""
    day = today or datetime.now(UTC).date()
    used: dict[str, int] = {}
    for row in store.usage(since=day):
        if row.day == day and row.code != 4029:
            used[row.key_id] = used.get(row.key_id, 0) + row.count
    return [key_record(key, used.get(key.id, 0)) for key in store.list_keys()]


def create_key(store: KeyStore, name: str) -> dict[str, Any]:
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"a key needs a name of 1 to {MAX_NAME_LENGTH} characters")
    return issued_record(store.create_key(name))


def revoke_key(store: KeyStore, key_id: str) -> dict[str, Any]:
    return key_record(store.revoke(key_id))


def rotate_key(store: KeyStore, key_id: str) -> dict[str, Any]:
    return issued_record(store.rotate(key_id))


def set_limits(
    store: KeyStore,
    key_id: str,
    rps: float | None,
    burst: int | None,
    daily_quota: int | None,
) -> dict[str, Any]:
    """Replaces all three limits of a key; ``None`` puts one back to the server default."""
    return key_record(store.set_limits(key_id, KeyLimits(rps, burst, daily_quota)))


def usage_report(
    store: KeyStore, key_id: str | None = None, days: int = 14, today: date | None = None
) -> dict[str, Any]:
    """Responses per UTC day, key and code over the last ``days`` days (today included)."""
    if not 1 <= days <= MAX_USAGE_DAYS:
        raise ValueError(f"days must be between 1 and {MAX_USAGE_DAYS}")
    until = today or datetime.now(UTC).date()
    since = until - timedelta(days=days - 1)
    if key_id is not None and store.get_key(key_id) is None:
        raise KeyError(key_id)
    rows = [
        {"key_id": r.key_id, "day": r.day.isoformat(), "code": r.code, "count": r.count}
        for r in store.usage(key_id, since=since)
        if r.day <= until
    ]
    return {"since": since.isoformat(), "until": until.isoformat(), "rows": rows}


def recent_record(entry: RecentRequest) -> dict[str, Any]:
    return {
        "at": entry.at.isoformat(),
        "key_id": entry.key_id,
        "request_id": entry.request_id,
        "code": entry.code,
        "score": entry.score,
        "latency_ms": entry.latency_ms,
    }


def recent_requests(
    store: KeyStore, limit: int = 100, key_id: str | None = None
) -> list[dict[str, Any]]:
    """The newest requests first (metadata only: there is no image to show)."""
    if not 1 <= limit <= MAX_RECENT:
        raise ValueError(f"limit must be between 1 and {MAX_RECENT}")
    return [recent_record(entry) for entry in store.recent(limit, key_id)]
