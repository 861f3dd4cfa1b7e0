"""OpenCV's DNN engine runs the MiniFASNets and facelive's trained models: same logits as
ONNX Runtime, safe from threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from facelive.models.manifest import ModelSpec, load_manifest
from facelive.models.opencv_net import OpenCVNet
from facelive.models.sessions import OnnxRunner, create_session
from facelive.models.store import ModelStore
from facelive.pipeline.checker import LivenessChecker
from facelive.pipeline.decode import decode_image
from facelive.pipeline.detect import largest_face
from facelive.settings import Settings
from facelive.types import BGRImage

OPENCV_MODELS = [m.name for m in load_manifest().models if m.runtime == "opencv"]


def _patches(
    checker: LivenessChecker, fas_dev: Path, rows: list[dict[str, str]]
) -> list[tuple[BGRImage, ...]]:
    """Each model's patch of the first faces of fas-dev, live and attack, frames and crops."""
    patches = []
    for row in rows[::150]:
        image = decode_image((fas_dev / row["file"]).read_bytes(), checker.limits).pixels
        faces = checker.detector.detect(image)
        if faces:
            patches.append(checker.crop_patches(image, largest_face(faces).box))
    assert len(patches) >= 5
    return patches


def _same_patch(checker: LivenessChecker, spec: ModelSpec) -> int:
    """The index of the checker's model that cuts the patch ``spec`` reads."""
    cut = (spec.crop_scale, spec.crop, spec.input.shape[-1])
    return next(
        i
        for i, m in enumerate(checker.models)
        if m.name == spec.name or (m.spec.crop_scale, m.spec.crop, m.input_size) == cut
    )


def _tensor(patch: np.ndarray) -> np.ndarray:
    return patch.transpose(2, 0, 1)[None].astype(np.float32)


@pytest.mark.parametrize("name", OPENCV_MODELS)
def test_opencv_logits_match_onnxruntime(
    name: str,
    settings: Settings,
    checker: LivenessChecker,
    fas_dev: Path,
    fas_dev_rows: list[dict[str, str]],
) -> None:
    spec = load_manifest().get(name)
    path = ModelStore.from_settings(settings).path_for(spec)
    net, session = OpenCVNet(path.read_bytes(), 1), OnnxRunner(create_session(path, 1))
    index = _same_patch(checker, spec)
    for patches in _patches(checker, fas_dev, fas_dev_rows):
        tensor = _tensor(patches[index])
        got, expected = net.run(tensor), session.run(tensor)
        assert got.shape == expected.shape and expected.shape[0] == 1
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_concurrent_runs_borrow_their_own_nets_and_agree_with_serial_ones(
    settings: Settings, checker: LivenessChecker, fas_dev: Path, fas_dev_rows: list[dict[str, str]]
) -> None:
    spec = load_manifest().get(OPENCV_MODELS[0])
    net = OpenCVNet(ModelStore.from_settings(settings).path_for(spec).read_bytes(), 1)
    assert net.nets == 1
    index = _same_patch(checker, spec)
    tensors = [_tensor(p[index]) for p in _patches(checker, fas_dev, fas_dev_rows)] * 8
    serial = [net.run(t) for t in tensors]
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(net.run, tensors))
    for a, b in zip(serial, concurrent, strict=True):
        np.testing.assert_array_equal(a, b)
    assert 1 <= net.nets <= 4
    # Each answer is its own array: a later run does not overwrite an earlier one.
    first = net.run(tensors[0])
    kept = first.copy()
    net.run(tensors[1])
    np.testing.assert_array_equal(first, kept)
    assert not np.array_equal(serial[0], serial[1])


def test_a_file_opencv_cannot_read_fails_at_start_up() -> None:
    with pytest.raises(cv2.error):
        OpenCVNet(b"not an onnx model", 1)
