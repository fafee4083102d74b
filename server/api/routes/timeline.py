"""GET /api/sessions/{id}/timeline: per-frame similarity, metrics and alerts (an addition, for the dashboard)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ..deps import ServiceDep
from ..schemas import ErrorResponse

router = APIRouter(prefix="/api/sessions", tags=["sessions"])


@router.get("/{session_id}/timeline", responses={404: {"model": ErrorResponse}})
async def timeline(
    session_id: str,
    service: ServiceDep,
    last: Annotated[
        int | None, Query(ge=1, le=100_000, description="Only the last N frames")
    ] = None,
):
    frames = await service.reads.timeline(session_id, last)
    return {
        "success": True,
        "session_id": session_id,
        "total_frames": len(frames),
        "frames": frames,
    }
