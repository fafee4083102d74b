"""``GET /``: a start page with links to the consoles and the API docs; ``POST /api/tickets``.

A ticket (``tk_...``) is the short-lived stand-in for a key or token where a browser can
only use a URL: a websocket, a link to the report.  The caller proves who it is with a
header (``X-API-Key`` / ``Authorization: Bearer``, checked by the access guard) and gets a
ticket for the same rights, valid for PROCTOR_TICKET_TTL_S seconds.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ... import __version__
from ..schemas import ErrorResponse, Open

router = APIRouter()

START_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>proctor</title>
<link rel="icon" href="/console/static/favicon.svg">
<link rel="stylesheet" href="/console/static/console.css"></head>
<body class="gate"><main class="card gate-card"><h1>proctor {version}</h1>
<p>Offline interview proctoring: the Live Interview Proctoring API served from local models.</p>
<ul class="start-links">
<li><a href="/console/dashboard">Proctor dashboard</a>: live sessions, alerts, reports</li>
<li><a href="/console/candidate">Candidate page</a>: camera, identity check, interview</li>
<li><a href="/docs">API documentation</a> (<a href="/redoc">ReDoc</a>,
<a href="/openapi.json">OpenAPI</a>)</li>
<li><a href="/health">Health</a></li>
</ul>
<p class="muted">{access}</p></main></body></html>"""


@router.get("/", include_in_schema=False)
async def start_page(request: Request) -> HTMLResponse:
    keyed = request.app.state.access.enabled
    access = (
        "This server needs a proctor key (or a candidate's link) for everything but this page, "
        "the health check and the documentation."
        if keyed
        else "Access keys are off: anyone who reaches this server can use it."
    )
    return HTMLResponse(
        START_PAGE.format(version=__version__, access=access),
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


class TicketResponse(Open):
    success: bool
    ticket: str | None
    expires_in: float
    role: str


@router.post(
    "/api/tickets",
    response_model=TicketResponse,
    tags=["access"],
    responses={401: {"model": ErrorResponse}},
)
async def issue_ticket(request: Request):
    """A short-lived ticket for a websocket or link URL, with the rights of the caller's header."""
    access = request.app.state.access
    principal = getattr(request.state, "principal", None)
    if not access.enabled or principal is None:
        return {"success": True, "ticket": None, "expires_in": 0, "role": "open"}
    return {
        "success": True,
        "ticket": access.ticket(principal),
        "expires_in": access.ticket_ttl_s,
        "role": principal.role,
    }
