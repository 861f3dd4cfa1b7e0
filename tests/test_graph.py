"""The faster graph a session is opened with computes exactly what the model file does."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from facelive.models.graph import faster_graph, prelu_as_max
from facelive.models.manifest import load_manifest
from facelive.models.store import ModelStore
from facelive.settings import Settings


def _session(model: bytes) -> ort.InferenceSession:
    return ort.InferenceSession(model, providers=["CPUExecutionProvider"])


def _prelu_graph(slope: np.ndarray) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, slope.shape[0], 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, slope.shape[0], 4, 4])
    graph = helper.make_graph(
        [helper.make_node("PRelu", ["x", "a"], ["y"], name="act")],
        "prelu",
        [x],
        [y],
        [numpy_helper.from_array(slope.astype(np.float32), "a")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_prelu_with_slopes_up_to_one_becomes_max_and_matches_bit_for_bit() -> None:
    slope = np.array([-0.5, -0.0, 0.0, 0.25, 0.9999, 1.0], np.float32).reshape(6, 1, 1)
    original = _prelu_graph(slope)
    rewritten = onnx.ModelProto.FromString(original.SerializeToString())
    assert prelu_as_max(rewritten) == 1
    assert [n.op_type for n in rewritten.graph.node] == ["Mul", "Max"]
    onnx.checker.check_model(rewritten)
    rng = np.random.default_rng(0)
    x = rng.normal(0, 100, (1, 6, 4, 4)).astype(np.float32)
    x[0, :, 0, 0] = [0.0, -0.0, 1e-42, -1e-42, 3e38, -3e38]  # zeros, denormals, extremes
    expected = _session(original.SerializeToString()).run(None, {"x": x})[0]
    got = _session(rewritten.SerializeToString()).run(None, {"x": x})[0]
    assert np.array_equal(expected, got)


def test_prelu_with_a_slope_above_one_is_left_alone() -> None:
    model = _prelu_graph(np.array([0.5, 1.5], np.float32).reshape(2, 1, 1))
    data = model.SerializeToString()
    assert prelu_as_max(model) == 0
    assert faster_graph(data) is data


def _liveness_files(settings: Settings) -> list[Path]:
    manifest = load_manifest()
    store = ModelStore.from_settings(settings)
    specs = {s.name: s for s in (*manifest.liveness, *manifest.liveness_for("upstream"))}
    return [store.path_for(spec) for spec in specs.values()]


def test_every_liveness_model_is_rewritten_and_scores_identically(
    settings: Settings, fas_dev: Path, fas_dev_rows: list[dict[str, str]]
) -> None:
    images = [
        np.asarray(cv2.imread(str(fas_dev / row["file"]), cv2.IMREAD_COLOR), np.uint8)
        for row in fas_dev_rows[:: max(1, len(fas_dev_rows) // 16)][:16]
    ]
    files = _liveness_files(settings)
    assert len(files) >= 5
    for path in files:
        data = path.read_bytes()
        faster = faster_graph(data)
        before = sum(n.op_type == "PRelu" for n in onnx.load_from_string(data).graph.node)
        after = sum(n.op_type == "PRelu" for n in onnx.load_from_string(faster).graph.node)
        assert before > 0 and after == 0, path.name
        plain, fast = _session(data), _session(faster)
        name, size = plain.get_inputs()[0].name, int(plain.get_inputs()[0].shape[-1])
        for pixels in images:  # real faces, resized to the model's input as crops are
            patch = cv2.resize(pixels, (size, size)).transpose(2, 0, 1)[None]
            feed = {name: np.ascontiguousarray(patch, np.float32)}
            assert np.array_equal(plain.run(None, feed)[0], fast.run(None, feed)[0]), path.name


@pytest.mark.parametrize("name", ["yunet_s"])
def test_a_graph_without_prelu_is_handed_over_unchanged(settings: Settings, name: str) -> None:
    manifest = load_manifest()
    spec = next(s for s in manifest.models if s.name == name)
    data = ModelStore.from_settings(settings).path_for(spec).read_bytes()
    assert faster_graph(data) is data
