"""The "head" method: a linear probe of a frozen MiniFASNet, written back as its last layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from facelive.pipeline.score import softmax
from facelive.training.head import (
    EmbeddingMemo,
    HeadError,
    embeddings,
    final_layer,
    fit_head,
    fit_logistic,
)
from facelive.training.onnx_module import OnnxModule
from facelive.training.train import live_probability

MODELS = ("MiniFASNetV2", "MiniFASNetV1SE")


def _log_loss_objective(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, c: float, coef: np.ndarray, b: float
) -> float:
    """The documented objective, in standardised coordinates, from raw coefficients."""
    scale = x.std(0)
    z = x @ coef + b
    w = w * len(w) / w.sum()
    loss = np.logaddexp(0.0, z) - y * z
    return float(w @ loss + 0.5 * np.sum((coef * scale) ** 2) / c)


def test_logistic_fit_is_the_minimum_of_its_objective() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6)) * np.array([0.1, 1, 5, 1, 1, 20]) + 3.0
    y = (x[:, 0] * 10 + x[:, 1] + rng.normal(size=400)) > 30.5
    w = rng.uniform(0.5, 2.0, 400)
    coef, b = fit_logistic(x, y, w, 0.5)
    best = _log_loss_objective(x, y, w, 0.5, coef, b)
    # Any small move in any direction makes the objective worse: a true minimum.
    for _ in range(50):
        step = rng.normal(size=7) * 1e-3
        moved = _log_loss_objective(x, y, w, 0.5, coef + step[:6], b + step[6])
        assert moved >= best - 1e-9
    # The gradient at the optimum is zero (in standardised coordinates).
    scale = x.std(0)
    p = 1 / (1 + np.exp(-(x @ coef + b)))
    wn = w * len(w) / w.sum()
    standardised = (x - x.mean(0)) / scale
    grad = standardised.T @ (wn * (p - y)) + coef * scale / 0.5
    assert np.abs(grad).max() < 1e-6
    assert abs(float(wn @ (p - y))) < 1e-6


def test_stronger_regularisation_shrinks_the_coefficients() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 4))
    y = x[:, 0] + 0.3 * rng.normal(size=300) > 0
    w = np.ones(300)
    loose, _ = fit_logistic(x, y, w, 10.0)
    tight, _ = fit_logistic(x, y, w, 0.001)
    assert np.abs(tight).sum() < np.abs(loose).sum() / 10
    assert loose[0] > 0  # the feature that decides the label gets a positive weight


def test_a_separable_problem_still_converges_to_finite_weights() -> None:
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([False, False, True, True])
    coef, b = fit_logistic(x, y, np.ones(4), 100.0)
    assert np.isfinite(coef).all() and np.isfinite(b)
    assert (x @ coef + b > 0).tolist() == y.tolist()


def test_non_positive_regularisation_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        fit_logistic(np.zeros((2, 1)), np.array([True, False]), np.ones(2), 0.0)


@pytest.mark.parametrize("name", MODELS)
def test_the_probe_becomes_the_models_live_probability_in_onnx_runtime(
    model_dir: Path, name: str
) -> None:
    torch.set_num_threads(1)
    model = onnx.load(model_dir / "minifasnet" / f"{name}.onnx")
    rng = np.random.default_rng(2)
    # A toy task the frozen network can see: bright patches are "live", dark ones attacks.
    patches = np.concatenate(
        [
            rng.integers(140, 256, (12, 80, 80, 3), dtype=np.uint8),
            rng.integers(0, 110, (12, 80, 80, 3), dtype=np.uint8),
        ]
    )
    live = np.arange(24) < 12
    module = fit_head(model, patches, live, np.ones(24), 0.1)

    # The same probe, fitted here from the embeddings of the patches and their mirrors.
    embedding, _, _ = final_layer(model)
    base = OnnxModule(model)
    mirrored = np.ascontiguousarray(patches[:, :, ::-1])
    x = np.concatenate(
        [embeddings(base, embedding, patches), embeddings(base, embedding, mirrored)]
    )
    coef, b = fit_logistic(x, np.concatenate([live, live]), np.ones(48), 0.1)
    expected = 1 / (1 + np.exp(-(x[:24] @ coef + b)))

    ours = live_probability(module, patches)
    assert np.abs(ours - expected).max() < 1e-4
    assert ours[live].min() > ours[~live].max()

    # Written back into the same graph, ONNX Runtime gives the same probability.
    written = module.write_back(model)
    assert [n.op_type for n in written.graph.node] == [n.op_type for n in model.graph.node]
    session = ort.InferenceSession(written.SerializeToString(), providers=["CPUExecutionProvider"])
    tensor = np.ascontiguousarray(patches.transpose(0, 3, 1, 2)).astype(np.float32)
    runtime = np.array(
        [softmax(session.run(None, {"input": t[None]})[0][0].astype(np.float64))[1] for t in tensor]
    )
    assert np.abs(runtime - expected).max() < 1e-4
    # Only the final layer and the normalisation before it changed.
    _, weight, bias = final_layer(model)
    before = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    after = {i.name: onnx.numpy_helper.to_array(i) for i in written.graph.initializer}
    changed = {k for k in before if not np.array_equal(before[k], after[k])}
    assert changed == {weight, bias}


def test_the_memo_gives_the_same_layer_and_reads_each_patch_once(model_dir: Path) -> None:
    torch.set_num_threads(1)
    model = onnx.load(model_dir / "minifasnet" / "MiniFASNetV2.onnx")
    rng = np.random.default_rng(5)
    patches = rng.integers(0, 256, (10, 80, 80, 3), dtype=np.uint8)
    live = np.arange(10) % 2 == 0
    memo = EmbeddingMemo()
    first = fit_head(model, patches[:8], live[:8], np.ones(8), 0.1, memo=memo)
    assert len(memo) == 16  # each patch and its mirror
    # A second fold on overlapping rows reads only the two new patches (and their mirrors).
    second = fit_head(model, patches[2:], live[2:], np.ones(8), 0.1, memo=memo)
    assert len(memo) == 20
    # The same layer as without the memo, to float rounding (a batch's sums run in its order).
    plain = live_probability(fit_head(model, patches[2:], live[2:], np.ones(8), 0.1), patches)
    assert np.abs(live_probability(second, patches) - plain).max() < 1e-5
    assert np.abs(live_probability(first, patches) - plain).max() > 1e-3
    # The key is the base's bytes too: another network does not reuse these embeddings.
    other = onnx.load(model_dir / "minifasnet" / "MiniFASNetV1SE.onnx")
    fit_head(other, patches[:8], live[:8], np.ones(8), 0.1, memo=memo)
    assert len(memo) == 36


def test_a_graph_that_does_not_end_in_a_probeable_layer_is_refused() -> None:
    node = onnx.helper.make_node("Relu", ["x"], ["y"])
    graph = onnx.helper.make_graph(
        [node],
        "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])],
    )
    with pytest.raises(HeadError, match="MatMul"):
        final_layer(onnx.helper.make_model(graph))
