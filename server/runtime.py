"""Assembles the parts once: settings -> store -> models -> inference pool -> summarizer ->
service -> (video jobs, idle clean-up, pushes).

The server's lifespan, ``proctor analyze-video`` and the benchmarks all build through
``build_runtime`` and take it down with ``Runtime.close`` (last built, first closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from . import allocator
from .config import Settings
from .realtime.bus import make_bus
from .realtime.hub import PushHub
from .security.setup import embedding_cipher
from .service.context import ServiceContext
from .service.jobs import VideoJobs
from .service.proctor import ProctorService
from .service.retention import purge_every, sweep_staging
from .service.summary import Summarizer
from .store import SessionStore, open_store
from .vision.pipeline import SharedModels
from .vision.pool import InferencePool

log = logging.getLogger(__name__)


def build_summarizer(
    settings: Settings, shared: SharedModels, wait_for_model: bool = False
) -> Summarizer:
    """The summary writer. ``wait_for_model``: no background summaries (the CLI waits for
    the model up to llm_timeout_s; the server answers after llm_budget_s)."""
    if shared.specs.get("llm") is None or not settings.llm_enabled:
        return Summarizer(None)
    from .llm.choice import choose_llm
    from .llm.engine import LocalSummarizer  # llama.cpp loads only when a model is configured

    # The largest default that fits in memory now (SmolLM2-135M otherwise); an operator's wins.
    spec, why = choose_llm(shared.registry, settings.llm_memory_margin_mb, settings.llm_model)
    if spec is None:
        return Summarizer(None)
    shared.specs["llm"] = spec
    log.info("summary model %s (%s)", spec.file, why)
    engine = LocalSummarizer(
        shared.registry.path(spec),
        n_ctx=settings.llm_context,
        n_threads=settings.llm_threads,
        timeout_s=settings.llm_timeout_s,
        max_tokens=settings.llm_max_tokens,
        n_gpu_layers=settings.llm_gpu_layers,
        repack=settings.llm_repack,
    )
    budget = None if wait_for_model else settings.llm_budget_s
    return Summarizer(engine, provider_label="local-llama.cpp", budget_s=budget)


@dataclass
class Runtime:
    settings: Settings
    store: SessionStore
    models: SharedModels
    pool: InferencePool
    summarizer: Summarizer
    service: ProctorService
    video_jobs: VideoJobs | None  # only when serving
    pushes_shared: bool  # pushes cross replicas through PostgreSQL
    malloc: dict[str, int] | None  # the allocator tuning applied, for the start-up line
    _closers: contextlib.AsyncExitStack = field(
        repr=False, default_factory=contextlib.AsyncExitStack
    )

    async def close(self) -> None:
        await self._closers.aclose()


def reap_every(settings: Settings) -> float:
    """How often idle sessions are looked for: a quarter of the timeout, 5 s to 60 s."""
    return max(5.0, min(60.0, settings.session_idle_timeout_s / 4 or 60))


async def build_runtime(
    settings: Settings,
    *,
    serving: bool = False,
    hub: PushHub | None = None,
    models: SharedModels | None = None,
) -> Runtime:
    """``serving``: also run the video job queue and the idle-session clean-up (the server);
    ``hub``: start it on the service (with the cross-replica bus when the store is
    PostgreSQL); ``models``: already loaded ones (benchmarks that time them apart)."""
    closers = contextlib.AsyncExitStack()
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        tuned = allocator.tune(settings.malloc_mmap_threshold_mb, settings.malloc_trim_threshold_mb)
        store = open_store(settings.sqlalchemy_url, settings.db_upgrade)
        closers.callback(store.close)
        store.embedding_cipher = embedding_cipher(settings)  # AES-GCM at rest (docs/security.md)
        if models is None:
            models = await asyncio.to_thread(SharedModels.load, settings)
        pool = await asyncio.to_thread(
            InferencePool, models, settings.inference_workers, settings.max_queue
        )
        closers.push_async_callback(asyncio.to_thread, pool.close)
        summarizer = build_summarizer(settings, models, wait_for_model=not serving)
        closers.callback(summarizer.close)
        service = ProctorService(ServiceContext(settings, store, models, pool, summarizer))
        video_jobs = None
        if serving:
            # Upload/download files of crashed or refused requests: no unfinished job names them.
            await asyncio.to_thread(sweep_staging, store, settings)
            video_jobs = VideoJobs(service, settings)
            await video_jobs.start()
            # running jobs -> interrupted, before the pool goes
            closers.push_async_callback(video_jobs.close)
        bus = None
        if hub is not None:
            bus = make_bus(settings)
            await hub.start(service, bus)
            closers.push_async_callback(hub.stop)
        if serving:
            reaper = asyncio.create_task(service.sessions.reap_idle(reap_every(settings)))
            closers.callback(reaper.cancel)
            if settings.retention_days > 0:
                purger = asyncio.create_task(purge_every(settings, store))
                closers.callback(purger.cancel)
    except BaseException:
        await closers.aclose()
        raise
    return Runtime(
        settings,
        store,
        models,
        pool,
        summarizer,
        service,
        video_jobs,
        pushes_shared=bus is not None,
        malloc=tuned,
        _closers=closers,
    )
