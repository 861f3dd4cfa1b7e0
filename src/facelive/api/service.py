"""One liveness request, start to finish: auth -> limits -> body -> image -> check -> usage
-> envelope.

Blocking work (key-store queries, URL fetching, decoding and inference) runs in worker
threads; inference additionally waits for a slot in ``inference_slots`` so a burst of
requests queues instead of oversubscribing the CPU cores.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from facelive.api.metrics import Metrics
from facelive.api.request_body import LivenessRequest, max_body_bytes, parse_request
from facelive.api.responses import envelope_response
from facelive.auth.rate_limit import SharedLimiter
from facelive.auth.records import ApiKey, RecentRequest
from facelive.auth.schemes import Authenticator
from facelive.auth.store import KeyStore
from facelive.envelope import result_code
from facelive.errors import (
    BodyTimeoutError,
    BodyTooLargeError,
    FaceliveError,
    InternalError,
    InvalidParameterError,
)
from facelive.remote_image import UrlPolicy, fetch_image
from facelive.types import CheckResult

if TYPE_CHECKING:
    from facelive.pipeline.checker import LivenessChecker

log = logging.getLogger("facelive.request")


@dataclass(slots=True)
class LivenessService:
    checker: LivenessChecker
    store: KeyStore
    authenticator: Authenticator
    limiter: SharedLimiter
    url_policy: UrlPolicy
    inference_slots: anyio.CapacityLimiter
    metrics: Metrics
    max_image_bytes: int
    body_timeout_s: float

    @property
    def max_body(self) -> int:
        return max_body_bytes(self.max_image_bytes)

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        request_id: str = request.state.request_id
        key_id: str | None = None
        outcome: CheckResult | FaceliveError
        try:
            self._check_declared_length(request)
            key, refusal = await run_in_threadpool(self._authenticate_and_admit, request.headers)
            key_id = key.id
            request.state.key_id = key_id  # a refused request is still logged and counted
            if refusal is not None:
                raise refusal
            raw = await self._read_body(request)
            outcome = await self._check(raw)
        except InternalError as exc:  # a 5000 with a name (key store unreachable...): logged
            log.error(exc.msg, exc_info=True, extra={"fields": {"request_id": request_id}})
            outcome = exc
        except FaceliveError as exc:
            outcome = exc
        except Exception:  # fail closed at the edge: logged, answered as 5000, never live
            log.exception("internal error", extra={"fields": {"request_id": request_id}})
            outcome = InternalError()
        code = _code(outcome)
        if key_id is not None:
            entry = RecentRequest(
                at=datetime.now(UTC),
                key_id=key_id,
                request_id=request_id,
                code=code,
                score=outcome.liveness_score if isinstance(outcome, CheckResult) else None,
                latency_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            failed = isinstance(outcome, CheckResult) and not outcome.is_live
            await run_in_threadpool(self._record, entry, failed)
        times = outcome.times if isinstance(outcome, CheckResult) else None
        self.metrics.observe(code, time.perf_counter() - started, times)
        request.state.code = code
        request.state.times = times
        return envelope_response(request_id, outcome)

    def _authenticate_and_admit(self, headers: Headers) -> tuple[ApiKey, FaceliveError | None]:
        """The caller's key (raises if there is none), then its rate, daily quota and failed
        attempts, counted in the shared database (one round trip): the refusal (4029), if
        any, is returned with the key, so it is logged and counted against it. One
        worker-thread hop for both."""
        key = self.authenticator.authenticate(headers).key
        try:
            self.limiter.admit(key)
        except FaceliveError as refusal:
            return key, refusal
        return key, None

    def _check_declared_length(self, request: Request) -> None:
        declared = request.headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > self.max_body:
            raise self._too_large()

    async def _read_body(self, request: Request) -> bytes:
        """The whole body, refused as soon as it passes ``max_body`` or takes longer than
        ``body_timeout_s`` in all (a total, not an idle timeout: a byte a second never idles)."""
        chunks: list[bytes] = []
        size = 0
        try:
            with anyio.fail_after(self.body_timeout_s):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > self.max_body:
                        raise self._too_large()
                    chunks.append(chunk)
        except TimeoutError:
            raise BodyTimeoutError(
                f"the request body did not arrive within {self.body_timeout_s:g} s "
                f"({size} bytes received)",
                f"请求体未能在{self.body_timeout_s:g}秒内接收完毕（已收到{size}字节）",
            ) from None
        except ClientDisconnect:
            # Nobody is left to answer; counted as a malformed request, not an internal error.
            raise InvalidParameterError(
                "the client closed the connection before sending the whole body",
                "客户端在请求体发送完毕前关闭了连接",
            ) from None
        return b"".join(chunks)

    def _too_large(self) -> BodyTooLargeError:
        return BodyTooLargeError(
            f"request body is larger than {self.max_body} bytes (the base64 of a "
            f"{self.max_image_bytes}-byte image plus JSON); images must be under 20 MB",
            f"请求体超过{self.max_body}字节，图片须小于20MB",
        )

    async def _check(self, raw: bytes) -> CheckResult:
        """JSON parsing, base64 decoding (up to ~28 MB) and the check, off the event loop and
        in one inference slot, so the decoded copies of at most that many bodies exist at
        once; an ``image_url`` is fetched outside the slot (network time holds no core)."""
        judged = await anyio.to_thread.run_sync(
            self._parse_and_check, raw, limiter=self.inference_slots
        )
        if isinstance(judged, CheckResult):
            return judged
        assert judged.image_url is not None
        image = await run_in_threadpool(fetch_image, judged.image_url, self.url_policy)
        return await anyio.to_thread.run_sync(
            self.checker.check, image, judged.thresh, limiter=self.inference_slots
        )

    def _parse_and_check(self, raw: bytes) -> CheckResult | LivenessRequest:
        """The check of an ``image_base64`` body; the parsed request of an ``image_url`` one."""
        parsed = parse_request(raw, self.checker.default_thresh, self.max_image_bytes)
        if parsed.image is None:
            return parsed
        return self.checker.check(parsed.image, parsed.thresh)

    def _record(self, entry: RecentRequest, failed: bool) -> None:
        """Counts the answer; ``failed``: a not-live verdict, for the failed-attempt limit."""
        try:
            if failed:  # first: it guards against brute force, the usage count only reports
                self.limiter.record_failure(entry.key_id)
            self.store.record_request(entry)
        except Exception:  # the answer is already decided; a failed count must not change it
            log.exception("usage record failed", extra={"fields": {"key_id": entry.key_id}})


def _code(outcome: CheckResult | FaceliveError) -> int:
    if isinstance(outcome, FaceliveError):
        return outcome.code
    return result_code(outcome)
