"""Keys survive restarts and kill -9; the service runs the same on PostgreSQL; workers agree."""

from __future__ import annotations

import signal
from pathlib import Path

from conftest import new_key, server_env
from databases import create_database
from facelive.auth.setup import open_key_store
from facelive.settings import Settings
from live_server import LiveServer, signed_headers


def test_key_survives_restart_and_kill_9(model_dir: Path, tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "data", server_env(model_dir)).start()
    try:
        first = live.first_key
        assert first is not None  # printed once on first start
        later = new_key(live, "before-crash")
        assert live.check({}, later).json["code"] == 4001
    finally:
        live.stop(signal.SIGKILL)
    again = LiveServer(tmp_path / "data", server_env(model_dir)).start()
    try:
        assert again.first_key is None  # the store was not empty: no new key printed
        assert again.check({}, first).json["code"] == 4001
        assert again.check({}, later, signed=True).json["code"] == 4001
    finally:
        again.stop()


def test_service_on_postgresql(model_dir: Path, tmp_path: Path, postgres_server: str) -> None:
    url = create_database(postgres_server, "facelive_http_test")
    env = server_env(model_dir, FACELIVE_DATABASE_URL=url)
    live = LiveServer(tmp_path / "pg", env, workers=2).start()
    try:
        assert live.first_key is not None
        creds = new_key(live, "pg")
        assert live.check({}, creds).json["code"] == 4001
        assert live.check({}, creds, signed=True).json["code"] == 4001
        store = open_key_store(Settings(data_dir=live.data_dir, database_url=url))
        store.revoke(creds.id)
        store.close()
        # Two workers, no cache: every request, whichever worker takes it, sees the revocation.
        assert {live.check({}, creds).json["code"] for _ in range(10)} == {4010}
    finally:
        live.stop(signal.SIGKILL)
    again = LiveServer(tmp_path / "pg", env).start()
    try:
        assert again.first_key is None
        assert again.check({}, live.first_key).json["code"] == 4001
    finally:
        again.stop()


def test_replay_is_refused_across_workers(model_dir: Path, tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "data", server_env(model_dir), workers=2).start()
    try:
        creds = live.first_key
        assert creds is not None
        headers = signed_headers(creds)
        codes = [
            live.request("POST", "/api/face_liveness/v1", b"{}", headers).json["code"]
            for _ in range(8)
        ]
        assert codes[0] == 4001
        assert codes[1:] == [4012] * 7
    finally:
        live.stop()


def test_database_failure_is_a_clean_5000(
    model_dir: Path, tmp_path: Path, postgres_server: str
) -> None:
    import psycopg

    url = create_database(postgres_server, "facelive_fault_test")
    live = LiveServer(tmp_path / "fault", server_env(model_dir, FACELIVE_DATABASE_URL=url)).start()
    try:
        creds = live.first_key
        assert creds is not None
        assert live.check({}, creds).json["code"] == 4001
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TABLE api_keys CASCADE")
        reply = live.check({}, creds)
        assert reply.status == 500
        env = reply.json
        assert env["code"] == 5000 and env["success"] is False and env["data"] is None
        assert env["msg"] == "internal error, please retry later"
        assert reply.headers["x-request-id"] == env["request_id"]
        assert b"Traceback" not in reply.body and b"api_keys" not in reply.body
        # The operator's log has the cause, tied to the request id.
        assert env["request_id"] in live.log_path.read_text()
    finally:
        live.stop()
