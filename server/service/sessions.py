"""The use cases: start, verify document, register face, analyse frame, end, and reads.

This is the only module that knows vision, proctoring, the store and the LLM together.
Each use case: load the session, run vision in the inference pool (off the event
loop), apply the model-free proctoring rules, save in one transaction.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from ..config import Settings
from ..proctoring.aggregate import live_metrics, verification_summary
from ..proctoring.alerts import AlertConfig
from ..proctoring.frame import analyse_observation
from ..proctoring.report import compute_report
from ..proctoring.verification import FaceMatch, load_scale, match
from ..store import FrameRecord, SessionRecord, SessionStore, StaleSession, VerificationRecord
from ..vision.decode import ImageError, decode_image
from ..vision.pipeline import FramePipeline, SharedModels, VerifiedFace
from ..vision.pool import LIVE, InferencePool, PoolBusy
from ..vision.schedule import SceneThumb, face_fraction, plan_frame, scene_changed, thumbnail
from .errors import Busy, Conflict, ServiceError, SessionEnded, SessionNotFound
from .summary import Summarizer

log = logging.getLogger(__name__)

DOCUMENT_TYPES = ("aadhaar", "pan", "passport", "driving_license", "voter_id", "other")

MSG_NO_FACE_DOCUMENT = (
    "No face detected in the document. Please upload a clear image of your ID with a visible photo."
)
MSG_MULTI_LIVE = "Multiple faces detected in live image. Please ensure only you are in the frame."
MSG_NO_FACE_LIVE = "No face detected in live image. Please ensure your face is clearly visible."
MSG_NO_FACE = "No face detected in the image. Please ensure your face is clearly visible."
MSG_MULTI = "Multiple faces detected. Please ensure only you are in the frame."
MSG_ALREADY = "Face already registered for this session"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="microseconds")


def bounding_box(face, width: int, height: int) -> dict:
    x1, y1, x2, y2 = face.bbox
    return {
        "Width": round((x2 - x1) / width, 4),
        "Height": round((y2 - y1) / height, 4),
        "Left": round(x1 / width, 4),
        "Top": round(y1 / height, 4),
    }


class ProctorService:
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
        self.scale = load_scale(models.specs["face_embedder"].family)
        self.alert_config = AlertConfig(
            no_face_frames=settings.no_face_frames,
            looking_away_frames=settings.looking_away_frames,
            face_mismatch_frames=settings.face_mismatch_frames,
            low_engagement_frames=settings.low_engagement_frames,
            low_engagement_below=settings.low_engagement_below,
            suspicious_object_confidence=settings.suspicious_object_confidence,
            text_confidence=settings.text_confidence,
            rearm_frames=settings.alert_rearm_frames,
            repeat_frames=settings.alert_repeat_frames,
        )
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._thumbs: dict[str, SceneThumb] = {}
        self._verified: dict[
            str, tuple[float, VerifiedFace]
        ] = {}  # session -> (timestamp, last verified face)
        self.listeners: list = []  # callables(session_id, event, payload) for push channels

    # --- helpers -----------------------------------------------------------------------
    async def _db(self, fn, *args):
        return await asyncio.to_thread(fn, *args)

    async def _session(self, session_id: str, active: bool = False) -> SessionRecord:
        rec = await self._db(self.store.get_session, session_id)
        if rec is None:
            raise SessionNotFound()
        if active and not rec.is_active:
            raise SessionEnded()
        return rec

    async def _infer(self, fn, priority: int = LIVE):
        try:
            return await self.pool.run(fn, priority)
        except PoolBusy as exc:
            raise Busy(str(exc)) from None

    def _decode(self, data, field: str, max_width: int | None = None) -> np.ndarray:
        if not isinstance(data, str) or not data.strip():
            raise ServiceError(f"No {field} data provided")
        try:
            return decode_image(data, self.settings.max_image_pixels, max_width)
        except ImageError as exc:
            raise ServiceError(f"Invalid {field} image: {exc}") from None

    def _emit(self, session_id: str, event: str, payload: dict) -> None:
        for listener in list(self.listeners):
            try:
                listener(session_id, event, payload)
            except Exception:  # a broken listener must not break the request
                log.exception("listener failed")

    # --- start -------------------------------------------------------------------------
    async def start_session(self, job_data: dict | None, kind: str = "live") -> SessionRecord:
        rec = SessionRecord(
            id=str(uuid.uuid4()),
            status="active",
            start_time=utcnow(),
            last_activity=time.time(),
            job_data=job_data or {},
            kind=kind,
        )
        await self._db(self.store.create_session, rec)
        self._emit(
            rec.id,
            "session_started",
            {
                "status": rec.status,
                "start_time": iso(rec.start_time),
                "job_data": rec.job_data,
                "kind": rec.kind,
            },
        )
        return rec

    # --- identity ----------------------------------------------------------------------
    async def register_face(self, session_id: str, face_b64) -> dict:
        session = await self._session(session_id, active=True)
        if session.face_registered:
            raise ServiceError(MSG_ALREADY, face_registered=True)
        if not isinstance(face_b64, str) or not face_b64.strip():
            raise ServiceError("No face data provided")

        def work(p: FramePipeline):
            image = self._decode(face_b64, "face")
            faces = p.faces(image)
            if len(faces) == 1:
                p.embed(image, faces[0])
            return image.shape, faces

        shape, faces = await self._infer(work)
        if not faces:
            raise ServiceError(MSG_NO_FACE)
        if len(faces) > 1:
            raise ServiceError(MSG_MULTI)
        face = faces[0]
        conf = round(face.score * 100, 1)
        if conf < self.settings.min_face_confidence:
            raise ServiceError(
                f"Face detection confidence too low ({conf}%). Please ensure good lighting and face the camera directly."
            )
        box = bounding_box(face, shape[1], shape[0])
        info = {
            "face_confidence": conf,
            "face_bounding_box": box,
            "source": "register-face",
            "timestamp": iso(utcnow()),
        }
        ok = await self._db(
            self.store.save_registration,
            session_id,
            face.embedding,
            self.models.embedder_id,
            info,
            time.time(),
        )
        if not ok:
            raise ServiceError(MSG_ALREADY, face_registered=True)
        self._emit(
            session_id,
            "identity",
            {"source": "register-face", "face_registered": True, "face_confidence": conf},
        )
        return {
            "success": True,
            "message": "Face registered successfully",
            "face_confidence": conf,
            "face_bounding_box": box,
            "verification_enabled": True,
        }

    async def verify_document(self, session_id: str, document, live_face, document_type) -> dict:
        session = await self._session(session_id, active=True)
        if document_type is None:
            document_type = "other"
        if not isinstance(document_type, str) or document_type.lower() not in DOCUMENT_TYPES:
            raise ServiceError(
                f"Invalid document_type. Use one of: {', '.join(DOCUMENT_TYPES)}", verified=False
            )
        document_type = document_type.lower()
        if not isinstance(document, str) or not document.strip():
            raise ServiceError(
                "No document data provided", verified=False, document_type=document_type
            )
        if not isinstance(live_face, str) or not live_face.strip():
            raise ServiceError(
                "No live_face data provided", verified=False, document_type=document_type
            )

        def work(p: FramePipeline):
            doc = self._decode(document, "document")
            live = self._decode(live_face, "live_face")
            live_faces = p.faces(live)
            if len(live_faces) != 1:
                return live_faces, None, None
            p.embed(live, live_faces[0])
            rotated, doc_faces, rotation = p.document_faces(doc)
            small = self.settings.document_min_face_px
            doc_faces = [f for f in doc_faces if min(f.width, f.height) >= small]
            if not doc_faces:
                return live_faces, [], rotation
            # ID cards often carry a small "ghost" copy of the portrait: take the clearest, largest face.
            best = max(doc_faces, key=lambda f: f.score * np.sqrt(f.area))
            p.embed(rotated, best)
            return live_faces, [best], rotation

        def fail(message: str):
            return ServiceError(message, verified=False, document_type=document_type)

        try:
            live_faces, doc_faces, rotation = await self._infer(work)
        except ServiceError as exc:
            exc.extra.update(verified=False, document_type=document_type)
            raise
        if not live_faces:
            raise fail(MSG_NO_FACE_LIVE)
        if len(live_faces) > 1:
            raise fail(MSG_MULTI_LIVE)
        if not doc_faces:
            raise fail(MSG_NO_FACE_DOCUMENT)
        live, doc = live_faces[0], doc_faces[0]
        threshold = self.settings.verification_threshold
        m = match(doc.embedding, live.embedding, self.scale, threshold)
        now = utcnow()
        result = {
            "verified": m.verified,
            "similarity": m.similarity,
            "document_type": document_type,
            "timestamp": iso(now),
            "document_face_confidence": round(doc.score * 100, 1),
            "live_face_confidence": round(live.score * 100, 1),
            "document_rotation": rotation,
        }
        registered_now = False
        if m.verified:
            info = {
                "face_confidence": round(live.score * 100, 1),
                "source": "verify-document",
                "timestamp": iso(now),
            }
            registered_now = await self._db(
                self.store.save_document,
                session_id,
                result,
                time.time(),
                live.embedding,
                self.models.embedder_id,
                info,
            )
        else:
            await self._db(self.store.save_document, session_id, result, time.time())
        face_registered = registered_now or session.face_registered
        out = {
            "success": True,
            "verified": m.verified,
            "similarity": m.similarity,
            "threshold": threshold,
            "document_type": document_type,
            "document_face_confidence": result["document_face_confidence"],
            "live_face_confidence": result["live_face_confidence"],
        }
        if m.verified:
            out["message"] = "Identity verified successfully! Document face matches live face."
            out["face_registered"] = face_registered
            out["next_step"] = "You can now proceed with the interview."
        else:
            out["message"] = (
                f"Identity verification failed. Face similarity ({m.similarity}%) is below "
                f"threshold ({threshold:g}%)."
            )
            out["face_registered"] = face_registered
            out["next_step"] = "Please try again with a clearer document or better lighting."
        self._emit(
            session_id,
            "identity",
            {
                "source": "verify-document",
                "verified": m.verified,
                "similarity": m.similarity,
                "face_registered": face_registered,
            },
        )
        return out

    async def document_status(self, session_id: str) -> dict:
        s = await self._session(session_id)
        doc = s.document
        return {
            "success": True,
            "session_id": s.id,
            "document_verified": bool(doc and doc.get("verified")),
            "document_type": doc.get("document_type") if doc else None,
            "verification_result": (
                {k: doc[k] for k in ("verified", "similarity", "document_type", "timestamp")}
                if doc
                else None
            ),
            "face_registered": s.face_registered,
        }

    async def verification_status(self, session_id: str) -> dict:
        s = await self._session(session_id)
        vers = await self._db(self.store.verifications, session_id)
        recent = vers[-self.settings.recent_verifications :]
        return {
            "success": True,
            "session_id": s.id,
            "face_registered": s.face_registered,
            "verification_enabled": True,
            "verification_summary": verification_summary(vers, True, s.face_registered),
            "recent_verifications": [
                {
                    "timestamp": v.timestamp,
                    "verified": v.verified,
                    "similarity": v.similarity,
                    "message": v.message,
                    "threshold": v.threshold,
                }
                for v in recent
            ],
        }

    # --- frames ------------------------------------------------------------------------
    async def analyse_frame(
        self, session_id: str, frame_b64, *, timestamp: float | None = None
    ) -> dict:
        await self._session(session_id, active=True)
        if not isinstance(frame_b64, str) or not frame_b64.strip():
            raise ServiceError("No frame data provided")
        # live frames only: ID documents and registrations keep full resolution (small faces)
        load = lambda: self._decode(frame_b64, "frame", self.settings.frame_max_width)  # noqa: E731
        return await self._analyse(session_id, load, timestamp, LIVE)

    async def analyse_image(
        self,
        session_id: str,
        image: np.ndarray,
        *,
        timestamp: float | None = None,
        priority: int = LIVE,
    ) -> dict:
        """The frame use case on an already decoded BGR image (a video's frames: no re-encoding)."""
        return await self._analyse(session_id, lambda: image, timestamp, priority)

    async def _analyse(
        self,
        session_id: str,
        load: Callable[[], np.ndarray],
        timestamp: float | None,
        priority: int,
    ) -> dict:
        async with self._locks[session_id]:  # frames of one session are analysed in order
            session = await self._session(session_id, active=True)
            frame_number = session.frames_received + 1
            previous = self._thumbs.get(session_id)
            registered = session.face_embedding
            reuse = self._reusable(
                session_id,
                timestamp
                if timestamp is not None
                else (utcnow() - session.start_time).total_seconds(),
            )

            def work(p: FramePipeline):
                image = load()
                thumb = thumbnail(image)
                plan = plan_frame(frame_number, self.settings, scene_changed(previous, thumb))
                if registered is None:  # an embedding is only compared with a registration
                    plan = replace(plan, embed=False)
                elif reuse is not None:
                    plan = replace(plan, reuse=reuse)
                return thumb, p.analyse(image, plan)

            try:
                thumb, obs = await self._infer(work, priority)
            except ServiceError:
                raise
            except Exception:
                log.exception("frame analysis failed for session %s", session_id)
                ts = (
                    timestamp
                    if timestamp is not None
                    else (utcnow() - session.start_time).total_seconds()
                )
                await self._db(
                    self.store.commit_frame,
                    session_id,
                    session.version,
                    FrameRecord(frame_number, ts, False, None, None),
                    None,
                    [],
                    session.state,
                    time.time(),
                )
                raise ServiceError("Frame could not be analysed", status=500) from None
            self._thumbs[session_id] = SceneThumb(
                thumb, face_fraction(obs.primary_face, obs.width, obs.height)
            )
            ts = (
                timestamp
                if timestamp is not None
                else (utcnow() - session.start_time).total_seconds()
            )

            fm: FaceMatch | None = None
            primary = obs.primary_face
            if registered is not None and primary is not None and primary.embedding is not None:
                if session.embedder and session.embedder != self.models.embedder_id:
                    log.warning(
                        "session %s registered with %s, server runs %s",
                        session_id,
                        session.embedder,
                        self.models.embedder_id,
                    )
                try:
                    fm = match(
                        registered,
                        primary.embedding,
                        self.scale,
                        self.settings.verification_threshold,
                    )
                except ValueError:
                    fm = None
            self._remember_verified(session_id, ts, obs, fm, reuse)
            outcome = analyse_observation(
                obs, session.state, frame_number, ts, fm, self.alert_config
            )
            ver = None
            if fm is not None:
                ver = VerificationRecord(
                    frame_number, round(ts, 2), fm.verified, fm.similarity, fm.message, fm.threshold
                )
            try:
                await self._db(
                    self.store.commit_frame,
                    session_id,
                    session.version,
                    FrameRecord(frame_number, round(ts, 2), True, outcome.result, outcome.signals),
                    ver,
                    outcome.alerts,
                    outcome.state,
                    time.time(),
                )
            except StaleSession:
                fresh = await self._db(self.store.get_session, session_id)
                if fresh is not None and not fresh.is_active:
                    raise SessionEnded() from None
                raise Conflict("Session was updated concurrently; retry the frame") from None
        self._emit(session_id, "frame_result", outcome.result)
        for alert in outcome.result["alerts"]:
            self._emit(session_id, "alert", alert)
        return outcome.result

    def _reusable(self, session_id: str, ts: float) -> VerifiedFace | None:
        """The last verified face if it is at most ``verify_reuse_s`` of session time old."""
        window = self.settings.verify_reuse_s
        last = self._verified.get(session_id)
        if window <= 0 or last is None:
            return None
        at, face = last
        return face if 0.0 <= ts - at <= window else None

    def _remember_verified(
        self, session_id: str, ts: float, obs, fm: FaceMatch | None, reuse: VerifiedFace | None
    ) -> None:
        """Keep a freshly computed, verified single face for the next frames; forget on anything else.

        A reused frame keeps the window where it started (an embedding is computed at least
        every ``verify_reuse_s``); no face, two faces or a mismatch end it at once.
        """
        primary = obs.primary_face
        if reuse is not None and primary is not None and primary.embedding is reuse.embedding:
            return
        if fm is not None and fm.verified and obs.face_count == 1 and primary is not None:
            self._verified[session_id] = (
                ts,
                VerifiedFace(primary.bbox, primary.embedding, (obs.width, obs.height)),
            )
        else:
            self._verified.pop(session_id, None)

    # --- reads -------------------------------------------------------------------------
    async def metrics(self, session_id: str) -> dict:
        s = await self._session(session_id)
        frames = await self._db(self.store.frames, session_id)
        analysed = [f for f in frames if f.analyzed]
        end = s.end_time or utcnow()
        return live_metrics(
            s.id,
            s.frames_received,
            s.frames_analyzed,
            (end - s.start_time).total_seconds(),
            s.is_active,
            [f.result for f in analysed],
            [f.signals for f in analysed],
            s.alert_count,
        )

    async def alerts(self, session_id: str) -> list[dict]:
        await self._session(session_id)
        return [a.as_contract() for a in await self._db(self.store.alerts, session_id)]

    async def timeline(self, session_id: str, last: int | None = None) -> list[dict]:
        """Per frame (the ``last`` N if given): what the dashboard charts (similarity, the four metrics, alerts)."""
        await self._session(session_id)
        frames = await self._db(self.store.frames, session_id)
        out = []
        for f in frames[-last:] if last else frames:
            r = f.result or {}
            fv = r.get("face_verification") or {}
            out.append(
                {
                    "frame_number": f.frame_number,
                    "timestamp": f.timestamp,
                    "analyzed": f.analyzed,
                    "face_count": r.get("face_count", 0),
                    "dominant_emotion": r.get("dominant_emotion"),
                    "metrics": r.get("metrics"),
                    "similarity": fv.get("similarity"),
                    "verified": fv.get("verified"),
                    "alerts": [a["type"] for a in r.get("alerts", ())],
                }
            )
        return out

    async def list_sessions(self) -> list[SessionRecord]:
        return await self._db(self.store.list_sessions)

    async def delete_session(self, session_id: str) -> None:
        async with self._locks[session_id]:
            if not await self._db(self.store.delete_session, session_id):
                raise SessionNotFound()
        self._locks.pop(session_id, None)
        self._thumbs.pop(session_id, None)
        self._verified.pop(session_id, None)
        self._emit(session_id, "session_deleted", {})

    async def report(self, session_id: str) -> dict:
        s = await self._session(session_id)
        if s.report is None:
            raise ServiceError("Session is still active: end it to get the report", status=409)
        return s.report

    # --- end ---------------------------------------------------------------------------
    async def end_session(
        self,
        session_id: str,
        reason: str = "client",
        *,
        end_time: dt.datetime | None = None,
        extra_facts: dict | None = None,
        metadata: dict | None = None,
        requested_provider: str | None = None,
    ) -> dict:
        """End and report.  A video passes ``end_time`` = start + its length (durations in video
        time), its questions as ``extra_facts`` and what it was as ``metadata`` (into analysis_metadata)."""
        s = await self._session(session_id)
        if not s.is_active:
            return s.report or {}
        async with self._locks[session_id]:
            s = await self._session(session_id)
            if not s.is_active:
                return s.report or {}
            end = end_time or utcnow()
            frames = await self._db(self.store.frames, session_id)
            alerts = await self._db(self.store.alerts, session_id)
            vers = await self._db(self.store.verifications, session_id)
            analysed = [f for f in frames if f.analyzed]
            report, facts = compute_report(
                s, [f.result for f in analysed], [f.signals for f in analysed], alerts, vers, end
            )
            facts.update(extra_facts or {})
            report["analysis_metadata"].update(metadata or {})
            report["analysis_metadata"]["end_reason"] = reason
            await self.summarizer.fill(report, facts, requested_provider=requested_provider)
            if not await self._db(self.store.end_session, session_id, end, reason, report):
                again = await self._session(session_id)
                return again.report or report
        self._thumbs.pop(session_id, None)
        self._verified.pop(session_id, None)
        self._emit(session_id, "session_ended", {"session_id": session_id, "reason": reason})
        return report

    async def end_idle_sessions(self) -> list[str]:
        timeout = self.settings.session_idle_timeout_s
        if timeout <= 0:
            return []
        ended = []
        for sid in await self._db(self.store.idle_sessions, time.time() - timeout):
            try:
                await self.end_session(sid, reason="idle")
                ended.append(sid)
            except ServiceError:
                continue
        return ended
