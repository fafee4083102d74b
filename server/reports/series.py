"""What the report's charts plot, read from a stored report (shared by the HTML and PDF views).

Every series comes from keys of the report itself, so a report fetched again draws
the same charts: ``timeline`` (live metrics, similarity, face count per analysed
frame), ``emotion_timeline`` and ``alert_history``.  Times are seconds since the
session started.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from ..proctoring.alert_types import SEVERITY_ORDER, label_of
from ..proctoring.alerts import Alert
from ..proctoring.observation import EMOTIONS
from ..proctoring.report_sections import Report, TimelinePoint

METRICS = ("eye_contact", "confidence", "engagement", "posture")
METRIC_LABELS = {
    "eye_contact": "Eye contact",
    "confidence": "Confidence",
    "engagement": "Engagement",
    "posture": "Posture",
}
METRIC_COLORS = {
    "eye_contact": "#2563eb",
    "confidence": "#7c3aed",
    "engagement": "#059669",
    "posture": "#ea580c",
}
EMOTION_COLORS = {
    "HAPPY": "#22c55e",
    "CALM": "#14b8a6",
    "CONFUSED": "#a855f7",
    "SURPRISED": "#eab308",
    "SAD": "#3b82f6",
    "ANGRY": "#ef4444",
    "DISGUSTED": "#a16207",
    "FEAR": "#64748b",
}
SEVERITY_COLORS = {"critical": "#dc2626", "warning": "#f59e0b", "info": "#3b82f6"}
# the speech timeline (audio_analysis segments by role, docs/audio.md)
SPEECH_COLORS = {"candidate": "#16a34a", "other": "#dc2626", "unknown": "#94a3b8"}
SPEECH_ROWS = {
    "candidate": "Candidate",
    "other": "Another voice",
    "unknown": "Speech (voice unclear)",
}

alert_label = label_of  # the catalogue's chart label of an alert type
Point = tuple[float, float | None]


@dataclass(frozen=True)
class AlertMark:
    timestamp: float
    type: str
    severity: str
    message: str


def _num(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def as_report(report: Report | dict) -> Report:
    """The typed report of a stored body (views accept either)."""
    return report if isinstance(report, Report) else Report.from_stored(report)


def timeline_points(report: Report) -> list[TimelinePoint]:
    return [p for p in report.timeline.points if _num(p.timestamp) is not None]


def metadata(report: Report) -> dict:
    meta = report.analysis_metadata
    return meta if isinstance(meta, dict) else {}


def candidate(report: Report) -> str:
    return report.interview.candidate_name or "Candidate"


def job_parts(report: Report) -> list[str]:
    """Job title, company and interview type, those given."""
    i = report.interview
    return [v for v in (i.job_title, i.company, i.interview_type) if v]


def time_domain(report: Report) -> float:
    """Right end of every time axis: the session's duration or the last event, at least 1 s."""
    ends = [_num(report.session_summary.duration_seconds) or 0.0]
    ends += [float(p.timestamp or 0) for p in timeline_points(report)]
    ends += [t for t in (_num(e.timestamp) for e in report.emotion_timeline) if t is not None]
    ends += [m.timestamp for m in alert_marks(report)]
    return max(1.0, max(ends))


def metric_series(report: Report) -> dict[str, list[Point]]:
    pts = timeline_points(report)
    return {k: [(float(p.timestamp or 0), _num(getattr(p, k))) for p in pts] for k in METRICS}


def score_rows(report: Report, no_audio_label: str = "Voice tone") -> list[tuple[str, object]]:
    """The score bars, in their order: the behavioural means, head stability from the detailed
    body-language scores, and voice tone (labelled ``no_audio_label`` when there was no audio)."""
    ba = report.behavioral_analysis
    detailed = report.body_language_analysis.detailed_scores
    return [
        ("Eye contact", ba.eye_contact),
        ("Confidence", ba.confidence),
        ("Engagement", ba.engagement),
        ("Posture", ba.posture),
        ("Facial expressions", ba.facial_expressions),
        ("Head stability", detailed.get("head_stability") if isinstance(detailed, dict) else None),
        ("Gestures", ba.gestures),
        ("Voice tone" if ba.voice_tone is not None else no_audio_label, ba.voice_tone),
    ]


def similarity_series(report: Report) -> list[Point]:
    return [(float(p.timestamp or 0), _num(p.similarity)) for p in timeline_points(report)]


def verification_threshold(report: Report) -> float | None:
    return _num(report.timeline.verification_threshold)


def face_count_spans(report: Report, end: float) -> list[tuple[float, float, int]]:
    """(start, stop, face_count) for runs of frames without exactly one face."""
    pts = timeline_points(report)
    spans: list[tuple[float, float, int]] = []
    for i, p in enumerate(pts):
        n = p.face_count
        if not isinstance(n, int) or n == 1:
            continue
        t0 = float(p.timestamp or 0)
        t1 = float(pts[i + 1].timestamp or 0) if i + 1 < len(pts) else min(end, t0 + 1.0)
        if spans and spans[-1][2] == n and abs(spans[-1][1] - t0) < 1e-9:
            spans[-1] = (spans[-1][0], t1, n)
        else:
            spans.append((t0, max(t1, t0), n))
    return spans


def emotion_shares(report: Report) -> list[tuple[float, dict[str, float]]]:
    """Per emotion_timeline point, the eight emotions as shares summing to 100 (the
    timeline keeps emotions of 5% and more, so the small rest is spread pro rata)."""
    out = []
    for entry in report.emotion_timeline:
        t = _num(entry.timestamp)
        emotions = entry.emotions if isinstance(entry.emotions, dict) else {}
        vals = {k: max(0.0, _num(emotions.get(k)) or 0.0) for k in EMOTIONS}
        total = sum(vals.values())
        if t is None or total <= 0:
            continue
        out.append((t, {k: 100.0 * v / total for k, v in vals.items()}))
    return out


def severity(alert: Alert) -> str:
    """The alert's severity, ``info`` when a stored one is not a known severity."""
    return alert.severity if alert.severity in SEVERITY_COLORS else "info"


def alert_marks(report: Report) -> list[AlertMark]:
    out = []
    for a in report.alert_history:
        t = _num(a.timestamp)
        if t is None:
            continue
        out.append(AlertMark(t, str(a.type or "alert"), severity(a), str(a.message or "")))
    return out


def alert_rows(marks: list[AlertMark]) -> list[str]:
    """Alert types, most severe first, then by first occurrence."""
    first: dict[str, tuple[int, float]] = {}
    for m in marks:
        key = (SEVERITY_ORDER.get(m.severity, 3), m.timestamp)
        first[m.type] = min(first.get(m.type, key), key)
    return sorted(first, key=lambda t: first[t])


def nice_ticks(end: float, target: int = 8) -> list[float]:
    """Round tick values (seconds) from 0 to ``end``."""
    raw = end / max(1, target)
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200):
        if step >= raw:
            break
    else:
        step = math.ceil(raw / 3600) * 3600
    n = int(end // step)
    return [i * step for i in range(n + 1)]


def number(value, suffix: str = "", digits: int = 0, none: str = "-") -> str:
    """A report value as text (``none`` when it is missing or not a number)."""
    v = _num(value)
    return none if v is None else f"{v:.{digits}f}{suffix}"


def utc_time(iso) -> str | None:
    """A stored ISO time as ``YYYY-MM-DD HH:MM:SS UTC``; None when it is not one."""
    try:
        return dt.datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S") + " UTC"
    except (TypeError, ValueError):
        return None


def clock(seconds: float) -> str:
    """m:ss, or h:mm:ss past an hour."""
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
