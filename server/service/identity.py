"""Identity use cases: register the candidate's face, verify an ID document against a live face.

Both end with a reference embedding stored on the session (verify-document only when the
faces match); ``frames`` compares every later frame with it.  The steps form one chain
(``proctoring.identity``): whichever comes first, a later step is compared with it, a
mismatch refuses with a clear message, failed attempts are counted and limited
(``PROCTOR_IDENTITY_MAX_ATTEMPTS``), and only a proctor can replace the registered face
(``reregister_face``).  Both answers carry a single-image ``liveness`` score; the session's
first frames finish that decision (``proctoring.liveness``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..proctoring.contract import Section
from ..proctoring.identity import (
    MSG_NOT_LIVE,
    ChainResult,
    IdentityLedger,
    check_document,
    check_registration,
)
from ..proctoring.liveness import LivenessResult, single_image_liveness
from ..proctoring.observation import Face
from ..store import SessionRecord
from ..vision.liveness import liveness_cues
from ..vision.pipeline import FramePipeline
from . import messages
from .context import ServiceContext, iso, utcnow
from .errors import Conflict, ServiceError

DOCUMENT_TYPES = ("aadhaar", "pan", "passport", "driving_license", "voter_id", "other")


@dataclass
class FaceRegistration(Section):
    """register-face / reregister-face: what was registered (the route adds ``success``)."""

    message: str = ""
    face_confidence: float = 0.0
    face_bounding_box: dict[str, float] = field(default_factory=dict)
    verification_enabled: bool = True
    liveness: dict[str, Any] = field(default_factory=dict)


@dataclass
class DocumentCheck(Section):
    """verify-document: the document vs live face check and the chain (the route adds
    ``success``).  ``attempts_left`` only on a failed check while attempts are limited."""

    verified: bool = False
    similarity: float = 0.0
    threshold: float = 0.0
    document_type: str = "other"
    document_face_confidence: float = 0.0
    live_face_confidence: float = 0.0
    message: str = ""
    face_registered: bool = False
    next_step: str = ""
    attempts_left: int | None = None
    liveness: dict[str, Any] = field(default_factory=dict)
    identity_chain: dict[str, Any] = field(default_factory=dict)

    def as_contract(self) -> dict[str, Any]:
        out = super().as_contract()
        if self.attempts_left is None:
            del out["attempts_left"]
        return out


def bounding_box(face: Face, width: int, height: int) -> dict:
    x1, y1, x2, y2 = face.bbox
    return {
        "Width": round((x2 - x1) / width, 4),
        "Height": round((y2 - y1) / height, 4),
        "Left": round(x1 / width, 4),
        "Top": round(y1 / height, 4),
    }


def confidence(face: Face) -> float:
    return round(face.score * 100, 1)


class Identity:
    def __init__(self, ctx: ServiceContext):
        self.ctx = ctx

    # --- the chain's bookkeeping ------------------------------------------------------
    def _ledger(self, session: SessionRecord, **error_extra) -> IdentityLedger:
        """The session's attempts; refuses (429) once the failures reached the limit."""
        ledger = IdentityLedger((session.state or {}).get("identity"))
        limit = self.ctx.settings.identity_max_attempts
        if ledger.blocked(limit):
            raise ServiceError(ledger.blocked_message(limit), status=429, **error_extra)
        return ledger

    def _registered(self, session: SessionRecord) -> np.ndarray | None:
        """The registered embedding when it is comparable with this server's embedder."""
        if session.face_embedding is None:
            return None
        if session.embedder and session.embedder != self.ctx.models.embedder_id:
            return None
        return session.face_embedding

    async def _save(self, session: SessionRecord, ledger: IdentityLedger, **values) -> None:
        ctx = self.ctx
        state = dict(session.state or {})
        state["identity"] = ledger.as_state()
        saved = await ctx.db(
            lambda: ctx.store.save_identity(
                session.id, session.version, time.time(), state=state, **values
            )
        )
        if not saved:
            raise Conflict(messages.CONCURRENT_UPDATE)

    async def _save_face(
        self, session: SessionRecord, ledger: IdentityLedger, info: dict, embedding: np.ndarray
    ) -> None:
        """Store ``embedding`` as the session's registered face (``info`` describes it), tagged
        with the embedder that made it."""
        await self._save(
            session,
            ledger,
            registration=info,
            embedding=embedding,
            embedder=self.ctx.models.embedder_id,
        )

    def _one_face(self, face_b64):
        """work(): the image's faces, the only face's embedding and its liveness cues."""
        ctx = self.ctx

        def work(p: FramePipeline):
            image = ctx.decode(face_b64, "face")
            faces = p.faces(image)
            cues = None
            if len(faces) == 1:
                p.embed(image, faces[0])
                cues = liveness_cues(image, faces[0], None)
            return image.shape, faces, cues

        return work

    def _checked_face(self, shape, faces) -> tuple[Face, np.ndarray, float, dict]:
        """The one face of a registration image and its embedding, or the contract's refusal."""
        if not faces:
            raise ServiceError(messages.NO_FACE)
        if len(faces) > 1:
            raise ServiceError(messages.MULTI)
        face = faces[0]
        conf = confidence(face)
        if conf < self.ctx.settings.min_face_confidence:
            raise ServiceError(messages.low_confidence(conf))
        if face.embedding is None:  # work() embeds the only face; kept explicit for the types
            raise ServiceError(messages.NO_FACE)
        return face, face.embedding, conf, bounding_box(face, shape[1], shape[0])

    async def _face_against_document(
        self, session: SessionRecord, face_b64: str
    ) -> tuple[np.ndarray, float, dict, LivenessResult, ChainResult]:
        """The one face of a register/re-register image: its embedding, confidence, box,
        single-image liveness, and the chain check against the session's ID document."""
        ctx = self.ctx
        shape, faces, cues = await ctx.infer(self._one_face(face_b64))
        _face, embedding, conf, box = self._checked_face(shape, faces)
        live = single_image_liveness(cues, ctx.settings.liveness_image_min)
        document_face = await ctx.db(ctx.store.document_face, session)
        chain = check_registration(
            embedding, document_face, ctx.scale, ctx.settings.verification_threshold
        )
        return embedding, conf, box, live, chain

    # --- register-face -----------------------------------------------------------------
    async def register_face(self, session_id: str, face_b64) -> FaceRegistration:
        ctx = self.ctx
        async with ctx.hold(session_id):
            session = await ctx.session(session_id, active=True)
            if session.face_registered:
                raise ServiceError(messages.ALREADY_REGISTERED, face_registered=True)
            if not isinstance(face_b64, str) or not face_b64.strip():
                raise ServiceError(messages.no_data("face"))
            ledger = self._ledger(session)
            embedding, conf, box, live, chain = await self._face_against_document(session, face_b64)
            now = iso(utcnow())
            refusal = chain.message
            if refusal is None and not live.passed:
                refusal = MSG_NOT_LIVE.format(score=live.score)
            ledger.record(
                "register",
                refusal is None,
                now,
                similarity=chain.links[0].match.similarity if chain.links else None,
                liveness=live.score,
                reason=None if refusal is None else ("document" if chain.message else "liveness"),
            )
            if refusal is not None:
                await self._save(session, ledger)
                raise ServiceError(
                    refusal,
                    face_registered=False,
                    liveness=live.as_dict(),
                    **_attempts(ledger, ctx),
                )
            info = {
                "face_confidence": conf,
                "face_bounding_box": box,
                "source": "register-face",
                "timestamp": now,
                "liveness": live.as_dict(),
                "chain": chain.as_dict(),
            }
            await self._save_face(session, ledger, info, embedding)
        ctx.emit(
            session_id,
            "identity",
            {"source": "register-face", "face_registered": True, "face_confidence": conf},
        )
        return FaceRegistration(
            message=messages.FACE_REGISTERED,
            face_confidence=conf,
            face_bounding_box=box,
            liveness=live.as_dict(),
        )

    # --- re-registration (proctor key only) ---------------------------------------------
    async def reregister_face(
        self, session_id: str, face_b64, by: str, reason=None
    ) -> FaceRegistration:
        """Replace the registered face.  Only a proctor reaches this (server.access); the new
        face must still match the session's ID document, if one was checked.  Recorded in the
        identity events (who, when, why); it resets the failed-attempt count."""
        ctx = self.ctx
        if reason is not None and (not isinstance(reason, str) or len(reason) > 500):
            raise ServiceError("reason must be a text of at most 500 characters")
        async with ctx.hold(session_id):
            session = await ctx.session(session_id, active=True)
            if not isinstance(face_b64, str) or not face_b64.strip():
                raise ServiceError(messages.no_data("face"))
            ledger = IdentityLedger((session.state or {}).get("identity"))
            embedding, conf, box, live, chain = await self._face_against_document(session, face_b64)
            now = iso(utcnow())
            ledger.record(
                "reregister",
                chain.verified,
                now,
                by=by,
                reason=reason,
                replaced=session.face_registered,
                liveness=live.score,
            )
            if not chain.verified:
                await self._save(session, ledger)
                raise ServiceError(chain.message or "", liveness=live.as_dict())
            info = {
                "face_confidence": conf,
                "face_bounding_box": box,
                "source": "reregister-face",
                "by": by,
                "reason": reason,
                "timestamp": now,
                "replaced": (session.registration or {}).get("timestamp"),
                "liveness": live.as_dict(),
            }
            await self._save_face(session, ledger, info, embedding)
        ctx.verified.pop(session_id, None)  # the short embedding reuse belonged to the old face
        ctx.emit(
            session_id,
            "identity",
            {"source": "reregister-face", "face_registered": True, "by": by},
        )
        return FaceRegistration(
            message=REREGISTERED,
            face_confidence=conf,
            face_bounding_box=box,
            liveness=live.as_dict(),
        )

    # --- verify-document ---------------------------------------------------------------
    async def verify_document(
        self, session_id: str, document, live_face, document_type
    ) -> DocumentCheck:
        async with self.ctx.hold(session_id):
            return await self._verify_document(session_id, document, live_face, document_type)

    async def _verify_document(
        self, session_id: str, document, live_face, document_type
    ) -> DocumentCheck:
        ctx = self.ctx
        session = await ctx.session(session_id, active=True)
        document_type = check_document_type(document_type)

        def fail(message: str) -> ServiceError:
            return ServiceError(message, verified=False, document_type=document_type)

        if not isinstance(document, str) or not document.strip():
            raise fail(messages.no_data("document"))
        if not isinstance(live_face, str) or not live_face.strip():
            raise fail(messages.no_data("live_face"))
        ledger = self._ledger(session, verified=False, document_type=document_type)
        min_px = ctx.settings.document_min_face_px

        def work(p: FramePipeline):
            doc = ctx.decode(document, "document")
            live = ctx.decode(live_face, "live_face")
            found = document_and_live_faces(p, doc, live, min_px)
            live_faces = found[0]
            cues = liveness_cues(live, live_faces[0], None) if len(live_faces) == 1 else None
            return (*found, cues)

        try:
            live_faces, doc_faces, rotation, cues = await ctx.infer(work)
        except ServiceError as exc:
            exc.extra.update(verified=False, document_type=document_type)
            raise
        if not live_faces:
            raise fail(messages.NO_FACE_LIVE)
        if len(live_faces) > 1:
            raise fail(messages.MULTI_LIVE)
        if not doc_faces:
            raise fail(messages.NO_FACE_DOCUMENT)
        live, doc = live_faces[0], doc_faces[0]
        threshold = ctx.settings.verification_threshold
        chain = check_document(
            doc.embedding, live.embedding, self._registered(session), ctx.scale, threshold
        )
        liveness = single_image_liveness(cues, ctx.settings.liveness_image_min)
        m = chain.links[0].match  # document vs live face: the reference's similarity
        verified = chain.verified and liveness.passed
        now = iso(utcnow())
        ledger.record(
            "document",
            verified,
            now,
            similarity=m.similarity,
            document_type=document_type,
            liveness=liveness.score,
        )
        result = {
            "verified": verified,
            "similarity": m.similarity,
            "document_type": document_type,
            "timestamp": now,
            "document_face_confidence": confidence(doc),
            "live_face_confidence": confidence(live),
            "document_rotation": rotation,
            "chain": chain.as_dict(),
            "liveness": liveness.as_dict(),
            "attempts": ledger.as_state()["document_attempts"],
        }
        register = verified and not session.face_registered
        extra: dict = {}
        if register:
            extra = {
                "registration": {
                    "face_confidence": confidence(live),
                    "source": "verify-document",
                    "timestamp": now,
                    "liveness": liveness.as_dict(),
                },
                "embedding": live.embedding,
                "embedder": ctx.models.embedder_id,
            }
        await self._save(session, ledger, document=result, document_face=doc.embedding, **extra)
        face_registered = bool(register or session.face_registered)
        ctx.emit(
            session_id,
            "identity",
            {
                "source": "verify-document",
                "verified": verified,
                "similarity": m.similarity,
                "face_registered": face_registered,
            },
        )
        check = document_check(result, threshold, face_registered)
        if not verified:
            if chain.message:
                check.message = chain.message
            elif not liveness.passed:
                check.message = MSG_NOT_LIVE.format(score=liveness.score)
            check.attempts_left = _attempts(ledger, ctx).get("attempts_left")
        check.liveness = liveness.as_dict()
        check.identity_chain = chain.as_dict()
        return check


REREGISTERED = "Face re-registered by the proctor"


def _attempts(ledger: IdentityLedger, ctx: ServiceContext) -> dict:
    limit = ctx.settings.identity_max_attempts
    return {"attempts_left": max(0, limit - ledger.failures)} if limit > 0 else {}


def check_document_type(document_type) -> str:
    if document_type is None:
        return "other"
    if not isinstance(document_type, str) or document_type.lower() not in DOCUMENT_TYPES:
        raise ServiceError(messages.invalid_document_type(DOCUMENT_TYPES), verified=False)
    return document_type.lower()


def document_and_live_faces(p: FramePipeline, doc: np.ndarray, live: np.ndarray, min_px: int):
    """(live faces, [the document's portrait] or [], rotation); embeddings only when usable."""
    live_faces = p.faces(live)
    if len(live_faces) != 1:
        return live_faces, None, None
    p.embed(live, live_faces[0])
    rotated, doc_faces, rotation = p.document_faces(doc)
    doc_faces = [f for f in doc_faces if min(f.width, f.height) >= min_px]
    if not doc_faces:
        return live_faces, [], rotation
    # ID cards often carry a small "ghost" copy of the portrait: take the clearest, largest face.
    best = max(doc_faces, key=lambda f: f.score * np.sqrt(f.area))
    p.embed(rotated, best)
    return live_faces, [best], rotation


def document_check(result: dict, threshold: float, face_registered: bool) -> DocumentCheck:
    verified = result["verified"]
    return DocumentCheck(
        verified=verified,
        similarity=result["similarity"],
        threshold=threshold,
        document_type=result["document_type"],
        document_face_confidence=result["document_face_confidence"],
        live_face_confidence=result["live_face_confidence"],
        message=(
            messages.VERIFIED
            if verified
            else messages.not_verified(result["similarity"], threshold)
        ),
        face_registered=face_registered,
        next_step=messages.NEXT_AFTER_VERIFIED if verified else messages.NEXT_AFTER_FAILED,
    )
