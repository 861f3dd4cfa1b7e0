"""The orchestrator end to end on real images and real weights."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from facelive.errors import BadImageError, InternalError, InvalidThresholdError, NoFaceError
from facelive.evaluation.metrics import roc_auc
from facelive.models.calibration import Calibration
from facelive.models.manifest import load_manifest
from facelive.models.sessions import OnnxRunner
from facelive.pipeline.checker import LivenessChecker
from facelive.pipeline.score import LivenessModel
from facelive.pipeline.verdict import RISK_SPOOF
from facelive.settings import Settings
from facelive.types import CheckResult


def test_live_frame_is_live(checker: LivenessChecker, live_jpeg: bytes) -> None:
    result = checker.check(live_jpeg)
    assert isinstance(result, CheckResult)
    assert result.is_live
    assert result.liveness_score > 0.9
    assert result.thresh == 0.8
    assert result.risk_reason == ""
    assert result.face_count == 1
    # A camera frame is judged by the models that see context, not the close-up one.
    frame_models = [m.name for m in load_manifest().liveness if m.framing == "any"]
    assert [m.model for m in result.model_scores] == frame_models
    mean = sum(m.live for m in result.model_scores) / len(result.model_scores)
    assert result.raw_score == pytest.approx(mean, abs=1e-12)
    # A camera frame: the face spans well under the tight-crop share.
    assert result.face.box.share_of(480, 640) < checker.tight_face_share
    assert result.liveness_score == checker.calibration(result.raw_score, tight=False)
    assert result.quality == ()
    for m in result.model_scores:
        assert abs(sum(m.probabilities) - 1.0) < 1e-6
        assert m.live == m.probabilities[1]
    t = result.times
    assert min(t.decode_ms, t.detect_ms, t.crop_ms, t.models_ms) >= 0
    assert t.total_ms >= t.decode_ms + t.detect_ms + t.models_ms - 0.01
    assert (result.image_width, result.image_height) == (480, 640)  # EXIF-rotated sample


def test_replay_attack_is_not_live(checker: LivenessChecker, spoof_jpeg: bytes) -> None:
    result = checker.check(spoof_jpeg)
    assert not result.is_live
    assert result.liveness_score < 0.5
    assert result.risk_reason == RISK_SPOOF


def test_threshold_decides_the_verdict(checker: LivenessChecker, live_jpeg: bytes) -> None:
    score = checker.check(live_jpeg).liveness_score
    assert checker.check(live_jpeg, thresh=score).is_live is False
    assert checker.check(live_jpeg, thresh=max(0.0, score - 1e-6)).is_live is True
    assert checker.check(live_jpeg, thresh=1.0).is_live is False


def test_bad_threshold_is_4006(checker: LivenessChecker, live_jpeg: bytes) -> None:
    with pytest.raises(InvalidThresholdError):
        checker.check(live_jpeg, thresh=1.5)


def test_no_face_is_4002(checker: LivenessChecker) -> None:
    import cv2

    ok, buf = cv2.imencode(".png", np.full((240, 320, 3), 90, np.uint8))
    assert ok
    with pytest.raises(NoFaceError) as info:
        checker.check(buf.tobytes())
    assert info.value.code == 4002


def test_garbage_is_4001(checker: LivenessChecker) -> None:
    with pytest.raises(BadImageError):
        checker.check(b"not an image at all")


def test_unexpected_failures_become_5000(checker: LivenessChecker, live_jpeg: bytes) -> None:
    # A real liveness model wired to the detector's session: ONNX Runtime rejects the input.
    wrong = LivenessModel(checker.models[0].spec, OnnxRunner(checker.detector._session))
    faulty = LivenessChecker(
        checker.detector, (wrong,), checker.box_mapping, checker.limits, checker.default_thresh
    )
    with pytest.raises(InternalError) as info:
        faulty.check(live_jpeg)
    assert info.value.code == 5000
    assert info.value.__cause__ is not None


def test_whole_pipeline_on_fas_dev_matches_the_known_accuracy(
    upstream_checker: LivenessChecker, fas_dev: Path, fas_dev_rows: list[dict[str, str]]
) -> None:
    """YuNet boxes mapped to the training geometry: AUC about 0.87, as measured upstream.

    On the upstream profile: facelive's own models saw fas-dev in training, so their
    figures on it come from grouped cross-validation (docs/training.md), not from here.
    """
    checker = upstream_checker
    live: list[float] = []
    spoof: list[float] = []
    missed = 0
    for row in fas_dev_rows:
        try:
            score = checker.check((fas_dev / row["file"]).read_bytes()).liveness_score
        except NoFaceError:
            missed += 1
            score = 0.0  # no face counts as rejected
        (live if row["label"] == "live" else spoof).append(score)
    assert missed <= 0.02 * len(fas_dev_rows)
    labels = np.array([True] * len(live) + [False] * len(spoof))
    assert roc_auc(np.array(live + spoof), labels) >= 0.85


def test_opt_in_model_joins_the_fusion_with_its_own_calibration(
    settings: Settings, live_jpeg: bytes, spoof_jpeg: bytes
) -> None:
    extra = LivenessChecker.from_settings(
        settings.model_copy(
            update={"model_profile": "upstream", "extra_models": "facenox_minifas128"}
        )
    )
    live = extra.check(live_jpeg)
    assert [m.model for m in live.model_scores][-1] == "facenox_minifas128"
    assert live.model_scores[-1].live > 0.9  # MODEL.md: T1 real 1.00
    assert extra.check(spoof_jpeg).model_scores[-1].live < 0.5  # MODEL.md: F2 real 0.07
    names = tuple(m.model for m in live.model_scores)
    assert extra.calibration == load_manifest().calibration_for(names)
    assert live.raw_score == pytest.approx(sum(m.live for m in live.model_scores) / 3)


def test_unknown_or_default_model_cannot_be_added(settings: Settings) -> None:
    for name in ("nope", "minifasnet_v2"):
        with pytest.raises(ValueError, match=name):
            LivenessChecker.from_settings(settings.model_copy(update={"extra_models": name}))


def test_a_model_set_without_a_fitted_calibration_is_refused(settings: Settings) -> None:
    manifest = load_manifest()
    bare = dataclasses.replace(manifest, calibrations={})
    with pytest.raises(ValueError, match="no score calibration"):
        LivenessChecker.from_settings(settings, bare)


def test_a_tight_crop_is_calibrated_as_one(checker: LivenessChecker, live_jpeg: bytes) -> None:
    frame = checker.check(live_jpeg)
    # OpenCV applies the sample's EXIF orientation, as the pipeline does.
    image = cv2.imdecode(np.frombuffer(live_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[:2] == (640, 480)
    b = frame.face.box
    x, y = int(b.x + b.w * 0.05), int(b.y + b.h * 0.05)
    crop = image[y : int(y + b.h * 0.9), x : int(x + b.w * 0.9)]
    ok, encoded = cv2.imencode(".jpg", crop)
    assert ok
    result = checker.check(encoded.tobytes())
    share = result.face.box.share_of(result.image_width, result.image_height)
    assert share >= checker.tight_face_share
    assert checker.calibration.tight is not None
    assert result.liveness_score == checker.calibration(result.raw_score, tight=True)
    # A tight crop is judged by every model of the profile, the close-up one included.
    assert [m.model for m in result.model_scores] == [m.name for m in load_manifest().liveness]
    assert any(m.framing == "tight" for m in load_manifest().liveness)
    # With maps that disagree wildly, the tight one is the one applied.
    odd = copy.copy(checker)
    odd.calibration = Calibration(
        (0.0, 1.0), (0.0, 1.0), Calibration((0.0, 1 - 1e-12, 1.0), (0.0, 0.25, 1.0))
    )
    assert odd.check(encoded.tobytes()).liveness_score < 0.3
    assert odd.check(live_jpeg).liveness_score > 0.9


def _letterboxed_jpeg(jpeg: bytes, width: int, height: int, face_share: float) -> bytes:
    """``jpeg`` scaled to ``face_share`` of a ``width`` x ``height`` grey canvas, as a JPEG."""
    import cv2

    frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert frame is not None
    side = round(height * face_share)
    small = cv2.resize(frame, (side * frame.shape[1] // frame.shape[0], side))
    canvas = np.full((height, width, 3), 118, np.uint8)
    canvas[: small.shape[0], : small.shape[1]] = small
    ok, buf = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return bytes(buf.tobytes())


def test_reduced_decode_reports_full_size_and_decodes_larger_for_small_faces(
    settings: Settings,
    checker: LivenessChecker,
    live_jpeg: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import facelive.pipeline.checker as checker_module

    reduced = checker  # reduced decoding is the default
    assert reduced.decode_min_side == 640
    full_decode = LivenessChecker.from_settings(
        settings.model_copy(update={"reduced_decode": False})
    )
    assert full_decode.decode_min_side == 0
    decoded: list[int] = []
    from facelive.pipeline.decode import decode_image as original

    def spy(*args: Any, **kwargs: Any) -> Any:
        image = original(*args, **kwargs)
        decoded.append(image.reduction)
        return image

    monkeypatch.setattr(checker_module, "decode_image", spy)
    # A face filling the frame is cropped from the 1/4 decode; a small one (crop windows under
    # 160 px at 1/4) from a second, 1/2 decode.
    for share, reductions in ((1.0, [4]), (0.2, [4, 2])):
        data = _letterboxed_jpeg(live_jpeg, 4000, 3000, share)
        full = full_decode.check(data)
        decoded.clear()
        fast = reduced.check(data)
        assert decoded == reductions
        assert (fast.image_width, fast.image_height) == (4000, 3000)
        assert abs(fast.face.box.w - full.face.box.w) < 0.03 * full.face.box.w
        assert abs(fast.face.box.x - full.face.box.x) < 0.03 * full.face.box.w
        assert 0.0 <= fast.liveness_score <= 1.0
