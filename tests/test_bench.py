"""``python -m bench --quick`` runs end to end: report shape and zero HTTP errors.

No timing is asserted here; speed is measured by the benchmark itself (docs/performance.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LARGE_JPEGS = {"jpeg_1280x720", "phone_4032x3024"}


@pytest.mark.timeout(600)
def test_quick_bench_writes_a_complete_report(
    model_dir: Path, fas_dev: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report.json"
    env = {
        **os.environ,
        "FACELIVE_MODEL_DIR": str(model_dir),
        "FACELIVE_SHARED_DATA": str(fas_dev.parent),
        "FACELIVE_ALLOW_DOWNLOAD": "0",
        "FACELIVE_DATA_DIR": str(tmp_path / "data"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Targets" in done.stdout
    report = json.loads(out.read_text())
    names = set(report["images"])
    assert names == {
        "webcam_320x240", "jpeg_640x480", "jpeg_1280x720", "phone_4032x3024",
        "png_4000x3000", "no_face_640x480",
    }  # fmt: skip
    default_rows = [r for r in report["inprocess"] if r["profile"] == "default"]
    assert {r["image"] for r in default_rows} == names
    for row in default_rows:
        assert set(row["median"]) == set(report["stages"])
        assert row["median"]["total_ms"] > 0
        if row["image"] != "no_face_640x480":
            assert 0.0 <= row["score"] <= 1.0
            assert row["reference_median_ms"] > 0
            # The reference decodes every pixel; so does facelive below 1,280 px.
            assert row["full_decode"] == (row["image"] not in LARGE_JPEGS)
            if row["full_decode"]:
                assert abs(row["score"] - row["reference_score"]) <= 1e-3
    full_rows = [r for r in report["inprocess"] if r["profile"] == "default+full_decode"]
    assert {r["image"] for r in full_rows} == LARGE_JPEGS
    for row in full_rows:
        assert row["full_decode"]
        assert abs(row["score"] - row["reference_score"]) <= 1e-3
    http = report["http"]
    (server,) = http["servers"]  # --quick: the first profile only
    assert server["profile"] == "default"
    assert server["workers"] >= 1 and server["ready_s"] > 0
    assert all(rss > 0 for rss in server["peak_rss_mb"])
    assert set(server["peak_rss_after_mb"]) == {"jpeg_640x480"}
    assert {r["auth"] for r in http["runs"]} == {"appcode", "signed"}
    assert {r["profile"] for r in http["runs"]} == {"default"}
    # Keep-alive runs in both auth modes, and one with a new connection per request.
    assert sorted(r["new_connections"] for r in http["runs"]) == [False, False, True]
    for run in http["runs"]:
        assert run["requests"] > 0
        assert run["errors"] == 0, run["codes"]
    assert {t["target"] for t in report["targets"]}
