"""Pre-recorded video analysis: the reference's POST /comprehensive-interview-analysis
(``video_url``) and POST /api/videos/analyze (the video as a multipart upload).

Both answer the end-of-session report, or with ``"async": true`` / ``Prefer:
respond-async`` a 202 and a job to poll at /api/jobs/{id}.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from pydantic import Field

from ...service.retention import StagingQuota
from ...service.video import (
    VideoSourceError,
    new_job_id,
    parse_params,
    remove_quietly,
    staging_dir,
    truthy,
)
from ..deps import SettingsDep
from ..schemas import EndSessionResponse, ErrorResponse, Open
from ..uploads import receive_upload
from .jobs import JobsDep, JobView, accepted

router = APIRouter(tags=["videos"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse},
    413: {"model": ErrorResponse},
    422: {"model": ErrorResponse},
    503: {"model": ErrorResponse},
}
RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    202: {"model": JobView, "description": "Queued (async): poll status_url"},
}


class VideoAnalysisRequest(Open):
    video_url: Any = Field(
        None,
        description="Path or file:// URL under PROCTOR_MEDIA_ROOT, or http(s) URL on an "
        "allowed host",
    )
    questionsWithAnswer: Any = Field(
        None, description="[{question, answer}]: answered count goes into the summary"
    )
    jobData: Any = Field(None, description="jobTitle, company, candidateName, ...")
    frame_interval: Any = Field(
        None, description="Analyse every Nth frame (default PROCTOR_VIDEO_FRAME_INTERVAL)"
    )
    llm_provider: Any = Field(
        None, description="openai | anthropic | local: always served by the local model"
    )
    async_: Any = Field(None, alias="async", description="true: answer 202 with a job id at once")


class VideoReportResponse(EndSessionResponse):
    job_id: str


def wants_async(flag, request: Request) -> bool:
    return truthy(flag) or "respond-async" in request.headers.get("prefer", "").lower()


async def answer(jobs, job, run_async: bool):
    if run_async:
        return accepted(job)
    return await jobs.result(await jobs.wait(job.id))


@router.post(
    "/comprehensive-interview-analysis", response_model=VideoReportResponse, responses=RESPONSES
)
async def comprehensive_interview_analysis(
    request: Request,
    jobs: JobsDep,
    settings: SettingsDep,
    body: Annotated[VideoAnalysisRequest | None, Body()] = None,
):
    raw = body.model_dump(by_alias=True) if body is not None else {}
    params = parse_params(raw, settings)
    job = await jobs.submit_url(raw.get("video_url"), params)
    return await answer(jobs, job, wants_async(raw.get("async"), request))


def _json_field(fields: dict, name: str):
    text = fields.get(name)
    if text is None or not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise VideoSourceError(f"{name} must be JSON") from None


@router.post(
    "/api/videos/analyze",
    response_model=VideoReportResponse,
    responses=RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["video"],
                        "properties": {
                            "video": {"type": "string", "format": "binary"},
                            "frame_interval": {"type": "integer"},
                            "jobData": {"type": "string", "description": "JSON object"},
                            "questionsWithAnswer": {"type": "string", "description": "JSON list"},
                            "llm_provider": {"type": "string"},
                            "async": {"type": "boolean"},
                        },
                    }
                }
            },
        }
    },
)
async def analyze_upload(request: Request, jobs: JobsDep, settings: SettingsDep):
    """The same analysis for a video sent as multipart form data (field ``video``), streamed to disk."""
    job_id = new_job_id()
    room = StagingQuota(settings).room()  # 507 when the staging quota or the disk is full
    upload = await receive_upload(
        request, staging_dir(settings) / f"{job_id}.upload", min(settings.max_upload_bytes, room)
    )
    try:
        if upload.path is None:
            raise VideoSourceError("No video file provided (multipart field 'video')")
        fields = upload.fields
        raw = {
            "frame_interval": fields.get("frame_interval"),
            "llm_provider": fields.get("llm_provider"),
            "jobData": _json_field(fields, "jobData"),
            "questionsWithAnswer": _json_field(fields, "questionsWithAnswer"),
        }
        params = parse_params(raw, settings)
    except BaseException:  # any refusal, error or cancellation: the file goes
        if upload.path is not None:
            remove_quietly(upload.path)
        raise
    job = await jobs.submit(
        upload.path, params, source=upload.filename or "upload", owns_file=True, job_id=job_id
    )
    return await answer(jobs, job, wants_async(fields.get("async"), request))
