"""POST /api/sessions/{id}/audio: the live audio channel (docs/audio.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import Field

from ..deps import ServiceDep
from ..schemas import ErrorResponse, Open

router = APIRouter(prefix="/api/sessions", tags=["audio"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
    409: {"model": ErrorResponse},
    413: {"model": ErrorResponse},
    503: {"model": ErrorResponse},
}


class AudioRequest(Open):
    audio: Any = Field(
        None, description="Base64 WAV, 16-bit PCM, any rate (8-192 kHz), mono or stereo; 0.5-2 s"
    )
    timestamp: Any = Field(
        None, description="Seconds into the session at the chunk's first sample (default: now)"
    )


class AudioSegment(Open):
    start: float
    end: float
    role: str  # candidate | other | unknown


class AudioResponse(Open):
    success: bool = True
    session_id: str
    received_seconds: float
    heard_seconds: float
    candidate_enrolled: bool
    segments: list[AudioSegment]


@router.post("/{session_id}/audio", response_model=AudioResponse, responses=ERRORS)
async def hear_audio(
    session_id: str, service: ServiceDep, body: Annotated[AudioRequest | None, Body()] = None
):
    body = body or AudioRequest()
    return await service.listening.hear(session_id, body.audio, body.timestamp)
