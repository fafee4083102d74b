"""Reads: what a session looks like now (status, metrics, alerts, timeline, report) and the server's state.

Nothing here writes; api and realtime read sessions through these, never the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..proctoring.aggregate import live_metrics, verification_summary
from ..proctoring.contract import Section
from ..proctoring.frame import FrameResult
from ..proctoring.report_sections import Report
from ..store import SessionRecord
from . import messages
from .context import ServiceContext, utcnow
from .errors import ServiceError


@dataclass
class DocumentStatus(Section):
    """The ID check as the document-status read sees it (the route adds success/session_id)."""

    document_verified: bool = False
    document_type: str | None = None
    verification_result: dict[str, Any] | None = None
    face_registered: bool = False


@dataclass
class RecentVerification(Section):
    timestamp: float = 0.0
    verified: bool = False
    similarity: float = 0.0
    message: str = ""
    threshold: float = 0.0


@dataclass
class VerificationStatus(Section):
    """Registration and the latest face checks (the route adds success/session_id)."""

    face_registered: bool = False
    verification_enabled: bool = True
    verification_summary: dict[str, Any] = field(default_factory=dict)
    recent_verifications: list[RecentVerification] = field(
        default_factory=list, metadata={"items": RecentVerification}
    )


class Reads:
    def __init__(self, ctx: ServiceContext):
        self.ctx = ctx

    async def session(self, session_id: str) -> SessionRecord:
        """The session (``SessionNotFound`` when there is none)."""
        return await self.ctx.session(session_id)

    async def list_sessions(self) -> list[SessionRecord]:
        return await self.ctx.db(self.ctx.store.list_sessions)

    async def count_active(self) -> int:
        return await self.ctx.db(self.ctx.store.count_active)

    async def document_status(self, session_id: str) -> DocumentStatus:
        s = await self.ctx.session(session_id)
        doc = s.document
        return DocumentStatus(
            document_verified=bool(doc and doc.get("verified")),
            document_type=doc.get("document_type") if doc else None,
            verification_result=(
                {k: doc[k] for k in ("verified", "similarity", "document_type", "timestamp")}
                if doc
                else None
            ),
            face_registered=s.face_registered,
        )

    async def verification_status(self, session_id: str) -> VerificationStatus:
        ctx = self.ctx
        s = await ctx.session(session_id)
        vers = await ctx.db(ctx.store.verifications, session_id)
        recent = vers[-ctx.settings.recent_verifications :]
        return VerificationStatus(
            face_registered=s.face_registered,
            verification_enabled=True,
            verification_summary=verification_summary(vers, True, s.face_registered),
            recent_verifications=[
                RecentVerification(
                    timestamp=v.timestamp,
                    verified=v.verified,
                    similarity=v.similarity,
                    message=v.message,
                    threshold=v.threshold,
                )
                for v in recent
            ],
        )

    async def metrics(self, session_id: str) -> dict:
        s = await self.ctx.session(session_id)
        frames = await self.ctx.db(self.ctx.store.frames, session_id)
        analysed = [f for f in frames if f.analyzed]
        end = s.end_time or utcnow()
        return live_metrics(
            s.id,
            s.frames_received,
            s.frames_analyzed,
            (end - s.start_time).total_seconds(),
            s.is_active,
            [FrameResult.from_stored(f.result, f.signals) for f in analysed],
            s.alert_count,
        )

    async def alerts(self, session_id: str) -> list[dict]:
        await self.ctx.session(session_id)
        return [a.as_contract() for a in await self.ctx.db(self.ctx.store.alerts, session_id)]

    async def timeline(self, session_id: str, last: int | None = None) -> list[dict]:
        """Per frame (the ``last`` N if given): what the dashboard charts (similarity, the four metrics, alerts)."""
        await self.ctx.session(session_id)
        frames = await self.ctx.db(self.ctx.store.frames, session_id)
        out = []
        for f in frames[-last:] if last else frames:
            r = FrameResult.from_stored(f.result)  # a frame not analysed has no result
            fv = r.face_verification
            out.append(
                {
                    "frame_number": f.frame_number,
                    "timestamp": f.timestamp,
                    "analyzed": f.analyzed,
                    "face_count": r.face_count,
                    "dominant_emotion": r.dominant_emotion,
                    "metrics": None if "metrics" in r.absent else r.metrics.as_contract(),
                    "similarity": fv.similarity if fv else None,
                    "verified": fv.verified if fv else None,
                    "alerts": [a.type for a in r.alerts],
                }
            )
        return out

    async def report(self, session_id: str) -> Report:
        s = await self.ctx.session(session_id)
        if s.report is None:
            raise ServiceError(messages.SESSION_STILL_ACTIVE, status=409)
        return Report.from_stored(s.report)

    async def server_state(self) -> dict:
        """What /health reports of this server: sessions, models, queue, local LLM."""
        ctx = self.ctx
        llm = ctx.summarizer.engine
        return {
            "active_sessions": await self.count_active(),
            "local_llm": bool(llm is not None and llm.available),
            "models": ctx.models.describe(),
            "execution_providers": ctx.models.providers,
            "inference_queue": ctx.pool.pending,
        }
