"""Per-key limits, answered with 4029 and ``Retry-After``: requests per second with a burst,
requests per UTC day, and (opt-in) failed liveness attempts per window. Their state lives in
the key store's database, so every worker and server sharing it enforces one limit per key.

All of a key's limit state is one row of ``limit_state``. Admitting a request is one
``INSERT ... ON CONFLICT (key_id) DO UPDATE ... RETURNING``, committed on its own (on
PostgreSQL without BEGIN/COMMIT: one round trip, see ``KeyStore.execute_write``). The
database serialises concurrent upserts of a row (PostgreSQL locks it, and the update sees the
latest committed version; SQLite's BEGIN IMMEDIATE takes the write lock) and each update
computes from the row as the previous one left it, so nothing can be admitted twice. A
request takes a token and a unit of quota only when every limit lets it through: a refusal
uses up nothing.

- Rate: GCRA, the token bucket kept as one number. ``rate_tat_us`` is when the key's bucket
  will be full again (it holds ``burst - (tat - now) * rps`` tokens); a request is admitted
  when ``tat - now <= (burst - 1) / rps`` and moves ``tat`` on by ``1 / rps``.
- Quota: ``quota_used`` counts the requests admitted on ``quota_day`` (UTC), reserved before
  the request is served, so a quota is never exceeded however many requests race for it.
- Failed attempts: a check that ends not live (4004, 4005) is counted afterwards, in a fixed
  window starting at the key's first failure; once ``limit`` failures are counted the key is
  refused until that window ends. Checks already running at that moment still finish.

Times are the serving process's wall clock in integer microseconds (exact arithmetic on both
databases): servers sharing a database need synchronised clocks, as the signature window
already does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Executable,
    Integer,
    String,
    bindparam,
    case,
    literal,
    update,
)

from facelive.auth.records import ApiKey
from facelive.auth.store import KeyStore
from facelive.auth.tables import limit_state
from facelive.errors import RateLimitError
from facelive.settings import Settings

_US = 1_000_000
# Bits of limit_state.refused: which limits refused the latest request.
RATE, QUOTA, FAILURES = 1, 2, 4


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    """The server's limits. ``rps`` 0 turns the default rate limit off (a key's own limit
    still applies); ``failed_attempts`` 0 turns the failed-attempt limit off."""

    rps: float = 0.0
    burst: int = 10
    failed_attempts: int = 0
    failed_window_s: float = 600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> LimitPolicy:
        return cls(
            settings.rate_limit_rps,
            settings.rate_limit_burst,
            settings.failed_attempt_limit,
            settings.failed_attempt_window_s,
        )


class SharedLimiter:
    """Admits requests of a key against its limits (its own, else the server's), counting in
    the database; safe to share between threads, processes and servers."""

    def __init__(
        self, store: KeyStore, policy: LimitPolicy, clock: Callable[[], float] = time.time
    ) -> None:
        """``clock``: seconds since the epoch (UTC); tests pass their own."""
        self.store = store
        self.policy = policy
        self.clock = clock
        # Statements are built once per set of limits in use and bound per request: building
        # and cache-keying a statement costs more Python time than running it.
        self._statements: dict[tuple[bool, bool, bool], Executable] = {}

    def admit(self, key: ApiKey) -> None:
        """Takes a token and a unit of the key's daily quota, or raises ``RateLimitError``
        (4029) with the seconds until a retry can succeed."""
        now = int(self.clock() * _US)
        rps = self.policy.rps if key.limits.rps is None else key.limits.rps
        burst = max(1, self.policy.burst if key.limits.burst is None else key.limits.burst)
        # Microseconds between requests at the steady rate; None: no rate limit.
        interval = max(1, round(_US / rps)) if rps > 0 else None
        admission = _Admission(now, interval, burst, key.limits.daily_quota, self.policy)
        shape = (interval is not None, admission.quota is not None, admission.failures_on)
        statement = self._statements.get(shape)
        if statement is None:
            statement = self._statements[shape] = _admission_statement(self.store, *shape)
        row = self.store.execute_write(statement, admission.parameters(key.id))
        assert row is not None  # an upsert with RETURNING always answers one row
        refused, tat, fail_since = int(row[0]), row[1], row[2]
        if refused:
            raise admission.refusal(refused, tat, fail_since, rps)

    def record_failure(self, key_id: str) -> None:
        """Counts a check that ended not live against the failed-attempt limit (if on)."""
        if self.policy.failed_attempts <= 0:
            return
        now = int(self.clock() * _US)
        floor = now - round(self.policy.failed_window_s * _US)
        self.store.execute_write(_FAILURE, {"key": key_id, "now": now, "fail_floor": floor})


# The statements' parameters, bound per request (microseconds, except ``day``).
_KEY = bindparam("key", type_=String())
_NOW = bindparam("now", type_=BigInteger())
_DAY = bindparam("day", type_=Date())
_INTERVAL = bindparam("interval", type_=BigInteger())  # between requests at the steady rate
_TOLERANCE = bindparam("tolerance", type_=BigInteger())  # (burst - 1) * interval
_QUOTA = bindparam("quota", type_=BigInteger())
_FAIL_LIMIT = bindparam("fail_limit", type_=Integer())
_FAIL_FLOOR = bindparam("fail_floor", type_=BigInteger())  # failures since then count

_s = limit_state.c
# True when the key has no open failure window at now.
_WINDOW_CLOSED = _s.fail_since_us.is_(None) | (_s.fail_since_us <= _FAIL_FLOOR)
_FAILURE = (
    update(limit_state)
    .where(_s.key_id == _KEY)
    .values(
        fail_count=case((_WINDOW_CLOSED, 1), else_=_s.fail_count + 1),
        fail_since_us=case((_WINDOW_CLOSED, _NOW), else_=_s.fail_since_us),
    )
)


def _admission_statement(store: KeyStore, rate: bool, quota: bool, failures: bool) -> Any:
    """The admission upsert for the limits in use: decides, takes a token and a unit of
    quota when every limit allows, records which refused, and returns the state."""
    # The bucket's clock never runs behind now: an idle key's bucket is simply full.
    base = case((_s.rate_tat_us > _NOW, _s.rate_tat_us), else_=_NOW)
    refused: ColumnElement[int] = literal(0, Integer)
    if rate:
        refused = refused + case((base - _NOW > _TOLERANCE, RATE), else_=0)
    if quota:
        over = (_s.quota_day == _DAY) & (_s.quota_used >= _QUOTA)
        refused = refused + case((over, QUOTA), else_=0)
    if failures:
        locked = ~_WINDOW_CLOSED & (_s.fail_count >= _FAIL_LIMIT)
        refused = refused + case((locked, FAILURES), else_=0)
    admitted = refused == 0
    changes: dict[str, Any] = {
        "refused": refused,
        "quota_day": case((admitted, _DAY), else_=_s.quota_day),
        "quota_used": case(
            (admitted, case((_s.quota_day == _DAY, _s.quota_used + 1), else_=1)),
            else_=_s.quota_used,
        ),
    }
    first: dict[str, Any] = {"key_id": _KEY, "refused": 0, "quota_day": _DAY, "quota_used": 1}
    if rate:
        changes["rate_tat_us"] = case((admitted, base + _INTERVAL), else_=_s.rate_tat_us)
        first["rate_tat_us"] = _NOW + _INTERVAL
    return (
        store.insert(limit_state)
        .values(**first)
        .on_conflict_do_update(index_elements=[_s.key_id], set_=changes)
        .returning(_s.refused, _s.rate_tat_us, _s.fail_since_us)
    )


@dataclass(frozen=True, slots=True)
class _Admission:
    """One request's admission: the statement's parameters, and the refusal it may answer."""

    now: int
    interval: int | None
    burst: int
    quota: int | None
    policy: LimitPolicy

    @property
    def failures_on(self) -> bool:
        return self.policy.failed_attempts > 0

    @property
    def window(self) -> int:
        return round(self.policy.failed_window_s * _US)

    def parameters(self, key_id: str) -> dict[str, Any]:
        day = datetime.fromtimestamp(self.now / _US, UTC).date()
        values: dict[str, Any] = {"key": key_id, "now": self.now, "day": day}
        if self.interval is not None:
            values["interval"] = self.interval
            values["tolerance"] = (self.burst - 1) * self.interval
        if self.quota is not None:
            values["quota"] = self.quota
        if self.failures_on:
            values["fail_limit"] = self.policy.failed_attempts
            values["fail_floor"] = self.now - self.window
        return values

    def refusal(
        self, refused: int, tat: int | None, fail_since: int | None, rps: float
    ) -> RateLimitError:
        """The 4029 for the limit that lasts longest among those that refused."""
        waits: list[tuple[int, str, str]] = []
        if refused & RATE and tat is not None and self.interval is not None:
            wait = tat - self.now - (self.burst - 1) * self.interval
            waits.append(
                (
                    wait,
                    f"rate limit of {rps:g} requests per second exceeded; retry later",
                    f"超过每秒{rps:g}次请求的频率限制，请稍后重试",
                )
            )
        if refused & QUOTA:
            waits.append(
                (
                    _until_utc_midnight(self.now),
                    f"daily quota of {self.quota} requests used up; it resets at 00:00 UTC",
                    f"已用完每日{self.quota}次的请求配额，将于UTC时间0点重置",
                )
            )
        if refused & FAILURES and fail_since is not None:
            limit, window = self.policy.failed_attempts, self.policy.failed_window_s
            waits.append(
                (
                    fail_since + self.window - self.now,
                    f"too many failed liveness attempts ({limit} within {window:g} s); retry later",
                    f"活体检测失败次数过多（{window:g}秒内{limit}次），请稍后重试",
                )
            )
        wait, msg, msg_cn = max(waits, key=lambda w: w[0])
        return RateLimitError(max(1, math.ceil(wait / _US)), msg, msg_cn)


def _until_utc_midnight(now: int) -> int:
    """Microseconds from ``now`` to the next 00:00 UTC."""
    moment = datetime.fromtimestamp(now / _US, UTC)
    midnight = datetime.combine(moment.date() + timedelta(days=1), datetime.min.time(), UTC)
    return round((midnight - moment).total_seconds() * _US)
