"""The one orchestrator: bytes in, a ``CheckResult`` out, reading top to bottom as the stages."""

from __future__ import annotations

import dataclasses
from time import perf_counter

from facelive.errors import FaceliveError, InternalError, NoFaceError
from facelive.models.calibration import Calibration
from facelive.models.manifest import BoxMapping, Manifest, load_manifest
from facelive.models.sessions import create_session, open_runner
from facelive.models.store import ModelStore
from facelive.pipeline.crop import to_training_box
from facelive.pipeline.decode import ImageLimits, decode_image
from facelive.pipeline.detect import DetectorConfig, FaceDetector, largest_face
from facelive.pipeline.quality import QualityLimits, assess
from facelive.pipeline.score import LivenessModel, fuse
from facelive.pipeline.verdict import DEFAULT_THRESH, is_live, risk_reason, validate_thresh
from facelive.settings import Settings
from facelive.types import BGRImage, Box, CheckResult, DecodedImage, Face, ModelScore, StageTimes

# With reduced decoding (opt-in), a JPEG decoded at reduced size is cropped from only while
# every model's crop window keeps at least this many pixels per patch pixel (80x80 patches:
# windows of 160 px or more); otherwise it is decoded again, larger, so a small face is never
# judged from a handful of pixels.
MIN_WINDOW_PER_PATCH_PX = 2.0


@dataclasses.dataclass(frozen=True)
class FoundFace:
    """The largest face of an image and what judges it: ``models`` are those for a tight
    crop or for a frame (``tight``)."""

    image: DecodedImage
    faces: tuple[Face, ...]
    face: Face
    tight: bool
    models: tuple[LivenessModel, ...]


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000.0, 3)


class LivenessChecker:
    """Holds the model sessions (built once per process); ``check`` is thread-safe."""

    def __init__(
        self,
        detector: FaceDetector,
        models: tuple[LivenessModel, ...],
        box_mapping: BoxMapping,
        limits: ImageLimits,
        default_thresh: float = DEFAULT_THRESH,
        calibration: Calibration | None = None,
        quality_limits: QualityLimits | None = None,
        tight_face_share: float = 0.8,
        reduced_decode: bool = False,
    ) -> None:
        self.detector = detector
        self.models = models
        self.box_mapping = box_mapping
        self.limits = limits
        self.default_thresh = validate_thresh(default_thresh)
        self.calibration = calibration or Calibration.identity()
        self.quality_limits = quality_limits or QualityLimits()
        self.tight_face_share = tight_face_share
        # A camera frame is judged by the models that see context; a tight crop by all.
        self._frame_models = tuple(m for m in models if m.spec.framing == "any")
        if not self._frame_models:
            raise ValueError("every liveness model is for tight crops only: none judges frames")
        # JPEGs are decoded no smaller than the detector's largest input, so detection sees as
        # many pixels as it would from the full image.
        config = detector.config
        self.decode_min_side = max(config.max_side, config.retry_max_side) if reduced_decode else 0

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, manifest: Manifest | None = None
    ) -> LivenessChecker:
        """Locate (or fetch) and verify every model file, then open one session for each."""
        settings = settings or Settings()
        manifest = manifest or load_manifest()
        store = ModelStore.from_settings(settings)
        threads = settings.onnx_threads()
        specs = manifest.liveness_for(settings.model_profile, settings.extra_models)
        calibration = manifest.calibration_for(tuple(s.name for s in specs))
        if calibration is None:
            # Uncalibrated scores would make every threshold meaningless: refuse to start.
            raise ValueError(
                f"no score calibration is fitted for the models {[s.name for s in specs]}; "
                f"fitted: {sorted(manifest.calibrations)}"
            )
        detector = FaceDetector(
            create_session(store.path_for(manifest.detector), threads),
            DetectorConfig(
                max_side=settings.detect_max_side,
                retry_max_side=settings.detect_retry_max_side,
                min_score=settings.detect_min_score,
            ),
        )
        models = tuple(
            LivenessModel(spec, open_runner(spec, store.path_for(spec), threads)) for spec in specs
        )
        limits = ImageLimits(settings.min_side, settings.max_side, settings.max_image_bytes)
        return cls(
            detector,
            models,
            manifest.box_mapping,
            limits,
            settings.thresh,
            calibration,
            tight_face_share=manifest.tight_face_share,
            reduced_decode=settings.reduced_decode,
        )

    def crop_patches(
        self, pixels: BGRImage, face_box: Box, training_box: Box | None = None
    ) -> tuple[BGRImage, ...]:
        """One input patch per model for the face the detector boxed as ``face_box``.

        ``training_box`` is that face in the MiniFASNets' training geometry; by default it is
        derived from ``face_box`` with the manifest's box mapping.
        """
        if training_box is None:
            training_box = to_training_box(face_box, self.box_mapping)
        return tuple(m.patch(pixels, face_box, training_box) for m in self.models)

    def models_for(self, tight: bool) -> tuple[LivenessModel, ...]:
        """The models that judge a face: all of them for a tight crop, else those that see
        context (``framing`` "any")."""
        return self.models if tight else self._frame_models

    def predict(self, patches: tuple[BGRImage, ...]) -> tuple[ModelScore, ...]:
        return tuple(m.predict(p) for m, p in zip(self.models, patches, strict=True))

    def score_box(self, pixels: BGRImage, box: Box) -> tuple[ModelScore, ...]:
        """Every model's score for a face box already in the models' geometry (parity checks)."""
        return self.predict(self.crop_patches(pixels, box, box))

    def check(self, data: bytes, thresh: float | None = None) -> CheckResult:
        """Judge the largest face in ``data``; raises ``FaceliveError`` subclasses only."""
        try:
            return self._check(data, self.default_thresh if thresh is None else thresh)
        except FaceliveError:
            raise
        except Exception as exc:  # fail closed: anything unexpected is a 5000
            raise InternalError() from exc

    def _large_enough(
        self,
        data: bytes,
        image: DecodedImage,
        faces: tuple[Face, ...],
        face: Face,
        models: tuple[LivenessModel, ...],
    ) -> tuple[DecodedImage, tuple[Face, ...], Face]:
        """``image`` itself when every model's crop window in it is large enough, else the
        JPEG decoded again at the largest reduction that makes it so (the faces mapped onto
        it, not detected again)."""
        if image.reduction == 1:
            return image, faces, face
        training = to_training_box(face.box, self.box_mapping)
        smallest = min(
            m.window_px(image.pixels, face.box, training) / (MIN_WINDOW_PER_PATCH_PX * m.input_size)
            for m in models
        )
        if smallest >= 1.0:
            return image, faces, face
        reduction = image.reduction
        while reduction > 1 and smallest * image.reduction / reduction < 1.0:
            reduction //= 2
        larger = decode_image(data, self.limits, self.decode_min_side, max_reduction=reduction)
        (fx, fy), (tx, ty) = image.scale, larger.scale
        sx, sy = fx / tx, fy / ty
        index = faces.index(face)
        moved = tuple(f.scaled(sx, sy) for f in faces)
        return larger, moved, moved[index]

    def _quality_limits_for(self, image: DecodedImage) -> QualityLimits:
        """Size limits are in full-image pixels; on a reduced decode they shrink with it."""
        if image.reduction == 1:
            return self.quality_limits
        sx, _ = image.scale
        q = self.quality_limits
        return dataclasses.replace(
            q, min_face_px=q.min_face_px / sx, min_eye_gap_px=q.min_eye_gap_px / sx
        )

    def find_face(self, data: bytes) -> FoundFace:
        """Decode ``data`` and find its largest face, in the pixels the models crop from (a
        reduced JPEG decode, decoded larger when a crop window would be too small); raises
        ``BadImageError`` or ``NoFaceError``. Training prepares its patches through this too."""
        return self._find_face(data)[0]

    def _find_face(self, data: bytes) -> tuple[FoundFace, float, float]:
        """Also the times decoding and detection ended, for ``StageTimes``."""
        image = decode_image(data, self.limits, self.decode_min_side)
        t1 = perf_counter()
        faces = self.detector.detect(image.pixels)
        if not faces:
            raise NoFaceError()
        face = largest_face(faces)
        t2 = perf_counter()
        # The box is in the decoded pixels' coordinates (reduced or not); a share does not
        # change with the decoding scale.
        height, width = image.pixels.shape[:2]
        tight = face.box.share_of(width, height) >= self.tight_face_share
        models = self.models_for(tight)
        image, faces, face = self._large_enough(data, image, faces, face, models)
        return FoundFace(image, faces, face, tight, models), t1, t2

    def _check(self, data: bytes, thresh: float) -> CheckResult:
        thresh = validate_thresh(thresh)
        t0 = perf_counter()
        found, t1, t2 = self._find_face(data)
        image, faces, face, models = found.image, found.faces, found.face, found.models
        training = to_training_box(face.box, self.box_mapping)
        patches = tuple(m.patch(image.pixels, face.box, training) for m in models)
        t3 = perf_counter()
        scores = tuple(m.predict(p) for m, p in zip(models, patches, strict=True))
        raw = fuse(scores)
        score = self.calibration(raw, found.tight)
        live = is_live(score, thresh)
        issues = assess(image.pixels, face, faces, self._quality_limits_for(image))
        if image.reduction > 1:  # report the face in the full image's pixels
            face = face.scaled(*image.scale)
        t4 = perf_counter()
        return CheckResult(
            liveness_score=score,
            is_live=live,
            thresh=thresh,
            risk_reason=risk_reason(live, issues),
            raw_score=raw,
            quality=issues,
            face=face,
            face_count=len(faces),
            model_scores=scores,
            image_width=image.width,
            image_height=image.height,
            times=StageTimes(_ms(t0, t1), _ms(t1, t2), _ms(t2, t3), _ms(t3, t4), _ms(t0, t4)),
        )
