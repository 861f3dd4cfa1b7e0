"""Per-key request rate limiting (token bucket) and daily quotas, answered with 4029 and
``Retry-After``.

The token buckets live in the process: with several workers each enforces a key's rate on
its own share of the traffic, so N workers may let through up to N times the rate. The daily
quota is checked against the shared ``usage_daily`` counts before the request is served, so
it holds across workers and servers except for requests already in flight at the moment the
quota is reached (each may still be served). Exact cross-process limits come later.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from facelive.errors import RateLimitError


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """``rate`` requests per second per key, with bursts of up to ``burst``; 0 disables it.

    A key's own ``rate`` and ``burst`` (from the key store) replace the defaults for that key,
    so a key can be limited even when the server default is off.
    """

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, key_id: str, rate: float | None = None, burst: int | None = None) -> None:
        rate = self.rate if rate is None else rate
        capacity = float(self.burst if burst is None else max(1, burst))
        if rate <= 0:
            return
        now = self.clock()
        with self._lock:
            bucket = self._buckets.setdefault(key_id, _Bucket(capacity, now))
            # min() with the capacity also applies a burst lowered since the last request.
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return
            wait = (1.0 - bucket.tokens) / rate
        raise RateLimitError(
            max(1, math.ceil(wait)),
            f"rate limit of {rate:g} requests per second exceeded; retry later",
            f"超过每秒{rate:g}次请求的频率限制，请稍后重试",
        )


def check_daily_quota(quota: int | None, used: int, now: datetime | None = None) -> None:
    """Raises 4029 when ``used`` requests today (UTC) already reach ``quota``; ``None`` means
    no quota. ``Retry-After`` is the time left until the next UTC midnight."""
    if quota is None or used < quota:
        return
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    midnight = datetime.combine(moment.date() + timedelta(days=1), datetime.min.time(), UTC)
    raise RateLimitError(
        max(1, math.ceil((midnight - moment).total_seconds())),
        f"daily quota of {quota} requests used up; it resets at 00:00 UTC",
        f"已用完每日{quota}次的请求配额，将于UTC时间0点重置",
    )
