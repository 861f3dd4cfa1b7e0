"""Install a training run's models as the package's ``facelive`` profile.

Copies the exported files into ``facelive/models/weights/`` and writes their manifest
entries (sha256, size, licence, the crop geometry of the model they started from at
the crop scale they were trained on), the
profile, and the calibration fitted on the run's out-of-fold scores. The model card beside
the weights is written by hand from ``report.json``: it has to say things no script knows.
"""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from facelive.models.manifest import ModelSpec, calibration_key, parse_manifest
from facelive.training.base_graph import (
    INPUT_COLOUR,
    INPUT_RANGE,
    LIVE_CLASS,
    follows_conventions,
)

PROFILE = "facelive"
SUBDIR = "weights"
LICENCE = (
    "Apache-2.0 code and base weights; trained on fas-dev and fas-train, which hold "
    "research-only academic data (OULU-NPU, NUAA, Idiap Replay-Mobile, CASIA-FASD-like): "
    "see weights/MODEL_CARD.md before commercial use"
)


def _how(model: dict[str, Any]) -> str:
    view = ""
    if model.get("crop") == "square_reflect":
        view = f", reading a square of {model['crop_scale']}x the face box"
    if model.get("method") == "head":
        return f"{model['base']} with a new final layer, every other layer as published{view}"
    return f"fine-tuned from {model['base']}{view}"


def _in_training_conventions(base: dict[str, Any], spec: ModelSpec) -> dict[str, Any]:
    """What a trained model's entry says of its input and output where its base (``spec``)
    said otherwise: training rewrites every base to read BGR 0..255 with live at class 1
    (``facelive.training.base_graph``)."""
    if follows_conventions(spec):
        return {}
    given = {k: v for k, v in base["input"].items() if k != "divisor"}
    return {
        "input": {**given, "colour": INPUT_COLOUR, "range": INPUT_RANGE},
        "output": "logits [1, 2]; softmax; class 1 is live, class 0 spoof",
        "live_class": LIVE_CLASS,
    }


def ship(run_dir: Path, report: dict[str, Any], package: Path | None = None) -> list[str]:
    """Returns what it did, one line each. ``package``: the ``facelive/models`` folder."""
    models_dir = package or Path(str(resources.files("facelive.models")))
    manifest_path = models_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    parsed = parse_manifest(manifest)
    by_name = {m["name"]: m for m in manifest["models"]}
    done = []
    names = []
    for model in report["models"]:
        target = models_dir / SUBDIR / model["file"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run_dir / model["file"], target)
        base = by_name[model["base"]]
        entry = {
            **{k: v for k, v in base.items() if k not in ("optional", "commercial_use")},
            **_in_training_conventions(base, parsed.get(model["base"])),
            "name": model["name"],
            "crop_scale": model.get("crop_scale", base.get("crop_scale")),
            "crop": model.get("crop", base.get("crop", "shifted")),
            "framing": model.get("framing", "any"),
            "subdir": SUBDIR,
            "file": model["file"],
            "sha256": model["sha256"],
            "size": model["size"],
            "licence": LICENCE
            if base.get("commercial_use", True)
            else f"{LICENCE}; base weights: {base['licence']}",
            "source": f"facelive train ({_how(model)}); report in MODEL_CARD.md",
            "url": "",
            "packaged": True,
            "commercial_use": False,
            # Every trained model is a MiniFASNet-shaped graph in MiniFASNet's conventions:
            # OpenCV's DNN engine runs them faster with the same outputs (the MiniFASNets
            # 1.3 ms against 1.9, facenox's 3.8 against 5-8; tests/test_opencv_net.py).
            "runtime": "opencv",
        }
        by_name[model["name"]] = entry
        names.append(model["name"])
        done.append(f"installed {target} ({model['sha256']})")
    manifest["models"] = list(by_name.values())
    profile = report.get("profile", names)
    manifest["profiles"][PROFILE] = profile
    manifest["profiles"]["default"] = PROFILE
    if "calibration" in report:
        key = calibration_key(tuple(profile))
        # A calibration of another model set with a replaced model was fitted on the old
        # weights: it would give their scores meanings the new weights do not have.
        stale = [
            k
            for k in manifest["calibrations"]
            if k != key and k != "about" and set(k.split("+")) & set(names)
        ]
        for k in stale:
            del manifest["calibrations"][k]
            done.append(f"removed the calibration of {k}, fitted on replaced weights")
        manifest["calibrations"][key] = report["calibration"]
        done.append(f"calibration for {key}: {report['calibration']}")
    manifest_path.write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    done.append(f"updated {manifest_path}; default profile is now {PROFILE!r}")
    return done
