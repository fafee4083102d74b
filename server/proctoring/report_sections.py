"""The end-of-session report as typed data: ``Report`` and its sections.

Field names and order are the contract's (seed-api "End Session" response, plus the
additive ``timeline`` and ``interview``), so ``Report.as_contract()`` is the response
body.  Reports are stored as that JSON; ``Report.from_stored`` reads a row of any
version back unchanged (see ``contract.Section``).  ``report.py`` computes a Report,
the summary step fills ``ai_summary``/``token_consumption``/``analysis_metadata``, the
HTML/PDF views read its attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .alerts import Alert
from .contract import Section


@dataclass
class SessionSummary(Section):
    start_time: str | None = None  # ISO 8601, UTC
    end_time: str | None = None
    duration_seconds: float | None = None
    total_frames_received: int | None = None
    frames_analyzed: int | None = None
    total_alerts: int | None = None


@dataclass
class BehavioralAnalysis(Section):
    eye_contact: int | None = None
    posture: int | None = None
    gestures: int | None = None
    facial_expressions: int | None = None
    voice_tone: int | None = None  # proctor receives no audio: null
    confidence: int | None = None
    engagement: int | None = None
    emotion_summary: dict[str, float] = field(default_factory=dict)


@dataclass
class BodyLanguageAnalysis(Section):
    summary: str | None = None
    overallAveragePercentage: int | None = None  # noqa: N815 (contract name)
    detailed_scores: dict[str, int | None] = field(default_factory=dict)


@dataclass
class CulturalFitAnalysis(Section):
    summary: str | None = None
    overallAveragePercentage: int | None = None  # noqa: N815


@dataclass
class OverallBehaviorAnalysis(Section):
    overallAveragePercentage: int | None = None  # noqa: N815
    summary: str | None = None


@dataclass
class VideoAnalysisInsights(Section):
    positive_indicators: list[str] = field(default_factory=list)
    areas_for_improvement: list[str] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)


@dataclass
class VerificationSummary(Section):
    enabled: bool = False
    registered: bool = False
    total_verifications: int = 0
    successful_verifications: int = 0
    average_similarity: float = 0.0
    max_similarity: float = 0.0
    min_similarity: float = 0.0
    verification_rate: float = 0.0
    total_mismatches: int = 0


@dataclass
class EmotionPoint(Section):
    timestamp: float | None = None
    dominant_emotion: str | None = None
    emotions: dict[str, int] = field(default_factory=dict)  # emotions of 5% and more


@dataclass
class TimelinePoint(Section):
    timestamp: float | None = None
    eye_contact: int | None = None
    confidence: int | None = None
    engagement: int | None = None
    posture: int | None = None
    similarity: float | None = None
    face_count: int | None = None


@dataclass
class Timeline(Section):
    frames_per_point: int = 1
    verification_threshold: float | None = None
    points: list[TimelinePoint] = field(default_factory=list, metadata={"items": TimelinePoint})


@dataclass
class AISummary(Section):
    summary: str = ""
    keyStrengths: list[str] = field(default_factory=list)  # noqa: N815
    areasOfGrowth: list[str] = field(default_factory=list)  # noqa: N815
    overallVideoScore: int | None = None  # noqa: N815


@dataclass
class TokenConsumption(Section):
    total_api_calls: int = 0
    total_tokens_consumed: int = 0
    total_prompt_tokens: int = 0
    total_completion_tokens: int = 0
    average_tokens_per_call: float = 0


@dataclass
class Interview(Section):
    candidate_name: str | None = None
    job_title: str | None = None
    company: str | None = None
    interview_type: str | None = None


def _section(cls: type) -> Any:
    return field(default_factory=cls, metadata={"section": cls})


@dataclass
class Report(Section):
    session_id: str | None = None
    session_summary: SessionSummary = _section(SessionSummary)
    behavioral_analysis: BehavioralAnalysis = _section(BehavioralAnalysis)
    body_language_analysis: BodyLanguageAnalysis = _section(BodyLanguageAnalysis)
    cultural_fit_analysis: CulturalFitAnalysis = _section(CulturalFitAnalysis)
    overall_behavior_analysis: OverallBehaviorAnalysis = _section(OverallBehaviorAnalysis)
    video_analysis_insights: VideoAnalysisInsights = _section(VideoAnalysisInsights)
    face_verification_summary: VerificationSummary = _section(VerificationSummary)
    emotion_timeline: list[EmotionPoint] = field(
        default_factory=list, metadata={"items": EmotionPoint}
    )
    timeline: Timeline = _section(Timeline)
    alert_history: list[Alert] = field(default_factory=list, metadata={"items": Alert})
    ai_summary: AISummary = _section(AISummary)
    token_consumption: TokenConsumption = _section(TokenConsumption)
    # Open-ended: llm_* keys, end_reason, and what a use case adds (video questions, ...).
    analysis_metadata: dict[str, Any] = field(default_factory=dict)
    interview: Interview = _section(Interview)

    def add_section(self, name: str, body: dict) -> None:
        """An additive section another use case writes (audio, identity, ...), after the contract's."""
        self.extra[name] = body

    @property
    def score(self) -> int | None:
        """The headline score: the AI summary's, else the behaviour average."""
        if "overallVideoScore" not in self.ai_summary.absent:
            return self.ai_summary.overallVideoScore
        return self.overall_behavior_analysis.overallAveragePercentage
