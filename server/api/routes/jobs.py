"""/api/jobs: background analyses (pre-recorded videos), their progress and their reports."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from ...service.jobs import VideoJobs, job_view
from ..schemas import ErrorResponse, MessageResponse, Open

router = APIRouter(prefix="/api/jobs", tags=["jobs"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
    409: {"model": ErrorResponse},
}


def get_video_jobs(request: Request) -> VideoJobs:
    return request.app.state.video_jobs


JobsDep = Annotated[VideoJobs, Depends(get_video_jobs)]


class JobProgress(Open):
    frames_done: int
    frames_total: int
    percent: float | None = None
    eta_seconds: float | None = None


class JobItem(Open):
    job_id: str
    state: str
    source: str
    session_id: str | None = None
    frame_interval: int | None = None
    progress: JobProgress
    error: str | None = None
    created_at: str
    status_url: str


class JobView(JobItem):
    success: bool = True


class JobResponse(JobView):
    report: dict[str, Any] | None = None


class JobListResponse(Open):
    success: bool
    total_jobs: int
    jobs: list[JobItem]


def accepted(job) -> JSONResponse:
    view = job_view(job)
    return JSONResponse(
        {"success": True, **view}, status_code=202, headers={"Location": view["status_url"]}
    )


@router.get("", response_model=JobListResponse, responses=ERRORS)
async def list_jobs(
    jobs: JobsDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    state: Annotated[
        str | None, Query(pattern="^(queued|running|done|failed|interrupted)$")
    ] = None,
):
    rows = await jobs.list(limit, state)
    return {"success": True, "total_jobs": len(rows), "jobs": [job_view(j) for j in rows]}


@router.get("/{job_id}", response_model=JobResponse, responses=ERRORS)
async def get_job(job_id: str, jobs: JobsDep):
    job = await jobs.get(job_id)
    return {"success": True, **job_view(job), "report": await jobs.report(job)}


@router.post("/{job_id}/resume", status_code=202, response_model=JobView, responses=ERRORS)
async def resume_job(job_id: str, jobs: JobsDep):
    return accepted(await jobs.resume(job_id))


@router.delete("/{job_id}", response_model=MessageResponse, responses=ERRORS)
async def delete_job(job_id: str, jobs: JobsDep):
    await jobs.delete(job_id)
    return {
        "success": True,
        "message": "Job deleted (its session stays; DELETE /api/sessions/{id} removes it)",
    }
