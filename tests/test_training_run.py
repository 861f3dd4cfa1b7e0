"""`facelive train CONFIG.toml` end to end on a dozen fas-dev images, and shipping its result."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from importlib import resources
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from facelive.models.manifest import load_manifest, parse_manifest
from facelive.models.store import sha256_of
from facelive.training.config import ModelToTrain, load_config, parse_config
from facelive.training.run import _base_spec
from facelive.training.ship import ship

CONFIG = """
seed = 3
out_dir = "run"
cache_dir = "cache"

[[data]]
manifest = "dev.csv"
evaluate = true

[[data]]
manifest = "extra/train.csv"
exclude_origins = ["CelebA-Spoof"]

[train]
epochs = 1
batch_size = 4
lr = 1e-4

[cv]
folds = 2

[profile]
with_upstream = true

[[models]]
base = "minifasnet_v2"
name = "facelive_v2"

[[models]]
base = "minifasnet_v1se"
name = "facelive_v1se"
method = "head"

[[models]]
base = "minifasnet_v2"
name = "facelive_close"
crop_scale = 1.5
crop = "square_reflect"
framing = "tight"

[[models]]
base = "facenox_minifas128"
name = "facelive_facenox"
framing = "tight"
method = "head"
"""


def _write_manifest(path: Path, rows: list[dict[str, str]], fas_dev: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "file": str(fas_dev / row["file"])})


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, fas_dev: Path, model_dir: Path
) -> tuple[Path, dict[str, object], str]:
    """One real `facelive train` run, as a subprocess, on 12 + 4 images from 4 sources."""
    with (fas_dev / "manifest.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    picked: list[dict[str, str]] = []
    for source in ("nvlong21/face_anti_spoofing", "willy-dev/AVA", "WOLF-huo/face_liveness"):
        for label in ("live", "spoof"):
            picked += [r for r in rows if r["source_repo"] == source and r["label"] == label][:2]
    extra = [r for r in rows if r["source_repo"] == "AksultanMukhanbet/recognize_with_python"][:4]
    root = tmp_path_factory.mktemp("train")
    _write_manifest(root / "dev.csv", picked, fas_dev)
    _write_manifest(root / "extra" / "train.csv", extra, fas_dev)
    (root / "run.toml").write_text(CONFIG, encoding="utf-8")
    env = {**os.environ, "FACELIVE_MODEL_DIR": str(model_dir), "FACELIVE_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "facelive", "train", str(root / "run.toml")],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((root / "run" / "report.json").read_text(encoding="utf-8"))
    return root, report, proc.stderr


def test_config_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(CONFIG, encoding="utf-8")
    config = load_config(tmp_path / "c.toml")
    assert config.data[0].manifest == tmp_path / "dev.csv" and config.data[0].evaluate
    assert config.data[1].exclude_origins == ("CelebA-Spoof",)
    assert config.out_dir == tmp_path / "run"
    assert config.train.seed == 3 and config.train.batch_size == 4 and config.folds == 2
    assert config.with_upstream
    assert [m.crop_scale for m in config.models] == [None, None, 1.5, None]
    assert [m.crop for m in config.models] == [None, None, "square_reflect", None]
    # The close-up model starts from minifasnet_v2 but is not its published crop, and the
    # facenox model judges tight crops only: the upstream baseline (and the profile's
    # upstream members) are the first two only.
    assert config.published_rows == config.upstream_rows == (0, 1)
    assert replace(config, with_upstream=False).upstream_rows == ()
    assert config.tight_only == (2, 3)
    assert config.interpolations == (1.0, 1.0, 1.0, 1.0)
    assert config.methods == ("fine_tune", "head", "fine_tune", "head")
    assert config.train.head_c == 0.03
    assert config.head_cs == (0.03, 0.03, 0.03, 0.03)


def test_a_head_model_may_keep_its_own_regularisation(tmp_path: Path) -> None:
    text = CONFIG.replace('method = "head"', 'method = "head"\nhead_c = 0.1')
    (tmp_path / "c.toml").write_text(text, encoding="utf-8")
    config = load_config(tmp_path / "c.toml")
    assert config.head_cs == (0.03, 0.1, 0.03, 0.1)


def test_patches_are_cut_for_the_faces_a_model_will_judge() -> None:
    manifest = load_manifest()
    view = ModelToTrain(
        "minifasnet_v2", "x", crop_scale=0.7, framing="tight", crop="square_reflect"
    )
    spec = _base_spec(manifest, view)
    # Its framing too: which models' windows a reduced JPEG decode keeps large depends on it.
    assert (spec.name, spec.crop_scale, spec.crop, spec.framing) == (
        "x",
        0.7,
        "square_reflect",
        "tight",
    )
    assert _base_spec(manifest, ModelToTrain("minifasnet_v2", "y")) == manifest.get("minifasnet_v2")


def test_a_model_may_keep_its_own_interpolation(tmp_path: Path) -> None:
    text = CONFIG.replace("lr = 1e-4", "lr = 1e-4\ninterpolation = 0.5").replace(
        'framing = "tight"', 'framing = "tight"\ninterpolation = 1.0', 1
    )
    (tmp_path / "c.toml").write_text(text, encoding="utf-8")
    config = load_config(tmp_path / "c.toml")
    assert config.train.interpolation == 0.5
    assert config.interpolations == (0.5, 0.5, 1.0, 0.5)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"data": [{"manifest": "a.csv"}]}, "evaluate"),
        ({"models": []}, "models"),
        ({"cv": {"folds": 1}}, "folds"),
        ({"train": {"source_balance": "cube"}}, "source_balance"),
        ({"models": [{"base": "minifasnet_v2", "name": "x", "framing": "wide"}]}, "framing"),
        ({"models": [{"base": "minifasnet_v2", "name": "x", "framing": "tight"}]}, "frames"),
        ({"models": [{"base": "minifasnet_v2", "name": "x", "interpolation": 0}]}, "interpolation"),
        ({"models": [{"base": "minifasnet_v2", "name": "x", "method": "prune"}]}, "method"),
        (
            {
                "models": [
                    {"base": "minifasnet_v2", "name": "x", "method": "head", "interpolation": 0.5}
                ]
            },
            "not to method 'head'",
        ),
        ({"train": {"head_c": 0}}, "head_c"),
        ({"models": [{"base": "minifasnet_v2", "name": "x", "crop": "round"}]}, "crop"),
        ({"models": [{"base": "minifasnet_v2", "name": "x", "head_c": 0.1}]}, "head_c"),
        (
            {"models": [{"base": "minifasnet_v2", "name": "x", "method": "head", "head_c": -1}]},
            "head_c",
        ),
    ],
)
def test_bad_configs_are_refused_with_a_reason(change: dict[str, object], message: str) -> None:
    raw: dict[str, object] = {
        "data": [{"manifest": "a.csv", "evaluate": True}],
        "models": [{"base": "minifasnet_v2", "name": "x"}],
    }
    raw.update(change)
    with pytest.raises(ValueError, match=message):
        parse_config(raw, Path("/"))


def test_the_run_reports_every_fold_and_logs_every_figure(
    trained: tuple[Path, dict[str, object], str],
) -> None:
    root, report, stderr = trained
    cv = report["cross_validation"]
    assert isinstance(cv, dict)
    assert len(cv["folds"]) == 2
    held = [s for fold in cv["folds"] for s in fold["held_out"]]
    # Grouped by source: each of the three evaluated sources is held out exactly once.
    assert sorted(held) == [
        "WOLF-huo/face_liveness",
        "nvlong21/face_anti_spoofing",
        "willy-dev/AVA",
    ]
    for fold in cv["folds"]:
        for which in ("upstream", "tuned"):
            crops = fold[which]["crops"]
            assert 0.0 <= crops["auc"] <= 1.0
            assert 0.0 <= crops["bpcer"] <= 1.0 and 0.0 <= crops["apcer"] <= 1.0
            # Two attacks per fold: too few for a worst-type APCER, so no ACER either.
            assert crops["acer"] is None
    calibration = report["calibration"]
    assert isinstance(calibration, dict)
    assert calibration["raw"][0] == 0.0 and calibration["raw"][-1] == 1.0
    log = (root / "run" / "train.log").read_text(encoding="utf-8")
    assert "fold 1 tuned" in log and "pooled tuned" in log and "exported facelive_v1se" in log
    assert "fold 2" in stderr
    # The "head" model learnt a new final layer in each fold and in the final fit.
    assert log.count("model 2: final layer fitted") == 3
    per_model = np.load(root / "run" / "oof_models.npz")
    assert per_model["tuned"].shape == (4, 12) and per_model["upstream"].shape == (4, 12)
    assert list(per_model["names"]) == [
        "facelive_v2",
        "facelive_v1se",
        "facelive_close",
        "facelive_facenox",
    ]
    assert ((per_model["tuned"] >= 0) & (per_model["tuned"] <= 1)).all()


def test_exported_models_match_pytorch_and_run_in_onnx_runtime(
    trained: tuple[Path, dict[str, object], str],
) -> None:
    root, report, _ = trained
    models = report["models"]
    assert isinstance(models, list) and [m["name"] for m in models] == [
        "facelive_v2",
        "facelive_v1se",
        "facelive_close",
        "facelive_facenox",
    ]
    assert [m["crop_scale"] for m in models] == [2.7, 4.0, 1.5, 1.5]
    assert [m["crop"] for m in models] == ["shifted", "shifted"] + ["square_reflect"] * 2
    # The upstream bases join as published only where a model judges every face with their
    # crop: facenox, tight crops only, is not one of the upstream profile's models.
    assert report["profile"] == ["minifasnet_v2", "minifasnet_v1se", *(m["name"] for m in models)]
    for model in models:
        path = root / "run" / model["file"]
        assert model["parity"] <= 1e-4
        assert sha256_of(path) == model["sha256"] and path.stat().st_size == model["size"]
        assert model["size"] <= 4 * 1024 * 1024
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        size, classes = (128, 2) if model["base"] == "facenox_minifas128" else (80, 3)
        logits = session.run(None, {"input": np.zeros((1, 3, size, size), np.float32)})[0]
        assert logits.shape == (1, classes)


def test_shipping_installs_the_weights_as_the_default_profile(
    trained: tuple[Path, dict[str, object], str], tmp_path: Path
) -> None:
    root, report, _ = trained
    package = tmp_path / "models"
    shutil.copytree(Path(str(resources.files("facelive.models"))), package)
    lines = ship(root / "run", report, package)
    assert any("default profile is now 'facelive'" in line for line in lines)
    manifest = parse_manifest(json.loads((package / "manifest.json").read_text("utf-8")))
    # with_upstream: the profile scores with the upstream and the fine-tuned models together.
    ours = ["facelive_v2", "facelive_v1se", "facelive_close", "facelive_facenox"]
    assert [m.name for m in manifest.liveness] == ["minifasnet_v2", "minifasnet_v1se", *ours]
    assert [m.name for m in manifest.liveness_for("upstream")] == [
        "minifasnet_v2",
        "minifasnet_v1se",
    ]
    for spec in manifest.liveness[2:]:
        assert spec.packaged and not spec.commercial_use and spec.runtime == "opencv"
        assert sha256_of(package / spec.relative_path) == spec.sha256
    assert [m.crop_scale for m in manifest.liveness] == [2.7, 4.0, 2.7, 4.0, 1.5, 1.5]
    assert [m.framing for m in manifest.liveness] == ["any"] * 4 + ["tight"] * 2
    assert [m.crop for m in manifest.liveness] == ["shifted"] * 4 + ["square_reflect"] * 2
    # Training rewrote facenox to read BGR 0..255 with live at class 1; its entry says so,
    # and that its base weights come from CelebA-Spoof.
    facenox = manifest.get("facelive_facenox")
    assert (facenox.input.colour, facenox.input.divisor, facenox.live_class) == ("BGR", 1.0, 1)
    assert facenox.input.shape[-1] == 128 and "CelebA-Spoof" in facenox.licence
    assert manifest.calibration_for(tuple(m.name for m in manifest.liveness)) is not None
    # Calibrations fitted on the weights that were replaced go; the upstream ones stay.
    assert any("fitted on replaced weights" in line for line in lines)
    assert all(
        "facelive_v2" not in k or k.endswith("facelive_facenox") for k in manifest.calibrations
    )
    assert manifest.calibration_for(("minifasnet_v2", "minifasnet_v1se")) is not None
