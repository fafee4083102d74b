"""Builds the FastAPI app: routers, push channels and access guard; the lifespan builds the runtime."""

from __future__ import annotations

import contextlib
import logging

from fastapi import FastAPI

from . import __version__, realtime
from .access import AccessGuard, AccessPolicy
from .api import errors, openapi_doc
from .api.routes import audio, console, entry, health, jobs, sessions, timeline, videos
from .config import Settings, get_settings
from .runtime import build_runtime
from .security import logs
from .security.middleware import BodyGuard
from .security.origins import WebSocketOrigins, add_cors
from .security.setup import origin_policy

log = logging.getLogger("proctor")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        runtime = await build_runtime(settings, serving=True, hub=app.state.realtime.hub)
        for name, line in runtime.models.describe().items():
            log.info("model %s: %s", name, line)
        app.state.runtime = runtime
        app.state.service = runtime.service
        app.state.video_jobs = runtime.video_jobs
        app.state.video_enabled = True
        log.info(
            "proctor %s ready: providers %s, %d inference worker(s), store %s, pushes %s, malloc %s",
            __version__,
            runtime.models.providers,
            settings.inference_workers,
            settings.sqlalchemy_url.split("@")[-1],
            "shared through PostgreSQL" if runtime.pushes_shared else "this process",
            runtime.malloc or "glibc default",
        )
        try:
            yield
        finally:
            await runtime.close()

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
    app.include_router(audio.router)  # POST /api/sessions/{id}/audio (docs/audio.md)
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
