"""The operator console's JSON API under ``/admin/api``, behind ``FACELIVE_ADMIN_TOKEN``.

Unset token: every ``/admin`` path answers 404, exactly like a path that does not exist.
Set: each request needs ``Authorization: Bearer <token>``, compared in constant time; a
missing or wrong one is 401 with the contract's envelope (code 4010, ``msg``, ``msg_cn``).
Answers are envelopes too: ``{code: 200, ..., data}`` or an error with ``data: null``.
The handlers only adapt HTTP to ``facelive.auth.admin``, which ``facelive keys`` also uses.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from facelive.api.responses import envelope_response
from facelive.auth import admin
from facelive.auth.store import KeyStore
from facelive.errors import AuthError, FaceliveError, InvalidParameterError


class AdminAuthError(AuthError):
    default_msg = (
        "admin token missing or wrong: send 'Authorization: Bearer <FACELIVE_ADMIN_TOKEN>'"
    )
    default_msg_cn = "管理令牌缺失或错误：请发送 Authorization: Bearer <FACELIVE_ADMIN_TOKEN>"


def admin_enabled(request: Request) -> None:
    """404 unless the operator set an admin token (the console does not exist then)."""
    if request.app.state.settings.admin_token is None:
        raise StarletteHTTPException(404)


def require_admin(request: Request) -> None:
    admin_enabled(request)
    expected = request.app.state.settings.admin_token.get_secret_value().encode()
    scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise AdminAuthError()


router = APIRouter(
    prefix="/admin/api", dependencies=[Depends(require_admin)], include_in_schema=False
)


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


class Limits(BaseModel):
    """``None`` (or absent) puts a limit back to the server default."""

    model_config = ConfigDict(extra="forbid")
    rps: float | None = Field(default=None, gt=0)
    burst: int | None = Field(default=None, ge=1)
    daily_quota: int | None = Field(default=None, ge=1)


def _parse(model: type[BaseModel], raw: bytes) -> Any:
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidParameterError(problems[:300], "请求参数格式错误：" + problems[:300]) from None


async def _answer(request: Request, action: Callable[[KeyStore], Any]) -> Response:
    """Runs ``action`` on the key store off the event loop; answers its result as ``data``."""
    store: KeyStore = request.app.state.service.store
    request_id = str(request.state.request_id)
    try:
        data = await run_in_threadpool(action, store)
    except KeyError as exc:
        error = InvalidParameterError(f"no key with id {exc.args[0]!r}", "密钥不存在")
        return envelope_response(request_id, error, status=404)
    except ValueError as exc:  # the operator can fix it; the message says how
        return envelope_response(request_id, InvalidParameterError(str(exc), "参数无效"))
    body = {
        "code": 200,
        "msg": "ok",
        "msg_cn": "成功",
        "success": True,
        "request_id": request_id,
        "data": data,
    }
    return Response(orjson.dumps(body), media_type="application/json")


def _defaults(request: Request) -> dict[str, Any]:
    settings = request.app.state.settings
    return {
        "rps": settings.rate_limit_rps or None,
        "burst": settings.rate_limit_burst,
        "daily_quota": None,
        "recent_kept": settings.recent_requests,
    }


@router.get("/keys")
async def list_keys(request: Request) -> Response:
    defaults = _defaults(request)
    return await _answer(
        request, lambda store: {"keys": admin.list_keys(store), "defaults": defaults}
    )


@router.post("/keys")
async def create_key(request: Request) -> Response:
    body: NewKey = _parse(NewKey, await request.body())
    return await _answer(request, lambda store: admin.create_key(store, body.name))


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: str) -> Response:
    return await _answer(request, lambda store: admin.revoke_key(store, key_id))


@router.post("/keys/{key_id}/rotate")
async def rotate_key(request: Request, key_id: str) -> Response:
    return await _answer(request, lambda store: admin.rotate_key(store, key_id))


@router.put("/keys/{key_id}/limits")
async def set_limits(request: Request, key_id: str) -> Response:
    body: Limits = _parse(Limits, await request.body())
    return await _answer(
        request,
        lambda store: admin.set_limits(store, key_id, body.rps, body.burst, body.daily_quota),
    )


@router.get("/usage")
async def usage(request: Request, days: int = 14, key_id: str | None = None) -> Response:
    return await _answer(request, lambda store: admin.usage_report(store, key_id, days))


@router.get("/recent")
async def recent(request: Request, limit: int = 100, key_id: str | None = None) -> Response:
    return await _answer(request, lambda store: admin.recent_requests(store, limit, key_id))


async def facelive_error(request: Request, exc: Exception) -> Response:
    """Errors raised before a handler runs (the admin token, a malformed body)."""
    assert isinstance(exc, FaceliveError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthError) else None
    return envelope_response(str(request.state.request_id), exc, headers=headers)
