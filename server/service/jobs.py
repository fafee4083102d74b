"""The video job queue: every video analysis, sync or async, is a stored job.

- ``submit*`` checks the source (400 before anything is stored), then stores a ``queued`` job.
- A dispatcher claims queued jobs from the store, ``PROCTOR_VIDEO_JOBS_CONCURRENCY`` at a
  time (default 1); more wait ``queued``.  A job's frames go to the inference pool at batch
  priority, one at a time, so live frames always find a worker first.
- Progress (frames done / total, ETA) is written to the job at most once a second.
- A running job is leased to this process (``queue.held``: heartbeat, owner id).  On SQLite,
  jobs whose owner died (lease expired) become ``interrupted``, at start-up and while
  polling; a job under a live lease is another process's and is never touched.  On
  PostgreSQL they are taken over and continue instead, and jobs travel through
  procrastinate to ``proctor worker`` processes (``queue.py``).  On shutdown, running jobs
  are marked ``interrupted`` (SQLite) or queued again for another process (PostgreSQL).
  ``resume`` queues a failed or interrupted job again: it continues its unfinished
  session after the last stored frame, or starts over if that session is gone.
- A synchronous request is a job it waits for, so it queues like the others and a
  restart during it leaves a resumable job instead of nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from ..config import Settings
from ..store import JobRecord
from ..store.jobs import DONE, FAILED, INTERRUPTED, QUEUED, RESUMABLE, RUNNING
from ..vision.video import VideoError
from .context import iso, utcnow
from .errors import ServiceError
from .proctor import ProctorService
from .queue import LeaseLost, ProcrastinateQueue, held, new_owner_id, queue_kind
from .video import (
    VideoAnalysis,
    VideoParams,
    VideoSourceError,
    check_remote,
    download,
    is_remote,
    new_job_id,
    probe_or_refuse,
    public_name,
    remove_quietly,
    resolve_media_path,
    staging_dir,
    suffix_for,
)

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 1.0
POLL_S = 5.0  # also picks up jobs queued by another replica on a shared database
MSG_INTERRUPTED_RESTART = (
    "The server stopped while this job was running; resume it with POST /api/jobs/{id}/resume"
)


class JobNotFound(ServiceError):
    status = 404

    def __init__(self):
        super().__init__("Job not found")


class VideoJobs:
    def __init__(
        self,
        service: ProctorService,
        settings: Settings,
        concurrency: int | None = None,
        role: str = "serve",
    ):
        self.service = service
        self.store = service.ctx.store
        self.settings = settings
        self.analysis = VideoAnalysis(service)
        self.concurrency = max(
            0, settings.video_jobs_concurrency if concurrency is None else concurrency
        )
        self._tasks: dict[str, asyncio.Task] = {}
        self._events: dict[str, asyncio.Event] = {}
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task | None = None
        self.interrupted_at_start: list[str] = []
        self.owner = new_owner_id(role)
        self.lease_s = settings.job_lease_s
        # PostgreSQL: a dead owner's job is taken over; SQLite: interrupted, resumed by hand
        self.take_over = settings.sqlalchemy_url.startswith("postgresql")
        self.queue: ProcrastinateQueue | None = None
        self._worker: asyncio.Task | None = None

    # --- life cycle ------------------------------------------------------------------------
    async def start(self) -> None:
        if queue_kind(self.settings) == "procrastinate":
            self.queue = ProcrastinateQueue(
                self.settings, self.store, self._run_delivered, self.owner
            )
            await self.queue.open()
            if self.concurrency > 0:
                self._worker = asyncio.create_task(
                    self.queue.work(self.concurrency), name="video-jobs"
                )
            return
        if self.concurrency == 0:  # this replica takes requests; another one runs the jobs
            return
        if not self.take_over:
            self.interrupted_at_start = await self._interrupt_orphans()
        if self.interrupted_at_start:
            log.warning(
                "%d video job(s) were interrupted by a restart: %s",
                len(self.interrupted_at_start),
                ", ".join(self.interrupted_at_start),
            )
        self._dispatcher = asyncio.create_task(self._dispatch(), name="video-jobs")

    async def close(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
        if self._worker is not None:
            self._worker.cancel()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        loops = [t for t in (self._dispatcher, self._worker) if t is not None]
        await asyncio.gather(*tasks, *loops, return_exceptions=True)
        if self.queue is not None:
            await self.queue.close()

    async def _interrupt_orphans(self) -> list[str]:
        """Running jobs whose owner died -> interrupted (SQLite: nobody takes them over)."""
        ids = await asyncio.to_thread(
            self.store.interrupt_running_jobs, utcnow(), MSG_INTERRUPTED_RESTART, self.lease_s
        )
        if ids:
            log.warning("video job(s) whose process stopped, now interrupted: %s", ", ".join(ids))
        return ids

    async def _dispatch(self) -> None:
        while True:
            self._wake.clear()
            try:
                if not self.take_over:
                    await self._interrupt_orphans()
                while len(self._tasks) < self.concurrency:
                    job = await asyncio.to_thread(
                        self.store.claim_next_job,
                        utcnow(),
                        "video",
                        self.owner,
                        self.lease_s,
                        self.take_over,
                    )
                    if job is None:
                        break
                    self._tasks[job.id] = asyncio.create_task(
                        self._run(job), name=f"video-job-{job.id}"
                    )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("video job dispatcher failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=POLL_S)

    # --- one job -----------------------------------------------------------------------------
    async def _run_delivered(self, job_id: str, attempts_before: int) -> None:
        """A procrastinate delivery: run the job unless it is done or another process holds it
        (the sweeper delivers it again if that process dies)."""
        job = await asyncio.to_thread(
            self.store.claim_job, job_id, utcnow(), self.owner, self.lease_s, True
        )
        if job is None:
            return
        assert self.queue is not None
        await self._run(job, final=attempts_before >= self.queue.max_attempts)

    async def _run(self, job: JobRecord, final: bool = True) -> None:
        """``final``: an internal error fails the job; otherwise it is queued again and raised
        (procrastinate retries it with backoff)."""
        params = VideoParams.from_dict(job.params)
        started = time.monotonic()
        first_done: int | None = None
        last_write = 0.0

        async def on_session(session_id: str) -> None:
            await asyncio.to_thread(self.store.set_job_session, job.id, session_id, utcnow())

        async def on_progress(done: int, total: int) -> None:
            nonlocal first_done, last_write
            now = time.monotonic()
            if first_done is None:
                first_done = done - 1  # frames a resumed job had before this run
            ran = done - first_done
            eta = (now - started) / ran * (total - done) if ran > 0 else None
            if now - last_write >= PROGRESS_EVERY_S or done >= total:
                last_write = now
                await asyncio.to_thread(
                    self.store.job_progress,
                    job.id,
                    done,
                    total,
                    eta,
                    utcnow(),
                    self.owner,
                    self.lease_s,
                )

        # Not the source: an upload's file name or a URL path may carry the candidate's name.
        log.info("video job %s: every %d frame(s)", job.id, params.frame_interval)
        try:
            if not Path(job.path).is_file():
                raise VideoError("The video file of this job is gone; submit the video again")
            async with held(self.store, job.id, self.owner, self.lease_s):
                await self.analysis.run(
                    Path(job.path),
                    params,
                    source=job.source,
                    session_id=job.session_id,
                    on_session=on_session,
                    on_progress=on_progress,
                )
            await asyncio.to_thread(self.store.finish_job, job.id, DONE, utcnow(), None, self.owner)
            if job.owns_file:
                remove_quietly(Path(job.path))
            log.info("video job %s done in %.1f s", job.id, time.monotonic() - started)
        except LeaseLost:
            log.warning("video job %s: its lease was taken over; another process runs it", job.id)
        except asyncio.CancelledError:
            # Shutting down: blocking is fine here, and the job must not stay "running".
            if self.take_over:  # another replica or worker continues it from its last frame
                self.store.release_job(job.id, self.owner, utcnow())
            else:
                self.store.finish_job(
                    job.id,
                    INTERRUPTED,
                    utcnow(),
                    "The server stopped during the analysis",
                    self.owner,
                )
            raise
        except (VideoError, ServiceError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            log.warning("video job %s failed: %s", job.id, message)
            await asyncio.to_thread(
                self.store.finish_job, job.id, FAILED, utcnow(), message, self.owner
            )
        except Exception as exc:
            log.exception("video job %s failed", job.id)
            if not final:  # queued again; procrastinate delivers it again after a backoff
                await asyncio.to_thread(self.store.release_job, job.id, self.owner, utcnow())
                raise
            await asyncio.to_thread(
                self.store.finish_job,
                job.id,
                FAILED,
                utcnow(),
                f"Internal error: {type(exc).__name__}",
                self.owner,
            )
        finally:
            self._tasks.pop(job.id, None)
            event = self._events.pop(job.id, None)
            if event is not None:
                event.set()
            self._wake.set()

    # --- submitting ----------------------------------------------------------------------------
    async def submit_url(self, video_url, params: VideoParams) -> JobRecord:
        """A ``video_url`` of the reference request -> a queued job (400 for anything not allowed)."""
        if not isinstance(video_url, str) or not video_url.strip():
            raise VideoSourceError("No video_url provided")
        video_url = video_url.strip()
        if is_remote(video_url):
            check_remote(video_url, self.settings)
            job_id = new_job_id()
            dest = staging_dir(self.settings) / f"{job_id}{suffix_for(video_url)}"
            try:
                await asyncio.to_thread(download, video_url, dest, self.settings)
            except BaseException:
                remove_quietly(dest)
                raise
            return await self.submit(
                dest, params, source=public_name(video_url), owns_file=True, job_id=job_id
            )
        path, name = resolve_media_path(video_url, self.settings.media_root)
        return await self.submit(path, params, source=name, owns_file=False)

    async def submit(
        self,
        path: Path,
        params: VideoParams,
        *,
        source: str,
        owns_file: bool,
        job_id: str | None = None,
    ) -> JobRecord:
        try:
            info = await probe_or_refuse(path, self.settings)
        except BaseException:
            if owns_file:
                remove_quietly(path)
            raise
        now = utcnow()
        job = JobRecord(
            id=job_id or new_job_id(),
            kind="video",
            state=QUEUED,
            source=source,
            path=str(path),
            owns_file=owns_file,
            params=params.as_dict(),
            created_at=now,
            updated_at=now,
            frames_total=info.frames_to_analyse(params.frame_interval),
        )
        await asyncio.to_thread(self.store.create_job, job)
        await self._deliver(job.id)
        return job

    async def _deliver(self, job_id: str) -> None:
        if self.queue is None:
            self._wake.set()
            return
        try:
            await self.queue.defer(job_id)
        except Exception:  # stored as queued: the sweeper delivers it later
            log.warning("video job %s: delivery failed; the sweeper retries", job_id, exc_info=True)

    # --- reading and steering -------------------------------------------------------------------
    async def get(self, job_id: str) -> JobRecord:
        job = await asyncio.to_thread(self.store.get_job, job_id)
        if job is None:
            raise JobNotFound()
        return job

    async def list(self, limit: int = 100, state: str | None = None) -> list[JobRecord]:
        return await asyncio.to_thread(self.store.list_jobs, limit, state)

    async def wait(self, job_id: str) -> JobRecord:
        """Until the job is no longer queued or running."""
        while True:
            event = self._events.setdefault(
                job_id, asyncio.Event()
            )  # before the read: no missed wake-up
            job = await asyncio.to_thread(self.store.get_job, job_id)
            if job is None or job.state not in (QUEUED, RUNNING):
                if job_id not in self._tasks:  # nothing will set it: do not keep it
                    self._events.pop(job_id, None)
                if job is None:
                    raise JobNotFound()
                return job
            # a job another process runs only shows in the store: look more often
            poll = POLL_S if job_id in self._tasks else 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=poll)

    async def resume(self, job_id: str) -> JobRecord:
        job = await self.get(job_id)
        if job.state not in RESUMABLE:
            raise ServiceError(
                f"Job is {job.state}; only failed or interrupted jobs can be resumed", status=409
            )
        if not Path(job.path).is_file():
            raise ServiceError(
                "The video file of this job is gone; submit the video again", status=409
            )
        if not await asyncio.to_thread(self.store.requeue_job, job_id, utcnow()):
            raise ServiceError("Job changed meanwhile; read it again", status=409)
        await self._deliver(job_id)
        # As requeued (the dispatcher may already be running it by the time it is read back).
        job.state, job.finished_at, job.eta_seconds, job.error = QUEUED, None, None, None
        return job

    async def delete(self, job_id: str) -> None:
        job = await self.get(job_id)
        if job.state in (QUEUED, RUNNING):
            raise ServiceError(
                f"Job is {job.state}; it can be deleted once it has finished", status=409
            )
        if await asyncio.to_thread(self.store.delete_job, job_id) and job.owns_file:
            remove_quietly(Path(job.path))

    async def report(self, job: JobRecord) -> dict | None:
        if job.state != DONE or not job.session_id:
            return None
        session = await asyncio.to_thread(self.store.get_session, job.session_id)
        return session.report if session is not None else None

    async def result(self, job: JobRecord) -> dict:
        """The finished job as the reference's answer (``{"success": true, "session_id", "report"}``)."""
        if job.state == DONE:
            report = await self.report(job)
            if report is None:
                raise ServiceError("The session of this job was deleted", status=410, job_id=job.id)
            return {
                "success": True,
                "session_id": job.session_id,
                "job_id": job.id,
                "report": report,
            }
        if job.state == INTERRUPTED:
            raise ServiceError(
                f"Video analysis interrupted: {job.error}", status=503, job_id=job.id
            )
        raise ServiceError(
            f"Video analysis failed: {job.error}",
            status=422 if job.state == FAILED else 500,
            job_id=job.id,
        )


def job_view(job: JobRecord) -> dict:
    """A job as the API shows it (without the report)."""
    total, done = job.frames_total, job.frames_done
    return {
        "job_id": job.id,
        "kind": job.kind,
        "state": job.state,
        "source": job.source,
        "session_id": job.session_id,
        "frame_interval": job.params.get("frame_interval"),
        "progress": {
            "frames_done": done,
            "frames_total": total,
            "percent": round(100.0 * done / total, 1) if total else None,
            "eta_seconds": round(job.eta_seconds, 1) if job.eta_seconds is not None else None,
        },
        "error": job.error,
        "attempts": job.attempts,
        "owner": job.owner,  # the replica or worker running it (host, pid)
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at) if job.started_at else None,
        "finished_at": iso(job.finished_at) if job.finished_at else None,
        "status_url": f"/api/jobs/{job.id}",
    }
