"""Raw model score -> calibrated ``liveness_score``, a monotone piecewise-linear map.

The knots are data (``calibration`` in the model manifest), fitted by
``python -m facelive.evaluation.calibrate`` so that thresholds mean something: 0.5 is the
equal-error point over all of fas-dev, 0.8 keeps live whole camera frames rejected at most 5%
of the time (remote identity checks), 0.9 at most 10% with fewer attacks let through.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Calibration:
    """Knots (raw, calibrated), both strictly increasing, from (0, 0) to (1, 1)."""

    raw: tuple[float, ...]
    calibrated: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.raw) != len(self.calibrated) or len(self.raw) < 2:
            raise ValueError("calibration needs matching raw and calibrated knots")
        for seq in (self.raw, self.calibrated):
            if seq[0] != 0.0 or seq[-1] != 1.0:
                raise ValueError("calibration knots must start at 0 and end at 1")
            if any(b <= a for a, b in itertools.pairwise(seq)):
                raise ValueError("calibration knots must be strictly increasing")

    @classmethod
    def identity(cls) -> Calibration:
        return cls((0.0, 1.0), (0.0, 1.0))

    def __call__(self, raw_score: float) -> float:
        """The calibrated score in [0, 1], rounded to 6 places (the verdict uses this)."""
        clipped = min(1.0, max(0.0, raw_score))
        return round(float(np.interp(clipped, self.raw, self.calibrated)), 6)
