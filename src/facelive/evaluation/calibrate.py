"""Fit the score calibration from ``facelive eval --out`` scores; print or write it.

    python -m facelive.evaluation.calibrate out/scores.csv [--write]

Anchors, all measured on the raw (uncalibrated) scores of the labelled images:
- 0.5: the equal-error threshold over every image;
- 0.8: the highest threshold at which whole camera frames (``cropped=no``) lose at most 5% of
  live people (BPCER <= 5%): the operating point for remote identity checks;
- 0.9: the same with BPCER <= 10%, rejecting more attacks.
Between anchors the map is linear; it runs from (0, 0) to (1, 1). ``--write`` stores the
knots in the package's model manifest, under the set of liveness models in use (the default
ones plus ``FACELIVE_EXTRA_MODELS``), where the pipeline reads them.
"""

from __future__ import annotations

import argparse
import csv
import json
from importlib import resources
from pathlib import Path

import numpy as np

from facelive.evaluation.metrics import error_curve, threshold_free
from facelive.models.calibration import Calibration
from facelive.models.manifest import calibration_key, load_manifest
from facelive.settings import Settings

ANCHORS = ((0.8, 0.05), (0.9, 0.10))  # (calibrated value, whole-frame BPCER allowed)


def _load(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    raw = np.array([float(r["raw_score"]) if r["raw_score"] else -np.inf for r in rows])
    live = np.array([r["label"] == "live" for r in rows])
    whole = np.array([r["cropped"] == "no" for r in rows])
    return raw, live, whole


def _threshold_for_bpcer(raw: np.ndarray, live: np.ndarray, bpcer_max: float) -> float:
    thresholds, _, bpcer = error_curve(raw, live)
    return float(thresholds[np.nonzero(bpcer <= bpcer_max)[0][-1]])


def fit(raw: np.ndarray, live: np.ndarray, whole: np.ndarray) -> Calibration:
    knots = [(0.0, 0.0), (threshold_free(raw, live).eer_thresh, 0.5)]
    # With no live whole frame to anchor on (a small or crops-only set), all rows anchor.
    frames = whole if live[whole].any() else np.ones_like(whole)
    for calibrated, bpcer_max in ANCHORS:
        knots.append((_threshold_for_bpcer(raw[frames], live[frames], bpcer_max), calibrated))
    knots.append((1.0, 1.0))
    # Keep only strictly increasing knots (anchors can coincide on small data).
    kept = [knots[0]]
    for x, y in knots[1:]:
        if x > kept[-1][0] and y > kept[-1][1]:
            kept.append((round(x, 6), y))
    return Calibration(tuple(k[0] for k in kept), tuple(k[1] for k in kept))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scores", type=Path, help="scores.csv from facelive eval --out")
    parser.add_argument("--write", action="store_true", help="store it in the model manifest")
    args = parser.parse_args(argv)
    calibration = fit(*_load(args.scores))
    knots = {"raw": list(calibration.raw), "calibrated": list(calibration.calibrated)}
    print(json.dumps(knots))
    if args.write:
        path = Path(str(resources.files("facelive.models").joinpath("manifest.json")))
        manifest = json.loads(path.read_text(encoding="utf-8"))
        # The knots belong to the model set that produced the scores
        # (FACELIVE_MODEL_PROFILE and FACELIVE_EXTRA_MODELS).
        settings = Settings()
        names = load_manifest().liveness_for(settings.model_profile, settings.extra_models)
        manifest["calibrations"][calibration_key(tuple(m.name for m in names))] = knots
        path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
