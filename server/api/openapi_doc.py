"""The OpenAPI document says what the server really returns, and how operations chain.

- FastAPI documents a 422 for every operation with a body or parameters; this server answers
  every invalid request with a 400 in the contract's shape (api/errors.py), so the 422s
  become 400s with that schema, and every operation documents its 400 and 503.
- Links (OpenAPI 3 ``links``): the session id that session start returns feeds every
  ``/api/sessions/{session_id}...`` operation, the job id of a 202 feeds the job
  operations.  Clients and generators (schemathesis's stateful runs) follow them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from ..security.limits import JOB_DATA

ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
ERROR_SCHEMA = {
    "title": "ErrorResponse",
    "type": "object",
    "properties": {
        "success": {"type": "boolean", "default": False},
        "error": {"type": "string"},
    },
    "required": ["error"],
}
ERROR_TEXT = {400: "Invalid request", 503: "Busy or the store is unavailable (Retry-After)"}


def _error_response(status: int) -> dict:
    return {
        "description": ERROR_TEXT.get(status, "Error"),
        "content": {"application/json": {"schema": ERROR_REF}},
    }


def shape(doc: dict[str, Any]) -> dict[str, Any]:
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("ErrorResponse", ERROR_SCHEMA)
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    by_param: dict[str, list[tuple[str, dict]]] = {"session_id": [], "job_id": []}
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses = op["responses"]
            responses.pop("422", None)
            if path.startswith("/api/") or path == "/comprehensive-interview-analysis":
                for status in (400, 503):
                    responses.setdefault(str(status), _error_response(status))
            for name in by_param:
                if "{" + name + "}" in path:
                    by_param[name].append((method, op))
    # Free-form job data: an object within security.limits.JOB_DATA, or null.
    for model, field in (("StartSessionRequest", "job_data"), ("VideoAnalysisRequest", "jobData")):
        prop = components.get(model, {}).get("properties", {}).get(field)
        if prop is not None:
            prop["anyOf"] = [
                {"type": "object", "maxProperties": JOB_DATA.max_keys},
                {"type": "null"},
            ]
    start = doc["paths"].get("/api/sessions/start", {}).get("post")
    if start is not None:
        start["responses"]["200"]["links"] = {
            op["operationId"]: {
                "operationId": op["operationId"],
                "parameters": {"session_id": "$response.body#/session_id"},
            }
            for _, op in by_param["session_id"]
        }
    for path in ("/comprehensive-interview-analysis", "/api/videos/analyze"):
        op = doc["paths"].get(path, {}).get("post")
        if op is None:
            continue
        for code in ("200", "202"):
            if code in op["responses"]:
                key = "job_id"
                op["responses"][code]["links"] = {
                    job["operationId"]: {
                        "operationId": job["operationId"],
                        "parameters": {key: f"$response.body#/{key}"},
                    }
                    for _, job in by_param["job_id"]
                }
    return doc


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = shape(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
