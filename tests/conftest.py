"""Shared fixtures. The models and fas-dev images are read from ``../shared`` (never copied).

``FACELIVE_MODEL_DIR`` must point at the shared models (``.ci/run`` and ``scripts/test`` set
it); ``FACELIVE_SHARED_DATA`` may point at the shared ``data`` folder, else ``../shared/data``
beside the repository is used. A missing folder is an error, never a skip.
"""

from __future__ import annotations

import csv
import functools
import http.server
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from databases import create_database, drop_database, postgres_server_url
from facelive.auth.records import KeyLimits
from facelive.auth.setup import open_key_store
from facelive.pipeline.checker import LivenessChecker
from facelive.settings import Settings
from live_server import ADMIN_TOKEN, Credentials, LiveServer

REPO = Path(__file__).resolve().parents[1]


def _shared_models() -> Path:
    value = os.environ.get("FACELIVE_MODEL_DIR")
    path = Path(value) if value else REPO.parent / "shared" / "models"
    if not (path / "yunet").is_dir():
        raise RuntimeError(f"model folder {path} not found: set FACELIVE_MODEL_DIR")
    return path


def _shared_data() -> Path:
    value = os.environ.get("FACELIVE_SHARED_DATA")
    path = Path(value) if value else REPO.parent / "shared" / "data"
    if not (path / "fas-dev" / "manifest.csv").is_file():
        raise RuntimeError(f"fas-dev not found under {path}: set FACELIVE_SHARED_DATA")
    return path


def shared_seed() -> Path:
    """The contract's folder, beside the shared data (so FACELIVE_SHARED_DATA moves it too)."""
    return _shared_data().parent / "seed"


@pytest.fixture(scope="session")
def model_dir() -> Path:
    return _shared_models()


@pytest.fixture(scope="session")
def fas_dev() -> Path:
    return _shared_data() / "fas-dev"


@pytest.fixture(scope="session")
def fas_dev_rows(fas_dev: Path) -> list[dict[str, str]]:
    with (fas_dev / "manifest.csv").open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="session")
def settings(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    cache = tmp_path_factory.mktemp("cache")
    return Settings(model_dir=model_dir, cache_dir=cache, allow_download=False)


@pytest.fixture(scope="session")
def checker(settings: Settings) -> LivenessChecker:
    return LivenessChecker.from_settings(settings)


@pytest.fixture(scope="session")
def upstream_checker(settings: Settings) -> LivenessChecker:
    """The MiniFASNet weights as published (FACELIVE_MODEL_PROFILE=upstream)."""
    return LivenessChecker.from_settings(settings.model_copy(update={"model_profile": "upstream"}))


@pytest.fixture(scope="session")
def live_jpeg(fas_dev: Path) -> bytes:
    """A whole camera frame of a live person (minivision's own sample)."""
    path = fas_dev / "images/minivision-ai__Silent-Face-Anti-Spoofing/images/sample/image_T1.jpg"
    return path.read_bytes()


@pytest.fixture(scope="session")
def spoof_jpeg(fas_dev: Path) -> bytes:
    """A whole frame of a screen replay attack (minivision's sample F2)."""
    path = fas_dev / "images/minivision-ai__Silent-Face-Anti-Spoofing/images/sample/image_F2.jpg"
    return path.read_bytes()


# Images for image_url tests are served from 127.0.0.2, the one address the server allows;
# every other loopback address (127.0.0.1, ::1, localhost) must be refused.
IMAGE_HOST = "127.0.0.2"


def server_env(model_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "FACELIVE_MODEL_DIR": str(model_dir),
        "FACELIVE_ALLOW_DOWNLOAD": "0",
        "FACELIVE_URL_ALLOWLIST": f"{IMAGE_HOST}/32",
        "FACELIVE_URL_TIMEOUT_S": "2",
        "FACELIVE_RATE_LIMIT_RPS": "5",
        "FACELIVE_RATE_LIMIT_BURST": "40",
        **extra,
    }


# Limits a test never reaches, for tests that send many requests with one key.
UNLIMITED = KeyLimits(rps=1000.0, burst=1000, daily_quota=None)


def new_key(server: LiveServer, name: str = "test", limits: KeyLimits | None = None) -> Credentials:
    """A fresh key written straight into the server's own key store, with its own ``limits``
    if given."""
    settings = Settings(
        data_dir=server.data_dir, database_url=server.env.get("FACELIVE_DATABASE_URL")
    )
    store = open_key_store(settings)
    try:
        issued = store.create_key(name)
        if limits is not None:
            store.set_limits(issued.key.id, limits)
    finally:
        store.close()
    return Credentials(issued.appcode, issued.key.app_key, issued.app_secret, issued.key.id)


@pytest.fixture(scope="session")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("server"), server_env(model_dir)).start()
    yield live
    live.stop()


@pytest.fixture(scope="session")
def admin_server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with the operator console on (FACELIVE_ADMIN_TOKEN set)."""
    env = server_env(model_dir, FACELIVE_ADMIN_TOKEN=ADMIN_TOKEN)
    live = LiveServer(tmp_path_factory.mktemp("admin-server"), env).start()
    yield live
    live.stop()


@pytest.fixture
def creds(server: LiveServer) -> Credentials:
    return new_key(server)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def image_server(fas_dev: Path) -> Iterator[str]:
    """Serves fas-dev over HTTP on 127.0.0.2; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(fas_dev))
    httpd = http.server.ThreadingHTTPServer((IMAGE_HOST, 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://{IMAGE_HOST}:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


# --- databases: the key store is tested on SQLite and on a real PostgreSQL ------------------


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The test PostgreSQL server's URL (see ``databases.postgres_server_url``)."""
    return postgres_server_url()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty key-store database on each backend; PostgreSQL's is dropped after."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'facelive.db'}"
        return
    server: str = request.getfixturevalue("postgres_server")
    name = f"facelive_test_{uuid.uuid4().hex[:12]}"
    try:
        yield create_database(server, name)
    finally:
        drop_database(server, name)
