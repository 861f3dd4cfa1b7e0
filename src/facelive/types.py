"""Frozen values that flow between the pipeline stages.

Coordinates are pixels of the decoded image (EXIF orientation applied), origin top-left,
x to the right and y down. Pixel arrays are ``uint8`` BGR with shape (H, W, 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

BGRImage = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """An image as the models see it: BGR ``uint8`` (H, W, 3), orientation already applied.

    ``reduction`` is 1, or 2, 4 or 8 when a large JPEG was decoded at that fraction of its
    size (DCT scaling, much cheaper than decoding every pixel); ``width`` and ``height`` are
    always the upright image's full size in pixels, which is what clients are told.
    """

    pixels: BGRImage
    format: str
    reduction: int = 1
    full_size: tuple[int, int] | None = None

    @property
    def width(self) -> int:
        return self.full_size[0] if self.full_size else int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return self.full_size[1] if self.full_size else int(self.pixels.shape[0])

    @property
    def scale(self) -> tuple[float, float]:
        """Full-size pixels per decoded pixel along (x, y); (1.0, 1.0) when not reduced."""
        return (self.width / self.pixels.shape[1], self.height / self.pixels.shape[0])


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box: top-left corner (x, y) and size (w, h), in pixels (floats)."""

    x: float
    y: float
    w: float
    h: float

    @property
    def area(self) -> float:
        return self.w * self.h

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h / 2)

    def share_of(self, width: int, height: int) -> float:
        """How much of a width x height picture the box spans: max of the two ratios.

        Near 1 for a tight face crop (the face fills the picture), well under 0.8 for a
        camera frame.
        """
        return max(self.w / width, self.h / height)


@dataclass(frozen=True, slots=True)
class Face:
    """One detected face.

    ``landmarks`` holds five (x, y) points in YuNet's order: right eye, left eye, nose tip,
    right mouth corner, left mouth corner ("right" is the subject's right, seen on the left).
    ``score`` is the detector's confidence in [0, 1].
    """

    box: Box
    landmarks: tuple[tuple[float, float], ...]
    score: float

    def scaled(self, sx: float, sy: float) -> Face:
        """The same face in an image ``sx`` times wider and ``sy`` times taller."""
        b = self.box
        return Face(
            box=Box(b.x * sx, b.y * sy, b.w * sx, b.h * sy),
            landmarks=tuple((x * sx, y * sy) for x, y in self.landmarks),
            score=self.score,
        )


@dataclass(frozen=True, slots=True)
class CropWindow:
    """Inclusive pixel bounds of a crop: rows y1..y2 and columns x1..x2 are taken."""

    x1: int
    y1: int
    x2: int
    y2: int


@dataclass(frozen=True, slots=True)
class ModelScore:
    """One anti-spoofing model's opinion on one face.

    ``probabilities`` is the softmax over the model's classes; ``live`` is the probability of
    the class the manifest names as live.
    """

    model: str
    live: float
    probabilities: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class StageTimes:
    """Wall time of each stage, in milliseconds."""

    decode_ms: float
    detect_ms: float
    crop_ms: float
    models_ms: float
    total_ms: float


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Everything one liveness check found out about one image.

    ``liveness_score`` is in [0, 1], rounded to 6 decimals before the verdict is taken, so a
    client re-applying ``score > thresh`` to the reported number always agrees with ``is_live``.
    ``raw_score`` is the models' fused live probability before calibration.
    ``risk_reason`` is empty when live, else comma-joined tokens (docs/api.md).
    ``quality`` lists what makes the face hard to judge (``pipeline.quality``), if anything.
    """

    liveness_score: float
    is_live: bool
    thresh: float
    risk_reason: str
    raw_score: float
    quality: tuple[str, ...]
    face: Face
    face_count: int
    model_scores: tuple[ModelScore, ...]
    image_width: int
    image_height: int
    times: StageTimes
