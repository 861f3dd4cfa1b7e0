"""Presentation-attack detection metrics (ISO/IEC 30107-3), plain numpy.

Vocabulary: a *bona fide* presentation is a live person (label live); an *attack* is a
spoof. A presentation is *accepted* (classified bona fide) when its score is above the
threshold. Faces that were not found score ``-inf``: rejected in both classes.

- APCER (per attack type): share of attacks of that type accepted.
- BPCER: share of bona fide presentations rejected.
- ACER: (worst APCER over attack types with enough samples + BPCER) / 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Attack types with fewer samples than this are reported apart and never the "worst".
MIN_TYPE_SAMPLES = 10


@dataclass(frozen=True, slots=True)
class AttackRate:
    attack: str
    count: int
    apcer: float


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """Error rates at one threshold. Rates are fractions in [0, 1]; NaN if a class is empty."""

    thresh: float
    bpcer: float
    apcer: float  # all attacks pooled
    attack_rates: tuple[AttackRate, ...]  # types with >= MIN_TYPE_SAMPLES samples
    rare_attack_rates: tuple[AttackRate, ...]  # the others, listed apart
    worst_apcer: float
    worst_attack: str
    acer: float


@dataclass(frozen=True, slots=True)
class ThresholdFree:
    auc: float
    eer: float
    eer_thresh: float
    bpcer_at_apcer_5: float
    apcer_at_bpcer_5: float


def _rate(hits: BoolArray) -> float:
    return float(hits.mean()) if hits.size else math.nan


def operating_point(
    scores: FloatArray, live: BoolArray, attacks: npt.NDArray[np.str_], thresh: float
) -> OperatingPoint:
    accepted = scores > thresh
    bpcer = _rate(~accepted[live])
    rates = []
    for attack in sorted(set(attacks[~live].tolist())):
        mask = (~live) & (attacks == attack)
        rates.append(AttackRate(attack, int(mask.sum()), _rate(accepted[mask])))
    common = tuple(r for r in rates if r.count >= MIN_TYPE_SAMPLES)
    rare = tuple(r for r in rates if r.count < MIN_TYPE_SAMPLES)
    worst = max(common, key=lambda r: r.apcer, default=None)
    worst_apcer = worst.apcer if worst else math.nan
    return OperatingPoint(
        thresh=thresh,
        bpcer=bpcer,
        apcer=_rate(accepted[~live]),
        attack_rates=common,
        rare_attack_rates=rare,
        worst_apcer=worst_apcer,
        worst_attack=worst.attack if worst else "",
        acer=(worst_apcer + bpcer) / 2,
    )


def roc_auc(scores: FloatArray, live: BoolArray) -> float:
    """Probability that a random bona fide outscores a random attack (ties count half)."""
    n_live, n_attack = int(live.sum()), int((~live).sum())
    if n_live == 0 or n_attack == 0:
        return math.nan
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # Average ranks over ties (1-based), so equal scores count half.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[live].sum() - n_live * (n_live + 1) / 2) / (n_live * n_attack))


def error_curve(scores: FloatArray, live: BoolArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(thresholds, APCER, BPCER) at every distinct threshold that changes a decision.

    Threshold t accepts scores > t; thresholds run from below the lowest score (accept all)
    to the highest score (accept none).
    """
    finite = scores[np.isfinite(scores)]
    lowest = float(finite.min()) - 1.0 if finite.size else -1.0
    thresholds = np.concatenate([[lowest], np.unique(finite)])
    live_scores = np.sort(scores[live])
    attack_scores = np.sort(scores[~live])
    # Count of scores <= t via searchsorted (side="right").
    rejected_live = np.searchsorted(live_scores, thresholds, side="right")
    rejected_attack = np.searchsorted(attack_scores, thresholds, side="right")
    bpcer = rejected_live / max(1, live_scores.size)
    apcer = 1.0 - rejected_attack / max(1, attack_scores.size)
    return thresholds, apcer.astype(np.float64), bpcer.astype(np.float64)


def threshold_free(scores: FloatArray, live: BoolArray) -> ThresholdFree:
    if not live.any() or live.all():
        return ThresholdFree(roc_auc(scores, live), math.nan, math.nan, math.nan, math.nan)
    thresholds, apcer, bpcer = error_curve(scores, live)
    gap = np.abs(apcer - bpcer)
    i = int(np.argmin(gap))
    eer = float((apcer[i] + bpcer[i]) / 2)
    ok_apcer = apcer <= 0.05
    ok_bpcer = bpcer <= 0.05
    return ThresholdFree(
        auc=roc_auc(scores, live),
        eer=eer,
        eer_thresh=float(thresholds[i]),
        bpcer_at_apcer_5=float(bpcer[ok_apcer].min()) if ok_apcer.any() else 1.0,
        apcer_at_bpcer_5=float(apcer[ok_bpcer].min()) if ok_bpcer.any() else 1.0,
    )
