"""Per-key request rate limiting (token bucket), answered with 4029 and ``Retry-After``.

This first version keeps its buckets in the process: with several workers each enforces the
limit on its own share of the traffic. Shared, per-key limits and daily quotas come later.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from facelive.errors import RateLimitError


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """``rate`` requests per second per key, with bursts of up to ``burst``; 0 disables it."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, key_id: str) -> None:
        if self.rate <= 0:
            return
        now = self.clock()
        with self._lock:
            bucket = self._buckets.setdefault(key_id, _Bucket(float(self.burst), now))
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return
            wait = (1.0 - bucket.tokens) / self.rate
        raise RateLimitError(
            max(1, math.ceil(wait)),
            f"rate limit of {self.rate:g} requests per second exceeded; retry later",
            f"超过每秒{self.rate:g}次请求的频率限制，请稍后重试",
        )
