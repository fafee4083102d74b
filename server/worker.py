"""``proctor worker``: runs video jobs only, no HTTP, so batch work scales apart from serving.

It builds the same runtime as the server (store, models, inference pool, service) and runs
the video job queue with its own concurrency: on PostgreSQL a procrastinate worker (with
the sweeper that re-delivers the jobs of dead workers), on SQLite the in-process poller.
SIGTERM or SIGINT stop it; a job it was running is queued again (PostgreSQL) for another
worker, which continues after the job's last stored frame.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from . import __version__
from .config import Settings

log = logging.getLogger("proctor.worker")


async def work(settings: Settings, concurrency: int) -> None:
    from .runtime import build_runtime
    from .service.jobs import VideoJobs

    runtime = await build_runtime(settings)
    jobs = VideoJobs(runtime.service, settings, concurrency=concurrency, role="worker")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await jobs.start()
        log.info(
            "proctor %s worker %s ready: %d job(s) at once, queue %s, providers %s",
            __version__,
            jobs.owner,
            concurrency,
            "procrastinate" if jobs.queue is not None else "local",
            runtime.models.providers,
        )
        await stop.wait()
        log.info("worker %s stopping", jobs.owner)
    finally:
        await jobs.close()  # before the pool goes: running jobs are handed back first
        await runtime.close()


def run(settings: Settings, concurrency: int) -> None:
    logging.basicConfig(  # force: `proctor` set WARNING before the command ran
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    asyncio.run(work(settings, max(1, concurrency)))
