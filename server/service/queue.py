"""Who runs a video job, and how a job outlives the process running it.

- Every process has an ``owner`` id (host, pid, random).  A job it runs is leased to it:
  ``held`` renews the lease every third of ``PROCTOR_JOB_LEASE_S`` and cancels the job the
  moment the lease turns out to be someone else's (it expired and was taken over).
- ``local`` queue (SQLite, or PostgreSQL without procrastinate): the process polls the
  store for queued jobs.  On SQLite a job whose owner died becomes ``interrupted`` (resumed
  by ``POST /api/jobs/{id}/resume``, as before); on PostgreSQL it is taken over.
- ``procrastinate`` queue (PostgreSQL): ``submit`` stores the job and defers a
  procrastinate task naming it; ``proctor worker`` processes (and serving replicas with
  ``PROCTOR_VIDEO_JOBS_CONCURRENCY`` > 0) run procrastinate workers.  An internal error is
  retried with exponential backoff (``PROCTOR_JOB_RETRIES``, ``PROCTOR_JOB_RETRY_BACKOFF_S``);
  a bad video fails at once.  A sweeper re-delivers the jobs of dead workers (procrastinate's
  stalled jobs, and our rows whose lease expired) and queued rows whose delivery was lost.

A job taken over continues its session after the last stored frame (``VideoAnalysis.run``),
so a kill costs at most the frames in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

from ..config import Settings
from ..store import SessionStore

log = logging.getLogger(__name__)

TASK_NAME = "proctor.video_job"
QUEUE_NAME = "video"
RESUME_PRIORITY = 10  # a job taken over from a dead worker runs before new ones


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def new_owner_id(role: str = "serve") -> str:
    """This process, as job owners are named (host and pid say where to look)."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def queue_kind(settings: Settings) -> str:
    """``procrastinate`` or ``local`` for PROCTOR_JOB_QUEUE=auto|local|procrastinate."""
    postgres = settings.sqlalchemy_url.startswith("postgresql")
    if settings.job_queue == "local" or not postgres:
        if settings.job_queue == "procrastinate":
            raise ValueError("PROCTOR_JOB_QUEUE=procrastinate needs a PostgreSQL store")
        return "local"
    try:
        import procrastinate  # noqa: F401  (the postgres extra)
    except ImportError:
        if settings.job_queue == "procrastinate":
            raise
        log.warning("procrastinate is not installed: video jobs use the local queue")
        return "local"
    return "procrastinate"


class LeaseLost(Exception):
    """The job's lease was taken over: another process runs it now."""


@contextlib.asynccontextmanager
async def held(store: SessionStore, job_id: str, owner: str, lease_s: float) -> AsyncIterator[None]:
    """Keep the job's lease while the body runs; the body is cancelled (``LeaseLost``) when lost."""
    task = asyncio.current_task()
    lost = False

    async def beat() -> None:
        nonlocal lost
        while True:
            await asyncio.sleep(lease_s / 3)
            try:
                ok = await asyncio.to_thread(store.renew_lease, job_id, owner, utcnow(), lease_s)
            except Exception:  # database briefly away: keep trying until the lease runs out
                log.warning("video job %s: lease renewal failed; retrying", job_id, exc_info=True)
                continue
            if not ok:
                lost = True
                if task is not None:
                    task.cancel()
                return

    heartbeat = asyncio.create_task(beat(), name=f"lease-{job_id}")
    try:
        yield
    except asyncio.CancelledError:
        if lost and task is not None:
            task.uncancel()
            raise LeaseLost(job_id) from None
        raise
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat


def libpq_url(sqlalchemy_url: str) -> str:
    """postgresql+psycopg://... -> postgresql://... (what psycopg itself reads)."""
    scheme, rest = sqlalchemy_url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


class ProcrastinateQueue:
    """Video jobs delivered through procrastinate; ``run(job_id, attempts_before)`` does one."""

    def __init__(
        self,
        settings: Settings,
        store: SessionStore,
        run: Callable[[str, int], Awaitable[None]],
        owner: str,
    ):
        import procrastinate

        self.settings = settings
        self.store = store
        self.owner = owner
        self.app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(
                conninfo=libpq_url(settings.sqlalchemy_url), min_size=1, max_size=4
            )
        )
        self.max_attempts = max(0, settings.job_retries)
        retry = procrastinate.RetryStrategy(
            max_attempts=self.max_attempts,
            exponential_wait=max(0, int(settings.job_retry_backoff_s)),
            retry_exceptions=[Exception],
        )

        @self.app.task(name=TASK_NAME, queue=QUEUE_NAME, retry=retry, pass_context=True)
        async def video_job(context, job_id: str) -> None:
            await run(job_id, context.job.attempts)

        self.task = video_job
        self._opened = False

    async def open(self) -> None:
        await self.app.open_async()
        self._opened = True

    async def close(self) -> None:
        if self._opened:
            self._opened = False
            await self.app.close_async()

    async def defer(self, job_id: str, priority: int = 0) -> bool:
        """Deliver the job to a worker; False when a delivery is already waiting (enough)."""
        from procrastinate.exceptions import AlreadyEnqueued

        try:
            await self.task.configure(queueing_lock=f"job-{job_id}", priority=priority).defer_async(
                job_id=job_id
            )
        except AlreadyEnqueued:
            return False
        return True

    async def work(self, concurrency: int) -> None:
        """A procrastinate worker on the video queue, with the sweeper beside it, until cancelled."""
        lease = self.settings.job_lease_s
        sweeper = asyncio.create_task(self.sweep_forever(), name="video-job-sweeper")
        try:
            await self.app.run_worker_async(
                queues=[QUEUE_NAME],
                concurrency=max(1, concurrency),
                name=self.owner,
                install_signal_handlers=False,
                update_heartbeat_interval=max(1.0, lease / 3),
                stalled_worker_timeout=lease,
                fetch_job_polling_interval=min(5.0, max(1.0, lease / 3)),
                delete_jobs="successful",
            )
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    async def sweep(self) -> int:
        """Re-deliver what nobody will run otherwise; returns how many deliveries it made."""
        lease = self.settings.job_lease_s
        made = 0
        try:
            stalled = await self.app.job_manager.get_stalled_jobs(
                task_name=TASK_NAME, seconds_since_heartbeat=lease
            )
            for job in stalled:  # its worker stopped beating: hand the delivery to another
                with contextlib.suppress(Exception):
                    await self.app.job_manager.retry_job(job, priority=RESUME_PRIORITY)
                    made += 1
        except Exception:
            log.warning("stalled procrastinate jobs could not be read", exc_info=True)
        now = utcnow()
        expired = await asyncio.to_thread(self.store.expired_jobs, now, lease)
        waiting = await asyncio.to_thread(
            self.store.queued_since, now - dt.timedelta(seconds=max(lease, 10.0))
        )
        for job_id in expired:  # half done: ahead of jobs not started yet
            made += await self.defer(job_id, RESUME_PRIORITY)
        for job_id in waiting:
            made += await self.defer(job_id)
        return made

    async def sweep_forever(self) -> None:
        every = max(1.0, self.settings.job_lease_s / 2)
        while True:
            await asyncio.sleep(every)
            try:
                made = await self.sweep()
                if made:
                    log.info("video job sweeper: %d job(s) delivered again", made)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("video job sweeper failed; retrying")
