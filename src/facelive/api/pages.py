"""The two pages facelive serves itself: the demo at ``/`` and the operator console at
``/admin``. Plain HTML, CSS and JavaScript from ``api/static`` (package data): no build step,
no CDN, so they work on a machine with no internet.

Pages are sent with a strict Content-Security-Policy: scripts, styles and API calls only from
this server; images from ``data:``/``blob:`` (the photo being checked, which never leaves the
browser except in the API call).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from starlette.responses import FileResponse
from starlette.staticfiles import StaticFiles

from facelive.api.admin import admin_enabled

STATIC_DIR = Path(__file__).resolve().parent / "static"
ASSETS_PATH = "/ui"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC_DIR / name, media_type="text/html", headers=SECURITY_HEADERS)


@router.get("/")
async def demo() -> FileResponse:
    return _page("index.html")


@router.get("/admin", dependencies=[Depends(admin_enabled)])
async def console() -> FileResponse:
    return _page("admin.html")


def mount_pages(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(ASSETS_PATH, StaticFiles(directory=STATIC_DIR), name="ui")
