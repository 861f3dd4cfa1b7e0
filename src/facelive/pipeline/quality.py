"""Is the face good enough to judge? Quality reasons that make a liveness score unreliable.

A low score on a dark, blurred, tiny, cut-off or turned face says more about the photo than
about the person, so such a face is reported as "too poor to judge" (code 4005) rather than
called an attack. Every limit below is a documented constant (docs/accuracy.md), set beyond
what the live whole camera frames of fas-dev show, with margin:

- face_too_small: face box narrower than 48 px (fas-dev live frames: at least 60).
- face_cut_off: over 15% of the box outside the image on one side (live frames: 0%; the
  detector shrinks boxes to what it sees, so a half-visible face measures about 18%).
- too_dark: mean grey level of the face under 45 of 255 (live frames: at least 83).
- too_bright: mean grey over 215, or over 40% of pixels at 250+ (live: at most 158 / 8%).
- blurred: variance of the Laplacian of the face at 112x112 under 25 (live: at least 56).
- face_angle: eye-line roll over 35 degrees, or the nose off the eyes' midpoint by more
  than 0.75 eye gaps, judged only when the eyes are 20 px or more apart (live frames: at
  most 15 degrees / 0.43).
- multiple_faces: another face at least 1/4 the area of the judged one (live frames: none).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from facelive.types import BGRImage, Face

FACE_TOO_SMALL = "face_too_small"
FACE_CUT_OFF = "face_cut_off"
TOO_DARK = "too_dark"
TOO_BRIGHT = "too_bright"
BLURRED = "blurred"
FACE_ANGLE = "face_angle"
MULTIPLE_FACES = "multiple_faces"


@dataclass(frozen=True, slots=True)
class QualityLimits:
    min_face_px: float = 48.0
    max_cut_off: float = 0.15
    min_mean_grey: float = 45.0
    max_mean_grey: float = 215.0
    max_bright_share: float = 0.40
    min_sharpness: float = 25.0
    max_roll_deg: float = 35.0
    max_yaw_ratio: float = 0.75
    min_eye_gap_px: float = 20.0
    other_face_area: float = 0.25


def _face_grey(image: BGRImage, face: Face) -> np.ndarray:
    height, width = image.shape[:2]
    b = face.box
    x1, y1 = max(0, int(b.x)), max(0, int(b.y))
    x2, y2 = min(width, math.ceil(b.x + b.w)), min(height, math.ceil(b.y + b.h))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return np.zeros((0, 0), np.uint8)
    return np.asarray(cv2.cvtColor(image[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY), np.uint8)


def cut_off_share(face: Face, width: int, height: int) -> float:
    """The largest share of the box (per side) that lies outside the image."""
    b = face.box
    return max(
        max(0.0, -b.x) / b.w,
        max(0.0, b.x + b.w - width) / b.w,
        max(0.0, -b.y) / b.h,
        max(0.0, b.y + b.h - height) / b.h,
    )


def pose(face: Face) -> tuple[float, float, float]:
    """(roll in degrees, yaw ratio, eye gap in px): eye-line angle, and the nose's sideways
    offset from the eyes' midpoint in eye gaps (0 when frontal, about 0.5 half-turned)."""
    (rx, ry), (lx, ly), (nx, _), *_ = face.landmarks
    gap = math.hypot(lx - rx, ly - ry)
    yaw = (nx - (rx + lx) / 2) / max(gap, 1e-6)
    return math.degrees(math.atan2(ly - ry, lx - rx)), yaw, gap


def sharpness(grey: np.ndarray) -> float:
    small = cv2.resize(grey, (112, 112), interpolation=cv2.INTER_AREA).astype(np.float32)
    return float(cv2.Laplacian(small, cv2.CV_32F).var())


def assess(
    image: BGRImage, face: Face, faces: tuple[Face, ...], limits: QualityLimits
) -> tuple[str, ...]:
    """Quality reasons for ``face`` (the one judged) in ``image``, in a fixed order."""
    height, width = image.shape[:2]
    reasons: list[str] = []
    if face.box.w < limits.min_face_px:
        reasons.append(FACE_TOO_SMALL)
    if cut_off_share(face, width, height) > limits.max_cut_off:
        reasons.append(FACE_CUT_OFF)
    grey = _face_grey(image, face)
    if grey.size:
        mean = float(grey.mean())
        if mean < limits.min_mean_grey:
            reasons.append(TOO_DARK)
        if mean > limits.max_mean_grey or float((grey >= 250).mean()) > limits.max_bright_share:
            reasons.append(TOO_BRIGHT)
        if sharpness(grey) < limits.min_sharpness:
            reasons.append(BLURRED)
    if len(face.landmarks) == 5:
        roll, yaw, gap = pose(face)
        turned = gap >= limits.min_eye_gap_px and abs(yaw) > limits.max_yaw_ratio
        if abs(roll) > limits.max_roll_deg or turned:
            reasons.append(FACE_ANGLE)
    if any(f is not face and f.box.area >= limits.other_face_area * face.box.area for f in faces):
        reasons.append(MULTIPLE_FACES)
    return tuple(reasons)
