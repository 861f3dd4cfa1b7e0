"""Fit the score calibration from ``facelive eval --out`` scores; print or write it.

    python -m facelive.evaluation.calibrate out/scores.csv [--write]

Anchors, all measured on the raw (uncalibrated) scores of the labelled images. Faces that
fill the picture (``face_share`` at least the manifest's ``tight_face_share``) get their own
map, since the models score live tight crops far lower than live camera frames:
- frames, 0.8: the highest threshold at which whole camera frames (``cropped=no``) lose at
  most 5% of live people (BPCER <= 5%): the operating point for remote identity checks;
  0.9: the same with BPCER <= 10%, rejecting more attacks; 0.5: the equal-error threshold
  of all rows that are not tight crops;
- tight crops, 0.8: their equal-error threshold (the balanced point: a crop carries too
  little context for a strict one); 0.5: at most 5% of live faces rejected; 0.9: at most
  5% of attacks let through.
Between anchors the map is linear; it runs from (0, 0) to (1, 1); an anchor that would
cross a more important one (0.8 first) on small data is left out. ``--write`` stores the
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
TIGHT_LENIENT_BPCER = 0.05  # tight crops: 0.5 rejects at most this share of live faces
TIGHT_STRICT_APCER = 0.05  # tight crops: 0.9 lets through at most this share of attacks


def _load(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    raw = np.array([float(r["raw_score"]) if r["raw_score"] else -np.inf for r in rows])
    live = np.array([r["label"] == "live" for r in rows])
    whole = np.array([r["cropped"] == "no" for r in rows])
    if rows and "face_share" in rows[0]:
        share = np.array([float(r["face_share"]) if r["face_share"] else np.nan for r in rows])
        return raw, live, whole, share >= load_manifest().tight_face_share
    return raw, live, whole, None


def _threshold_for_bpcer(raw: np.ndarray, live: np.ndarray, bpcer_max: float) -> float:
    thresholds, _, bpcer = error_curve(raw, live)
    return float(thresholds[np.nonzero(bpcer <= bpcer_max)[0][-1]])


def _threshold_for_apcer(raw: np.ndarray, live: np.ndarray, apcer_max: float) -> float:
    thresholds, apcer, _ = error_curve(raw, live)
    return float(thresholds[np.nonzero(apcer <= apcer_max)[0][0]])


def _knots(anchors: list[tuple[float, float]]) -> Calibration:
    """(0, 0), the anchors, (1, 1). ``anchors`` come most important first: one that would
    break monotony with those already kept is dropped (anchors can cross on small data)."""
    kept: list[tuple[float, float]] = [(0.0, 0.0), (1.0, 1.0)]
    for x, y in anchors:
        x = round(x, 6)
        if all((x - kx) * (y - ky) > 0 for kx, ky in kept):
            kept.append((x, y))
    kept.sort()
    return Calibration(tuple(k[0] for k in kept), tuple(k[1] for k in kept))


def _both_classes(live: np.ndarray) -> bool:
    return bool(live.any() and (~live).any())


def fit(
    raw: np.ndarray, live: np.ndarray, whole: np.ndarray, tight: np.ndarray | None = None
) -> Calibration:
    """Camera-frame knots, plus tight-crop knots when ``tight`` marks such rows.

    Frames (rows not tight): 0.5 at their equal-error threshold; 0.8 and 0.9 at the highest
    thresholds where whole frames (``cropped=no``) lose at most 5% and 10% of live people.
    Tight crops: 0.5 where at most 5% of live faces are rejected, 0.8 at their equal-error
    threshold (the balanced point: such crops carry too little context for a strict one),
    0.9 where at most 5% of attacks pass.
    """
    loose = np.ones_like(live) if tight is None else ~tight
    # With no live whole frame to anchor on (a small or crops-only set), all rows anchor.
    frames = (whole & loose) if live[whole & loose].any() else loose
    anchors = [
        (_threshold_for_bpcer(raw[frames], live[frames], bpcer_max), calibrated)
        for calibrated, bpcer_max in ANCHORS
    ]
    anchors.append((threshold_free(raw[loose], live[loose]).eer_thresh, 0.5))
    calibration = _knots(anchors)
    if tight is None or not _both_classes(live[tight]):
        return calibration
    r, lv = raw[tight], live[tight]
    tight_map = _knots(
        [
            (threshold_free(r, lv).eer_thresh, 0.8),
            (_threshold_for_bpcer(r, lv, TIGHT_LENIENT_BPCER), 0.5),
            (_threshold_for_apcer(r, lv, TIGHT_STRICT_APCER), 0.9),
        ]
    )
    return Calibration(calibration.raw, calibration.calibrated, tight_map)


def as_json(calibration: Calibration) -> dict[str, object]:
    """The manifest's form of a calibration."""
    out: dict[str, object] = {
        "raw": list(calibration.raw),
        "calibrated": list(calibration.calibrated),
    }
    if calibration.tight is not None:
        out["tight"] = as_json(calibration.tight)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scores", type=Path, help="scores.csv from facelive eval --out")
    parser.add_argument("--write", action="store_true", help="store it in the model manifest")
    args = parser.parse_args(argv)
    calibration = fit(*_load(args.scores))
    knots = as_json(calibration)
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
