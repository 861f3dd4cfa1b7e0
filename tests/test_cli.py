"""The ``facelive`` console script, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from facelive.models.manifest import load_manifest

SAMPLES = "images/minivision-ai__Silent-Face-Anti-Spoofing/images/sample"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "facelive", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture(scope="module")
def env(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {
        "FACELIVE_MODEL_DIR": str(model_dir),
        "FACELIVE_CACHE_DIR": str(tmp_path_factory.mktemp("cli-cache")),
        "FACELIVE_ALLOW_DOWNLOAD": "0",
    }


def test_json_lines_carry_the_envelope_and_the_file(
    fas_dev: Path, env: dict[str, str], tmp_path: Path
) -> None:
    live = fas_dev / SAMPLES / "image_T1.jpg"
    spoof = fas_dev / SAMPLES / "image_F2.jpg"
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"<html>not an image</html>")
    missing = tmp_path / "missing.jpg"
    proc = run("check", "--json", str(live), str(junk), str(spoof), str(missing), env=env)
    assert proc.returncode == 1, proc.stderr  # two images failed, the run went on
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["file"] for r in rows] == [str(live), str(junk), str(spoof), str(missing)]
    assert [r["code"] for r in rows] == [200, 4001, 4004, 4001]
    assert len({r["request_id"] for r in rows}) == 4
    first = rows[0]
    assert first["success"] is True and first["msg"] == "ok" and first["msg_cn"] == "成功"
    assert list(first["data"])[:3] == ["liveness_score", "is_live", "risk_reason"]
    assert set(first["data"]) - {"liveness_score", "is_live", "risk_reason"} == {
        "face",
        "image_width",
        "image_height",
    }
    assert first["data"]["is_live"] is True
    assert rows[2]["success"] is False and rows[2]["data"]["is_live"] is False
    assert rows[1]["data"] is None and rows[1]["msg_cn"]


def test_exit_status_is_zero_when_every_image_was_scored(
    fas_dev: Path, env: dict[str, str]
) -> None:
    proc = run("check", str(fas_dev / SAMPLES / "image_F1.jpg"), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "4004" in proc.stdout and "score" in proc.stdout


def test_thresh_flag(fas_dev: Path, env: dict[str, str]) -> None:
    live = str(fas_dev / SAMPLES / "image_T1.jpg")
    proc = run("check", "--json", "--thresh", "1", live, env=env)
    assert json.loads(proc.stdout)["code"] == 4004
    bad = run("check", "--thresh", "2", live, env=env)
    assert bad.returncode == 2
    assert "between 0 and 1" in bad.stderr


def test_table_lists_each_image(fas_dev: Path, env: dict[str, str]) -> None:
    proc = run("check", str(fas_dev / SAMPLES / "image_T1.jpg"), env=env)
    header, row = proc.stdout.splitlines()
    assert header.split()[:6] == ["file", "code", "score", "live", "faces", "ms"]
    assert row.split()[1:4][0] == "200" and "yes" in row


def test_models_verify_and_list(env: dict[str, str], model_dir: Path) -> None:
    proc = run("models", "verify", env=env)
    assert proc.returncode == 0
    # The detector and every liveness model of the default profile.
    assert proc.stdout.count(" ok ") == 1 + len(load_manifest().liveness)
    assert "facelive_v2" in proc.stdout and "facelive_v2_close" in proc.stdout
    assert "minifasnet_v2" not in proc.stdout  # not in the default profile any more
    listed = run("models", "list", env=env)
    assert "minifasnet_v2" in listed.stdout and "minifasnet_v1se" in listed.stdout
    assert "profiles: upstream, facelive (default)" in listed.stdout
    assert str(model_dir / "yunet" / "yunet_s_dynamic.onnx") in listed.stdout
    assert "facenox_minifas128" in listed.stdout and "opt-in" in listed.stdout
    assert "NOT CLEARED FOR COMMERCIAL USE" in listed.stdout
    assert "facenox_minifas128" not in proc.stdout  # verify checks only the models in use


def test_missing_models_are_reported_not_crashed(tmp_path: Path, fas_dev: Path) -> None:
    env = {
        "FACELIVE_MODEL_DIR": str(tmp_path / "nothing"),
        "FACELIVE_CACHE_DIR": str(tmp_path / "cache"),
        "FACELIVE_ALLOW_DOWNLOAD": "0",
    }
    verify = run("models", "verify", env=env)
    assert verify.returncode == 1 and "missing" in verify.stdout
    check = run("check", str(fas_dev / SAMPLES / "image_T1.jpg"), env=env)
    assert check.returncode == 1
    assert "FACELIVE_MODEL_DIR" in check.stderr
    assert "Traceback" not in check.stderr


def test_usage_errors_exit_2() -> None:
    assert run().returncode == 2
    assert run("models", "explode").returncode == 2


def test_an_unknown_model_profile_is_a_usage_error(fas_dev: Path, env: dict[str, str]) -> None:
    bad = {**env, "FACELIVE_MODEL_PROFILE": "bogus"}
    check = run("check", str(fas_dev / SAMPLES / "image_T1.jpg"), env=bad)
    assert check.returncode == 2
    assert "unknown model profile 'bogus'" in check.stderr and "upstream" in check.stderr
    assert "Traceback" not in check.stderr
    listing = run("models", "verify", env=bad)
    assert listing.returncode == 2 and "bogus" in listing.stderr


def test_upstream_profile_checks_with_the_published_weights(
    fas_dev: Path, env: dict[str, str]
) -> None:
    upstream = {**env, "FACELIVE_MODEL_PROFILE": "upstream"}
    out = run("check", "--json", str(fas_dev / SAMPLES / "image_T1.jpg"), env=upstream)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["data"]["is_live"] is True
