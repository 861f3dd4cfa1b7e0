"""Trained weights out as an ONNX file the runtime loads like any other, checked on the way."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort

from facelive.pipeline.score import softmax
from facelive.training.onnx_module import OnnxModule
from facelive.training.train import live_probability

PARITY_LIMIT = 1e-4
MIN_OPSET = 17


@dataclass(frozen=True, slots=True)
class ExportedModel:
    path: Path
    sha256: str
    size: int
    parity: float  # largest |ONNX Runtime - PyTorch| live probability on the check patches


def _ort_live(model: bytes, patches: npt.NDArray[np.uint8], live_class: int) -> np.ndarray:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.ascontiguousarray(patches.transpose(0, 3, 1, 2)).astype(np.float32)
    rows = (session.run(None, {name: x[i : i + 1]})[0][0] for i in range(len(x)))
    return np.array([softmax(row.astype(np.float64))[live_class] for row in rows])


def export(
    module: OnnxModule,
    base: onnx.ModelProto,
    path: Path,
    check_patches: npt.NDArray[np.uint8],
    live_class: int = 1,
) -> ExportedModel:
    """Writes ``module``'s weights into ``base``'s graph at ``path`` (atomically).

    Refuses to write a file whose ONNX Runtime scores differ from PyTorch's by more than
    ``PARITY_LIMIT`` on ``check_patches`` (N, 80, 80, 3 BGR uint8), or whose opset is too old.
    """
    model = module.write_back(base)
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < MIN_OPSET:
        raise ValueError(f"opset {opset} is older than {MIN_OPSET}")
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    parity = float(
        np.abs(
            _ort_live(data, check_patches, live_class)
            - live_probability(module, check_patches, live_class)
        ).max()
    )
    if parity > PARITY_LIMIT:
        raise ValueError(f"ONNX Runtime differs from PyTorch by {parity:.2e} > {PARITY_LIMIT}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return ExportedModel(path, hashlib.sha256(data).hexdigest(), len(data), parity)
