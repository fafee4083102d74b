"""/api/sessions: one router for the session resource and its sub-resources."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import HTMLResponse, Response

from ...reports.html import render_report_html
from ...reports.pdf import render_report_pdf
from ...security.limits import check_object, check_text, readable
from ...service.context import iso
from ..deps import AccessDep, ServiceDep, SettingsDep
from ..schemas import (
    AlertsResponse,
    DocumentStatusResponse,
    EndSessionResponse,
    ErrorResponse,
    FrameRequest,
    FrameResponse,
    MessageResponse,
    MetricsResponse,
    RegisterFaceRequest,
    RegisterFaceResponse,
    SessionListResponse,
    StartSessionRequest,
    StartSessionResponse,
    VerificationStatusResponse,
    VerifyDocumentRequest,
    VerifyDocumentResponse,
)

router = APIRouter(prefix="/api/sessions", tags=["sessions"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
    413: {"model": ErrorResponse},
    503: {"model": ErrorResponse},
}


def _ws_url(request: Request, settings) -> str:
    base = settings.public_base_url or str(request.base_url)
    base = base.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :] + "/socket.io/"
    return "ws://" + base.split("://", 1)[-1] + "/socket.io/"


@router.post("/start", response_model=StartSessionResponse, responses=ERRORS)
async def start_session(
    service: ServiceDep,
    settings: SettingsDep,
    access: AccessDep,
    request: Request,
    body: Annotated[StartSessionRequest | None, Body()] = None,
):
    job_data = body.job_data if body is not None else None
    if job_data is not None:  # bounded: kept with the session and shown in every listing
        job_data = check_object(job_data, "job_data")
    rec = await service.sessions.start(job_data)
    base = f"/api/sessions/{rec.id}"
    answer: dict[str, Any] = {
        "success": True,
        "session_id": rec.id,
        "status": rec.status,
        "start_time": iso(rec.start_time),
        "face_verification_required": True,
        "websocket_url": _ws_url(request, settings),
        "api_endpoints": {
            "verify_document": f"{base}/verify-document",
            "register_face": f"{base}/register-face",
            "analyze_frame": f"{base}/frame",
            "get_metrics": f"{base}/metrics",
            "get_alerts": f"{base}/alerts",
            "get_document_status": f"{base}/document-status",
            "get_verification_status": f"{base}/verification-status",
            "end_session": f"{base}/end",
            "get_report": f"{base}/report",
        },
        "verification_flow": [
            "1. verify_document - Upload ID document and capture live face",
            "2. register_face - Register face for continuous verification (auto if document verified)",
            "3. analyze_frame - Start interview with frame analysis",
        ],
    }
    if access.enabled:  # additive: the token that opens this session's endpoints and nothing else
        answer["candidate_token"] = access.candidate_token(rec.id)
    return answer


@router.post(
    "/{session_id}/verify-document", response_model=VerifyDocumentResponse, responses=ERRORS
)
async def verify_document(
    session_id: str,
    service: ServiceDep,
    body: Annotated[VerifyDocumentRequest | None, Body()] = None,
):
    body = body or VerifyDocumentRequest()
    check_text(body.document_type, "document_type", 40)
    check = await service.identity.verify_document(
        session_id, body.document, body.live_face, body.document_type
    )
    return {"success": True, **check.as_contract()}


@router.get(
    "/{session_id}/document-status", response_model=DocumentStatusResponse, responses=ERRORS
)
async def document_status(session_id: str, service: ServiceDep):
    status = await service.reads.document_status(session_id)
    return {"success": True, "session_id": session_id, **status.as_contract()}


@router.post("/{session_id}/register-face", response_model=RegisterFaceResponse, responses=ERRORS)
async def register_face(
    session_id: str, service: ServiceDep, body: Annotated[RegisterFaceRequest | None, Body()] = None
):
    registered = await service.identity.register_face(
        session_id, (body or RegisterFaceRequest()).face
    )
    return {"success": True, **registered.as_contract()}


@router.post("/{session_id}/reregister-face", response_model=RegisterFaceResponse, responses=ERRORS)
async def reregister_face(
    session_id: str,
    service: ServiceDep,
    request: Request,
    body: Annotated[RegisterFaceRequest | None, Body()] = None,
):
    """Replace the registered face: proctor key only (candidate tokens are refused by the
    access guard); with keys off it is as open as every other endpoint.  Recorded."""
    body = body or RegisterFaceRequest()
    principal = getattr(request.state, "principal", None)
    by = "proctor" if principal is not None and principal.role == "proctor" else "open access"
    reason = (body.model_extra or {}).get("reason")
    registered = await service.identity.reregister_face(session_id, body.face, by, reason)
    return {"success": True, **registered.as_contract()}


@router.get(
    "/{session_id}/verification-status", response_model=VerificationStatusResponse, responses=ERRORS
)
async def verification_status(session_id: str, service: ServiceDep):
    status = await service.reads.verification_status(session_id)
    return {"success": True, "session_id": session_id, **status.as_contract()}


@router.post("/{session_id}/frame", response_model=FrameResponse, responses=ERRORS)
async def analyze_frame(
    session_id: str, service: ServiceDep, body: Annotated[FrameRequest | None, Body()] = None
):
    result = await service.frames.analyse_frame(session_id, (body or FrameRequest()).frame)
    return {"success": True, "session_id": session_id, "result": result.as_contract()}


@router.get("/{session_id}/metrics", response_model=MetricsResponse, responses=ERRORS)
async def metrics(session_id: str, service: ServiceDep):
    metrics = await service.reads.metrics(session_id)
    return {"success": True, "session_id": session_id, "metrics": metrics}


@router.get("/{session_id}/alerts", response_model=AlertsResponse, responses=ERRORS)
async def alerts(session_id: str, service: ServiceDep):
    items = await service.reads.alerts(session_id)
    return {"success": True, "session_id": session_id, "total_alerts": len(items), "alerts": items}


@router.post("/{session_id}/end", response_model=EndSessionResponse, responses=ERRORS)
async def end_session(session_id: str, service: ServiceDep):
    report = readable((await service.sessions.end(session_id)).as_contract())
    return {"success": True, "session_id": session_id, "report": report}


@router.get("/{session_id}/report", responses={**ERRORS, 409: {"model": ErrorResponse}})
async def get_report(
    session_id: str,
    service: ServiceDep,
    format: Annotated[str, Query(pattern="^(json|html|pdf)$")] = "json",
):
    # readable(): a report stored before the input limits still renders in every format
    report = readable((await service.reads.report(session_id)).as_contract())
    if format == "html":
        return HTMLResponse(await asyncio.to_thread(render_report_html, report))
    if format == "pdf":
        pdf = await asyncio.to_thread(render_report_pdf, report)
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="report-{session_id}.pdf"'},
        )
    return {"success": True, "session_id": session_id, "report": report}


@router.get("", response_model=SessionListResponse)
async def list_sessions(service: ServiceDep):
    rows = await service.reads.list_sessions()
    sessions = [
        {
            "session_id": r.id,
            "is_active": r.is_active,
            "start_time": iso(r.start_time),
            "frames_analyzed": r.frames_analyzed,
            "alert_count": r.alert_count,
            "status": r.status,
            "end_reason": r.end_reason,
            "total_frames_received": r.frames_received,
            "face_registered": r.registration is not None,
            "job_data": readable(r.job_data),  # a row stored before the limits still lists
            "kind": r.kind,  # live | video (POST /comprehensive-interview-analysis, jobs, analyze-video)
        }
        for r in rows
    ]
    return {"success": True, "total_sessions": len(sessions), "sessions": sessions}


@router.delete("/{session_id}", response_model=MessageResponse, responses=ERRORS)
async def delete_session(session_id: str, service: ServiceDep):
    await service.sessions.delete(session_id)
    return {"success": True, "message": "Session deleted successfully"}
