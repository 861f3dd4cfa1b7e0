"""Scale-out: two ``facelive serve`` instances on different ports sharing one PostgreSQL
behave as one service, over real HTTP on loopback. Instance ``a`` runs two workers, so the
same tests show the workers of one server agreeing too.

Keys are created, limited and revoked through one instance's console API and used at once
on the other; a signature is accepted once across both; rates, quotas and failed attempts
are counted once whichever instance or worker takes a request. Which worker answered comes
from the request log's ``pid``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import server_env
from databases import create_database, drop_database
from live_server import (
    ADMIN_TOKEN,
    Credentials,
    LiveServer,
    Reply,
    b64,
    call,
    new_console_key,
    ok,
    signed_headers,
)

# Both instances must decrypt the AppSecrets the other stored: one server key.
SECRET_KEY = "5e" * 32
FAILED_ATTEMPT_LIMIT = 2
FAILED_ATTEMPT_WINDOW_S = 600
# A rate so slow that no token comes back during a test: exactly the burst gets through.
NO_REFILL = 0.001


@dataclass
class Pair:
    a: LiveServer
    b: LiveServer

    @property
    def both(self) -> tuple[LiveServer, LiveServer]:
        return self.a, self.b


@pytest.fixture(scope="module")
def pair(
    model_dir: Path, tmp_path_factory: pytest.TempPathFactory, postgres_server: str
) -> Iterator[Pair]:
    name = f"facelive_scale_{uuid.uuid4().hex[:8]}"
    url = create_database(postgres_server, name)
    env = server_env(
        model_dir,
        FACELIVE_DATABASE_URL=url,
        FACELIVE_SECRET_KEY=SECRET_KEY,
        FACELIVE_ADMIN_TOKEN=ADMIN_TOKEN,
        FACELIVE_FAILED_ATTEMPT_LIMIT=str(FAILED_ATTEMPT_LIMIT),
        FACELIVE_FAILED_ATTEMPT_WINDOW_S=str(FAILED_ATTEMPT_WINDOW_S),
    )
    a = LiveServer(tmp_path_factory.mktemp("instance-a"), env, workers=2)
    b = LiveServer(tmp_path_factory.mktemp("instance-b"), env)
    try:
        a.start()
        b.start()
        assert a.port != b.port and a.data_dir != b.data_dir  # nothing shared but the database
        yield Pair(a, b)
    finally:
        b.stop()
        a.stop()
        drop_database(postgres_server, name)


def limited(server: LiveServer, name: str, **limits: float) -> Credentials:
    """A key made through ``server``'s console, with limits of its own."""
    creds = new_console_key(server, name)
    ok(call(server, "PUT", f"/keys/{creds.id}/limits", dict(limits)))
    return creds


def at_once(servers: list[LiveServer], creds: Credentials) -> list[Reply]:
    """One request of ``creds`` to each of ``servers``, all sent at the same moment."""
    with ThreadPoolExecutor(len(servers)) as pool:
        return list(pool.map(lambda server: server.check({}, creds), servers))


def served_by(server: LiveServer, replies: list[Reply]) -> set[int]:
    """The worker processes of ``server`` that answered any of these replies."""
    ids = {reply.json["request_id"] for reply in replies}
    return {entry["pid"] for entry in server.logged(ids, timeout=0.0) if "pid" in entry}


def spread(pair: Pair, creds: Credentials) -> list[Reply]:
    """Rounds of simultaneous requests of ``creds`` to both instances, until both of a's
    workers and b have answered some (asserted): a limit seen to hold over these replies
    holds across workers and instances, where per-process counting would each admit."""
    replies: list[Reply] = []
    for _ in range(20):
        replies += at_once([pair.a] * 6 + [pair.b] * 2, creds)
        if len(served_by(pair.a, replies)) == 2 and served_by(pair.b, replies):
            break
    assert len(served_by(pair.a, replies)) == 2 and served_by(pair.b, replies)
    return replies


def test_a_key_created_on_one_works_on_the_other_at_once(pair: Pair) -> None:
    creds = new_console_key(pair.a, "made-on-a")
    assert pair.b.check({}, creds).json["code"] == 4001  # past auth and limits: bad image
    assert pair.b.check({}, creds, signed=True).json["code"] == 4001
    rotated = ok(call(pair.b, "POST", f"/keys/{creds.id}/rotate"))
    assert pair.a.check({}, creds).json["code"] == 4010  # the old AppCode, at once
    fresh = Credentials(rotated["appcode"], creds.app_key, rotated["app_secret"], creds.id)
    assert pair.a.check({}, fresh, signed=True).json["code"] == 4001


def test_a_revocation_applies_to_both_at_once(pair: Pair) -> None:
    creds = new_console_key(pair.b, "to-revoke")
    assert [s.check({}, creds).json["code"] for s in pair.both] == [4001, 4001]
    ok(call(pair.a, "POST", f"/keys/{creds.id}/revoke"))
    for server in pair.both:
        for signed in (False, True):
            reply = server.check({}, creds, signed=signed)
            assert (reply.status, reply.json["code"]) == (401, 4010)
            assert "revoked" in reply.json["msg"]


def test_a_signature_replayed_against_the_other_instance_is_refused(pair: Pair) -> None:
    creds = new_console_key(pair.a, "signer")
    headers = signed_headers(creds)
    first = pair.a.request("POST", "/api/face_liveness/v1", b"{}", headers)
    assert first.json["code"] == 4001
    for server in (pair.b, pair.a):
        replayed = server.request("POST", "/api/face_liveness/v1", b"{}", headers)
        assert (replayed.status, replayed.json["code"]) == (401, 4012)


def test_the_rate_holds_across_workers_and_instances(pair: Pair) -> None:
    creds = limited(pair.a, "burst-of-six", rps=NO_REFILL, burst=6)
    replies = spread(pair, creds)
    codes = [reply.json["code"] for reply in replies]
    assert codes.count(4001) == 6  # the burst, once for the whole service
    assert codes.count(4029) == len(replies) - 6
    refused = next(reply for reply in replies if reply.json["code"] == 4029)
    assert refused.status == 429 and int(refused.headers["retry-after"]) >= 1
    assert "requests per second" in refused.json["msg"]


def test_the_quota_is_counted_once_across_workers_and_instances(pair: Pair) -> None:
    creds = limited(pair.b, "five-a-day", rps=1000, burst=1000, daily_quota=5)
    replies = spread(pair, creds)
    assert [reply.json["code"] for reply in replies].count(4001) == 5
    refused = next(reply for reply in replies if reply.json["code"] == 4029)
    assert 1 <= int(refused.headers["retry-after"]) <= 86400
    assert "daily quota of 5" in refused.json["msg"]
    for server in pair.both:  # both consoles report the same use: 4029s served nothing
        keys = ok(call(server, "GET", "/keys"))["keys"]
        assert next(k for k in keys if k["id"] == creds.id)["used_today"] == 5


def test_failed_attempts_are_counted_across_instances(pair: Pair, fas_dev: Path) -> None:
    samples = fas_dev / "images/minivision-ai__Silent-Face-Anti-Spoofing/images/sample"
    spoof = {"image_base64": b64((samples / "image_F2.jpg").read_bytes())}
    live = {"image_base64": b64((samples / "image_T1.jpg").read_bytes())}
    creds = new_console_key(pair.a, "attacker")
    assert pair.a.check(spoof, creds).json["code"] == 4004
    assert pair.b.check(spoof, creds).json["code"] == 4004  # the second, on the other one
    for server in pair.both:  # locked out everywhere, even with a live face
        reply = server.check(live, creds)
        assert (reply.status, reply.json["code"]) == (429, 4029)
        assert 1 <= int(reply.headers["retry-after"]) <= FAILED_ATTEMPT_WINDOW_S
        assert "failed liveness attempts" in reply.json["msg"]
        [entry] = server.logged({reply.json["request_id"]})
        assert (entry["key_id"], entry["code"]) == (creds.id, 4029)  # operators see why
    bystander = new_console_key(pair.b, "bystander")  # other keys are not affected
    assert pair.a.check(live, bystander).json["code"] == 200
