"""The contract's response envelope, built in one place for every success and error.

``{code, msg, msg_cn, success, request_id, data}`` where ``data`` is
``{liveness_score, is_live, risk_reason}`` whenever a face was scored, else ``None``.
facelive adds, after the contract's three fields, where the judged face is (``face``: box,
five landmarks, detector score) and the decoded image's size, so a client can draw it;
clients written for the contract ignore them.
A scored face that is not live is code 4004 (or 4005 when the face was too poor to judge)
with ``success`` false and ``data`` filled.
"""

from __future__ import annotations

import uuid
from typing import Any

from facelive.errors import FaceliveError
from facelive.types import CheckResult

CODE_LIVE = 200
CODE_NOT_LIVE = 4004
CODE_POOR_QUALITY = 4005

_LIVE_MSG = ("ok", "成功")
_NOT_LIVE_MSG = (
    "liveness check failed: suspected recapture or presentation attack",
    "疑似翻拍或攻击，未通过活体",
)
_POOR_QUALITY_MSG = (
    "liveness not confirmed: the face is too poor to judge ({reasons}); please retake the photo",
    "未能确认活体：人脸质量不足以判断（{reasons}），请重新拍摄",
)


def result_code(result: CheckResult) -> int:
    """200 live; 4005 not live but the face was too poor to judge; 4004 not live."""
    if result.is_live:
        return CODE_LIVE
    return CODE_POOR_QUALITY if result.quality else CODE_NOT_LIVE


def new_request_id() -> str:
    """A unique, unguessable id for one request (32 hex digits)."""
    return uuid.uuid4().hex


def _extensions(result: CheckResult) -> dict[str, Any]:
    """facelive's additions to ``data``: pixels of the decoded image (EXIF orientation applied),
    box as [x, y, w, h] from the top-left corner, landmarks as [x, y] in YuNet's order (right
    eye, left eye, nose tip, right and left mouth corners), rounded to 0.1 px."""
    face = result.face
    return {
        "face": {
            "box": [round(v, 1) for v in (face.box.x, face.box.y, face.box.w, face.box.h)],
            "landmarks": [[round(x, 1), round(y, 1)] for x, y in face.landmarks],
            "score": round(face.score, 4),
        },
        "image_width": result.image_width,
        "image_height": result.image_height,
    }


def build_envelope(request_id: str, outcome: CheckResult | FaceliveError) -> dict[str, Any]:
    if isinstance(outcome, FaceliveError):
        code, msg, msg_cn, data = outcome.code, outcome.msg, outcome.msg_cn, None
    else:
        code = result_code(outcome)
        if code == CODE_POOR_QUALITY:
            reasons = outcome.risk_reason
            msg, msg_cn = (m.format(reasons=reasons) for m in _POOR_QUALITY_MSG)
        else:
            msg, msg_cn = _LIVE_MSG if outcome.is_live else _NOT_LIVE_MSG
        data = {
            "liveness_score": outcome.liveness_score,
            "is_live": outcome.is_live,
            "risk_reason": outcome.risk_reason,
            **_extensions(outcome),
        }
    return {
        "code": code,
        "msg": msg,
        "msg_cn": msg_cn,
        "success": code == CODE_LIVE,
        "request_id": request_id,
        "data": data,
    }
