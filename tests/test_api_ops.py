"""Operations endpoints, OpenAPI docs, and what the logs may and may not contain."""

from __future__ import annotations

from pathlib import Path

from conftest import server_env
from facelive.api.cores import available_cores
from live_server import Credentials, LiveServer, b64

SAMPLE = "images/minivision-ai__Silent-Face-Anti-Spoofing/images/sample/image_T1.jpg"


def test_healthz_and_readyz(server: LiveServer) -> None:
    assert server.request("GET", "/healthz").json == {"status": "ok"}
    ready = server.request("GET", "/readyz")
    assert ready.status == 200
    assert ready.json == {"status": "ready", "models": True, "database": True}


def test_metrics_count_requests_by_code_and_time_stages(
    server: LiveServer, creds: Credentials, fas_dev: Path
) -> None:
    server.check({"image_base64": b64((fas_dev / SAMPLE).read_bytes())}, creds)
    server.check({}, creds)
    text = server.request("GET", "/metrics").body.decode()
    assert 'facelive_requests_total{code="200"}' in text
    assert 'facelive_requests_total{code="4001"}' in text
    for stage in ("decode", "detect", "crop", "models"):
        assert f'facelive_stage_seconds_count{{stage="{stage}"}}' in text
    assert "facelive_request_seconds_bucket" in text


def test_openapi_describes_the_contract_in_both_languages(server: LiveServer) -> None:
    spec = server.request("GET", "/openapi.json").json
    op = spec["paths"]["/api/face_liveness/v1"]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    props = schema["properties"]
    assert set(props) >= {"image_base64", "image_url", "thresh"}
    assert "人脸图片Base64" in props["image_base64"]["description"]
    assert "活体阈值" in props["thresh"]["description"]
    assert {"200", "400", "401", "413", "429", "500"} <= set(op["responses"])
    assert "APPCODE" in spec["components"]["securitySchemes"]


def test_docs_page_needs_no_internet(server: LiveServer) -> None:
    page = server.request("GET", "/docs")
    assert page.status == 200
    html = page.body.decode()
    assert "swagger" in html.lower()
    assert "cdn" not in html.lower() and "https://" not in html
    assert server.request("GET", "/static-offline-docs/swagger-ui-bundle.js").status == 200


def test_one_structured_log_line_per_request_without_images(
    server: LiveServer, creds: Credentials, fas_dev: Path
) -> None:
    image = b64((fas_dev / SAMPLE).read_bytes())
    env = server.check({"image_base64": image}, creds).json
    [entry] = server.logged({env["request_id"]})
    assert entry["event"] == "request"
    assert entry["key_id"] == creds.id
    assert isinstance(entry["pid"], int) and entry["pid"] > 0  # which worker answered
    assert entry["code"] == 200
    assert set(entry["stages_ms"]) == {"decode", "detect", "crop", "models"}
    log_text = server.log_path.read_text()
    assert image[100:160] not in log_text
    assert creds.appcode not in log_text and creds.app_secret not in log_text


def test_serve_runs_one_worker_per_core_by_default(model_dir: Path, tmp_path: Path) -> None:
    cores = available_cores()
    live = LiveServer(tmp_path / "data", server_env(model_dir), workers=None).start()
    try:
        assert f"with {cores} worker(s)" in live.stdout
        pids = live.worker_pids()  # uvicorn's worker processes; none of its own with one
        assert len(pids) == (cores if cores > 1 else 0)
        key = live.first_key
        assert key is not None
        reply = live.check({"image_base64": "%%%"}, key)  # answered, by whichever worker
        assert reply.json["code"] == 4001
    finally:
        live.stop()
