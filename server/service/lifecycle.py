"""Session lifecycle: start, end (the report), delete, and ending idle sessions."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid

from ..proctoring.audio import invalid_profile
from ..proctoring.frame import FrameResult
from ..proctoring.report import compute_report
from ..proctoring.report_sections import Report
from ..store import SessionRecord
from .context import ServiceContext, iso, utcnow
from .errors import ServiceError, SessionNotFound
from .retention import remove_session

log = logging.getLogger(__name__)


class SessionLifecycle:
    def __init__(self, ctx: ServiceContext):
        self.ctx = ctx

    async def start(self, job_data: dict | None, kind: str = "live") -> SessionRecord:
        bad_profile = invalid_profile(job_data)
        if bad_profile:
            raise ServiceError(bad_profile)
        rec = SessionRecord(
            id=str(uuid.uuid4()),
            status="active",
            start_time=utcnow(),
            last_activity=time.time(),
            job_data=job_data or {},
            kind=kind,
        )
        await self.ctx.db(self.ctx.store.create_session, rec)
        self.ctx.emit(
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

    async def end(
        self,
        session_id: str,
        reason: str = "client",
        *,
        end_time: dt.datetime | None = None,
        extra_facts: dict | None = None,
        metadata: dict | None = None,
        requested_provider: str | None = None,
        audio: dict | None = None,
    ) -> Report:
        """End and report; ending an ended session returns its (stored) report.

        A video passes ``end_time`` = start + its length (durations in video time), its
        questions as ``extra_facts`` and what it was as ``metadata`` (into analysis_metadata).
        """
        ctx = self.ctx
        s = await ctx.session(session_id)
        if not s.is_active:
            return Report.from_stored(s.report or {})
        async with ctx.hold(session_id):
            s = await ctx.session(session_id)
            if not s.is_active:
                return Report.from_stored(s.report or {})
            end = end_time or utcnow()
            frames = await ctx.db(ctx.store.frames, session_id)
            alerts = await ctx.db(ctx.store.alerts, session_id)
            vers = await ctx.db(ctx.store.verifications, session_id)
            analysed = [f for f in frames if f.analyzed]
            analysed_frames = [FrameResult.from_stored(f.result, f.signals) for f in analysed]
            report, facts = compute_report(s, analysed_frames, alerts, vers, end)
            facts.update(extra_facts or {})
            # additive audio_analysis (a video's, else the live channel's) and its voice_tone
            heard = audio if audio is not None else await ctx.audio.live_section(s)
            report.extra["audio_analysis"] = heard
            report.behavioral_analysis.voice_tone = heard.get("voice_tone")
            if heard.get("voice_tone") is not None:  # a fact the summary may state
                facts.setdefault("scores", {})["voice_tone"] = heard["voice_tone"]
            report.analysis_metadata.update(metadata or {})
            report.analysis_metadata["end_reason"] = reason
            await ctx.summarizer.fill(
                report, facts, requested_provider=requested_provider, session_id=session_id
            )
            body = report.as_contract()
            if not await ctx.db(ctx.store.end_session, session_id, end, reason, body):
                again = await ctx.session(session_id)  # another replica ended it first
                return Report.from_stored(again.report) if again.report else report
        ctx.forget(session_id)
        ctx.emit(session_id, "session_ended", {"session_id": session_id, "reason": reason})
        return report

    async def delete(self, session_id: str) -> None:
        ctx = self.ctx
        async with ctx.hold(session_id):
            # Its rows in every table and the files its video jobs own (docs/security.md).
            if not await ctx.db(remove_session, ctx.store, ctx.settings, session_id):
                raise SessionNotFound()
        ctx.forget(session_id, lock=True)
        ctx.emit(session_id, "session_deleted", {})

    async def end_idle(self) -> list[str]:
        """End the sessions that received nothing for ``session_idle_timeout_s``; their ids."""
        timeout = self.ctx.settings.session_idle_timeout_s
        if timeout <= 0:
            return []
        ended = []
        for sid in await self.ctx.db(self.ctx.store.idle_sessions, time.time() - timeout):
            try:
                await self.end(sid, reason="idle")
                ended.append(sid)
            except ServiceError:
                continue
        return ended

    async def reap_idle(self, every: float) -> None:
        """Runs for the server's life: ``end_idle`` every ``every`` seconds."""
        while True:
            await asyncio.sleep(every)
            try:
                ended = await self.end_idle()
                if ended:
                    log.info("ended %d idle session(s): %s", len(ended), ", ".join(ended))
            except Exception:
                log.exception("idle-session reaper failed")
