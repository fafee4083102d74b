"""Identity use cases: register the candidate's face, verify an ID document against a live face.

Both end with a reference embedding stored on the session (verify-document only when the
faces match); ``frames`` compares every later frame with it.
"""

from __future__ import annotations

import time

import numpy as np

from ..proctoring.observation import Face
from ..proctoring.verification import match
from ..vision.pipeline import FramePipeline
from . import messages
from .context import ServiceContext, iso, utcnow
from .errors import ServiceError

DOCUMENT_TYPES = ("aadhaar", "pan", "passport", "driving_license", "voter_id", "other")


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

    # --- register-face -----------------------------------------------------------------
    async def register_face(self, session_id: str, face_b64) -> dict:
        ctx = self.ctx
        session = await ctx.session(session_id, active=True)
        if session.face_registered:
            raise ServiceError(messages.ALREADY_REGISTERED, face_registered=True)
        if not isinstance(face_b64, str) or not face_b64.strip():
            raise ServiceError(messages.no_data("face"))

        def work(p: FramePipeline):
            image = ctx.decode(face_b64, "face")
            faces = p.faces(image)
            if len(faces) == 1:
                p.embed(image, faces[0])
            return image.shape, faces

        shape, faces = await ctx.infer(work)
        if not faces:
            raise ServiceError(messages.NO_FACE)
        if len(faces) > 1:
            raise ServiceError(messages.MULTI)
        face = faces[0]
        conf = confidence(face)
        if conf < ctx.settings.min_face_confidence:
            raise ServiceError(messages.low_confidence(conf))
        box = bounding_box(face, shape[1], shape[0])
        info = {
            "face_confidence": conf,
            "face_bounding_box": box,
            "source": "register-face",
            "timestamp": iso(utcnow()),
        }
        saved = await ctx.db(
            ctx.store.save_registration,
            session_id,
            face.embedding,
            ctx.models.embedder_id,
            info,
            time.time(),
        )
        if not saved:  # another request registered first
            raise ServiceError(messages.ALREADY_REGISTERED, face_registered=True)
        ctx.emit(
            session_id,
            "identity",
            {"source": "register-face", "face_registered": True, "face_confidence": conf},
        )
        return {
            "success": True,
            "message": messages.FACE_REGISTERED,
            "face_confidence": conf,
            "face_bounding_box": box,
            "verification_enabled": True,
        }

    # --- verify-document ---------------------------------------------------------------
    async def verify_document(self, session_id: str, document, live_face, document_type) -> dict:
        ctx = self.ctx
        session = await ctx.session(session_id, active=True)
        document_type = check_document_type(document_type)

        def fail(message: str) -> ServiceError:
            return ServiceError(message, verified=False, document_type=document_type)

        if not isinstance(document, str) or not document.strip():
            raise fail(messages.no_data("document"))
        if not isinstance(live_face, str) or not live_face.strip():
            raise fail(messages.no_data("live_face"))
        min_px = ctx.settings.document_min_face_px

        def work(p: FramePipeline):
            doc = ctx.decode(document, "document")
            live = ctx.decode(live_face, "live_face")
            return document_and_live_faces(p, doc, live, min_px)

        try:
            live_faces, doc_faces, rotation = await ctx.infer(work)
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
        m = match(doc.embedding, live.embedding, ctx.scale, threshold)
        result = {
            "verified": m.verified,
            "similarity": m.similarity,
            "document_type": document_type,
            "timestamp": iso(utcnow()),
            "document_face_confidence": confidence(doc),
            "live_face_confidence": confidence(live),
            "document_rotation": rotation,
        }
        registered_now = await self._save_document(session_id, result, live)
        face_registered = bool(registered_now or session.face_registered)
        ctx.emit(
            session_id,
            "identity",
            {
                "source": "verify-document",
                "verified": m.verified,
                "similarity": m.similarity,
                "face_registered": face_registered,
            },
        )
        return verify_document_body(result, threshold, face_registered)

    async def _save_document(self, session_id: str, result: dict, live: Face) -> bool:
        """Store the check; a match also registers the live face unless one is registered.

        True when this call registered it."""
        ctx = self.ctx
        if not result["verified"]:
            await ctx.db(ctx.store.save_document, session_id, result, time.time())
            return False
        info = {
            "face_confidence": confidence(live),
            "source": "verify-document",
            "timestamp": result["timestamp"],
        }
        return await ctx.db(
            ctx.store.save_document,
            session_id,
            result,
            time.time(),
            live.embedding,
            ctx.models.embedder_id,
            info,
        )


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


def verify_document_body(result: dict, threshold: float, face_registered: bool) -> dict:
    verified = result["verified"]
    return {
        "success": True,
        "verified": verified,
        "similarity": result["similarity"],
        "threshold": threshold,
        "document_type": result["document_type"],
        "document_face_confidence": result["document_face_confidence"],
        "live_face_confidence": result["live_face_confidence"],
        "message": (
            messages.VERIFIED
            if verified
            else messages.not_verified(result["similarity"], threshold)
        ),
        "face_registered": face_registered,
        "next_step": messages.NEXT_AFTER_VERIFIED if verified else messages.NEXT_AFTER_FAILED,
    }
