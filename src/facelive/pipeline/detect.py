"""Face detection with YuNet through ONNX Runtime, decoding its raw outputs ourselves.

YuNet (dynamic input) takes BGR float32 pixels, raw 0..255, NCHW, with height and width
padded to multiples of 32. For each stride s in (8, 16, 32) it returns per grid cell:
``cls_s``/``obj_s`` (already sigmoid), ``bbox_s`` = (dx, dy, dw, dh) in grid units and
``kps_s`` = five (kx, ky) landmark offsets in grid units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from facelive.types import BGRImage, Box, Face

_STRIDES = (8, 16, 32)
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """``max_side``: longer side of the copy used for detection (pixels).
    ``retry_max_side``: when that copy of a larger image shows no face, detection runs once
    more on a copy this large (a small face in a big picture); 0 or <= ``max_side``: never.
    ``min_score``: detector confidence to keep a face. ``nms_iou``: overlap that merges two.
    ``pad_multiple``: the network needs H and W divisible by this."""

    max_side: int = 320
    retry_max_side: int = 640
    min_score: float = 0.6
    nms_iou: float = 0.3
    pad_multiple: int = 32


@dataclass(frozen=True, slots=True)
class DetectorInput:
    """The padded NCHW tensor and the factors from image pixels to tensor pixels."""

    tensor: FloatArray
    scale_x: float
    scale_y: float


def prepare(image: BGRImage, config: DetectorConfig, max_side: int | None = None) -> DetectorInput:
    """Downscale to ``max_side`` (default ``config.max_side``; detection only) and pad
    bottom/right to the multiple."""
    height, width = image.shape[:2]
    scale = min(1.0, (max_side or config.max_side) / max(height, width))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        factor = int(1.0 / scale)
        if factor >= 2:
            # OpenCV's area resize is fast only for a whole factor (9 ms instead of 36 ms for
            # a 12 MP photo): shrink by the whole part first, then by what is left.
            shrink = 1.0 / factor
            image = np.asarray(
                cv2.resize(image, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA),
                np.uint8,
            )
        if (image.shape[1], image.shape[0]) != size:  # a whole factor may land on it (640 -> 320)
            image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
    h, w = image.shape[:2]
    m = config.pad_multiple
    padded_h, padded_w = -(-h // m) * m, -(-w // m) * m
    tensor = np.zeros((1, 3, padded_h, padded_w), dtype=np.float32)
    tensor[0, :, :h, :w] = image.transpose(2, 0, 1)
    # Map back with the exact per-axis ratios the resize applied.
    return DetectorInput(tensor=tensor, scale_x=w / width, scale_y=h / height)


def decode_outputs(
    outputs: dict[str, FloatArray], height: int, width: int, min_score: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Raw YuNet outputs for a (height, width) input to (boxes xywh, scores, landmarks)."""
    boxes, scores, points = [], [], []
    for s in _STRIDES:
        cols = width // s
        score = np.sqrt(
            np.clip(outputs[f"cls_{s}"][0, :, 0], 0, 1)
            * np.clip(outputs[f"obj_{s}"][0, :, 0], 0, 1)
        )
        keep = np.nonzero(score >= min_score)[0]
        if keep.size == 0:
            continue
        row = (keep // cols).astype(np.float32)
        col = (keep % cols).astype(np.float32)
        delta = outputs[f"bbox_{s}"][0, keep]
        cx, cy = (col + delta[:, 0]) * s, (row + delta[:, 1]) * s
        w, h = np.exp(delta[:, 2]) * s, np.exp(delta[:, 3]) * s
        boxes.append(np.stack([cx - w / 2, cy - h / 2, w, h], axis=1))
        kps = outputs[f"kps_{s}"][0, keep].reshape(-1, 5, 2)
        grid = np.stack([col, row], axis=1)[:, None, :]
        points.append((kps + grid) * s)
        scores.append(score[keep])
    if not boxes:
        empty = np.zeros((0,), dtype=np.float32)
        return empty.reshape(0, 4), empty, empty.reshape(0, 5, 2)
    return (
        np.concatenate(boxes).astype(np.float32),
        np.concatenate(scores).astype(np.float32),
        np.concatenate(points).astype(np.float32),
    )


def non_max_suppression(boxes: FloatArray, scores: FloatArray, iou: float) -> list[int]:
    """Greedy NMS over xywh boxes; indices of the kept boxes, best first."""
    order = list(np.argsort(-scores, kind="stable"))
    x1, y1 = boxes[:, 0], boxes[:, 1]
    x2, y2 = x1 + boxes[:, 2], y1 + boxes[:, 3]
    areas = boxes[:, 2] * boxes[:, 3]
    kept: list[int] = []
    while order:
        best = int(order.pop(0))
        kept.append(best)
        if not order:
            break
        rest = np.array(order)
        iw = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        ih = np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        inter = iw * ih
        overlap = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = [int(i) for i, o in zip(rest, overlap, strict=True) if o <= iou]
    return kept


class FaceDetector:
    """YuNet behind one ONNX Runtime session; ``detect`` is thread-safe."""

    def __init__(self, session: Any, config: DetectorConfig) -> None:
        self._session = session
        self._input = session.get_inputs()[0].name
        self._outputs = [o.name for o in session.get_outputs()]
        self.config = config

    def detect(self, image: BGRImage) -> tuple[Face, ...]:
        """Every face found, best detector score first, in the image's own pixels."""
        faces = self._detect(image, self.config.max_side)
        if not faces and needs_retry(image, self.config):
            faces = self._detect(image, self.config.retry_max_side)
        return faces

    def _detect(self, image: BGRImage, max_side: int) -> tuple[Face, ...]:
        prepared = prepare(image, self.config, max_side)
        _, _, height, width = prepared.tensor.shape
        raw = self._session.run(self._outputs, {self._input: prepared.tensor})
        outputs = dict(zip(self._outputs, raw, strict=True))
        boxes, scores, points = decode_outputs(outputs, height, width, self.config.min_score)
        keep = non_max_suppression(boxes, scores, self.config.nms_iou)
        fx, fy = 1.0 / prepared.scale_x, 1.0 / prepared.scale_y
        faces = []
        for i in keep:
            x, y, w, h = (float(v) for v in boxes[i])
            faces.append(
                Face(
                    box=Box(x * fx, y * fy, w * fx, h * fy),
                    landmarks=tuple((float(px) * fx, float(py) * fy) for px, py in points[i]),
                    score=float(scores[i]),
                )
            )
        return tuple(faces)


def needs_retry(image: BGRImage, config: DetectorConfig) -> bool:
    """Whether a larger copy than the first one exists to look at again."""
    return config.retry_max_side > config.max_side and max(image.shape[:2]) > config.max_side


def largest_face(faces: tuple[Face, ...]) -> Face:
    """The face to judge: the one with the largest box (the person at the camera)."""
    return max(faces, key=lambda face: face.box.area)
