"""Every failure answers ``{"success": false, "error": "..."}`` with a fitting status; never a bare 500."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..security.middleware import reply
from ..service.errors import Busy, ServiceError
from ..service.store_errors import RETRY_AFTER_S, TRANSIENT, StoreUnavailable

log = logging.getLogger(__name__)

# Field -> the contract's message for a missing or mistyped value.
MISSING_FIELD = {
    "frame": "No frame data provided",
    "face": "No face data provided",
    "document": "No document data provided",
    "live_face": "No live_face data provided",
}


def error_body(message: str, **extra) -> dict:
    body = {"success": False, "error": message}
    body.update(extra)
    return body


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(_req: Request, exc: ServiceError):
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Busy) else None
        return JSONResponse(
            error_body(exc.message, **exc.extra), status_code=exc.status, headers=headers
        )

    for transient in TRANSIENT:  # a store call outside the service's wrapper: still a 503

        @app.exception_handler(transient)
        async def store_unavailable(_req: Request, _exc: Exception):
            log.warning("store busy or unreachable", exc_info=_exc)
            return JSONResponse(
                error_body(StoreUnavailable().message),
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_req: Request, exc: RequestValidationError):
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            if err.get("type") == "json_invalid":
                return JSONResponse(error_body("Invalid JSON body"), status_code=400)
            for name, message in MISSING_FIELD.items():
                if name in loc:
                    return JSONResponse(error_body(message), status_code=400)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        if first.get("type") in ("model_attributes_type", "dict_type"):
            return JSONResponse(error_body("Request body must be a JSON object"), status_code=400)
        return JSONResponse(
            error_body(f"Invalid request: {where}: {first.get('msg', 'invalid')}"), status_code=400
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_req: Request, exc: StarletteHTTPException):
        message = exc.detail if isinstance(exc.detail, str) else "Request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = "Endpoint not found"
        if exc.status_code == 405:
            message = "Method not allowed"
        return JSONResponse(
            error_body(message), status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def unexpected(_req: Request, exc: Exception):
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(error_body("Internal server error"), status_code=500)


class BodyLimit:
    """ASGI middleware: 413 for a body over ``limit`` bytes (declared or streamed).

    ``path_limits`` gives paths that stream their body to disk (video uploads) their own limit.
    """

    def __init__(self, app, limit: int, path_limits: dict[str, int] | None = None):
        self.app = app
        self.limit = limit
        self.path_limits = path_limits or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.path_limits.get(scope.get("path", ""), self.limit)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    return await reply(send, 400, "Invalid Content-Length")
                if declared > limit:
                    return await reply(send, 413, self._message(limit))
        seen = 0
        started = False

        async def guarded_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge()
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracking_send)
        except _TooLarge:
            if not started:
                await reply(send, 413, self._message(limit))

    def _message(self, limit: int) -> str:
        return f"Request body too large (limit {limit // (1024 * 1024)} MB)"


class _TooLarge(Exception):
    pass
