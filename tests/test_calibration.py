"""Score calibration: monotone, into [0, 1], data in the manifest, fitted by a script."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from facelive.evaluation.calibrate import fit
from facelive.models.calibration import Calibration
from facelive.models.manifest import load_manifest

unit = st.floats(min_value=0.0, max_value=1.0)


@given(unit, unit)
def test_shipped_calibration_is_monotone_and_in_range(a: float, b: float) -> None:
    calibrate = load_manifest().calibration
    lo, hi = sorted((a, b))
    assert 0.0 <= calibrate(lo) <= calibrate(hi) <= 1.0


def test_shipped_calibration_anchors() -> None:
    cal = load_manifest().calibration
    assert cal.calibrated == (0.0, 0.5, 0.8, 0.9, 1.0)
    assert cal(0.0) == 0.0 and cal(1.0) == 1.0
    for raw, calibrated in zip(cal.raw, cal.calibrated, strict=True):
        assert cal(raw) == pytest.approx(calibrated, abs=1e-6)
    assert cal(-5.0) == 0.0 and cal(7.0) == 1.0  # clipped


@pytest.mark.parametrize(
    ("raw", "calibrated"),
    [((0.0, 0.5), (0.0, 1.0)), ((0.0, 0.6, 0.4, 1.0), (0.0, 0.5, 0.8, 1.0)), ((0.0, 1.0), (0.0,))],
)
def test_bad_knots_are_refused(raw: tuple[float, ...], calibrated: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="calibration"):
        Calibration(raw, calibrated)


def test_fit_places_the_anchors(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    live_frames = rng.uniform(0.6, 1.0, 100)  # BPCER <= 5% needs t below the 5th percentile
    attack_frames = rng.uniform(0.0, 0.7, 100)
    live_crops = rng.uniform(0.2, 1.0, 200)
    attack_crops = rng.uniform(0.0, 0.5, 200)
    raw = np.concatenate([live_frames, attack_frames, live_crops, attack_crops])
    live = np.array([True] * 100 + [False] * 100 + [True] * 200 + [False] * 200)
    whole = np.array([True] * 200 + [False] * 400)
    cal = fit(raw, live, whole)
    assert cal.calibrated == (0.0, 0.5, 0.8, 0.9, 1.0)
    t80, t90 = cal.raw[2], cal.raw[3]
    assert np.mean(live_frames <= t80) <= 0.05
    assert np.mean(live_frames <= t90) <= 0.10
    assert t80 < t90
    # The fitted map is a valid Calibration, so its own checks (monotone, 0..1) passed.
    assert cal(t80) == pytest.approx(0.8)


def test_calibrate_command_reads_eval_scores(tmp_path: Path) -> None:
    from facelive.evaluation.calibrate import main

    path = tmp_path / "scores.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label", "cropped", "raw_score"])
        for i in range(40):
            w.writerow([f"l{i}", "live", "no", 0.5 + i / 100])
            w.writerow([f"a{i}", "spoof", "no", i / 100])
            w.writerow([f"m{i}", "spoof", "yes", ""])  # no face
    assert main([str(path)]) == 0
