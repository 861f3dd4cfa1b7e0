"""Liveness models run by OpenCV's DNN engine, where it is faster than ONNX Runtime.

On this project's 2-core EPYC, one 80x80 MiniFASNet takes about 1.25 ms in OpenCV 5's DNN
engine against 1.9 ms in ONNX Runtime with ``facelive.models.graph``'s faster graph (3.7 ms
as published): OpenCV fuses the per-channel PReLU into the convolution before it. Logits
agree within 2e-6 (docs/performance.md). ONNX Runtime stays twice as fast on the YuNet
detector, so the manifest chooses the runtime per model (``runtime``), from measurements.
OpenCV is already here for decoding, so this adds no dependency.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
import numpy.typing as npt


class OpenCVNet:
    """One ONNX model; ``run`` is thread-safe.

    A ``cv2.dnn.Net`` is not, so each concurrent call borrows a net of its own from a pool
    that grows to the most calls ever in flight at once (two per worker by default: about
    4 MiB each for a MiniFASNet). The first is built here, so a bad file fails at start-up.
    """

    def __init__(self, model: bytes, threads: int) -> None:
        self._model = np.frombuffer(model, np.uint8)
        # OpenCV has one thread pool per process, shared by every net and image operation;
        # every model of a checker gets the same ``threads``, as the ONNX Runtime sessions do.
        cv2.setNumThreads(threads)
        self._idle = [self._load()]
        self._lock = threading.Lock()

    def _load(self) -> cv2.dnn.Net:
        return cv2.dnn.readNetFromONNX(self._model)

    @property
    def nets(self) -> int:
        """How many nets the pool holds now (idle ones: call it when none is running)."""
        return len(self._idle)

    def run(self, tensor: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The model's first output for ``tensor`` (NCHW float32), as a new array."""
        with self._lock:
            net = self._idle.pop() if self._idle else None
        if net is None:
            net = self._load()
        try:
            net.setInput(tensor)
            return np.array(net.forward(), dtype=np.float32, copy=True)
        finally:
            with self._lock:
                self._idle.append(net)
