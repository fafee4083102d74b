"""The console: a candidate page and a proctor dashboard, plain HTML/JS/CSS from server/web.

Everything the pages load comes from this server (no CDN; the CSP below forbids any other
origin), so they work on an offline network.  They talk to the REST API and to the plain
websockets (/ws/...).  The pages are shells without data, open to anyone: their scripts use
the key or token the user gives (after ``#`` in the link, kept in the tab, sent in a header)
and a short-lived ticket where only a URL will do (websockets, the report link).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

WEB = Path(__file__).resolve().parents[2] / "web"

# Same origin only: scripts, styles, sockets. data:/blob: for captured frames and the ID preview.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(prefix="/console", include_in_schema=False)


def _page(name: str) -> FileResponse:
    return FileResponse(WEB / name, media_type="text/html", headers=PAGE_HEADERS)


@router.get("")
async def console_index(request: Request):
    query = request.url.query  # keeps ?session=
    return RedirectResponse("/console/dashboard" + (f"?{query}" if query else ""))


@router.get("/candidate")
async def candidate_page():
    return _page("candidate.html")


@router.get("/dashboard")
async def dashboard_page():
    return _page("dashboard.html")


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=WEB / "static"), name="console-static")
