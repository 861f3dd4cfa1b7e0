"""Quality reasons: each triggered by a constructed image, none by fas-dev live frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facelive.pipeline.checker import LivenessChecker
from facelive.pipeline.decode import ImageLimits, decode_image
from facelive.pipeline.detect import largest_face
from facelive.pipeline.quality import (
    BLURRED,
    FACE_ANGLE,
    FACE_CUT_OFF,
    FACE_TOO_SMALL,
    MULTIPLE_FACES,
    TOO_BRIGHT,
    TOO_DARK,
    QualityLimits,
    assess,
)

LIMITS = QualityLimits()


def reasons(checker: LivenessChecker, image: np.ndarray) -> tuple[str, ...]:
    image = np.ascontiguousarray(image)
    faces = checker.detector.detect(image)
    assert faces, "the constructed image must still show a detectable face"
    return assess(image, largest_face(faces), faces, LIMITS)


@pytest.fixture(scope="module")
def frame(live_jpeg: bytes) -> np.ndarray:
    return decode_image(live_jpeg, ImageLimits()).pixels.copy()


def test_the_reference_frame_is_clean(checker: LivenessChecker, frame: np.ndarray) -> None:
    assert reasons(checker, frame) == ()


def test_too_dark(checker: LivenessChecker, frame: np.ndarray) -> None:
    assert TOO_DARK in reasons(checker, (frame * 0.2).astype(np.uint8))


def test_too_bright(checker: LivenessChecker, frame: np.ndarray) -> None:
    bright = np.clip(frame.astype(np.int16) + 150, 0, 255).astype(np.uint8)
    assert TOO_BRIGHT in reasons(checker, bright)


def test_blurred(checker: LivenessChecker, frame: np.ndarray) -> None:
    assert BLURRED in reasons(checker, cv2.GaussianBlur(frame, (0, 0), 6))


def test_face_too_small(checker: LivenessChecker, frame: np.ndarray) -> None:
    h, w = frame.shape[:2]
    small = cv2.resize(frame, (w // 6, h // 6), interpolation=cv2.INTER_AREA)
    canvas = np.full_like(frame, 120)
    canvas[: small.shape[0], : small.shape[1]] = small
    assert FACE_TOO_SMALL in reasons(checker, canvas)


def test_face_cut_off(checker: LivenessChecker, frame: np.ndarray) -> None:
    face = largest_face(checker.detector.detect(frame)).box
    cut = int(face.x + face.w * 0.45)  # keep the left 45% of the face
    assert FACE_CUT_OFF in reasons(checker, frame[:, :cut])


def test_face_angle(checker: LivenessChecker, frame: np.ndarray) -> None:
    h, w = frame.shape[:2]
    # Turned 60 degrees, YuNet's nose lands far off the eyes' midpoint (yaw ratio about 0.9).
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), 60, 1.0)
    rotated = cv2.warpAffine(frame, turn, (w, h), borderMode=cv2.BORDER_REPLICATE)
    assert FACE_ANGLE in reasons(checker, rotated)


def test_multiple_faces(checker: LivenessChecker, frame: np.ndarray) -> None:
    assert MULTIPLE_FACES in reasons(checker, np.concatenate([frame, frame], axis=1))


def test_live_whole_frames_of_fas_dev_pass(
    checker: LivenessChecker, fas_dev: Path, fas_dev_rows: list[dict[str, str]]
) -> None:
    frames = [r for r in fas_dev_rows if r["cropped"] == "no" and r["label"] == "live"]
    assert len(frames) >= 30
    flagged = {}
    for row in frames:
        image = decode_image((fas_dev / row["file"]).read_bytes(), ImageLimits()).pixels
        faces = checker.detector.detect(image)
        found = assess(image, largest_face(faces), faces, LIMITS) if faces else ("no face",)
        if found:
            flagged[row["file"]] = found
    assert flagged == {}


def test_poor_quality_attack_is_4005_not_4004(checker: LivenessChecker, frame: np.ndarray) -> None:
    dark = (frame * 0.2).astype(np.uint8)
    ok, buf = cv2.imencode(".png", dark)
    assert ok
    result = checker.check(buf.tobytes(), thresh=1.0)  # nothing is live at thresh 1.0
    assert result.quality and TOO_DARK in result.quality
    assert result.risk_reason == ",".join(result.quality)
    from facelive.envelope import result_code

    assert result_code(result) == 4005
