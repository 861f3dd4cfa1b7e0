"""The one exception tree. Each class carries its contract code and a message in two languages.

    FaceliveError                  (code, msg, msg_cn)
    ├── BadImageError              4001  empty, undecodable, or outside the size limits
    ├── NoFaceError                4002  decoded, but no face was found
    ├── InvalidThresholdError      4006  ``thresh`` is not a number in [0, 1]
    └── InternalError              5000  anything the caller cannot fix
        ├── ModelUnavailableError        a model file is missing and cannot be fetched
        └── ModelIntegrityError          a model file does not match its sha256

Only the edges (``cli``, later ``api``) turn these into exit statuses or responses.
"""

from __future__ import annotations

from typing import ClassVar


class FaceliveError(Exception):
    """Base of every error facelive reports to a caller."""

    code: ClassVar[int] = 5000
    default_msg: ClassVar[str] = "internal error, please retry later"
    default_msg_cn: ClassVar[str] = "服务内部错误，请稍后重试"

    def __init__(self, msg: str | None = None, msg_cn: str | None = None) -> None:
        self.msg = msg or self.default_msg
        self.msg_cn = msg_cn or self.default_msg_cn
        super().__init__(self.msg)


class BadImageError(FaceliveError):
    code = 4001
    default_msg = "image is empty or not a supported image format"
    default_msg_cn = "图片为空或格式错误"


class NoFaceError(FaceliveError):
    code = 4002
    default_msg = "no face detected in the image"
    default_msg_cn = "未检测到人脸"


class InvalidThresholdError(FaceliveError):
    code = 4006
    default_msg = "thresh must be a number between 0 and 1"
    default_msg_cn = "阈值thresh必须是0到1之间的数字"


class InternalError(FaceliveError):
    code = 5000


class ModelUnavailableError(InternalError):
    """A model file could not be found or fetched; the message says which and how to fix it."""


class ModelIntegrityError(InternalError):
    """A model file exists but its sha256 does not match the manifest, so it is never loaded."""
