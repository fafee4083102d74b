"""The AI summary step of ``end``: report facts -> ``SummaryFacts`` -> local model or template."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from typing import TYPE_CHECKING

from ..llm.engine import LocalSummarizer, SummaryResult
from ..llm.facts import SummaryFacts, VerificationFacts
from ..llm.template import template_summary
from ..proctoring.identity import document_summary_line
from ..proctoring.report_sections import Report, TokenConsumption

if TYPE_CHECKING:
    from .context import ServiceContext

log = logging.getLogger(__name__)


def identity_note(text: str, document: dict | None) -> str:
    """The summary, with one rule-made sentence when the ID document check failed or never
    happened (docs/cheating.md); the writers above never see identity documents."""
    line = document_summary_line(document)
    if not line or line in text:
        return text
    return f"{text} {line}".strip()


def to_summary_facts(facts: dict) -> SummaryFacts:
    scores = facts.get("scores", {})
    ver = facts.get("verification") or {}
    return SummaryFacts(
        duration_s=float(facts.get("duration_seconds") or 0),
        frames_analyzed=int(facts.get("frames_analyzed") or 0),
        overall_score=int(facts.get("overall_score") or 0),
        candidate_name=facts.get("candidate_name"),
        job_title=facts.get("job_title"),
        company=facts.get("company"),
        dominant_emotion=facts.get("dominant_emotion"),
        verification=VerificationFacts(
            enabled=bool(ver.get("registered")),
            verification_rate=ver.get("rate") if ver.get("registered") else None,
            mismatches=int(ver.get("mismatches") or 0),
        ),
        alert_counts=facts.get("alerts_by_type", {}),
        severity_counts=facts.get("alerts_by_severity", {}),
        key_strengths=facts.get("strengths", []),
        areas_of_growth=facts.get("growth", []),
        questions_answered=facts.get("questions_answered"),
        **{
            k: scores.get(k)
            for k in (
                "eye_contact",
                "confidence",
                "engagement",
                "posture",
                "facial_expressions",
                "head_stability",
                "gestures",
                "voice_tone",
            )
        },
    )


class Summarizer:
    """Writes ``ai_summary.summary``, ``token_consumption`` and the LLM metadata into a report.

    With ``budget_s`` (the server) ending a session waits that long for the model; then the
    template answers (``summary_pending``), the model finishes in the background, and its
    result goes into the stored report and out as ``report_updated`` (``attach``).
    """

    def __init__(
        self,
        engine: LocalSummarizer | None,
        provider_label: str = "local",
        budget_s: float | None = None,
    ):
        self.engine = engine
        self.provider_label = provider_label
        self.budget_s = budget_s
        self._ctx: ServiceContext | None = None  # its store and push listeners (attach)
        self._background: set[asyncio.Task] = set()

    def attach(self, ctx: ServiceContext) -> None:
        """Where background summaries go: ``ctx.store`` and ``ctx.emit``."""
        self._ctx = ctx

    async def fill(
        self,
        report: Report,
        facts: dict,
        requested_provider: str | None = None,
        session_id: str | None = None,
    ) -> SummaryResult:
        sf = to_summary_facts(facts)
        pending = None
        if self.engine is not None and facts.get("frames_analyzed"):
            if self.budget_s is not None and session_id and self._ctx is not None:
                result, pending = await self.engine.summarize_within(sf, self.budget_s)
            else:
                result = await self.engine.summarize_async(sf)
        else:
            reason = (
                "no frames analysed" if self.engine is not None else "no local model configured"
            )
            result = SummaryResult(text=template_summary(sf), llm_enhanced=False, reason=reason)
        report.ai_summary.summary = identity_note(result.text, report.extra.get("document"))
        report.token_consumption = TokenConsumption.from_stored(result.token_consumption())
        meta = report.analysis_metadata
        self._describe(meta, result)
        meta["summary_pending"] = pending is not None
        if requested_provider and requested_provider not in ("local", self.provider_label):
            meta["requested_llm_provider"] = requested_provider
            meta["note"] = (
                f"'{requested_provider}' was requested; served by the local model, no cloud call is made."
            )
        if pending is not None and session_id:  # pending only with a session to update
            task = asyncio.create_task(self._finish(session_id, pending))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return result

    def _describe(self, meta: dict, result: SummaryResult) -> None:
        meta["llm_enhanced"] = result.llm_enhanced
        meta["llm_provider"] = self.provider_label
        meta["llm_model"] = self.engine.model_name if self.engine is not None else None
        meta["summary_source"] = "llm" if result.llm_enhanced else "template"
        meta["summary_reason"] = result.reason
        meta["summary_prompt_version"] = result.prompt_version

    async def _finish(self, session_id: str, pending: concurrent.futures.Future) -> None:
        """Wait for the model's final result, then update the stored report and push
        ``report_updated`` (the report is stored by then: end() stores it right after fill)."""
        ctx = self._ctx
        assert ctx is not None  # fill() defers to the background only once attached
        try:
            result: SummaryResult = await asyncio.wrap_future(pending)
        except Exception:  # cancelled at shutdown, or a bug on the worker: the template stays
            log.exception("background summary for %s failed", session_id)
            return
        for _ in range(20):  # end() may still be storing the first version
            rec = await ctx.db(ctx.store.get_session, session_id)
            if rec is None:  # deleted meanwhile
                return
            if rec.report is not None:
                break
            await asyncio.sleep(0.25)
        else:
            return
        stored = rec.report
        if result.llm_enhanced:
            stored["ai_summary"]["summary"] = identity_note(result.text, stored.get("document"))
        stored["token_consumption"] = result.token_consumption()
        meta = stored.setdefault("analysis_metadata", {})
        self._describe(meta, result)
        meta["summary_pending"] = False
        if not await ctx.db(ctx.store.update_report, session_id, stored):
            return
        ctx.emit(
            session_id,
            "report_updated",
            {
                "summary_source": meta["summary_source"],
                "report_url": f"/api/sessions/{session_id}/report",
            },
        )

    async def drain(self) -> None:
        """Wait for the summaries still being written (tests, orderly shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
