"""MiniFASNet scoring and the fusion of several models into one liveness score."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from facelive.models.manifest import ModelSpec
from facelive.models.sessions import ModelRunner
from facelive.pipeline.crop import crop_patch, crop_window, square_patch
from facelive.types import BGRImage, Box, ModelScore


def softmax(logits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    shifted = np.exp(logits - logits.max())
    return np.asarray(shifted / shifted.sum(), dtype=np.float64)


class LivenessModel:
    """One anti-spoofing network: a BGR uint8 patch in, a ``ModelScore`` out. Thread-safe.

    Input is (1, 3, S, S) float32 BGR with raw 0..255 values (no /255, no mean), as the
    models were trained; output is logits over classes, of which ``spec.live_class`` is live.
    """

    def __init__(self, spec: ModelSpec, runner: ModelRunner) -> None:
        if spec.crop_scale is None or spec.live_class is None:
            raise ValueError(f"{spec.name} is not a liveness model (no crop_scale/live_class)")
        self.spec = spec
        self.name = spec.name
        self.crop_scale: float = spec.crop_scale
        self.live_class: int = spec.live_class
        self.input_size = int(spec.input.shape[-1])
        self._rgb = spec.input.colour == "RGB"
        self._divisor = spec.input.divisor
        self.runner = runner

    def patch(self, pixels: BGRImage, face_box: Box, training_box: Box) -> BGRImage:
        """This model's input patch: ``face_box`` is the detector's box, ``training_box`` the
        same face in the geometry the MiniFASNets were trained on."""
        if self.spec.crop == "square_reflect":
            return square_patch(pixels, face_box, self.crop_scale, self.input_size)
        height, width = pixels.shape[:2]
        window = crop_window(width, height, training_box, self.crop_scale)
        return crop_patch(pixels, window, self.input_size)

    def window_px(self, pixels: BGRImage, face_box: Box, training_box: Box) -> int:
        """The shorter side, in pixels of ``pixels``, of the region this model's patch is
        resized from: a JPEG decoded at reduced size is only used while it stays large."""
        if self.spec.crop == "square_reflect":
            return max(1, round(self.crop_scale * max(face_box.w, face_box.h)))
        height, width = pixels.shape[:2]
        window = crop_window(width, height, training_box, self.crop_scale)
        return min(window.x2 - window.x1, window.y2 - window.y1) + 1

    def predict(self, patch: BGRImage) -> ModelScore:
        """``patch`` is BGR uint8; colour order and scaling follow the manifest's input spec."""
        pixels = patch[:, :, ::-1] if self._rgb else patch
        tensor = pixels.transpose(2, 0, 1)[None].astype(np.float32)
        if self._divisor != 1.0:
            tensor /= self._divisor
        logits = self.runner.run(tensor)[0].astype(np.float64)
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
