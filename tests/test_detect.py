"""YuNet detection through our own output decoding."""

from __future__ import annotations

import numpy as np
import pytest

from facelive.pipeline.checker import LivenessChecker
from facelive.pipeline.decode import ImageLimits, decode_image
from facelive.pipeline.detect import DetectorConfig, largest_face, non_max_suppression, prepare
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
    small = type(checker.detector)(checker.detector._session, DetectorConfig(max_side=320))
    big_face = checker.detector.detect(image.pixels)[0].box
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
