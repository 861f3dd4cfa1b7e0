"""A new final layer on a frozen MiniFASNet: a linear probe of its embedding.

Fine-tuning every layer on a few thousand patches from a couple of dozen sources teaches the
network those sources' cameras as much as their attacks, and it lost on sources it had not
seen. Keeping every layer but the last as published, and fitting only a regularised
logistic regression of live-vs-attack on the 128-value embedding the final layer reads,
keeps what the network learnt from minivision's data and still learns the attacks here;
cross-validated by source it beat full fine-tuning on every fold (docs/training.md).

The fitted layer goes back into the same graph, so the runtime needs nothing new: the final
MatMul gets the probe's weights in the live column and zeros elsewhere, and the probe's
intercept is folded into the BatchNormalization just before it. With logits ``[0, z, 0]`` the
softmax's live probability is ``sigmoid(z - ln 2)``, so ``z`` carries ``ln(classes - 1)``
on top of the intercept and the model's live probability is exactly the probe's.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import numpy.typing as npt
import onnx
import torch

from facelive.training.onnx_module import OnnxModule
from facelive.training.train import outputs


class HeadError(ValueError):
    """The graph does not end the way a probe can be written into."""


def final_layer(model: onnx.ModelProto) -> tuple[str, str, str]:
    """(embedding tensor, final MatMul weight, BatchNormalization bias) initializer names:
    the graph must end in BatchNormalization -> MatMul, as MiniFASNet's does."""
    nodes = list(model.graph.node)
    last = nodes[-1]
    initializers = {i.name for i in model.graph.initializer}
    if last.op_type != "MatMul" or last.input[1] not in initializers:
        raise HeadError("the graph does not end in a MatMul with a stored weight")
    producers = {out: n for n in nodes for out in n.output}
    norm = producers.get(last.input[0])
    if norm is None or norm.op_type != "BatchNormalization" or norm.input[2] not in initializers:
        raise HeadError("the final MatMul does not read a BatchNormalization")
    if sum(last.input[0] in n.input for n in nodes) != 1:
        raise HeadError("the BatchNormalization's output feeds more than the final MatMul")
    return last.input[0], last.input[1], norm.input[2]


def embeddings(
    module: OnnxModule, name: str, patches: npt.NDArray[np.uint8]
) -> npt.NDArray[np.float64]:
    """(N, D): the tensor ``name`` for every patch, as the runtime computes it."""
    out = [tensor.double().numpy() for tensor in outputs(module, patches, name)]
    return np.concatenate(out) if out else np.zeros((0, 0))


class EmbeddingMemo:
    """Embeddings of a frozen base, remembered by the patch's bytes.

    Every fold of a cross-validation and the final fit read the same published layers on
    mostly the same patches; with the memo each patch goes through each base once per run
    instead of once per fit.
    """

    def __init__(self) -> None:
        self._known: dict[tuple[bytes, bytes], npt.NDArray[np.float64]] = {}

    def __len__(self) -> int:
        return len(self._known)

    def __call__(
        self, model: onnx.ModelProto, module: OnnxModule, name: str, patches: npt.NDArray[np.uint8]
    ) -> npt.NDArray[np.float64]:
        base = hashlib.blake2b(model.SerializeToString(), digest_size=16).digest() + name.encode()
        keys = [(base, hashlib.blake2b(p.tobytes(), digest_size=16).digest()) for p in patches]
        missing = [i for i, key in enumerate(keys) if key not in self._known]
        if missing:
            fresh = embeddings(module, name, np.ascontiguousarray(patches[missing]))
            for i, row in zip(missing, fresh, strict=True):
                self._known[keys[i]] = row
        if not keys:
            return np.zeros((0, 0))
        return np.stack([self._known[key] for key in keys])


def _sigmoid(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)), np.float64)


def fit_logistic(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.bool_],
    weights: npt.NDArray[np.float64],
    c: float,
    max_steps: int = 100,
) -> tuple[npt.NDArray[np.float64], float]:
    """(coefficients, intercept) of an L2-regularised logistic regression on standardised
    features, returned for the raw features.

    The objective is scikit-learn's ``LogisticRegression(C=c)`` with sample weights scaled to
    a mean of 1: sum of weighted log-losses plus ``|coef|^2 / (2c)`` on the standardised
    coefficients, intercept not penalised. Newton's method with step halving; the problem is
    strictly convex, so the result does not depend on a seed.
    """
    if c <= 0:
        raise ValueError("c must be positive")
    mean = x.mean(0)
    scale = x.std(0)
    scale[scale == 0] = 1.0
    design = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    target = y.astype(np.float64)
    w = weights * (len(weights) / weights.sum())
    penalty = np.full(design.shape[1], 1.0 / c)
    penalty[-1] = 0.0

    def objective(beta: npt.NDArray[np.float64]) -> float:
        z = design @ beta
        # log(1 + e^z) - y z, written to stay finite for large |z|
        loss = np.logaddexp(0.0, z) - target * z
        return float(w @ loss + 0.5 * penalty @ (beta * beta))

    beta = np.zeros(design.shape[1])
    current = objective(beta)
    for _ in range(max_steps):
        p = _sigmoid(design @ beta)
        grad = design.T @ (w * (p - target)) + penalty * beta
        hess = (design.T * (w * p * (1.0 - p))) @ design + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        size = 1.0
        trial = beta - step
        value = objective(trial)
        while value > current and size > 1e-6:
            size /= 2
            trial = beta - size * step
            value = objective(trial)
        if value > current:
            break  # no step along Newton's direction helps: the optimum, to rounding
        beta, gain, current = trial, current - value, value
        if gain <= 1e-12 * max(1.0, abs(current)):
            break
    coef = beta[:-1] / scale
    return coef, float(beta[-1] - coef @ mean)


def fit_head(
    model: onnx.ModelProto,
    patches: npt.NDArray[np.uint8],
    live: npt.NDArray[np.bool_],
    weights: npt.NDArray[np.float64],
    c: float,
    live_class: int = 1,
    memo: EmbeddingMemo | None = None,
) -> OnnxModule:
    """``model`` with a probe fitted on ``patches`` and their mirror images as its last layer.

    ``memo`` remembers the embeddings for the next fit on the same base (cross-validation)."""
    embedding, weight_name, bias_name = final_layer(model)
    module = OnnxModule(model)
    mirrored = np.ascontiguousarray(patches[:, :, ::-1])
    both = np.concatenate([patches, mirrored])
    x = (
        memo(model, module, embedding, both)
        if memo is not None
        else embeddings(module, embedding, both)
    )
    coef, intercept = fit_logistic(
        x, np.concatenate([live, live]), np.concatenate([weights, weights]), c
    )
    norm = float(coef @ coef)
    if norm == 0.0:
        raise HeadError("the probe learnt nothing (all coefficients zero)")
    with torch.no_grad():
        weight = module.parameter(weight_name)
        classes = weight.shape[1]
        weight.zero_()
        weight[:, live_class] = torch.from_numpy(coef.astype(np.float32))
        shift = intercept + math.log(classes - 1)
        module.parameter(bias_name).add_(torch.from_numpy((shift * coef / norm).astype(np.float32)))
    return module.eval()
