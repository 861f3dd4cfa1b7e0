"""One envelope shape on every success and error path."""

from __future__ import annotations

import pytest

from facelive.envelope import build_envelope, new_request_id
from facelive.errors import (
    BadImageError,
    FaceliveError,
    InternalError,
    InvalidThresholdError,
    ModelIntegrityError,
    ModelUnavailableError,
    NoFaceError,
)
from facelive.types import Box, CheckResult, Face, StageTimes

KEYS = {"code", "msg", "msg_cn", "success", "request_id", "data"}


def result(score: float, live: bool, quality: tuple[str, ...] = ()) -> CheckResult:
    return CheckResult(
        liveness_score=score,
        is_live=live,
        thresh=0.8,
        risk_reason=("" if live else ",".join(quality) or "spoof_suspected"),
        raw_score=score,
        quality=quality,
        face=Face(Box(1.04, 2, 30.56, 40), ((5.0, 6.0), (20.0, 6.0), (12.5, 15.0)), 0.91234),
        face_count=1,
        model_scores=(),
        image_width=100,
        image_height=100,
        times=StageTimes(0, 0, 0, 0, 0),
    )


@pytest.mark.parametrize(
    ("outcome", "code", "success", "has_data"),
    [
        (result(0.93, True), 200, True, True),
        (result(0.31, False), 4004, False, True),
        (result(0.31, False, ("too_dark", "blurred")), 4005, False, True),
        (BadImageError(), 4001, False, False),
        (NoFaceError(), 4002, False, False),
        (InvalidThresholdError(), 4006, False, False),
        (InternalError(), 5000, False, False),
        (ModelUnavailableError("x"), 5000, False, False),
        (ModelIntegrityError("x"), 5000, False, False),
    ],
)
def test_envelope_shape(
    outcome: CheckResult | FaceliveError, code: int, success: bool, has_data: bool
) -> None:
    envelope = build_envelope("abc", outcome)
    assert set(envelope) == KEYS
    assert envelope["code"] == code
    assert envelope["success"] is success
    assert envelope["request_id"] == "abc"
    assert isinstance(envelope["msg"], str) and envelope["msg"]
    assert isinstance(envelope["msg_cn"], str) and envelope["msg_cn"]
    if has_data:
        assert isinstance(outcome, CheckResult)
        assert envelope["data"] == {
            # The contract's three fields, exactly...
            "liveness_score": outcome.liveness_score,
            "is_live": outcome.is_live,
            "risk_reason": outcome.risk_reason,
            # ...then facelive's extensions (docs/api.md).
            "face": {
                "box": [1.0, 2.0, 30.6, 40.0],
                "landmarks": [[5.0, 6.0], [20.0, 6.0], [12.5, 15.0]],
                "score": 0.9123,
            },
            "image_width": 100,
            "image_height": 100,
        }
        assert list(envelope["data"])[:3] == ["liveness_score", "is_live", "risk_reason"]
    else:
        assert envelope["data"] is None


def test_messages_follow_the_contract() -> None:
    assert build_envelope("r", result(0.9, True))["msg"] == "ok"
    assert build_envelope("r", result(0.9, True))["msg_cn"] == "成功"
    assert build_envelope("r", result(0.1, False))["msg_cn"] == "疑似翻拍或攻击，未通过活体"
    assert build_envelope("r", BadImageError())["msg_cn"] == "图片为空或格式错误"
    assert build_envelope("r", NoFaceError())["msg_cn"] == "未检测到人脸"


def test_poor_quality_names_the_reasons() -> None:
    env = build_envelope("r", result(0.2, False, ("too_dark", "blurred")))
    assert env["data"]["risk_reason"] == "too_dark,blurred"
    assert "too_dark,blurred" in env["msg"] and "too_dark,blurred" in env["msg_cn"]
    assert build_envelope("r", result(0.9, True, ("too_dark",)))["data"]["risk_reason"] == ""


def test_request_ids_are_unique() -> None:
    ids = {new_request_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(len(i) == 32 for i in ids)
