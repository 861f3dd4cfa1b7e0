"""``facelive serve``: prepare models and keys, say how to call the service, start uvicorn."""

from __future__ import annotations

import os
import sys

from facelive.api.cores import available_cores, worker_count
from facelive.auth.setup import open_key_store
from facelive.errors import FaceliveError
from facelive.keys_cli import print_issued
from facelive.models.manifest import load_manifest
from facelive.models.store import ModelStore
from facelive.settings import Settings

_APP = "facelive.api.app:app_from_env"


def curl_line(base_url: str, appcode: str) -> str:
    return (
        "(printf '{\"image_base64\":\"'; base64 -w0 photo.jpg; printf '\"}') | "
        f"curl -s {base_url}/api/face_liveness/v1 -H 'Authorization: APPCODE {appcode}' "
        "-H 'Content-Type: application/json' --data-binary @-"
    )


def _prepare_models(settings: Settings) -> None:
    store = ModelStore.from_settings(settings)
    manifest = load_manifest()
    for spec in manifest.in_use(settings.model_profile, settings.extra_models):
        store.path_for(spec)


def run_serve(overrides: dict[str, str]) -> int:
    """``overrides``: setting name -> value given as a flag."""
    # Flags become environment variables so every worker process builds the same Settings.
    for name, value in overrides.items():
        os.environ[f"FACELIVE_{name.upper()}"] = value
    try:
        settings = Settings()
    except ValueError as exc:  # pydantic's ValidationError: a flag or variable is malformed
        print(f"facelive: invalid setting: {exc}", file=sys.stderr)
        return 2
    if settings.workers == 0:  # one per core; every worker must see the same count
        workers = worker_count(settings.workers, available_cores())
        os.environ["FACELIVE_WORKERS"] = str(workers)
        settings = settings.model_copy(update={"workers": workers})
    try:
        _prepare_models(settings)
        store = open_key_store(settings)
    except FaceliveError as exc:
        print(f"facelive: {exc.msg}", file=sys.stderr)
        return 1
    except ValueError as exc:  # a malformed FACELIVE_SECRET_KEY or server.key
        print(f"facelive: {exc}", file=sys.stderr)
        return 1
    base_url = f"http://{settings.host}:{settings.port}"
    try:
        if store.count_keys() == 0:
            issued = store.create_key("default")
            print("First start: created an API key.", flush=True)
            print_issued(issued, as_json=False)
            print("Try it (replace photo.jpg):", flush=True)
            print("  " + curl_line(base_url, issued.appcode), flush=True)
    finally:
        store.close()
    print(
        f"facelive listening on {base_url} with {settings.workers} worker(s); "
        f"API docs at {base_url}/docs",
        flush=True,
    )
    import uvicorn

    config = uvicorn.Config(
        _APP,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level="warning",
        access_log=False,
        server_header=False,
        # uvicorn's own protocol, with a deadline for the request headers (slowloris).
        http="facelive.api.http_protocol:HeaderDeadlineProtocol",
        # SIGTERM/SIGINT: stop accepting, let requests in flight finish, then cancel them.
        timeout_graceful_shutdown=settings.shutdown_grace_s,
    )
    if settings.workers > 1:
        from facelive.supervisor import serve_workers

        serve_workers(config)
        return 0
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1
