"""Sample sessions as ``SummaryFacts``: for tests, and for measuring a model (``measure.py``).

They span the cases a summary must handle: a strong candidate, critical alerts with
identity mismatches, a very short session with almost nothing measured, no face
verification, only informational alerts, and names outside ASCII.
"""

from __future__ import annotations

from .facts import SummaryFacts, VerificationFacts


def _alerts(*pairs: tuple[str, int]) -> dict[str, dict[str, int]]:
    by_type, by_severity = SummaryFacts.count_alerts(
        [{"type": kind} for kind, n in pairs for _ in range(n)]
    )
    return {"alert_counts": by_type, "severity_counts": by_severity}


def strong_candidate() -> SummaryFacts:
    return SummaryFacts(
        duration_s=300.5,
        frames_analyzed=295,
        overall_score=86,
        candidate_name="John Doe",
        job_title="Software Engineer",
        company="TechCorp",
        eye_contact=85,
        confidence=80,
        engagement=85,
        posture=88,
        facial_expressions=82,
        head_stability=80,
        gestures=75,
        dominant_emotion="CALM",
        verification=VerificationFacts(enabled=True, verification_rate=98.3, mismatches=0),
        key_strengths=("Maintains strong eye contact throughout", "Steady, upright posture"),
        areas_of_growth=("Occasional looking away from camera",),
        questions_answered=5,
        **_alerts(("looking_away", 1)),
    )


def critical_alerts() -> SummaryFacts:
    return SummaryFacts(
        duration_s=412,
        frames_analyzed=401,
        overall_score=41,
        candidate_name="Priya Raman",
        job_title="Data Analyst",
        eye_contact=38,
        confidence=45,
        engagement=52,
        posture=60,
        dominant_emotion="CONFUSED",
        verification=VerificationFacts(enabled=True, verification_rate=71.5, mismatches=9),
        key_strengths=("Stayed in frame for most of the session",),
        areas_of_growth=("A second person appeared on camera", "A phone was visible on the desk"),
        **_alerts(("multiple_faces", 2), ("face_mismatch", 1), ("suspicious_object", 3)),
    )


SAMPLES = {
    "strong": strong_candidate(),
    "critical": critical_alerts(),
    "short": SummaryFacts(duration_s=20, frames_analyzed=18, overall_score=70),
    "looking-away": SummaryFacts(
        duration_s=1260,
        frames_analyzed=1180,
        overall_score=68,
        candidate_name="Alex Kim",
        company="Northwind",
        eye_contact=62,
        confidence=70,
        engagement=66,
        posture=74,
        head_stability=71,
        dominant_emotion="HAPPY",
        key_strengths=("Upright posture",),
        areas_of_growth=("Looked away from the camera at times",),
        **_alerts(("looking_away", 4), ("no_face_detected", 1)),
    ),
    "no-verification": SummaryFacts(
        duration_s=600,
        frames_analyzed=590,
        overall_score=79,
        job_title="Product Manager",
        eye_contact=80,
        confidence=77,
        engagement=81,
        posture=79,
        facial_expressions=76,
        dominant_emotion="CALM",
        questions_answered=8,
        key_strengths=("Consistent eye contact", "Engaged throughout"),
        areas_of_growth=("Could vary facial expressions more",),
    ),
    "info-only": SummaryFacts(
        duration_s=900,
        frames_analyzed=870,
        overall_score=58,
        candidate_name="José Núñez",
        company="Fabrikam",
        eye_contact=55,
        confidence=60,
        posture=65,
        dominant_emotion="CALM",
        verification=VerificationFacts(enabled=True, verification_rate=95.0, mismatches=2),
        **_alerts(("text_detected", 3)),
    ),
}
