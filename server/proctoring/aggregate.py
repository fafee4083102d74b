"""Session aggregates: live metrics, verification summary, emotion distribution.

Averages are taken over analysed frames in which a face was detected: frames without
the candidate are accounted for by the ``no_face_detected`` alert, not by dragging
every score towards 0.  ``emotion_distribution`` is the share of those frames (percent,
integers) by dominant emotion: the three most frequent by name, the rest as ``OTHER``.
"""

from __future__ import annotations

from collections import Counter

from .frame import FrameResult
from .observation import EMOTIONS

LIVE_KEYS = ("eye_contact", "confidence", "engagement", "posture")  # FrameResult.metrics
DETAIL_KEYS = ("facial_expressions", "head_stability", "gestures")  # FrameResult.detail


def _mean(values: list[float]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def face_frames(frames: list[FrameResult]) -> list[FrameResult]:
    return [f for f in frames if f.face_detected]


def average_scores(frames: list[FrameResult]) -> dict[str, int | None]:
    """Mean of each 0-100 score over frames with a face (None when no such frame)."""
    with_face = face_frames(frames)
    out: dict[str, int | None] = {}
    for key in LIVE_KEYS:
        m = _mean([getattr(f.metrics, key) for f in with_face])
        out[key] = None if m is None else round(m)
    for key in DETAIL_KEYS:
        m = _mean([getattr(f.detail, key) for f in with_face])
        out[key] = None if m is None else round(m)
    return out


def emotion_distribution(frames: list[FrameResult]) -> dict[str, int]:
    doms = [f.dominant_emotion for f in face_frames(frames) if f.dominant_emotion]
    if not doms:
        return {}
    counts = Counter(doms)
    total = len(doms)
    top = counts.most_common(3)
    out = {name: round(100 * n / total) for name, n in top}
    other = total - sum(n for _, n in top)
    if other:
        out["OTHER"] = round(100 * other / total)
    return out


def emotion_summary(frames: list[FrameResult]) -> dict[str, float]:
    """Mean percentage of each emotion over frames with a face (eight keys)."""
    with_face = face_frames(frames)
    if not with_face:
        return {k: 0.0 for k in EMOTIONS}
    return {
        k: round(sum(f.emotions.get(k, 0.0) for f in with_face) / len(with_face), 1)
        for k in EMOTIONS
    }


def dominant_emotion(frames: list[FrameResult]) -> str | None:
    doms = [f.dominant_emotion for f in face_frames(frames) if f.dominant_emotion]
    return Counter(doms).most_common(1)[0][0] if doms else None


def verification_summary(verifications: list, enabled: bool, registered: bool) -> dict:
    sims = [v.similarity for v in verifications]
    ok = sum(1 for v in verifications if v.verified)
    total = len(verifications)
    return {
        "enabled": enabled,
        "registered": registered,
        "total_verifications": total,
        "successful_verifications": ok,
        "average_similarity": round(sum(sims) / total, 1) if total else 0.0,
        "max_similarity": round(max(sims), 1) if sims else 0.0,
        "min_similarity": round(min(sims), 1) if sims else 0.0,
        "verification_rate": round(100 * ok / total, 1) if total else 0.0,
        "total_mismatches": total - ok,
    }


def live_metrics(
    session_id: str,
    frames_received: int,
    frames_analyzed: int,
    duration: float,
    active: bool,
    frames: list[FrameResult],
    alert_count: int,
) -> dict:
    avg = average_scores(frames)
    return {
        "session_id": session_id,
        "frames_analyzed": frames_analyzed,
        "total_frames_received": frames_received,
        "session_duration": round(duration, 1),
        "is_active": active,
        "metrics": {
            "avg_eye_contact": avg["eye_contact"] or 0,
            "avg_confidence": avg["confidence"] or 0,
            "avg_engagement": avg["engagement"] or 0,
            "avg_posture": avg["posture"] or 0,
            "avg_facial_expressions": avg["facial_expressions"] or 0,
            "dominant_emotion": dominant_emotion(frames),
            "emotion_distribution": emotion_distribution(frames),
        },
        "alert_count": alert_count,
    }
