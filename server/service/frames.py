"""The frame use case: one image of a session -> vision -> rules -> stored result and pushes.

Frames of one session are analysed in order (a lock per session); each commit checks the
session's version, so two replicas cannot interleave one session's rule state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from ..proctoring.audio import FrameAudio, session_profile
from ..proctoring.frame import FrameResult, analyse_observation
from ..proctoring.observation import Observation
from ..proctoring.verification import FaceMatch, match
from ..store import FrameRecord, SessionRecord, StaleSession, VerificationRecord
from ..vision.liveness import frame_change
from ..vision.pipeline import FramePipeline, VerifiedFace
from ..vision.pool import LIVE
from ..vision.schedule import (
    SceneThumb,
    TextWatch,
    face_fraction,
    ocr_quiet,
    plan_frame,
    scene_changed,
    session_phase,
    thumbnail,
)
from . import messages
from .context import ServiceContext, utcnow
from .errors import Conflict, ServiceError, SessionEnded

log = logging.getLogger(__name__)


def session_time(session: SessionRecord, timestamp: float | None) -> float:
    """Seconds into the session: the caller's (a video's) time, else now."""
    if timestamp is not None:
        return timestamp
    return (utcnow() - session.start_time).total_seconds()


class Frames:
    def __init__(self, ctx: ServiceContext):
        self.ctx = ctx

    async def analyse_frame(
        self, session_id: str, frame_b64, *, timestamp: float | None = None
    ) -> FrameResult:
        """A base64 frame from a live client (REST, Socket.IO, websocket)."""
        ctx = self.ctx
        await ctx.session(session_id, active=True)
        if not isinstance(frame_b64, str) or not frame_b64.strip():
            raise ServiceError(messages.no_data("frame"))
        # live frames only: ID documents and registrations keep full resolution (small faces)
        width = ctx.settings.frame_max_width
        return await self._analyse(
            session_id,
            lambda: ctx.decode(frame_b64, "frame", width),
            timestamp,
            LIVE,
            phase=session_phase(session_id),  # live sessions spread their OCR/pose frames
        )

    async def analyse_image(
        self,
        session_id: str,
        image: np.ndarray,
        *,
        timestamp: float | None = None,
        priority: int = LIVE,
        audio: FrameAudio | None = None,
    ) -> FrameResult:
        """The frame use case on an already decoded BGR image (a video's frames: no re-encoding)."""
        return await self._analyse(session_id, lambda: image, timestamp, priority, audio)

    async def _analyse(
        self,
        session_id: str,
        load: Callable[[], np.ndarray],
        timestamp: float | None,
        priority: int,
        audio: FrameAudio | None = None,
        phase: int = 0,
    ) -> FrameResult:
        ctx = self.ctx
        async with ctx.hold(session_id):  # frames of one session are analysed in order
            session = await ctx.session(session_id, active=True)
            frame_number = session.frames_received + 1
            reuse = self._reusable(session_id, session_time(session, timestamp))
            try:
                thumb, obs = await ctx.infer(self._work(session, load, reuse, phase), priority)
            except ServiceError:
                raise
            except Exception:
                log.exception("frame analysis failed for session %s", session_id)
                await self._store_failed(session, frame_number, session_time(session, timestamp))
                raise ServiceError(messages.FRAME_FAILED, status=500) from None
            ts = session_time(session, timestamp)  # a live frame's time: when its analysis ended
            scene = SceneThumb(thumb, face_fraction(obs.primary_face, obs.width, obs.height))
            ctx.thumbs[session_id] = scene
            if obs.text is not None:  # OCR ran: what the next runs are compared with
                floor = ctx.alert_config.text_confidence / 2  # half the rule's threshold
                found = any(r.confidence * 100 >= floor for r in obs.text)
                ctx.text_watch[session_id] = TextWatch(frame_number, scene, found)
            fm = self._compare(session, obs)
            self._remember_verified(session_id, ts, obs, fm, reuse)
            # a video passes its track's audio; a live session's comes from its audio channel
            heard = audio if audio is not None else ctx.audio.frame_audio(session, ts)
            outcome = analyse_observation(
                obs,
                session.state,
                frame_number,
                ts,
                fm,
                ctx.alert_config,
                heard,
                exam=session_profile(session.job_data) == "exam",
            )
            ver = None
            if fm is not None:
                ver = VerificationRecord(
                    frame_number, round(ts, 2), fm.verified, fm.similarity, fm.message, fm.threshold
                )
            result = outcome.frame.as_contract()
            stored = FrameRecord(
                frame_number, round(ts, 2), True, result, outcome.frame.stored_detail()
            )
            await self._commit(session, stored, ver, outcome.alerts, outcome.state)
        ctx.emit(session_id, "frame_result", result)
        for alert in result["alerts"]:
            ctx.emit(session_id, "alert", alert)
        return outcome.frame

    def _work(
        self,
        session: SessionRecord,
        load: Callable[[], np.ndarray],
        reuse: VerifiedFace | None,
        phase: int = 0,
    ) -> Callable[[FramePipeline], tuple[np.ndarray, Observation]]:
        """What runs on the inference worker: decode, plan which models run, run them."""
        settings = self.ctx.settings
        frame_number = session.frames_received + 1
        previous = self.ctx.thumbs.get(session.id)
        watch = self.ctx.text_watch.get(session.id)
        registered = session.face_embedding is not None

        def work(p: FramePipeline):
            image = load()
            thumb = thumbnail(image)
            changed = scene_changed(previous, thumb)
            quiet = ocr_quiet(watch, thumb, frame_number, settings)
            plan = plan_frame(frame_number, settings, changed, phase, quiet)
            if not registered:  # an embedding is only compared with a registration
                plan = replace(plan, embed=False)
            elif reuse is not None:
                plan = replace(plan, reuse=reuse)
            obs = p.analyse(image, plan)
            if obs.liveness is not None:  # a replayed still barely changes the frame
                obs.liveness.frame_change = frame_change(
                    previous.grey if previous is not None else None, thumb
                )
            return thumb, obs

        return work

    def _compare(self, session: SessionRecord, obs: Observation) -> FaceMatch | None:
        """The frame's face against the registered one (None: nothing to compare)."""
        ctx = self.ctx
        primary = obs.primary_face
        registered = session.face_embedding
        if registered is None or primary is None or primary.embedding is None:
            return None
        if session.embedder and session.embedder != ctx.models.embedder_id:
            log.warning(
                "session %s registered with %s, server runs %s",
                session.id,
                session.embedder,
                ctx.models.embedder_id,
            )
        try:
            return match(
                registered, primary.embedding, ctx.scale, ctx.settings.verification_threshold
            )
        except ValueError:  # embeddings of different sizes: another embedder registered it
            return None

    async def _store_failed(self, session: SessionRecord, frame_number: int, ts: float) -> None:
        """A frame that could not be analysed still counts as received."""
        ctx = self.ctx
        await ctx.db(
            ctx.store.commit_frame,
            session.id,
            session.version,
            FrameRecord(frame_number, ts, False, None, None),
            None,
            [],
            session.state,
            time.time(),
        )

    async def _commit(self, session: SessionRecord, frame: FrameRecord, ver, alerts, state) -> None:
        ctx = self.ctx
        try:
            await ctx.db(
                ctx.store.commit_frame,
                session.id,
                session.version,
                frame,
                ver,
                alerts,
                state,
                time.time(),
            )
        except StaleSession:
            fresh = await ctx.db(ctx.store.get_session, session.id)
            if fresh is not None and not fresh.is_active:
                raise SessionEnded() from None
            raise Conflict(messages.CONCURRENT_UPDATE) from None

    # --- reuse of a verified face -----------------------------------------------------
    def _reusable(self, session_id: str, ts: float) -> VerifiedFace | None:
        """The last verified face if it is at most ``verify_reuse_s`` of session time old."""
        window = self.ctx.settings.verify_reuse_s
        last = self.ctx.verified.get(session_id)
        if window <= 0 or last is None:
            return None
        at, face = last
        return face if 0.0 <= ts - at <= window else None

    def _remember_verified(
        self,
        session_id: str,
        ts: float,
        obs: Observation,
        fm: FaceMatch | None,
        reuse: VerifiedFace | None,
    ) -> None:
        """Keep a freshly computed, verified single face for the next frames; forget on anything else.

        A reused frame keeps the window where it started (an embedding is computed at least
        every ``verify_reuse_s``); no face, two faces or a mismatch end it at once.
        """
        primary = obs.primary_face
        if reuse is not None and primary is not None and primary.embedding is reuse.embedding:
            return
        if (
            fm is not None
            and fm.verified
            and obs.face_count == 1
            and primary is not None
            and primary.embedding is not None
        ):
            self.ctx.verified[session_id] = (
                ts,
                VerifiedFace(primary.bbox, primary.embedding, (obs.width, obs.height)),
            )
        else:
            self.ctx.verified.pop(session_id, None)
