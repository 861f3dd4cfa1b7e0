"""The one place model runtimes are opened, so every model gets the same thread policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from facelive.models.graph import faster_graph
from facelive.models.manifest import ModelSpec
from facelive.models.opencv_net import OpenCVNet


def create_session(path: Path, threads: int) -> Any:
    """A CPU session with ``threads`` intra-op threads that sleep instead of spinning.

    Spinning threads make several sessions on a 2-core machine fight each other (about 2.5x
    the latency with four sessions), so spinning is off for both thread pools. The graph is
    opened in its exactly equivalent faster form (``facelive.models.graph``).
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3
    graph = faster_graph(path.read_bytes())
    return ort.InferenceSession(graph, sess_options=options, providers=["CPUExecutionProvider"])


class ModelRunner(Protocol):
    """A model with one input: a tensor in, its first output out. Thread-safe."""

    def run(self, tensor: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]: ...


class OnnxRunner:
    """An ONNX Runtime session as a ``ModelRunner``."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self._input = session.get_inputs()[0].name

    def run(self, tensor: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = self.session.run(None, {self._input: tensor})[0]
        return out


def open_runner(spec: ModelSpec, path: Path, threads: int) -> ModelRunner:
    """``path`` (the verified file of ``spec``) in the runtime its manifest entry names."""
    if spec.runtime == "opencv":
        return OpenCVNet(path.read_bytes(), threads)
    return OnnxRunner(create_session(path, threads))
