"""Routes: the contract's endpoint and the operations endpoints. Each handler is a few lines."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from facelive.api.metrics import CONTENT_TYPE
from facelive.api.schemas import LivenessRequestBody, LivenessResponse

LIVENESS_PATH = "/api/face_liveness/v1"

router = APIRouter()

_ENVELOPE = {"model": LivenessResponse}
_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": LivenessRequestBody.model_json_schema()}},
    },
    "security": [{"APPCODE": []}, {"SignedHeaders": []}],
}


@router.post(
    LIVENESS_PATH,
    summary="Face liveness check / 人脸活体检测",
    description=(
        "Authenticate with `Authorization: APPCODE <AppCode>`, or with `x-ca-key`, "
        "`x-ca-timestamp` (milliseconds, UTC) and `x-ca-signature` = "
        "md5(`app_key&timestamp&app_secret`). / 两种认证方式：APPCODE 或签名认证。"
    ),
    openapi_extra=_BODY,
    responses={
        200: {**_ENVELOPE, "description": "200 live, 4004 not live, 4005 poor face, 4002 no face"},
        400: {**_ENVELOPE, "description": "4001 bad image, 4003 image_url, 4006 parameter"},
        401: {**_ENVELOPE, "description": "4010 credentials, 4011 timestamp, 4012 replay"},
        413: {**_ENVELOPE, "description": "4001: request body over the size limit"},
        429: {**_ENVELOPE, "description": "4029 rate limit (see Retry-After)"},
        500: {**_ENVELOPE, "description": "5000 internal error"},
    },
    response_class=Response,
)
async def face_liveness(request: Request) -> Response:
    response: Response = await request.app.state.service.handle(request)
    return response


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Models loaded and key store reachable",
    responses={503: {"description": "Not ready: models loading or key store unreachable"}},
)
async def readyz(request: Request) -> JSONResponse:
    service = getattr(request.app.state, "service", None)
    database = service is not None and await run_in_threadpool(service.store.ping)
    ready = bool(request.app.state.ready and database)
    body = {"status": "ready" if ready else "not ready", "models": service is not None}
    return JSONResponse({**body, "database": database}, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> Response:
    return Response(request.app.state.service.metrics.render(), media_type=CONTENT_TYPE)
