"""The shared limiter (rate with burst, daily quota, failed attempts) on SQLite and on a real
PostgreSQL: its arithmetic on a fake clock, and its exactness when threads and processes
hit one key at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from databases import in_threads, release_together, store_child
from facelive.auth.rate_limit import LimitPolicy, SharedLimiter
from facelive.auth.records import ApiKey, KeyLimits, RecentRequest
from facelive.auth.secrets import SecretCipher
from facelive.auth.store import KeyStore
from facelive.errors import RateLimitError
from facelive.settings import Settings

SERVER_KEY = bytes(range(32))
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC).timestamp()  # a fixed "server clock", seconds

# A child process admitting requests of one key: argv = url, server key, key id, attempts.
ADMIT_MANY = """
from facelive.auth.rate_limit import LimitPolicy, SharedLimiter
from facelive.errors import RateLimitError
limiter = SharedLimiter(store, LimitPolicy())
key = store.get_key(sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()
admitted = 0
for _ in range(int(sys.argv[4])):
    try:
        limiter.admit(key)
        admitted += 1
    except RateLimitError:
        pass
store.close()
print(admitted, flush=True)
"""


class Clock:
    """A settable clock, seconds since the epoch."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(database_url: str) -> Iterator[KeyStore]:
    opened = KeyStore(database_url, SecretCipher(SERVER_KEY))
    opened.create_schema()
    yield opened
    opened.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def limited_key(store: KeyStore, **limits: float) -> ApiKey:
    """A new key with these limits of its own (rps, burst, daily_quota)."""
    return limited_key_of(store, store.create_key("limited").key.id, **limits)


def limited_key_of(store: KeyStore, key_id: str, **limits: float) -> ApiKey:
    return store.set_limits(key_id, KeyLimits(**limits))  # type: ignore[arg-type]


def admitted(limiter: SharedLimiter, key: ApiKey, attempts: int = 1) -> int:
    """How many of ``attempts`` requests the limiter lets through."""
    count = 0
    for _ in range(attempts):
        try:
            limiter.admit(key)
            count += 1
        except RateLimitError:
            pass
    return count


def refusal(limiter: SharedLimiter, key: ApiKey) -> RateLimitError:
    with pytest.raises(RateLimitError) as info:
        limiter.admit(key)
    assert info.value.code == 4029
    return info.value


# --- rate and burst ----------------------------------------------------------------------


def test_burst_then_the_steady_rate(store: KeyStore, clock: Clock) -> None:
    limiter = SharedLimiter(store, LimitPolicy(rps=2.0, burst=3), clock)
    key = store.create_key("a").key
    assert admitted(limiter, key, 3) == 3
    refused = refusal(limiter, key)
    assert refused.retry_after == 1  # half a second, rounded up
    assert "2 requests per second" in refused.msg and "每秒2次" in refused.msg_cn
    assert admitted(limiter, store.create_key("b").key) == 1  # keys have their own buckets
    clock.now += 0.5
    assert admitted(limiter, key, 2) == 1  # one token back after half a second at 2/s
    clock.now += 60
    assert admitted(limiter, key, 5) == 3  # an idle bucket fills up to the burst, no more


def test_the_default_is_off_but_a_keys_own_rate_applies(store: KeyStore, clock: Clock) -> None:
    limiter = SharedLimiter(store, LimitPolicy(rps=0.0, burst=10), clock)
    free = store.create_key("free").key
    assert admitted(limiter, free, 50) == 50
    key = limited_key(store, rps=1.0, burst=1)
    assert admitted(limiter, key, 2) == 1
    refused = refusal(limiter, key)
    assert refused.retry_after == 1 and "1 requests per second" in refused.msg
    clock.now += 1.0
    assert admitted(limiter, key, 2) == 1


def test_a_keys_own_burst_and_a_lowered_burst_apply_at_once(store: KeyStore, clock: Clock) -> None:
    limiter = SharedLimiter(store, LimitPolicy(rps=1.0, burst=50), clock)
    key = store.create_key("k").key
    assert admitted(limiter, key) == 1  # 49 tokens left of 50
    lowered = store.set_limits(key.id, KeyLimits(burst=2))
    assert admitted(limiter, lowered, 5) == 1  # the new burst of 2, less the one just used
    clock.now += 60.0
    assert admitted(limiter, lowered, 5) == 2


def test_retry_after_is_when_a_token_is_back(store: KeyStore, clock: Clock) -> None:
    limiter = SharedLimiter(store, LimitPolicy(), clock)
    key = limited_key(store, rps=0.1, burst=2)
    assert admitted(limiter, key, 2) == 2
    assert refusal(limiter, key).retry_after == 10
    clock.now += 7.5
    assert refusal(limiter, key).retry_after == 3  # 2.5 s, rounded up
    clock.now += 2.5
    assert admitted(limiter, key) == 1


# --- daily quota -------------------------------------------------------------------------


def test_the_daily_quota_resets_at_utc_midnight(store: KeyStore) -> None:
    clock = Clock(datetime(2025, 3, 1, 23, 59, 0, tzinfo=UTC).timestamp())
    limiter = SharedLimiter(store, LimitPolicy(), clock)
    key = limited_key(store, daily_quota=2)
    assert admitted(limiter, key, 2) == 2
    refused = refusal(limiter, key)
    assert refused.retry_after == 60
    assert "daily quota of 2" in refused.msg and "每日2次" in refused.msg_cn
    clock.now += 60  # 00:00 UTC: a new day
    assert admitted(limiter, key, 3) == 2


def test_refusals_use_up_nothing(store: KeyStore, clock: Clock) -> None:
    limiter = SharedLimiter(store, LimitPolicy(), clock)
    key = limited_key(store, rps=1.0, burst=1, daily_quota=3)
    assert admitted(limiter, key, 10) == 1  # nine refusals by the rate: no quota used
    for _ in range(2):
        clock.now += 1.0
        assert admitted(limiter, key) == 1
    clock.now += 1.0
    assert refusal(limiter, key).retry_after > 3600  # the quota, not the rate
    raised = store.set_limits(key.id, KeyLimits(rps=1.0, burst=1, daily_quota=4))
    # The quota's refusal took no token either: the raised quota's unit is there at once.
    assert admitted(limiter, raised) == 1


def test_the_quota_counts_what_was_served_before_it_was_set(store: KeyStore, clock: Clock) -> None:
    limiter = SharedLimiter(store, LimitPolicy(), clock)
    key = store.create_key("later").key
    assert admitted(limiter, key, 5) == 5
    capped = store.set_limits(key.id, KeyLimits(daily_quota=6))
    assert admitted(limiter, capped, 3) == 1


def test_the_longest_wait_is_answered(store: KeyStore, clock: Clock) -> None:
    limiter = SharedLimiter(store, LimitPolicy(), clock)
    key = limited_key(store, rps=1.0, burst=1, daily_quota=1)
    assert admitted(limiter, key) == 1
    refused = refusal(limiter, key)  # both the rate and the quota refuse: the quota lasts
    assert "daily quota" in refused.msg and refused.retry_after == 12 * 3600


def test_an_older_database_counts_todays_requests_toward_the_quota(database_url: str) -> None:
    """Upgrading mid-day: the new limit_state starts from the requests served today."""
    first = KeyStore(database_url, SecretCipher(SERVER_KEY))
    first.create_schema()
    key = first.create_key("from-before").key
    now = datetime.now(UTC)
    for code in (200, 4004, 4001, 4029):  # a 4029 served nothing
        first.record_request(RecentRequest(now, key.id, "r" * 32, code, None, 1.0))
    first.record_request(RecentRequest(now - timedelta(days=1), key.id, "y" * 32, 200, None, 1.0))
    first.execute_write(text("DROP TABLE limit_state"))  # back to the schema before it
    first.close()

    upgraded = KeyStore(database_url, SecretCipher(SERVER_KEY))
    try:
        upgraded.create_schema()
        upgraded.create_schema()  # a second start seeds nothing more
        limiter = SharedLimiter(upgraded, LimitPolicy())
        assert admitted(limiter, limited_key_of(upgraded, key.id, daily_quota=3)) == 0
        assert admitted(limiter, limited_key_of(upgraded, key.id, daily_quota=5), 3) == 2
    finally:
        upgraded.close()


# --- failed attempts ---------------------------------------------------------------------


def test_failed_attempts_lock_the_key_until_the_window_ends(store: KeyStore, clock: Clock) -> None:
    limiter = SharedLimiter(store, LimitPolicy(failed_attempts=3, failed_window_s=60), clock)
    key = store.create_key("attacker").key
    other = store.create_key("bystander").key
    for _ in range(2):
        assert admitted(limiter, key) == 1
        limiter.record_failure(key.id)
        clock.now += 10
    assert admitted(limiter, key) == 1  # two failures so far: still let through
    limiter.record_failure(key.id)  # the third, 20 s into the window
    refused = refusal(limiter, key)
    assert refused.retry_after == 40
    assert "3 within 60 s" in refused.msg and "60秒内3次" in refused.msg_cn
    assert admitted(limiter, other, 5) == 5  # other keys are not affected
    clock.now += 39.5
    assert refusal(limiter, key).retry_after == 1
    clock.now += 0.5  # the window is over: counting starts again
    assert admitted(limiter, key) == 1
    limiter.record_failure(key.id)
    assert admitted(limiter, key) == 1


def test_failed_attempts_are_not_limited_by_default(store: KeyStore, clock: Clock) -> None:
    assert Settings().failed_attempt_limit == 0
    limiter = SharedLimiter(store, LimitPolicy(), clock)
    key = store.create_key("k").key
    for _ in range(20):
        assert admitted(limiter, key) == 1
        limiter.record_failure(key.id)


# --- shared by every process -------------------------------------------------------------


def test_two_stores_on_one_database_share_the_limits(database_url: str, clock: Clock) -> None:
    stores = [KeyStore(database_url, SecretCipher(SERVER_KEY)) for _ in range(2)]
    try:
        for each in stores:
            each.create_schema()
        policy = LimitPolicy(failed_attempts=1, failed_window_s=60)
        one, two = (SharedLimiter(each, policy, clock) for each in stores)
        key = limited_key(stores[0], rps=1.0, burst=4, daily_quota=5)
        assert admitted(one, key, 2) + admitted(two, key, 3) == 4
        clock.now += 10
        assert admitted(two, key, 3) == 1  # one unit of the quota was left
        assert "daily quota" in refusal(one, key).msg
        fresh = stores[1].create_key("fresh").key
        two.record_failure(fresh.id)  # no row yet: nothing to count against
        assert admitted(one, fresh) == 1
        two.record_failure(fresh.id)
        assert "failed liveness attempts" in refusal(one, fresh).msg
    finally:
        for each in stores:
            each.close()


def test_threads_admit_exactly_the_burst(store: KeyStore) -> None:
    limiter = SharedLimiter(store, LimitPolicy())  # the real clock
    key = limited_key(store, rps=0.001, burst=5)  # one token back per 1000 s
    results = in_threads(16, lambda: admitted(limiter, key, 3))
    assert sum(results) == 5


def test_threads_count_the_quota_once_per_request(store: KeyStore) -> None:
    limiter = SharedLimiter(store, LimitPolicy())
    exact = limited_key(store, daily_quota=200)
    assert sum(in_threads(8, lambda: admitted(limiter, exact, 25))) == 200
    assert admitted(limiter, exact) == 0  # none counted twice, none missed
    scarce = limited_key(store, daily_quota=37)
    assert sum(in_threads(8, lambda: admitted(limiter, scarce, 10))) == 37


def test_processes_admit_exactly_the_burst_and_the_quota(
    store: KeyStore, database_url: str
) -> None:
    burst = limited_key(store, rps=0.001, burst=5)
    quota = limited_key(store, daily_quota=23)
    children = [
        store_child(ADMIT_MANY, database_url, SERVER_KEY.hex(), key.id, "10")
        for key in (burst, burst, burst, quota, quota, quota)
    ]
    counts = [int(out) for out in release_together(children)]
    assert sum(counts[:3]) == 5
    assert sum(counts[3:]) == 23
    limiter = SharedLimiter(store, LimitPolicy())
    assert admitted(limiter, burst) == 0 and admitted(limiter, quota) == 0
