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


@given(unit, unit, st.booleans())
def test_shipped_calibrations_are_monotone_and_in_range(a: float, b: float, tight: bool) -> None:
    manifest = load_manifest()
    lo, hi = sorted((a, b))
    for profile in manifest.profiles:
        names = tuple(m.name for m in manifest.liveness_for(profile))
        calibrate = manifest.calibration_for(names)
        assert calibrate is not None
        assert 0.0 <= calibrate(lo, tight) <= calibrate(hi, tight) <= 1.0


def test_shipped_calibration_anchors() -> None:
    manifest = load_manifest()
    for profile in manifest.profiles:
        cal = manifest.calibration_for(tuple(m.name for m in manifest.liveness_for(profile)))
        assert cal is not None and cal.tight is not None
        for knots in (cal, cal.tight):
            # 0.8, the default threshold, is always an anchor of both framings.
            assert 0.8 in knots.calibrated and set(knots.calibrated) <= {0.0, 0.5, 0.8, 0.9, 1.0}
            for raw, calibrated in zip(knots.raw, knots.calibrated, strict=True):
                assert knots(raw) == pytest.approx(calibrated, abs=1e-6)
        assert cal(0.0) == 0.0 and cal(1.0) == 1.0
        assert cal(-5.0) == 0.0 and cal(7.0) == 1.0  # clipped
        assert cal(-5.0, True) == 0.0 and cal(7.0, True) == 1.0
        # Live tight crops score lower: the same raw score means more on a tight crop.
        mid = cal.raw[cal.calibrated.index(0.8)]
        assert cal(mid, True) > cal(mid)


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


def test_fit_gives_tight_crops_their_own_map() -> None:
    rng = np.random.default_rng(1)
    live_frames = rng.uniform(0.6, 1.0, 100)
    attack_frames = rng.uniform(0.0, 0.7, 100)
    live_crops = rng.uniform(0.2, 0.8, 200)  # tight crops: live faces score lower
    attack_crops = rng.uniform(0.0, 0.5, 200)
    raw = np.concatenate([live_frames, attack_frames, live_crops, attack_crops])
    live = np.array([True] * 100 + [False] * 100 + [True] * 200 + [False] * 200)
    whole = np.array([True] * 200 + [False] * 400)
    cal = fit(raw, live, whole, tight=~whole)
    assert cal.tight is not None
    assert cal.tight.calibrated == (0.0, 0.5, 0.8, 0.9, 1.0)
    t50, t80, t90 = cal.tight.raw[1:4]
    # 0.8 is the crops' equal-error point, 0.5 lenient, 0.9 strict.
    bpcer = np.mean(live_crops <= t80)
    apcer = np.mean(attack_crops > t80)
    assert abs(bpcer - apcer) < 0.05
    assert np.mean(live_crops <= t50) <= 0.05
    assert np.mean(attack_crops > t90) <= 0.05
    # The frame map is fitted on the frames alone, as without tight crops.
    frames_only = fit(raw[whole], live[whole], whole[whole])
    assert cal.raw[cal.calibrated.index(0.8)] == frames_only.raw[frames_only.calibrated.index(0.8)]


def test_a_crossing_anchor_gives_way_to_the_default_threshold() -> None:
    from facelive.evaluation.calibrate import _knots

    cal = _knots([(0.6, 0.8), (0.7, 0.5), (0.9, 0.9)])  # 0.5 would sit above 0.8: dropped
    assert cal.raw == (0.0, 0.6, 0.9, 1.0) and cal.calibrated == (0.0, 0.8, 0.9, 1.0)
