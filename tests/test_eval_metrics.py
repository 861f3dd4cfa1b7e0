"""ISO/IEC 30107-3 metrics against hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facelive.evaluation.metrics import (
    MIN_TYPE_SAMPLES,
    error_curve,
    operating_point,
    roc_auc,
    threshold_free,
)


def arr(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def labels(*values: int) -> np.ndarray:
    return np.array(values, dtype=bool)


def test_auc_hand_example() -> None:
    # live 0.9, 0.6; attacks 0.7, 0.2 -> pairs won: (0.9>0.7),(0.9>0.2),(0.6>0.2); lost (0.6<0.7)
    assert roc_auc(arr(0.9, 0.6, 0.7, 0.2), labels(1, 1, 0, 0)) == pytest.approx(3 / 4)


def test_auc_ties_count_half() -> None:
    assert roc_auc(arr(0.5, 0.5), labels(1, 0)) == 0.5
    # live 0.5, 0.8; attack 0.5 -> one tie (0.5), one win (0.8) -> 1.5/2
    assert roc_auc(arr(0.5, 0.8, 0.5), labels(1, 1, 0)) == pytest.approx(0.75)


def test_auc_all_correct_all_wrong_and_empty_class() -> None:
    assert roc_auc(arr(0.9, 0.8, 0.1), labels(1, 1, 0)) == 1.0
    assert roc_auc(arr(0.1, 0.2, 0.9), labels(1, 1, 0)) == 0.0
    assert math.isnan(roc_auc(arr(0.1, 0.2), labels(1, 1)))
    assert math.isnan(roc_auc(arr(0.1, 0.2), labels(0, 0)))


def test_no_face_scores_are_rejected_in_both_classes() -> None:
    scores = arr(-math.inf, 0.9, -math.inf, 0.1)
    live = labels(1, 1, 0, 0)
    attacks = np.array(["none", "none", "print", "print"])
    point = operating_point(scores, live, attacks, 0.0)
    assert point.bpcer == 0.5  # the live image without a face is rejected
    assert point.apcer == 0.5  # the attack without a face is rejected; 0.1 > 0 is accepted
    # pairs: (-inf,-inf) tie 0.5, (-inf,0.1) lost, (0.9,-inf) won, (0.9,0.1) won -> 2.5/4
    assert roc_auc(scores, live) == pytest.approx(0.625)


def test_operating_point_hand_example() -> None:
    live_scores = [0.95, 0.85, 0.75, 0.30]  # thresh 0.8: 2 rejected -> BPCER 50%
    prints = [0.9] + [0.1] * 9  # 1 of 10 accepted -> 10%
    replays = [0.85, 0.82] + [0.2] * 8  # 2 of 10 accepted -> 20%
    masks = [0.99, 0.1]  # too few: listed apart, never the worst
    scores = arr(*live_scores, *prints, *replays, *masks)
    live = labels(*([1] * 4 + [0] * 22))
    attacks = np.array(["none"] * 4 + ["print"] * 10 + ["replay"] * 10 + ["mask"] * 2)
    point = operating_point(scores, live, attacks, 0.8)
    assert point.bpcer == 0.5
    assert {r.attack: r.apcer for r in point.attack_rates} == {"print": 0.1, "replay": 0.2}
    assert [(r.attack, r.count, r.apcer) for r in point.rare_attack_rates] == [("mask", 2, 0.5)]
    assert (point.worst_attack, point.worst_apcer) == ("replay", 0.2)
    assert point.acer == pytest.approx((0.2 + 0.5) / 2)
    assert point.apcer == pytest.approx(4 / 22)
    assert MIN_TYPE_SAMPLES == 10


def test_score_equal_to_thresh_is_rejected() -> None:
    point = operating_point(arr(0.8, 0.8), labels(1, 0), np.array(["none", "print"]), 0.8)
    assert point.bpcer == 1.0 and point.apcer == 0.0


def test_empty_classes_give_nan_not_errors() -> None:
    point = operating_point(arr(0.9, 0.1), labels(1, 1), np.array(["none", "none"]), 0.5)
    assert point.bpcer == 0.5
    assert math.isnan(point.apcer) and math.isnan(point.worst_apcer) and math.isnan(point.acer)
    free = threshold_free(arr(0.9, 0.1), labels(1, 1))
    assert math.isnan(free.eer)


def test_perfect_separation() -> None:
    scores, live = arr(0.9, 0.8, 0.2, 0.1), labels(1, 1, 0, 0)
    free = threshold_free(scores, live)
    assert free.auc == 1.0
    assert free.eer == 0.0
    assert 0.2 <= free.eer_thresh < 0.8
    assert free.bpcer_at_apcer_5 == 0.0 and free.apcer_at_bpcer_5 == 0.0


def test_all_wrong() -> None:
    free = threshold_free(arr(0.1, 0.2, 0.8, 0.9), labels(1, 1, 0, 0))
    assert free.auc == 0.0
    assert free.bpcer_at_apcer_5 == 1.0 and free.apcer_at_bpcer_5 == 1.0
    assert free.eer == 1.0  # the best this classifier can do is be wrong about everyone


def test_error_curve_and_eer_hand_example() -> None:
    # live 0.9 0.7 0.4 0.2 ; attacks 0.8 0.3 0.1 0.05
    scores = arr(0.9, 0.7, 0.4, 0.2, 0.8, 0.3, 0.1, 0.05)
    live = labels(1, 1, 1, 1, 0, 0, 0, 0)
    thresholds, apcer, bpcer = error_curve(scores, live)
    assert apcer[0] == 1.0 and bpcer[0] == 0.0  # below every score: accept all
    assert apcer[-1] == 0.0 and bpcer[-1] == 1.0  # at the top score: accept none
    at = dict(
        zip(thresholds.tolist(), zip(apcer.tolist(), bpcer.tolist(), strict=True), strict=True)
    )
    assert at[0.3] == (0.25, 0.25)  # accepts 0.9 0.7 0.4 and attack 0.8
    free = threshold_free(scores, live)
    assert free.eer == 0.25 and free.eer_thresh == 0.3
    # APCER <= 5% needs thresh >= 0.8: accepts only 0.9 -> BPCER 75%.
    assert free.bpcer_at_apcer_5 == 0.75
    # BPCER <= 5% needs thresh < 0.2: accepts 0.8 and 0.3 (thresh 0.1) -> APCER 50%.
    assert free.apcer_at_bpcer_5 == 0.5
