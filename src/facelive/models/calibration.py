"""Raw model score -> calibrated ``liveness_score``, a monotone piecewise-linear map.

The knots are data (``calibration`` in the model manifest), fitted by
``python -m facelive.evaluation.calibrate`` so that thresholds mean something (the rules are
in that module and in docs/accuracy.md). Camera frames and tight face crops get their own
knots, chosen by how much of the picture the face fills (``tight_face_share``).
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
    # Knots for tight face crops (the face fills the picture): the models see little of the
    # scene there and score live faces far lower, so one map cannot serve both framings.
    tight: Calibration | None = None

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

    def __call__(self, raw_score: float, tight: bool = False) -> float:
        """The calibrated score in [0, 1], rounded to 6 places (the verdict uses this).

        ``tight``: the face fills the picture; its own knots apply when there are any.
        """
        if tight and self.tight is not None:
            return self.tight(raw_score)
        clipped = min(1.0, max(0.0, raw_score))
        return round(float(np.interp(clipped, self.raw, self.calibrated)), 6)
