"""What every use case shares: the parts (store, models, pool, summarizer) and per-session state.

Only the service package holds a ``ServiceContext``; the store is reached through it alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np

from ..config import Settings
from ..proctoring.alerts import AlertConfig
from ..proctoring.verification import load_scale
from ..store import SessionRecord, SessionStore
from ..vision.decode import ImageError, decode_image
from ..vision.pipeline import SharedModels, VerifiedFace
from ..vision.pool import LIVE, InferencePool, PoolBusy
from ..vision.schedule import SceneThumb, TextWatch
from . import messages
from .audio import AudioChannel
from .errors import Busy, ServiceError, SessionEnded, SessionNotFound
from .store_errors import TRANSIENT, StoreUnavailable
from .summary import Summarizer

log = logging.getLogger(__name__)

# (session_id, event, payload): the push hub is one; events are listed in docs/realtime.md
Listener = Callable[[str, str, dict], None]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="microseconds")


class ServiceContext:
    def __init__(
        self,
        settings: Settings,
        store: SessionStore,
        models: SharedModels,
        pool: InferencePool,
        summarizer: Summarizer,
    ):
        self.settings = settings
        self.store = store
        self.models = models
        self.pool = pool
        self.summarizer = summarizer
        summarizer.attach(self)  # summaries finished after the end update the stored report
        self.scale = load_scale(models.specs["face_embedder"].family)
        self.alert_config = AlertConfig.from_settings(settings)
        self.locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)  # one writer per session
        self.thumbs: dict[str, SceneThumb] = {}  # last frame's thumbnail: scene changes
        self.verified: dict[str, tuple[float, VerifiedFace]] = {}  # (time, last verified face)
        self.text_watch: dict[str, TextWatch] = {}  # last OCR run: when OCR may wait
        self.listeners: list[Listener] = []
        self.audio = AudioChannel(settings)  # live listeners and video audio (docs/audio.md)

    async def db(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A store call, off the event loop; a locked or unreachable store is a 503."""
        try:
            return await asyncio.to_thread(fn, *args)
        except TRANSIENT:
            log.warning("store busy or unreachable", exc_info=True)
            raise StoreUnavailable() from None

    @contextlib.asynccontextmanager
    async def hold(self, session_id: str) -> AsyncIterator[None]:
        """The session's lock (its requests run in turn), waited for PROCTOR_LOCK_WAIT_S at most."""
        lock = self.locks[session_id]
        try:
            await asyncio.wait_for(lock.acquire(), self.settings.lock_wait_s or None)
        except TimeoutError:
            raise Busy(messages.SESSION_BUSY, retry_after=2) from None
        try:
            yield
        finally:
            lock.release()

    async def session(self, session_id: str, active: bool = False) -> SessionRecord:
        rec = await self.db(self.store.get_session, session_id)
        if rec is None:
            raise SessionNotFound()
        if active and not rec.is_active:
            raise SessionEnded()
        return rec

    async def infer(self, fn: Callable[..., Any], priority: int = LIVE) -> Any:
        """``fn(pipeline)`` on an inference worker; a full queue is a 503."""
        try:
            return await self.pool.run(fn, priority)
        except PoolBusy as exc:
            raise Busy(str(exc)) from None

    def decode(self, data: Any, field: str, max_width: int | None = None) -> np.ndarray:
        if not isinstance(data, str) or not data.strip():
            raise ServiceError(messages.no_data(field))
        try:
            return decode_image(data, self.settings.max_image_pixels, max_width)
        except ImageError as exc:
            raise ServiceError(messages.invalid_image(field, exc)) from None

    def emit(self, session_id: str, event: str, payload: dict) -> None:
        for listener in list(self.listeners):
            try:
                listener(session_id, event, payload)
            except Exception:  # a broken listener must not break the request
                log.exception("listener failed")

    def forget(self, session_id: str, *, lock: bool = False) -> None:
        """Drop a session's caches once it has ended (and its lock once it is deleted)."""
        self.thumbs.pop(session_id, None)
        self.verified.pop(session_id, None)
        self.text_watch.pop(session_id, None)
        self.audio.forget(session_id)
        if lock:
            self.locks.pop(session_id, None)
