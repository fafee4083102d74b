"""The AI summary step of ``end``: report facts -> ``SummaryFacts`` -> local model or template."""

from __future__ import annotations

import logging

from ..llm.engine import LocalSummarizer, SummaryResult
from ..llm.facts import SummaryFacts, VerificationFacts
from ..llm.template import template_summary
from ..proctoring.report_sections import Report, TokenConsumption

log = logging.getLogger(__name__)


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
            )
        },
    )


class Summarizer:
    """Writes ``ai_summary.summary``, ``token_consumption`` and the LLM metadata into a report."""

    def __init__(self, engine: LocalSummarizer | None, provider_label: str = "local"):
        self.engine = engine
        self.provider_label = provider_label

    async def fill(
        self, report: Report, facts: dict, requested_provider: str | None = None
    ) -> SummaryResult:
        sf = to_summary_facts(facts)
        if self.engine is not None and facts.get("frames_analyzed"):
            result = await self.engine.summarize_async(sf)
        else:
            reason = (
                "no frames analysed" if self.engine is not None else "no local model configured"
            )
            result = SummaryResult(text=template_summary(sf), llm_enhanced=False, reason=reason)
        report.ai_summary.summary = result.text
        report.token_consumption = TokenConsumption.from_stored(result.token_consumption())
        meta = report.analysis_metadata
        meta["llm_enhanced"] = result.llm_enhanced
        meta["llm_provider"] = self.provider_label
        meta["llm_model"] = self.engine.model_name if self.engine is not None else None
        meta["summary_source"] = "llm" if result.llm_enhanced else "template"
        meta["summary_reason"] = result.reason
        if requested_provider and requested_provider not in ("local", self.provider_label):
            meta["requested_llm_provider"] = requested_provider
            meta["note"] = (
                f"'{requested_provider}' was requested; served by the local model, no cloud call is made."
            )
        return result

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
