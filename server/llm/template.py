"""A deterministic summary from ``SummaryFacts``: the no-model path and the fallback.

Two to four sentences: who and how it went overall, the measured signals, the
dominant expression, and what a reviewer must check (alerts, verification).
Every number it writes comes from ``SummaryFacts.numbers()``.
"""

from __future__ import annotations

from ..proctoring.alert_types import ALERT_TYPES, SEVERITY_ORDER
from .facts import ALERT_SEVERITY, METRIC_WORDS, SummaryFacts

EMOTION_WORDS = {
    "HAPPY": "happy",
    "CALM": "calm",
    "CONFUSED": "confused",
    "SURPRISED": "surprised",
    "SAD": "sad",
    "ANGRY": "angry",
    "DISGUSTED": "disgusted",
    "FEAR": "fearful",
}

# How the template names each alert type after "N for ...": (one, several), from the catalogue.
ALERT_PHRASES = {t.name: t.phrases for t in ALERT_TYPES.values()}


def score_band(score: int) -> str:
    if score >= 85:
        return "strong"
    if score >= 70:
        return "solid"
    if score >= 50:
        return "mixed"
    return "weak"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def opening_clause(f: SummaryFacts) -> str:
    """Who, for which role, how long: "Sam Taylor completed a 12-minute video interview for
    the Sales Associate role at Contoso" (the model is given it to copy, too)."""
    # Job fields are quoted data: written exactly as ``job_fields`` gives them, never reworded.
    fields = f.job_fields()
    title, company = fields.get("job_title"), fields.get("company")
    subject = f.subject
    if title and company:
        role = f" for the {title} role at {company}"
    elif title:
        role = f" for the {title} role"
    elif company:
        role = f" with {company}"
    else:
        role = ""
    n, unit = (
        (f.duration_minutes, "minute") if f.duration_minutes else (round(f.duration_s), "second")
    )
    # "an 8-second", "an 11-minute", "an 18-minute": the article follows the spoken number
    length = f"{'an' if str(n).startswith('8') or n in (11, 18) else 'a'} {n}-{unit}"
    return f"{subject} completed {length} video interview{role}"


def _opening(f: SummaryFacts) -> str:
    answered = ""
    if f.questions_answered:
        answered = f", answering {_plural(f.questions_answered, 'question')},"
    band = score_band(f.overall_score)
    article = "an" if band[0] in "aeiou" else "a"
    return (
        f"{opening_clause(f)}{answered} "
        f"with {article} {band} overall video score of {f.overall_score} out of 100."
    )


def _signals(f: SummaryFacts) -> str | None:
    measured = f.metrics()
    if not measured:
        return None
    # Highest first; ties keep METRICS order so the sentence is stable.
    ranked = sorted(measured.items(), key=lambda kv: -kv[1])
    (top, top_v), (low, low_v) = ranked[0], ranked[-1]
    top_w, low_w = METRIC_WORDS[top], METRIC_WORDS[low]
    if len(ranked) == 1:
        return f"{_capital(top_w)} averaged {top_v}."
    if low_v >= 70 and f.overall_score >= 70:  # alerts can pull the score below its signals
        second, second_v = ranked[1]
        return (
            f"All measured signals were solid, led by {top_w} at {top_v} "
            f"and {METRIC_WORDS[second]} at {second_v}."
        )
    if top_v < 50:
        return f"Measured signals were low throughout, with {top_w} the highest at {top_v}."
    return f"{_capital(top_w)} ({top_v}) was the strongest measured signal, while {low_w} ({low_v}) was the weakest."


def _emotion(f: SummaryFacts) -> str | None:
    word = EMOTION_WORDS.get((f.dominant_emotion or "").upper())
    return f"The dominant facial expression was {word}." if word else None


def _alert_phrase(kind: str, n: int) -> str:
    one, several = ALERT_PHRASES.get(kind, (kind.replace("_", " "),) * 2)
    return one if n == 1 else several


def _integrity(f: SummaryFacts) -> str:
    v = f.verification
    check = ""
    if v.enabled and v.verification_rate is not None:
        rate = f"{v.verification_rate:g}"
        check = f"face verification matched on {rate}% of checks"
        check += f" with {_plural(v.mismatches, 'mismatch', 'mismatches')}" if v.mismatches else ""
    if not f.total_alerts:
        return f"No proctoring alerts were raised{', and ' + check if check else ''}."
    by_type = sorted(
        f.alert_counts.items(),
        key=lambda kv: (SEVERITY_ORDER.get(ALERT_SEVERITY.get(kv[0], "info"), 2), -kv[1], kv[0]),
    )
    listed = _join([f"{n} for {_alert_phrase(kind, n)}" for kind, n in by_type])
    critical = f.severity_counts.get("critical", 0)
    if critical == f.total_alerts:
        text = f"The session raised {_plural(critical, 'critical alert')} ({listed}), which a reviewer should check"
    elif critical:
        text = (
            f"The session raised {_plural(f.total_alerts, 'alert')} ({listed}), "
            f"{critical} of them critical, which a reviewer should check"
        )
    else:
        text = f"The session raised {_plural(f.total_alerts, 'alert')}, none critical ({listed})"
    return f"{text}{'; ' + check if check else ''}."


def template_summary(facts: SummaryFacts) -> str:
    """The summary paragraph for ``facts``: same facts, same text."""
    sentences = [_opening(facts)]
    signals, emotion = _signals(facts), _emotion(facts)
    if signals:
        sentences.append(signals)
    if emotion:
        sentences.append(emotion)
    sentences.append(_integrity(facts))
    return " ".join(sentences)
