"""Builds the FastAPI app: settings -> store -> models -> inference pool -> service -> routers."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI

from . import __version__, allocator, realtime
from .api import errors, openapi_doc
from .api.auth import AccessGuard, AccessPolicy
from .api.routes import console, entry, health, jobs, sessions, timeline, videos
from .config import Settings, get_settings
from .security import logs
from .security.middleware import BodyGuard
from .security.origins import WebSocketOrigins, add_cors
from .security.setup import origin_policy
from .service.jobs import VideoJobs
from .service.sessions import ProctorService
from .service.summary import Summarizer
from .store import open_store
from .vision.pipeline import SharedModels
from .vision.pool import InferencePool

log = logging.getLogger("proctor")


def build_summarizer(settings: Settings, shared: SharedModels) -> Summarizer:
    spec = shared.specs.get("llm")
    if spec is None or not settings.llm_enabled:
        return Summarizer(None)
    from .llm.engine import LocalSummarizer

    engine = LocalSummarizer(
        shared.registry.path(spec),
        n_ctx=settings.llm_context,
        n_threads=settings.llm_threads,
        timeout_s=settings.llm_timeout_s,
        max_tokens=settings.llm_max_tokens,
        n_gpu_layers=settings.llm_gpu_layers,
    )
    return Summarizer(engine, provider_label="local-llama.cpp")


async def _reaper(service: ProctorService, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            ended = await service.end_idle_sessions()
            if ended:
                log.info("ended %d idle session(s): %s", len(ended), ", ".join(ended))
        except Exception:
            log.exception("idle-session reaper failed")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        tuned = allocator.tune(settings.malloc_mmap_threshold_mb, settings.malloc_trim_threshold_mb)
        store = open_store(settings.sqlalchemy_url)
        shared = await asyncio.to_thread(SharedModels.load, settings)
        for line in shared.describe().items():
            log.info("model %s: %s", line[0], line[1])
        pool = await asyncio.to_thread(
            InferencePool, shared, settings.inference_workers, settings.max_queue
        )
        summarizer = build_summarizer(settings, shared)
        service = ProctorService(settings, store, shared, pool, summarizer)
        app.state.settings = settings
        app.state.service = service
        video_jobs = VideoJobs(service, settings)
        await video_jobs.start()
        app.state.video_jobs = video_jobs
        app.state.video_enabled = True
        bus = realtime.make_bus(settings)  # PostgreSQL store: pushes reach every replica's clients
        await app.state.realtime.start(service, bus)
        reaper = asyncio.create_task(
            _reaper(service, max(5.0, min(60.0, settings.session_idle_timeout_s / 4 or 60)))
        )
        log.info(
            "proctor %s ready: providers %s, %d inference worker(s), store %s, pushes %s, malloc %s",
            __version__,
            shared.providers,
            settings.inference_workers,
            settings.sqlalchemy_url.split("@")[-1],
            "shared through PostgreSQL" if bus else "this process",
            tuned or "glibc default",
        )
        try:
            yield
        finally:
            reaper.cancel()
            await app.state.realtime.stop()
            await video_jobs.close()  # running jobs -> interrupted, before the pool goes
            await asyncio.to_thread(pool.close)
            summarizer.close()
            store.close()

    app = FastAPI(
        title="proctor",
        version=__version__,
        description="Offline interview proctoring: the Live Interview Proctoring API served from local models.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    errors.install(app)
    openapi_doc.install(app)  # 400 (not 422) and links between operations
    app.include_router(entry.router)  # GET / (start page), POST /api/tickets
    app.include_router(health.router)
    app.include_router(sessions.router)
    app.include_router(timeline.router)
    app.include_router(videos.router)
    app.include_router(jobs.router)
    app.state.access = AccessPolicy.from_settings(settings)
    realtime.install(app, settings, app.state.access)  # /ws/... here, Socket.IO in create_asgi
    console.install(app)
    # Inside out: strict JSON and slow bodies, body size, who, browser origins.
    app.add_middleware(BodyGuard, idle_timeout_s=settings.body_idle_timeout_s)
    app.add_middleware(
        errors.BodyLimit,
        limit=settings.max_body_bytes,
        path_limits={"/api/videos/analyze": settings.max_upload_bytes},
    )
    app.add_middleware(AccessGuard, policy=app.state.access)
    origins = origin_policy(settings)
    app.add_middleware(WebSocketOrigins, policy=origins)
    add_cors(app, origins)  # outermost: even a 401 or 413 carries its CORS headers
    app.state.origins = origins
    return app


def create_asgi(settings: Settings | None = None):
    """What `proctor serve` runs: the FastAPI app with Socket.IO at /socket.io/ in front."""
    app = create_app(settings)
    return app.state.realtime.asgi(app)


def run(host: str = "127.0.0.1", port: int = 5001) -> None:
    import uvicorn

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = uvicorn.Config(
        create_asgi(), host=host, port=port, log_level="info", timeout_graceful_shutdown=10
    )
    logs.install()  # after uvicorn set up its loggers: keys, tokens and tickets redacted
    uvicorn.Server(config).run()
