"""The end-of-session report: every number from the session's observations by a rule.

The rules (docs/report.md has the same text):

- ``behavioral_analysis``: session means (frames with a face) of each 0-100 score;
  ``voice_tone`` is ``null`` because proctor receives no audio.
- ``body_language_analysis.overallAveragePercentage``: mean of the measured detailed
  scores (posture, gestures, eye_contact, facial_expressions, head_stability).
- ``cultural_fit_analysis``: not measurable from video frames: percentage ``null``.
- ``overall_behavior_analysis.overallAveragePercentage`` (= ``ai_summary.overallVideoScore``):
  the mean of eye_contact, confidence, engagement, posture and facial_expressions,
  minus integrity penalties: each alert type raised costs its catalogue ``penalty``
  once (``alert_types.py``: 10 per critical type, 5 per warning type, 0 for info),
  floored at 0.
- Strengths: every score >= 75 (strongest first, at most 4).  Areas of growth: every
  score < 60 and each alert type raised (its catalogue ``growth``; at most 5).
  Recommendations follow from the areas of growth (the catalogue's ``advice``).
- ``timeline`` (additive, for the HTML/PDF charts): per analysed frame the four live
  metrics (``null`` without a face), the verification similarity (``null`` when not
  checked) and the face count; bucket means beyond 600 frames.  ``interview``: the
  candidate and job fields of the start request's ``job_data``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from . import alert_types
from .aggregate import (
    LIVE_KEYS,
    average_scores,
    dominant_emotion,
    emotion_summary,
    verification_summary,
)
from .alerts import Alert
from .frame import FrameResult
from .identity import document_section
from .observation import EMOTIONS
from .report_sections import (
    AISummary,
    BehavioralAnalysis,
    BodyLanguageAnalysis,
    CulturalFitAnalysis,
    EmotionPoint,
    Interview,
    OverallBehaviorAnalysis,
    Report,
    SessionSummary,
    Timeline,
    TimelinePoint,
    TokenConsumption,
    VerificationSummary,
    VideoAnalysisInsights,
)

STRENGTH_TEXT = {
    "eye_contact": "Maintains strong eye contact with the camera",
    "confidence": "Comes across as composed and confident",
    "engagement": "Stays attentive and engaged",
    "posture": "Keeps an upright, well-framed posture",
    "facial_expressions": "Shows positive, interview-appropriate facial expressions",
    "head_stability": "Keeps a steady head position",
    "gestures": "Uses calm, unobtrusive hand movements",
}
GROWTH_TEXT = {
    "eye_contact": "Eye contact with the camera was often lost",
    "confidence": "Appeared less composed for parts of the session",
    "engagement": "Engagement dropped for parts of the session",
    "posture": "Posture or framing could be improved",
    "facial_expressions": "Facial expressions were often tense or negative",
    "head_stability": "Frequent head movement",
    "gestures": "Hands often covered the face",
}
RECOMMENDATION_TEXT = {
    "eye_contact": "Look at the camera lens, not the screen, when answering",
    "confidence": "Practise answers aloud to build a steadier delivery",
    "engagement": "Keep attention on the interview and avoid long pauses away from the camera",
    "posture": "Sit upright, centred in the frame, at arm's length from the camera",
    "facial_expressions": "Relax the face between answers; a neutral or friendly expression reads well",
    "head_stability": "Keep the head steady and facing the camera",
    "gestures": "Keep hands away from the face",
}
MAX_TIMELINE = 600


def _band(score: float | None, high: str, mid: str, low: str) -> str:
    if score is None:
        return "Not enough data to assess"
    return high if score >= 75 else mid if score >= 60 else low


def _top_emotions(emotions: dict[str, float]) -> dict[str, int]:
    return dict(
        sorted(((k, round(v)) for k, v in emotions.items() if v >= 5), key=lambda kv: -kv[1])
    )


def emotion_timeline(frames: list[FrameResult]) -> list[EmotionPoint]:
    """Per frame with a face: dominant emotion and its top emotions; at most MAX_TIMELINE points."""
    frames = [f for f in frames if f.face_detected and f.dominant_emotion]
    if len(frames) > MAX_TIMELINE:  # average buckets of consecutive frames
        size = -(-len(frames) // MAX_TIMELINE)
        out = []
        for i in range(0, len(frames), size):
            b = frames[i : i + size]
            emo = {k: sum(f.emotions[k] for f in b) / len(b) for k in EMOTIONS}
            dom = max(emo, key=emo.__getitem__)
            out.append(EmotionPoint(b[0].timestamp, dom, _top_emotions(emo)))
        return out
    return [
        EmotionPoint(f.timestamp, f.dominant_emotion, _top_emotions(f.emotions)) for f in frames
    ]


def _mean(values: list) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def metrics_timeline(frames: list[FrameResult], threshold: float | None) -> Timeline:
    """Per analysed frame: the four live metrics (``null`` without a face, as in the
    averages), the verification similarity (``null`` when not checked) and the face
    count.  Beyond MAX_TIMELINE frames, consecutive frames are averaged into buckets
    (timestamp of the first frame, metric and similarity means, the largest face count)."""
    size = max(1, -(-len(frames) // MAX_TIMELINE))
    points = []
    for i in range(0, len(frames), size):
        bucket = frames[i : i + size]
        with_face = [f for f in bucket if f.face_detected]
        point = TimelinePoint(timestamp=bucket[0].timestamp)
        for key in LIVE_KEYS:
            m = _mean([getattr(f.metrics, key) for f in with_face])
            setattr(point, key, None if m is None else round(m))
        sim = _mean([f.face_verification.similarity for f in bucket if f.face_verification])
        point.similarity = None if sim is None else round(sim, 1)
        point.face_count = max(f.face_count for f in bucket)
        points.append(point)
    return Timeline(frames_per_point=size, verification_threshold=threshold, points=points)


def interview_details(job: dict) -> Interview:
    """The start request's job_data fields a report header shows (text only, bounded)."""

    def text(key: str) -> str | None:
        v = job.get(key)
        return (v.strip()[:200] or None) if isinstance(v, str) else None

    return Interview(
        candidate_name=text("candidateName"),
        job_title=text("jobTitle"),
        company=text("company"),
        interview_type=text("interviewType"),
    )


def compute_report(
    session,
    frames: list[FrameResult],
    alerts: list[Alert],
    verifications: list,
    end_time: dt.datetime,
) -> tuple[Report, dict]:
    """Return ``(report, facts)``; the AI summary's prose is filled in later from ``facts``."""
    avg = average_scores(frames)
    duration = (end_time - session.start_time).total_seconds()
    raised = Counter(a.type for a in alerts)
    severities = Counter(a.severity for a in alerts)

    detailed = {
        k: avg[k]
        for k in ("posture", "gestures", "eye_contact", "facial_expressions", "head_stability")
    }
    measured = [v for v in detailed.values() if v is not None]
    body_avg = round(sum(measured) / len(measured)) if measured else None

    core = [
        v
        for k in ("eye_contact", "confidence", "engagement", "posture", "facial_expressions")
        if (v := avg[k]) is not None
    ]
    base = sum(core) / len(core) if core else None
    penalty = alert_types.penalty(set(raised))
    overall = None if base is None else max(0, round(base - penalty))

    ranked = sorted(((k, v) for k, v in avg.items() if v is not None), key=lambda kv: -kv[1])
    strengths = [STRENGTH_TEXT[k] for k, v in ranked if v >= 75][:4]
    weak = [
        k
        for k, v in sorted(((k, v) for k, v in avg.items() if v is not None), key=lambda kv: kv[1])
        if v < 60
    ]
    known = [alert_types.ALERT_TYPES[t] for t in raised if t in alert_types.ALERT_TYPES]
    growth = [GROWTH_TEXT[k] for k in weak] + [t.growth for t in known]
    growth = growth[:5]
    recs = [RECOMMENDATION_TEXT[k] for k in weak] + [t.advice for t in known if t.advice]
    if not recs and base is not None:
        recs = ["Keep the same camera set-up and lighting for future interviews"]
    recs = list(dict.fromkeys(recs))[:5]

    registered = session.face_registered
    ver = verification_summary(verifications, enabled=True, registered=registered)
    dominant = dominant_emotion(frames)

    report = Report(
        session_id=session.id,
        session_summary=SessionSummary(
            start_time=session.start_time.isoformat(timespec="microseconds"),
            end_time=end_time.isoformat(timespec="microseconds"),
            duration_seconds=round(duration, 1),
            total_frames_received=session.frames_received,
            frames_analyzed=session.frames_analyzed,
            total_alerts=len(alerts),
        ),
        behavioral_analysis=BehavioralAnalysis(
            eye_contact=avg["eye_contact"],
            posture=avg["posture"],
            gestures=avg["gestures"],
            facial_expressions=avg["facial_expressions"],
            voice_tone=None,
            confidence=avg["confidence"],
            engagement=avg["engagement"],
            emotion_summary=emotion_summary(frames),
        ),
        body_language_analysis=BodyLanguageAnalysis(
            summary=_band(
                body_avg,
                "Good body language with an upright posture and steady presence",
                "Adequate body language with some room to improve",
                "Body language needs attention: posture, framing or eye contact were weak",
            ),
            overallAveragePercentage=body_avg,
            detailed_scores=detailed,
        ),
        cultural_fit_analysis=CulturalFitAnalysis(
            summary="Not assessed: cultural fit cannot be measured from webcam frames.",
            overallAveragePercentage=None,
        ),
        overall_behavior_analysis=OverallBehaviorAnalysis(
            overallAveragePercentage=overall,
            summary=_band(
                overall,
                "Strong interview presence with few integrity concerns",
                "Acceptable interview presence with some concerns",
                "Weak interview presence or significant integrity concerns",
            ),
        ),
        video_analysis_insights=VideoAnalysisInsights(
            positive_indicators=strengths,
            areas_for_improvement=growth,
            recommendations=recs,
        ),
        face_verification_summary=VerificationSummary(**ver),
        emotion_timeline=emotion_timeline(frames),
        timeline=metrics_timeline(frames, verifications[-1].threshold if verifications else None),
        alert_history=list(alerts),
        ai_summary=AISummary(
            summary="", keyStrengths=strengths, areasOfGrowth=growth, overallVideoScore=overall
        ),
        token_consumption=TokenConsumption(),
        analysis_metadata={
            "llm_enhanced": False,
            "llm_provider": "local",
            "face_verification_enabled": True,
            "face_registered": registered,
        },
    )
    # the identity chain (docs/cheating.md): what the ID check found, how often it was tried
    document = document_section(
        getattr(session, "document", None),
        (getattr(session, "state", None) or {}).get("identity"),
        registered,
        getattr(session, "kind", "live"),
    )
    report.add_section("document", document)
    job = session.job_data or {}
    report.interview = interview_details(job)
    facts = {
        "candidate_name": job.get("candidateName"),
        "job_title": job.get("jobTitle"),
        "company": job.get("company"),
        "duration_seconds": round(duration),
        "frames_analyzed": session.frames_analyzed,
        "overall_score": overall,
        "scores": {k: v for k, v in avg.items()},
        "dominant_emotion": dominant,
        "verification": {
            "enabled": True,
            "registered": registered,
            "rate": ver["verification_rate"],
            "mismatches": ver["total_mismatches"],
        },
        "alerts_by_type": dict(raised),
        "alerts_by_severity": dict(severities),
        "strengths": strengths,
        "growth": growth,
        "document": document["status"],
    }
    return report, facts
