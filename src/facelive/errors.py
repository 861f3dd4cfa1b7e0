"""The one exception tree. Each class carries its contract code and a message in two languages.

    FaceliveError                  (code, msg, msg_cn)
    ├── BadImageError              4001  empty, undecodable, or outside the size limits
    │   └── BodyTooLargeError            the request body itself is over the limit
    ├── NoFaceError                4002  decoded, but no face was found
    ├── ImageFetchError            4003  ``image_url`` could not be fetched or is not allowed
    ├── InvalidParameterError      4006  malformed request: bad JSON, wrong type, bad value
    │   ├── InvalidThresholdError        ``thresh`` is not a number in [0, 1]
    │   └── BodyTimeoutError             the request body did not arrive in time (HTTP 408)
    ├── AuthError                  4010  missing or invalid credentials, unknown/revoked key
    ├── TimestampError             4011  signature timestamp outside the allowed window
    ├── ReplayError                4012  a signature that was already used
    ├── RateLimitError             4029  too many requests (carries ``retry_after`` seconds)
    └── InternalError              5000  anything the caller cannot fix
        ├── ModelUnavailableError        a model file is missing and cannot be fetched
        ├── ModelIntegrityError          a model file does not match its sha256
        ├── ShuttingDownError            the server stopped before the request finished
        ├── SecretDecryptionError        a stored AppSecret cannot be decrypted (auth.secrets)
        └── StoreUnavailableError        the key-store database cannot be reached (auth.engine)

Only the edges (``cli``, ``api``) turn these into exit statuses or responses.
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


class BodyTooLargeError(BadImageError):
    """The request body is over the limit; refused before it is read whole (HTTP 413)."""


class NoFaceError(FaceliveError):
    code = 4002
    default_msg = "no face detected in the image"
    default_msg_cn = "未检测到人脸"


class ImageFetchError(FaceliveError):
    code = 4003
    default_msg = "image_url could not be fetched"
    default_msg_cn = "图片URL无法获取"


class InvalidParameterError(FaceliveError):
    code = 4006
    default_msg = "a request parameter is malformed"
    default_msg_cn = "请求参数格式错误"


class InvalidThresholdError(InvalidParameterError):
    default_msg = "thresh must be a number between 0 and 1"
    default_msg_cn = "阈值thresh必须是0到1之间的数字"


class BodyTimeoutError(InvalidParameterError):
    """The client sent its headers but not its whole body within ``body_timeout_s`` (HTTP 408),
    so a trickling client cannot hold a connection and a worker's attention for ever."""

    default_msg = "the request body did not arrive in time"
    default_msg_cn = "请求体接收超时"


class AuthError(FaceliveError):
    code = 4010
    default_msg = "missing or invalid credentials"
    default_msg_cn = "缺少认证信息或认证失败"


class TimestampError(FaceliveError):
    code = 4011
    default_msg = "x-ca-timestamp is outside the allowed window"
    default_msg_cn = "时间戳x-ca-timestamp超出允许范围"


class ReplayError(FaceliveError):
    code = 4012
    default_msg = "this signature was already used; sign every request anew"
    default_msg_cn = "签名已被使用，请为每个请求重新签名"


class RateLimitError(FaceliveError):
    code = 4029
    default_msg = "rate limit or quota exceeded"
    default_msg_cn = "请求过于频繁或超出配额"

    def __init__(self, retry_after: int, msg: str | None = None, msg_cn: str | None = None):
        self.retry_after = retry_after
        super().__init__(msg, msg_cn)


class InternalError(FaceliveError):
    code = 5000


class ModelUnavailableError(InternalError):
    """A model file could not be found or fetched; the message says which and how to fix it."""


class ModelIntegrityError(InternalError):
    """A model file exists but its sha256 does not match the manifest, so it is never loaded."""


class ShuttingDownError(InternalError):
    """The shutdown grace (``FACELIVE_SHUTDOWN_GRACE_S``) ended with this request unfinished."""

    default_msg = "the server is shutting down and could not finish this request, please retry"
    default_msg_cn = "服务正在停止，未能完成本次请求，请重试"
