"""What the code already computed about a session, as the only input to the summary.

Rules decide every judgement (the score, the strengths, the areas of growth); the
summary writers (``template``, ``engine``) only put these facts into sentences, and
``validate`` checks that a sentence says nothing the facts do not.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..proctoring.alert_types import ALERT_TYPES

# The alert types' fixed severities, from the catalogue (proctoring/alert_types.py).
ALERT_SEVERITY = {t.name: t.severity for t in ALERT_TYPES.values()}

# Metric averages in the order summaries mention them, with their words.
METRICS = (
    "eye_contact",
    "confidence",
    "engagement",
    "posture",
    "facial_expressions",
    "head_stability",
    "gestures",
    "voice_tone",  # only when audio was analysed (docs/audio.md)
)
METRIC_WORDS = {
    "eye_contact": "eye contact",
    "confidence": "confidence",
    "engagement": "engagement",
    "posture": "posture",
    "facial_expressions": "facial expressions",
    "head_stability": "head stability",
    "gestures": "gestures",
    "voice_tone": "voice tone",
}

_NUMBER = re.compile(r"\d+(?:\.\d+)?")

# job_data fields (name, role, company) are data typed in by an integrator or a candidate:
# they reach a summary verbatim, cut to this length, and never become facts or vocabulary.
JOB_FIELDS = ("candidate_name", "job_title", "company")
FIELD_MAX_CHARS = 60
FIELD_MAX_WORDS = 6  # more words than a name or a role has: shown in quotes
# Control, zero-width and bidi-override characters: they can hide or reorder text.
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
_NAME_LIKE = re.compile(r"[^\W_][\w'’.&/+#()-]*(?: [\w'’.&/+#()-]+)*")


def clean_field(value: object) -> str | None:
    """A job field as a summary may show it: visible characters, single spaces, no double
    quotes (they delimit it), at most ``FIELD_MAX_CHARS`` (cut at a word when possible)."""
    if value is None:
        return None
    text = _INVISIBLE.sub(" ", str(value)).replace('"', "'").replace("“", "'").replace("”", "'")
    text = " ".join(text.split())
    if len(text) > FIELD_MAX_CHARS:
        cut = text[:FIELD_MAX_CHARS]
        text = cut.rsplit(" ", 1)[0] if " " in cut[FIELD_MAX_CHARS // 2 :] else cut
    return text.strip(" .,;:") or None


def field_display(text: str) -> str:
    """How a cleaned field is written: as is when it looks like a name or a role, else in
    double quotes, so a reader sees where typed-in text starts and ends."""
    plain = (
        _NAME_LIKE.fullmatch(text)
        and len(text.split()) <= FIELD_MAX_WORDS
        and not re.search(r"[.!?]\s", text)
    )
    return text if plain else f'"{text}"'


@dataclass(frozen=True)
class VerificationFacts:
    """Continuous face verification over the session."""

    enabled: bool
    verification_rate: float | None = None  # 0-100, share of checks that matched
    mismatches: int = 0


@dataclass(frozen=True)
class SummaryFacts:
    """One ended session, reduced to what a summary may state."""

    duration_s: float
    frames_analyzed: int
    overall_score: int  # 0-100, the report's overallVideoScore
    candidate_name: str | None = None
    job_title: str | None = None
    company: str | None = None
    eye_contact: int | None = None
    confidence: int | None = None
    engagement: int | None = None
    posture: int | None = None
    facial_expressions: int | None = None
    head_stability: int | None = None
    gestures: int | None = None
    voice_tone: int | None = None  # 0-100 when audio was analysed
    dominant_emotion: str | None = None  # one of the contract's EMOTIONS, e.g. "CALM"
    verification: VerificationFacts = field(
        default_factory=lambda: VerificationFacts(enabled=False)
    )
    alert_counts: Mapping[str, int] = field(default_factory=dict)  # alert type -> count
    severity_counts: Mapping[str, int] = field(default_factory=dict)  # severity -> count
    key_strengths: tuple[str, ...] = ()
    areas_of_growth: tuple[str, ...] = ()
    questions_answered: int | None = None

    def __post_init__(self) -> None:
        for name in JOB_FIELDS:  # typed-in data: bounded and printable before anything reads it
            object.__setattr__(self, name, clean_field(getattr(self, name)))
        # Lists from callers become tuples and zero counts are dropped, so equal facts compare equal.
        object.__setattr__(self, "key_strengths", tuple(self.key_strengths))
        object.__setattr__(self, "areas_of_growth", tuple(self.areas_of_growth))
        object.__setattr__(
            self, "alert_counts", {k: int(v) for k, v in self.alert_counts.items() if v}
        )
        object.__setattr__(
            self, "severity_counts", {k: int(v) for k, v in self.severity_counts.items() if v}
        )

    @classmethod
    def count_alerts(
        cls, alerts: Iterable[Mapping[str, object]]
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Counts by type and by severity from alert records (``{"type":..., "severity":...}``)."""
        by_type: Counter[str] = Counter()
        by_severity: Counter[str] = Counter()
        for alert in alerts:
            kind = str(alert.get("type", ""))
            by_type[kind] += 1
            by_severity[str(alert.get("severity") or ALERT_SEVERITY.get(kind, "info"))] += 1
        return dict(by_type), dict(by_severity)

    # --- derived views -----------------------------------------------------

    def metrics(self) -> dict[str, int]:
        """The measured metric averages (unmeasured ones left out), in ``METRICS`` order."""
        return {name: getattr(self, name) for name in METRICS if getattr(self, name) is not None}

    @property
    def total_alerts(self) -> int:
        return sum(self.alert_counts.values())

    @property
    def serious_alerts(self) -> int:
        """Critical and warning alerts: the ones a reviewer must look at."""
        return self.severity_counts.get("critical", 0) + self.severity_counts.get("warning", 0)

    @property
    def duration_minutes(self) -> int:
        """Whole minutes as a summary would say them (at least 1 once past 30 s)."""
        return max(1, round(self.duration_s / 60)) if self.duration_s >= 30 else 0

    def texts(self) -> list[str]:
        """The rules' own sentences (strengths, areas of growth): their words and numbers may
        appear in a summary. Job fields are not here: see ``job_fields``."""
        return [p for p in (*self.key_strengths, *self.areas_of_growth) if p]

    def job_fields(self) -> dict[str, str]:
        """The given job fields as a summary writes them (``field_display``), by field name."""
        return {name: field_display(value) for name in JOB_FIELDS if (value := getattr(self, name))}

    @property
    def subject(self) -> str:
        """How a summary's first sentence names the candidate."""
        name = self.job_fields().get("candidate_name")
        if name is None:
            return "The candidate"
        return f"The candidate {name}" if name.startswith('"') else name

    def numbers(self) -> frozenset[float]:
        """Every number a summary may state: the facts' values, their roundings, and 100 (the scale)."""
        values: list[float] = [100, self.overall_score, self.frames_analyzed, self.total_alerts]
        values += self.metrics().values()
        values += self.alert_counts.values()
        values += self.severity_counts.values()
        values.append(self.serious_alerts)
        seconds = float(self.duration_s)
        values += [seconds, math.floor(seconds), round(seconds)]
        if seconds >= 30:
            minutes = seconds / 60
            values += [
                self.duration_minutes,
                math.floor(minutes),
                math.ceil(minutes),
                round(minutes, 1),
            ]
        v = self.verification
        if v.enabled:
            values.append(v.mismatches)
            if v.verification_rate is not None:
                rate = float(v.verification_rate)
                values += [rate, round(rate), round(rate, 1), math.floor(rate)]
        if self.questions_answered is not None:
            values.append(self.questions_answered)
        for text in self.texts():
            values += [float(m) for m in _NUMBER.findall(text)]
        return frozenset(float(x) for x in values)

    def numbers_by_unit(self) -> dict[str, frozenset[float]]:
        """The allowed numbers for each unit a summary may put after one ("85%", "5 minutes").

        A number followed by one of these units must be among that unit's values; a number
        with no unit ("bare") only among scores and counts: frames and seconds need their
        unit. Units no fact is measured in (days, years) map to the empty set. The 100 of
        "out of 100" is the scale and is not listed here.
        """
        text_numbers = [float(m) for t in self.texts() for m in _NUMBER.findall(t)]
        scores: list[float] = [self.overall_score, *self.metrics().values(), *text_numbers]
        v = self.verification
        if v.enabled and v.verification_rate is not None:
            rate = float(v.verification_rate)
            scores += [rate, round(rate), round(rate, 1), math.floor(rate)]
        seconds = float(self.duration_s)
        minutes: list[float] = []
        if seconds >= 30:
            m = seconds / 60
            minutes = [self.duration_minutes, math.floor(m), math.ceil(m), round(m, 1)]
        alerts: list[float] = [
            self.total_alerts,
            self.serious_alerts,
            *self.alert_counts.values(),
            *self.severity_counts.values(),
        ]
        mismatches: list[float] = [self.alert_counts.get("face_mismatch", 0)]
        if v.enabled:
            mismatches.append(v.mismatches)
        questions: list[float] = (
            [self.questions_answered] if self.questions_answered is not None else []
        )
        units: dict[str, list[float]] = {
            "bare": scores + alerts + mismatches + questions,
            "percent": scores,
            "minutes": minutes + text_numbers,
            "seconds": [seconds, math.floor(seconds), round(seconds)] + text_numbers,
            "alerts": alerts + text_numbers,
            "frames": [self.frames_analyzed],
            "questions": questions + text_numbers,
            "mismatches": mismatches + text_numbers,
            "never": [],
        }
        return {unit: frozenset(float(x) for x in values) for unit, values in units.items()}

    def number_strings(self) -> list[str]:
        """``numbers()`` as they would be written: integers plainly, others to one decimal."""
        out = set()
        for x in self.numbers():
            out.add(str(int(x)) if float(x).is_integer() else f"{x:.1f}".rstrip("0").rstrip("."))
        return sorted(out, key=lambda s: (float(s), s))
