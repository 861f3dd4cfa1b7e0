"""``create_app(settings)``: the FastAPI application. Nothing heavy happens at import time;
models and the key store are loaded in the lifespan, once per worker process."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facelive import __version__
from facelive.api import admin, request_log
from facelive.api.connection import CloseUnreadBody
from facelive.api.cores import available_cores, checks_per_worker, worker_count
from facelive.api.memory import return_freed_memory
from facelive.api.metrics import Metrics
from facelive.api.pages import mount_pages
from facelive.api.request_body import max_body_bytes
from facelive.api.responses import envelope_response
from facelive.api.routes import router
from facelive.api.service import LivenessService
from facelive.auth.rate_limit import LimitPolicy, SharedLimiter
from facelive.auth.schemes import Authenticator
from facelive.auth.setup import open_key_store
from facelive.envelope import new_request_id
from facelive.errors import (
    FaceliveError,
    InternalError,
    InvalidParameterError,
    ShuttingDownError,
)
from facelive.remote_image import UrlPolicy
from facelive.settings import Settings

log = logging.getLogger("facelive.request")


class RequestContext:
    """Gives every HTTP request an id (``X-Request-Id``) and writes its one log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-Id"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except asyncio.CancelledError:
            # uvicorn cancels what still runs when the shutdown grace ends; answer with the
            # envelope rather than its bare text 500. The task ends here, as uvicorn wants.
            if status is not None:
                raise
            state["code"] = ShuttingDownError.code
            await envelope_response(request_id, ShuttingDownError())(scope, receive, send_with_id)
        finally:
            times = state.get("times")
            fields = {
                "request_id": request_id,
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status or 500,
                "code": state.get("code"),
                "key_id": state.get("key_id"),
                # Which worker process answered: with several workers, or several servers
                # on one database, this tells where a request went.
                "pid": os.getpid(),
                "ms": round((time.perf_counter() - started) * 1000, 2),
            }
            if times is not None:
                fields["stages_ms"] = {
                    "decode": times.decode_ms,
                    "detect": times.detect_ms,
                    "crop": times.crop_ms,
                    "models": times.models_ms,
                }
            log.info("request", extra={"fields": fields})


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", None) or new_request_id())


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        error = InvalidParameterError(
            f"method {request.method} is not allowed here; use POST",
            f"不支持{request.method}请求方法，请使用POST",
        )
    elif exc.status_code == 404:
        error = InvalidParameterError(
            f"no such endpoint: {request.url.path}; use POST /api/face_liveness/v1",
            f"接口不存在：{request.url.path}，请使用 POST /api/face_liveness/v1",
        )
    else:
        error = InvalidParameterError(str(exc.detail)[:200])
    return envelope_response(_request_id(request), error, status=exc.status_code)


async def _validation_error(request: Request, exc: Exception) -> Response:
    return envelope_response(_request_id(request), InvalidParameterError())


async def _internal_error(request: Request, exc: Exception) -> Response:
    return envelope_response(_request_id(request), InternalError())


def _build_service(settings: Settings) -> LivenessService:
    cores = available_cores()  # a container's CPU limit, not the node's core count
    workers = worker_count(settings.workers, cores)
    # Each worker runs up to twice its share of the cores at once (cores.checks_per_worker),
    # one ONNX Runtime thread each unless FACELIVE_THREADS says otherwise.
    per_worker = checks_per_worker(cores, workers)
    threads = settings.threads or 1
    from facelive.pipeline.checker import LivenessChecker  # heavy (cv2, onnxruntime): not at import

    checker = LivenessChecker.from_settings(settings.model_copy(update={"threads": threads}))
    store = open_key_store(settings)
    return LivenessService(
        checker=checker,
        store=store,
        authenticator=Authenticator(store, settings.signature_window_s),
        limiter=SharedLimiter(store, LimitPolicy.from_settings(settings)),
        url_policy=UrlPolicy.from_allowlist(
            settings.url_allowlist,
            max_bytes=settings.max_image_bytes,
            timeout_s=settings.url_timeout_s,
            max_redirects=settings.url_max_redirects,
        ),
        inference_slots=anyio.CapacityLimiter(max(1, per_worker // threads)),
        metrics=Metrics(),
        max_image_bytes=settings.max_image_bytes,
        body_timeout_s=settings.body_timeout_s,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return_freed_memory()  # in every worker process, before any image is decoded

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        request_log.configure(settings.log_level)
        service = await run_in_threadpool(_build_service, settings)
        app.state.service = service
        app.state.ready = True
        try:
            yield
        finally:
            app.state.ready = False
            service.store.close()

    app = FastAPIOffline(
        title="facelive",
        version=__version__,
        description=(
            "Self-hosted face liveness detection, compatible with the face_liveness/v1 cloud "
            "API. / 人脸活体检测接口：判断上传的人脸是否为真实活体。"
        ),
        lifespan=lifespan,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.ready = False
    app.add_middleware(CloseUnreadBody, linger_max_bytes=max_body_bytes(settings.max_image_bytes))
    app.add_middleware(RequestContext)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(FaceliveError, admin.facelive_error)
    app.add_exception_handler(Exception, _internal_error)
    app.include_router(router)
    app.include_router(admin.router)
    mount_pages(app)
    _document_security(app)
    return app


def _document_security(app: FastAPI) -> None:
    """Describe the contract's two authentication schemes in the OpenAPI document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("components", {})["securitySchemes"] = {
                "APPCODE": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": (
                        "'APPCODE ' + AppCode (note the space). / 'APPCODE ' + 您的AppCode"
                    ),
                },
                "SignedHeaders": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "x-ca-key",
                    "description": (
                        "x-ca-key: AppKey; x-ca-timestamp: milliseconds since 1970 (UTC); "
                        "x-ca-signature: md5(app_key&timestamp&app_secret), hex. / 签名认证"
                    ),
                },
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def app_from_env() -> FastAPI:
    """Factory for uvicorn workers: settings come from the FACELIVE_* environment."""
    return create_app(Settings())
