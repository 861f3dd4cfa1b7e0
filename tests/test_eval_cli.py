"""``facelive eval`` end to end on a small manifest drawn from fas-dev."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np


def test_eval_writes_figures_scores_and_plots(
    fas_dev: Path, fas_dev_rows: list[dict[str, str]], model_dir: Path, tmp_path: Path
) -> None:
    live = [r for r in fas_dev_rows if r["label"] == "live"][:12]
    attacks = [r for r in fas_dev_rows if r["attack"] == "print"][:12]
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 128, np.uint8))  # no face: rejected
    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "label", "attack", "cropped"])
        for r in live + attacks:
            writer.writerow([str(fas_dev / r["file"]), r["label"], r["attack"], r["cropped"]])
        writer.writerow([blank.name, "live", "none", "no"])
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "facelive", "eval", str(manifest), "--out", str(out), "--plot"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "FACELIVE_MODEL_DIR": str(model_dir), "FACELIVE_ALLOW_DOWNLOAD": "0"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "BPCER" in proc.stdout and "APCER print" in proc.stdout and "AUC" in proc.stdout
    report = json.loads((out / "report.json").read_text())
    everything = report["all"]
    assert everything["images"] == 25 and everything["live"] == 13
    assert everything["failure_to_acquire"]["live"] >= 1
    assert {"auc", "eer", "bpcer_at_apcer_5", "apcer_at_bpcer_5"} <= set(
        everything["threshold_free"]
    )
    assert [p["attack"] for p in everything["at_thresh"]["attack_rates"]] == ["print"]
    assert [row["thresh"] for row in everything["sweep"]] == [0.5, 0.6, 0.7, 0.8, 0.9]
    with (out / "scores.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 25
    blank_row = next(r for r in rows if r["file"] == blank.name)
    assert blank_row["code"] == "4002" and blank_row["score"] == ""
    for name in ("det.png", "histogram.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_refuses_a_manifest_without_labels(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,score\nx.jpg,1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "facelive", "eval", str(manifest)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert "label" in proc.stderr
