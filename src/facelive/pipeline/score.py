"""MiniFASNet scoring and the fusion of several models into one liveness score."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from facelive.models.manifest import ModelSpec
from facelive.types import BGRImage, ModelScore


def softmax(logits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    shifted = np.exp(logits - logits.max())
    return np.asarray(shifted / shifted.sum(), dtype=np.float64)


class LivenessModel:
    """One anti-spoofing network: a BGR uint8 patch in, a ``ModelScore`` out. Thread-safe.

    Input is (1, 3, S, S) float32 BGR with raw 0..255 values (no /255, no mean), as the
    models were trained; output is logits over classes, of which ``spec.live_class`` is live.
    """

    def __init__(self, spec: ModelSpec, session: Any) -> None:
        if spec.crop_scale is None or spec.live_class is None:
            raise ValueError(f"{spec.name} is not a liveness model (no crop_scale/live_class)")
        self.spec = spec
        self.name = spec.name
        self.crop_scale: float = spec.crop_scale
        self.live_class: int = spec.live_class
        self.input_size = int(spec.input.shape[-1])
        self._session = session
        self._input = session.get_inputs()[0].name

    def predict(self, patch: BGRImage) -> ModelScore:
        tensor = patch.transpose(2, 0, 1)[None].astype(np.float32)
        logits = self._session.run(None, {self._input: tensor})[0][0].astype(np.float64)
        probs = softmax(logits)
        return ModelScore(
            model=self.name,
            live=float(probs[self.live_class]),
            probabilities=tuple(float(p) for p in probs),
        )


def fuse(scores: tuple[ModelScore, ...]) -> float:
    """The raw score: the mean of the models' live probabilities, in [0, 1]."""
    if not scores:
        raise ValueError("no model scores to fuse")
    mean = sum(s.live for s in scores) / len(scores)
    return min(1.0, max(0.0, mean))
