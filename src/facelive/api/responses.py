"""Contract envelopes as HTTP responses: the one place codes meet HTTP statuses."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from starlette.responses import Response

from facelive.envelope import build_envelope
from facelive.errors import BodyTimeoutError, BodyTooLargeError, FaceliveError, RateLimitError
from facelive.types import CheckResult

# Contract code -> HTTP status. A scored face (live or not) and "no face" are answers, not
# errors, so they travel with 200 like the cloud API's.
HTTP_STATUS = {
    200: 200,
    4004: 200,
    4005: 200,
    4002: 200,
    4001: 400,
    4003: 400,
    4006: 400,
    4010: 401,
    4011: 401,
    4012: 401,
    4029: 429,
    5000: 500,
}


def http_status(outcome: CheckResult | FaceliveError) -> int:
    if isinstance(outcome, BodyTooLargeError):
        return 413
    if isinstance(outcome, BodyTimeoutError):
        return 408
    if isinstance(outcome, CheckResult):
        return 200
    return HTTP_STATUS.get(outcome.code, 500)


def envelope_response(
    request_id: str,
    outcome: CheckResult | FaceliveError,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The envelope as JSON, with ``X-Request-Id`` (and ``Retry-After`` for 4029)."""
    extra = {"X-Request-Id": request_id, **(headers or {})}
    if isinstance(outcome, RateLimitError):
        extra["Retry-After"] = str(outcome.retry_after)
    return Response(
        content=orjson.dumps(build_envelope(request_id, outcome)),
        status_code=status or http_status(outcome),
        media_type="application/json",
        headers=extra,
    )
