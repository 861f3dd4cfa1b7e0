"""Frozen values the key store hands out. Times are timezone-aware UTC."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """One key's own limits; ``None`` means the server's default (``FACELIVE_RATE_LIMIT_*``,
    and no daily quota).

    ``rps``: steady requests per second (> 0); ``burst``: requests at once above it (>= 1);
    ``daily_quota``: requests per UTC day (>= 1), answered 4029 beyond it.
    """

    rps: float | None = None
    burst: int | None = None
    daily_quota: int | None = None

    def __post_init__(self) -> None:
        if self.rps is not None and not self.rps > 0:
            raise ValueError(f"rps must be a number above 0, got {self.rps}")
        if self.burst is not None and self.burst < 1:
            raise ValueError(f"burst must be 1 or more, got {self.burst}")
        if self.daily_quota is not None and self.daily_quota < 1:
            raise ValueError(f"daily quota must be 1 or more, got {self.daily_quota}")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as listed: its public parts and limits only."""

    id: str
    name: str
    app_key: str
    created_at: datetime
    revoked_at: datetime | None
    limits: KeyLimits = field(default_factory=KeyLimits)

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """Plaintext credentials, returned only by create and rotate: they cannot be read back."""

    key: ApiKey
    appcode: str
    app_secret: str


@dataclass(frozen=True, slots=True)
class UsageRow:
    """``count`` responses with contract code ``code`` for one key on one UTC day."""

    key_id: str
    day: date
    code: int
    count: int


@dataclass(frozen=True, slots=True)
class RecentRequest:
    """Metadata of one answered request; never the image. ``score`` is ``None`` when no face
    was scored; ``latency_ms`` is the server's time from first byte to answer."""

    at: datetime
    key_id: str
    request_id: str
    code: int
    score: float | None
    latency_ms: float
