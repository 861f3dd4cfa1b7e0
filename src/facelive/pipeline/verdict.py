"""The verdict rule of the contract: live if and only if the score is above the threshold."""

from __future__ import annotations

import math

from facelive.errors import InvalidThresholdError

DEFAULT_THRESH = 0.8

# risk_reason tokens (stable; clients may match on them). Empty when live; otherwise
# "spoof_suspected", or the quality reasons of pipeline.quality joined by "," when the face
# was too poor to judge.
RISK_NONE = ""
RISK_SPOOF = "spoof_suspected"


def validate_thresh(thresh: float) -> float:
    """``thresh`` as a float in [0, 1], or ``InvalidThresholdError`` (NaN and inf included)."""
    if isinstance(thresh, bool) or not isinstance(thresh, int | float):
        raise InvalidThresholdError()
    try:
        value = float(thresh)
    except OverflowError:  # an int too large for a float (JSON allows any number of digits)
        raise InvalidThresholdError() from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InvalidThresholdError()
    return value


def is_live(score: float, thresh: float) -> bool:
    return score > thresh


def risk_reason(live: bool, quality: tuple[str, ...] = ()) -> str:
    if live:
        return RISK_NONE
    return ",".join(quality) if quality else RISK_SPOOF
