"""The verdict rule and score fusion, as properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from facelive.errors import InvalidThresholdError
from facelive.models.manifest import load_manifest
from facelive.pipeline.score import fuse, softmax
from facelive.pipeline.verdict import RISK_NONE, RISK_SPOOF, is_live, risk_reason, validate_thresh
from facelive.types import ModelScore

unit = st.floats(min_value=0.0, max_value=1.0)


@given(unit, unit)
def test_live_exactly_when_score_is_above_thresh(score: float, thresh: float) -> None:
    assert is_live(score, thresh) == (score > thresh)


def test_score_equal_to_thresh_is_not_live() -> None:
    assert not is_live(0.8, 0.8)
    assert is_live(0.800001, 0.8)


@given(st.lists(unit, min_size=1, max_size=4), unit)
def test_fused_score_is_in_range_and_agrees_with_the_verdict(
    lives: list[float], thresh: float
) -> None:
    scores = tuple(ModelScore(f"m{i}", p, (1 - p, p)) for i, p in enumerate(lives))
    raw = fuse(scores)
    assert 0.0 <= raw <= 1.0
    assert abs(raw - sum(lives) / len(lives)) <= 1e-12
    score = load_manifest().calibration(raw)
    assert 0.0 <= score <= 1.0
    assert score == round(score, 6)
    # What a client sees (the rounded score) gives the same verdict as the service.
    assert is_live(score, thresh) == (float(f"{score:.6f}") > thresh)


def test_fuse_refuses_nothing() -> None:
    with pytest.raises(ValueError, match="no model scores"):
        fuse(())


@given(st.lists(st.floats(min_value=-50, max_value=50), min_size=2, max_size=5))
def test_softmax_is_a_distribution(values: list[float]) -> None:
    import numpy as np

    probs = softmax(np.array(values))
    assert math.isclose(float(probs.sum()), 1.0, rel_tol=1e-9)
    assert bool((probs >= 0).all())


@pytest.mark.parametrize("value", [0, 0.0, 0.5, 1, 1.0])
def test_valid_thresholds(value: float) -> None:
    assert validate_thresh(value) == float(value)


@pytest.mark.parametrize(
    "value", [-0.01, 1.01, math.nan, math.inf, -math.inf, True, "0.5", None, 10**400]
)
def test_invalid_thresholds(value: object) -> None:
    with pytest.raises(InvalidThresholdError) as info:
        validate_thresh(value)  # type: ignore[arg-type]
    assert info.value.code == 4006


def test_risk_reason_is_empty_only_when_live() -> None:
    assert risk_reason(True) == RISK_NONE == ""
    assert risk_reason(True, ("too_dark",)) == ""
    assert risk_reason(False) == RISK_SPOOF == "spoof_suspected"
    assert risk_reason(False, ("too_dark", "blurred")) == "too_dark,blurred"
