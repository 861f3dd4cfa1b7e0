"""YuNet detection through our own output decoding."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from facelive.pipeline.checker import LivenessChecker
from facelive.pipeline.decode import ImageLimits, decode_image
from facelive.pipeline.detect import (
    DetectorConfig,
    FaceDetector,
    largest_face,
    non_max_suppression,
    prepare,
)
from facelive.types import Box, Face


def test_live_sample_has_one_face_with_sane_landmarks(
    checker: LivenessChecker, live_jpeg: bytes
) -> None:
    image = decode_image(live_jpeg, ImageLimits())
    faces = checker.detector.detect(image.pixels)
    assert len(faces) == 1
    face = faces[0]
    assert face.score >= 0.6
    assert len(face.landmarks) == 5
    b = face.box
    assert 0 <= b.x < image.width and 0 <= b.y < image.height
    for x, y in face.landmarks:
        assert b.x <= x <= b.x + b.w and b.y <= y <= b.y + b.h
    (rex, rey), (lex, ley), (_, ny), (rmx, rmy), (lmx, lmy) = face.landmarks
    assert rex < lex and rmx < lmx  # subject's right eye appears on the image's left
    assert max(rey, ley) < ny < min(rmy, lmy)  # eyes above nose above mouth


def test_large_images_are_downscaled_for_detection_only(
    checker: LivenessChecker, live_jpeg: bytes
) -> None:
    image = decode_image(live_jpeg, ImageLimits())
    prepared = prepare(image.pixels, DetectorConfig(max_side=320))
    assert max(prepared.tensor.shape[2:]) <= 320 + 31
    assert prepared.tensor.shape[2] % 32 == 0 and prepared.tensor.shape[3] % 32 == 0
    # Boxes come back in the full image's pixels whatever the detection size.
    small = FaceDetector(checker.detector._session, DetectorConfig(max_side=320))
    big = FaceDetector(checker.detector._session, DetectorConfig(max_side=640))
    big_face = big.detect(image.pixels)[0].box
    small_face = small.detect(image.pixels)[0].box
    assert abs(big_face.center[0] - small_face.center[0]) < 0.05 * big_face.w
    assert abs(big_face.w - small_face.w) < 0.15 * big_face.w


def test_blank_image_has_no_face(checker: LivenessChecker) -> None:
    assert checker.detector.detect(np.full((480, 640, 3), 127, np.uint8)) == ()


def test_two_faces_side_by_side_are_both_found(checker: LivenessChecker, live_jpeg: bytes) -> None:
    image = decode_image(live_jpeg, ImageLimits()).pixels
    pair = np.concatenate([image, image[::2, ::2].repeat(2, 0).repeat(2, 1)[: image.shape[0]]], 1)
    faces = checker.detector.detect(np.ascontiguousarray(pair))
    assert len(faces) == 2


def test_nms_merges_overlaps_and_keeps_separate_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 10, 10]], np.float32)
    scores = np.array([0.9, 0.95, 0.7], np.float32)
    assert non_max_suppression(boxes, scores, 0.3) == [1, 2]


def test_largest_face_is_chosen() -> None:
    small = Face(Box(0, 0, 10, 10), (), 0.99)
    big = Face(Box(0, 0, 30, 30), (), 0.7)
    assert largest_face((small, big)) is big


@pytest.mark.parametrize("side", [15, 31, 33])
def test_tiny_inputs_are_padded_to_the_stride(side: int) -> None:
    prepared = prepare(np.zeros((side, side, 3), np.uint8), DetectorConfig())
    assert prepared.tensor.shape[2] % 32 == 0
    assert prepared.tensor.shape[2] >= side


class CountingSession:
    """The detector's session, counting runs and the input sizes it was given."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self.inputs: list[tuple[int, ...]] = []

    def get_inputs(self) -> Any:
        return self._session.get_inputs()

    def get_outputs(self) -> Any:
        return self._session.get_outputs()

    def run(self, names: Any, feeds: dict[str, np.ndarray]) -> Any:
        self.inputs.extend(tuple(v.shape) for v in feeds.values())
        return self._session.run(names, feeds)


def _small_face_in_big_picture(live_jpeg: bytes) -> np.ndarray:
    """The live sample at a quarter size (a face about 45 px wide) in a 2000x1500 picture."""
    face = decode_image(live_jpeg, ImageLimits()).pixels
    small = cv2.resize(face, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    canvas = np.full((1500, 2000, 3), 120, np.uint8)
    canvas[100 : 100 + small.shape[0], 100 : 100 + small.shape[1]] = small
    return canvas


def test_a_small_face_in_a_big_picture_is_found_by_the_second_look(
    checker: LivenessChecker, live_jpeg: bytes
) -> None:
    picture = _small_face_in_big_picture(live_jpeg)
    session = CountingSession(checker.detector._session)
    once = FaceDetector(session, DetectorConfig(max_side=320, retry_max_side=0))
    assert once.detect(picture) == ()  # about 6 px wide on the 320 px copy: too small
    twice = FaceDetector(session, DetectorConfig(max_side=320, retry_max_side=640))
    faces = twice.detect(picture)
    assert len(faces) == 1
    box = faces[0].box  # in the picture's own pixels
    assert 100 <= box.x <= 160 and 100 <= box.y <= 180 and 30 <= box.w <= 60
    assert [max(shape[2:]) for shape in session.inputs] == [320, 320, 640]


def test_the_second_look_runs_only_when_a_larger_copy_exists(
    checker: LivenessChecker, live_jpeg: bytes
) -> None:
    session = CountingSession(checker.detector._session)
    detector = FaceDetector(session, DetectorConfig(max_side=320, retry_max_side=640))
    assert detector.detect(np.full((240, 320, 3), 127, np.uint8)) == ()  # nothing larger
    assert len(session.inputs) == 1
    assert len(detector.detect(decode_image(live_jpeg, ImageLimits()).pixels)) == 1  # found
    assert len(session.inputs) == 2
    assert detector.detect(np.full((480, 640, 3), 127, np.uint8)) == ()  # no face: two looks
    assert [max(shape[2:]) for shape in session.inputs[2:]] == [320, 640]
