"""GET /health (the reference's answer), /health/live and /health/ready (probes)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ... import __version__
from ...service.readiness import readiness
from ..deps import ServiceDep
from ..schemas import HealthResponse

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthResponse)
async def health(service: ServiceDep, request: Request):
    state = await service.reads.server_state()
    features = {
        # The reference's keys stay; their values say what this server really does.
        "aws_rekognition": False,
        "openai_llm": False,
        "anthropic_llm": False,
        "rest_api_enabled": True,
        "websocket_enabled": bool(getattr(request.app.state, "websocket_enabled", False)),
        "video_url_analysis": bool(getattr(request.app.state, "video_enabled", False)),
        # additions
        "face_verification": True,
        "local_llm": state["local_llm"],
        "offline": True,
    }
    return {
        "status": "healthy",
        "service": "Live Interview Analyzer API",
        "version": "2.0.0",
        "server": f"proctor {__version__}",
        "timestamp": dt.datetime.now(dt.UTC)
        .replace(tzinfo=None)
        .isoformat(timespec="microseconds"),
        "active_sessions": state["active_sessions"],
        "features": features,
        "models": state["models"],
        "execution_providers": state["execution_providers"],
        "inference_queue": state["inference_queue"],
    }


@router.get("/health/live")
async def live():
    """The process answers: a liveness probe restarts it only when this stops answering."""
    return {"status": "alive", "server": f"proctor {__version__}"}


@router.get("/health/ready")
async def ready(request: Request):
    """200 when this replica can serve (models warmed, database reachable, schema current),
    else 503 with the reason: a balancer or Kubernetes sends it nothing meanwhile."""
    ok, checks = await readiness(getattr(request.app.state, "runtime", None))
    if ok:
        return {"status": "ready", "checks": checks}
    body = {"success": False, "error": f"Not ready: {checks.get('reason')}", "checks": checks}
    return JSONResponse(body, status_code=503)
