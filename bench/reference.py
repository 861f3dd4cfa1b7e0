"""A straightforward implementation of the same pipeline, the yardstick for the speed-up.

What someone would write first: ONNX Runtime sessions with default options (ORT picks the
threads and lets them spin), full-resolution ``cv2.imdecode`` with no header check, and the
same detector decoding, crops and models as facelive, so the two compute the same scores.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort

from facelive.models.manifest import Manifest, load_manifest
from facelive.models.store import ModelStore
from facelive.pipeline.crop import crop_patch, crop_window, square_patch, to_training_box
from facelive.pipeline.detect import (
    DetectorConfig,
    decode_outputs,
    needs_retry,
    non_max_suppression,
    prepare,
)
from facelive.pipeline.score import fuse, softmax
from facelive.settings import Settings
from facelive.types import Box, ModelScore


class ReferenceChecker:
    """``check(data)`` returns (raw fused score, total milliseconds); raises on no face."""

    def __init__(self, settings: Settings, manifest: Manifest | None = None) -> None:
        manifest = manifest or load_manifest()
        store = ModelStore.from_settings(settings)
        self.mapping = manifest.box_mapping
        self.config = DetectorConfig(
            max_side=settings.detect_max_side,
            retry_max_side=settings.detect_retry_max_side,
            min_score=settings.detect_min_score,
        )
        self.detector = ort.InferenceSession(
            str(store.path_for(manifest.detector)), providers=["CPUExecutionProvider"]
        )
        self.tight_face_share = manifest.tight_face_share
        self.models: list[tuple[str, float, str, int, int, bool, Any]] = []
        for spec in manifest.liveness_for(settings.model_profile, settings.extra_models):
            if spec.input.colour != "BGR" or spec.crop_scale is None or spec.live_class is None:
                raise ValueError(f"the reference covers MiniFASNet-style models, not {spec.name}")
            session = ort.InferenceSession(
                str(store.path_for(spec)), providers=["CPUExecutionProvider"]
            )
            size = int(spec.input.shape[-1])
            tight_only = spec.framing == "tight"
            self.models.append(
                (spec.name, spec.crop_scale, spec.crop, spec.live_class, size, tight_only, session)
            )

    def check(self, data: bytes) -> tuple[float, float]:
        start = perf_counter()
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if decoded is None:
            raise ValueError("not an image")
        image = np.asarray(decoded, dtype=np.uint8)
        found = self._detect(image, self.config.max_side)
        if not found and needs_retry(image, self.config):
            found = self._detect(image, self.config.retry_max_side)
        if not found:
            raise LookupError("no face")
        face = max(found, key=lambda b: b.area)
        training = to_training_box(face, self.mapping)
        # A model for tight crops only judges faces that fill the picture.
        tight = face.share_of(image.shape[1], image.shape[0]) >= self.tight_face_share
        results = []
        for name, scale, crop, live_class, size, tight_only, session in self.models:
            if tight_only and not tight:
                continue
            if crop == "square_reflect":  # a square on the detector box itself
                patch = square_patch(image, face, scale, size)
            else:
                window = crop_window(image.shape[1], image.shape[0], training, scale)
                patch = crop_patch(image, window, size)
            tensor = patch.transpose(2, 0, 1)[None].astype(np.float32)
            logits = session.run(None, {session.get_inputs()[0].name: tensor})[0][0]
            probs = softmax(logits.astype(np.float64))
            results.append(ModelScore(name, float(probs[live_class]), tuple(probs.tolist())))
        return fuse(tuple(results)), (perf_counter() - start) * 1000.0

    def _detect(self, image: np.ndarray, max_side: int) -> list[Box]:
        prepared = prepare(image, self.config, max_side)
        _, _, height, width = prepared.tensor.shape
        names = [o.name for o in self.detector.get_outputs()]
        raw = self.detector.run(names, {self.detector.get_inputs()[0].name: prepared.tensor})
        boxes, scores, _ = decode_outputs(
            dict(zip(names, raw, strict=True)), height, width, self.config.min_score
        )
        keep = non_max_suppression(boxes, scores, self.config.nms_iou)
        # Mapped back exactly as facelive's detector does (multiplying by the inverse): the
        # crop window truncates to whole pixels, so a box one float ulp off can move a window
        # edge by a pixel and the score by 0.02 (seen on fas-dev).
        fx, fy = 1.0 / prepared.scale_x, 1.0 / prepared.scale_y
        found = []
        for i in keep:
            x, y, w, h = (float(v) for v in boxes[i])
            found.append(Box(x * fx, y * fy, w * fx, h * fy))
        return found
