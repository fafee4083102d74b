"""Checks that a summary says only what ``SummaryFacts`` support.

``validate_summary`` returns a list of problems (empty: the text may be shown). The
checks are cheap, lexical and conservative: a sentence the model wrote is thrown
away on any doubt, because the template can always say it instead.
"""

from __future__ import annotations

import re
from collections import Counter

from ..proctoring.alert_types import ALERT_TYPES
from .facts import METRIC_WORDS, SummaryFacts
from .vocabulary import vocabulary

MIN_WORDS = 10
MAX_WORDS = 120
MAX_CHARS = 900
MAX_SENTENCES = 5

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_PLAIN_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:'\"()%-!?")

# Topics nothing in the pipeline measures: a summary that raises them is inventing.
# A topic is allowed when the rules' own sentences (strengths, growth) use it.
FORBIDDEN_TOPICS = {
    "voice or speech": r"\b(voice|vocal|tone|audio|sound|speech|speak|speaks|speaking|spoke|spoken|accent|pronunciation|articulat\w*|fluen\w*|verbal\w*)\b",
    "attire or appearance": r"\b(attire|dress|dressed|clothing|clothes|outfit|suit|tie|shirt|groom\w*|appearance|hair\w*|jewel\w*|makeup)\b",
    "gender": r"\b(he|she|him|her|his|hers|himself|herself|man|woman|male|female)\b",
    "age or ethnicity": r"\b(young|elderly|aged|ethnic\w*|race|nationality)\b",
    "answer content or skills": r"\b(technical|knowledge|knowledgeable|expertise|qualifications?|experienced?|skills?|skilled|answers? (was|were) (correct|accurate|strong|thorough|detailed))\b",
    "a hiring decision": r"\b(hire|hired|hiring decision|recommend\w*|reject\w*|job offer|shortlist\w*|next round|move forward|good fit|strong fit)\b",
    "first or second person": r"\b(i|me|my|we|our|us|you|your)\b",
    "the task itself": r"\b(the facts|these facts|given facts|listed facts|as an ai|ai model|language model|as requested|here is|here's|bullet points?)\b",
}

# Alert types whose mention can be told from the words alone (the catalogue's ``mention``).
ALERT_MENTIONS = {t.name: t.mention for t in ALERT_TYPES.values() if t.mention}
_NO_ALERTS = re.compile(
    r"\b(no|zero|without( any)?|free of( any)?|not any)\s+(proctoring\s+|integrity\s+|serious\s+|critical\s+|major\s+)?"
    r"(alerts?|red flags?|integrity (concerns?|issues?)|suspicious (activity|behaviou?r)|incidents?|violations?|concerns?|issues?)\b"
)
_CRITICAL_CLAIM = re.compile(r"\bcritical\b")
# A severity word before "for": the alert kinds listed after it must have that severity.
_SEVERITY_FOR = (
    ("critical", "critical", r"\bcritical (?:alerts? |ones? )?for\b"),
    ("warning", "a warning", r"\bwarnings? for\b"),
    ("info", "a notice", r"\bnotices? for\b"),
)
# Inside such a list the catalogue's own phrases name a kind too ("warnings for low
# engagement", "critical for text in view"), also for kinds with no mention words of their own.
_LISTED_KINDS = {
    t.name: "|".join(
        [*([t.mention] if t.mention else []), *(rf"\b{re.escape(p)}\b" for p in set(t.phrases))]
    )
    for t in ALERT_TYPES.values()
}
# Where a list of alert kinds after a count ends: the next count (with a severity word), or
# the verification clause.
_LIST_END = re.compile(
    r"[.;]|,? (and|while|with) (\d+|one|two|three|four|five|six)\b"
    r"|,? (\d+|one|two|three|four|five|six) (critical|warnings?|notices?)\b"
    r"|\b(face verification|verification|which)\b"
)
_KIND_COUNT = re.compile(
    r"\b(\d+) (?:critical alerts?|critical|warnings?|notices?|alerts?) for (?:the |an? )?"
)
_NEGATOR = re.compile(r"\b(no|not|never|without|zero|0|none|nor|neither|free of|absence of)\b")
_VERIFIED_CLAIM = re.compile(
    r"\b(identity (was |has been )?(verified|confirmed|matched)|verif(ied|ication)|matched the registered)\b"
)

EMOTION_LEXICON = {
    "HAPPY": r"\b(happy|happiness|cheerful|joyful|smil\w*)\b",
    "CALM": r"\b(calm|calmly|composed|relaxed)\b",
    "CONFUSED": r"\b(confused|confusion|puzzled)\b",
    "SURPRISED": r"\b(surprised|surprise)\b",
    "SAD": r"\b(sad|sadness|unhappy)\b",
    "ANGRY": r"\b(angry|anger|frustrat\w*|irritat\w*)\b",
    "DISGUSTED": r"\b(disgust\w*)\b",
    "FEAR": r"\b(fear\w*|afraid|scared|nervous\w*|anxious|anxiety|stress\w*|tense)\b",
}

_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
        ]
    )
}
_TIMES = {"once": 1, "twice": 2, "thrice": 3}
_TENS = {
    w: 10 * (i + 2)
    for i, w in enumerate(
        ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
    )
}
# The word after a number says what it counts; see SummaryFacts.numbers_by_unit.
_UNIT_WORDS = {
    "%": "percent",
    "percent": "percent",
    "per": "percent",
    "percentage": "percent",
    "out": "percent",
    "points": "percent",
    "point": "percent",
    "minute": "minutes",
    "minutes": "minutes",
    "second": "seconds",
    "seconds": "seconds",
    "alert": "alerts",
    "alerts": "alerts",
    "critical": "alerts",
    "warning": "alerts",
    "warnings": "alerts",
    "notice": "alerts",
    "notices": "alerts",
    "frame": "frames",
    "frames": "frames",
    "question": "questions",
    "questions": "questions",
    "mismatch": "mismatches",
    "mismatches": "mismatches",
    "times": "alerts",
    "hour": "never",
    "hours": "never",
    "day": "never",
    "days": "never",
    "week": "never",
    "weeks": "never",
    "month": "never",
    "months": "never",
    "year": "never",
    "years": "never",
    # Nothing counts people or faces: "two other people" is a guess.
    "people": "never",
    "persons": "never",
    "faces": "never",
    "individuals": "never",
}
_AFTER_NUMBER = re.compile(r"\s*(%)|[\s-]*([a-z]+)")

# Words a summary may capitalise mid-sentence without them being names from the facts.
_PRODUCT_WORDS = {
    "candidate",
    "interview",
    "video",
    "overall",
    "score",
    "eye",
    "contact",
    "posture",
    "engagement",
    "confidence",
    "facial",
    "expressions",
    "expression",
    "head",
    "stability",
    "gestures",
    "face",
    "verification",
    "alert",
    "alerts",
    "proctoring",
    "session",
    "critical",
    "warning",
    "the",
    "and",
}
_STOPWORDS = set(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "with",
        "by",
        "from",
        "was",
        "were",
        "is",
        "are",
        "be",
        "been",
        "has",
        "had",
        "have",
        "that",
        "this",
        "which",
        "who",
        "as",
        "it",
        "its",
        "their",
        "they",
        "them",
        "there",
        "while",
        "but",
        "not",
        "no",
        "throughout",
        "during",
        "over",
        "than",
    ]
)


def _allowed_number(value: float, allowed: frozenset[float]) -> bool:
    return any(abs(value - a) < 1e-6 for a in allowed)


def _unit_after(lower: str, pos: int) -> str | None:
    """The unit named right after position ``pos`` ("%", "percent", "minutes", ...), if any."""
    m = _AFTER_NUMBER.match(lower, pos)
    if not m:
        return None
    word = m.group(1) or m.group(2)
    if word == "out" and not lower.startswith(" of", m.end()):
        return None
    return _UNIT_WORDS.get(word)


def _spelled_numbers(lower: str) -> list[tuple[int, str]]:
    """Spelled-out numbers that count something ("eighty-five percent", "three alerts"), with the unit."""
    tokens = re.findall(r"[a-z]+|%", lower.replace("-", " "))
    found, i = [], 0
    while i < len(tokens):
        tok = tokens[i]
        if (
            tok in _TENS
            or tok in _NUMBER_WORDS
            or (tok == "hundred" and i > 0 and tokens[i - 1] in ("a", "one"))
        ):
            value = 0
            while i < len(tokens):
                t = tokens[i]
                if t in _TENS:
                    value += _TENS[t]
                elif t in _NUMBER_WORDS:
                    value += _NUMBER_WORDS[t]
                elif t == "hundred":
                    value = max(value, 1) * 100
                else:
                    break
                i += 1
            following = tokens[i : i + 2]
            if following == ["out", "of"]:
                found.append((value, "percent"))
            else:
                unit = next(
                    (_UNIT_WORDS[t] for t in following if t != "out" and t in _UNIT_WORDS), None
                )
                if unit:
                    found.append((value, unit))
            continue
        if tok in _TIMES:
            found.append((_TIMES[tok], "alerts"))
        i += 1
    return found


def _clause_before(lower: str, start: int) -> str:
    """The words of the same clause before ``start`` (at most ten)."""
    head = lower[:start]
    cut = max(head.rfind(c) for c in ".,;:(")
    return " ".join(head[cut + 1 :].split()[-10:])


def _mentions(pattern: str, lower: str) -> tuple[bool, bool]:
    """(mentioned as present, mentioned as absent) for a pattern in the text."""
    present = absent = False
    for m in re.finditer(pattern, lower):
        if _NEGATOR.search(_clause_before(lower, m.start())):
            absent = True
        else:
            present = True
    return present, absent


def _check_numbers(text: str, lower: str, facts: SummaryFacts) -> list[str]:
    by_unit = facts.numbers_by_unit()
    problems = []
    plain = _THOUSANDS.sub("", lower)
    for m in _NUMBER.finditer(plain):
        value, unit = float(m.group(0)), _unit_after(plain, m.end())
        if plain[: m.start()].endswith("out of "):
            if value != 100:
                problems.append(f"gives a scale of {m.group(0)}; scores are out of 100")
        elif not _allowed_number(value, by_unit[unit or "bare"]):
            problems.append(
                f"number {m.group(0)} is not among the facts' {unit or 'scores and counts'}"
            )
    for value, unit in _spelled_numbers(lower):
        if not _allowed_number(float(value), by_unit[unit]):
            problems.append(f"spelled-out number {value} is not among the facts' {unit}")
    return problems


def _check_topics(lower: str, facts_lower: str) -> list[str]:
    problems = []
    for topic, pattern in FORBIDDEN_TOPICS.items():
        m = re.search(pattern, lower)
        if m and not re.search(pattern, facts_lower):
            problems.append(f"mentions {topic} ({m.group(0)!r}), which is not measured")
    return problems


def _check_alerts(lower: str, facts: SummaryFacts, facts_lower: str) -> list[str]:
    problems = []
    m = _NO_ALERTS.search(lower)
    if m:
        qualifier = (m.group(4) or "").strip()
        what = m.group(5)
        if qualifier == "critical":
            raised = facts.severity_counts.get("critical", 0)
        elif what.startswith("alert") and qualifier in ("", "proctoring", "integrity"):
            raised = facts.total_alerts
        else:
            raised = facts.serious_alerts
        if raised:
            problems.append(f"claims {m.group(0)!r} but {raised} such alerts were raised")
    critical = facts.severity_counts.get("critical", 0)
    for m in _CRITICAL_CLAIM.finditer(lower):
        negated = bool(_NEGATOR.search(_clause_before(lower, m.start())))
        if not critical and not negated:
            problems.append("calls something critical but no critical alert was raised")
            break
        if critical and negated:
            problems.append(f"says nothing was critical but {critical} critical alerts were raised")
            break
    # "5 of them critical for multiple faces, looking away, ...": what follows "critical for"
    # (up to the next count or the sentence's end) must be critical types only; likewise
    # "warnings for ..." warnings only and "notices for ..." info-level alerts only.
    for severity, said, pattern in _SEVERITY_FOR:
        for m in re.finditer(pattern, lower):
            rest = lower[m.end() :]
            stop = _LIST_END.search(rest)
            listed = rest[: stop.start()] if stop else rest
            for kind, mention in _LISTED_KINDS.items():
                if ALERT_TYPES[kind].severity != severity and re.search(mention, listed):
                    problems.append(f"calls {kind.replace('_', ' ')} {said}")
                    break
    for kind, pattern in ALERT_MENTIONS.items():
        count = facts.alert_counts.get(kind, 0)
        if kind == "face_mismatch":
            count += facts.verification.mismatches if facts.verification.enabled else 0
        present, absent = _mentions(pattern, lower)
        if absent and count:
            problems.append(f"says there was no {kind.replace('_', ' ')} but {count} were recorded")
        if present and not count and not re.search(pattern, facts_lower):
            low_eye_contact = facts.eye_contact is not None and facts.eye_contact < 70
            if not (kind == "looking_away" and low_eye_contact):
                problems.append(f"mentions {kind.replace('_', ' ')} but none was recorded")
    if not facts.verification.enabled:
        m = _VERIFIED_CLAIM.search(lower)
        # "face verification was not used" denies it: negation before or after, same clause
        after = re.split(r"[.,;:()]", lower[m.end() :], maxsplit=1)[0] if m else ""
        if (
            m
            and not _NEGATOR.search(_clause_before(lower, m.start()))
            and not _NEGATOR.search(after)
        ):
            problems.append(f"mentions {m.group(0)!r} but face verification was not enabled")
    return problems


def _check_emotions(lower: str, facts: SummaryFacts, facts_lower: str) -> list[str]:
    dominant = (facts.dominant_emotion or "").upper()
    problems = []
    for emotion, pattern in EMOTION_LEXICON.items():
        if emotion == dominant:
            continue
        m = re.search(pattern, lower)
        if (
            m
            and not re.search(pattern, facts_lower)
            and not _NEGATOR.search(_clause_before(lower, m.start()))
        ):
            shown = dominant.lower() or "not measured"
            problems.append(
                f"describes the candidate as {m.group(0)!r}; the dominant expression was {shown}"
            )
    return problems


def _check_language(text: str, facts: SummaryFacts) -> list[str]:
    problems = []
    fact_chars = set("".join(facts.texts()))
    odd = sorted({c for c in text if c not in _PLAIN_CHARS and c not in fact_chars})
    if odd:
        problems.append(f"unexpected characters {''.join(odd)!r}")
    if "\n" in text or "\r" in text:
        problems.append("contains line breaks")
    words = _WORD.findall(text)
    lower_words = [w.lower() for w in words]
    fact_words = {w.lower() for t in facts.texts() for w in _WORD.findall(t)}
    long = [w for w in lower_words if len(w) > 20 and w not in fact_words]
    if long:
        problems.append(f"garbled word {long[0]!r}")
    alpha = [w for w in lower_words if len(w) >= 2 and w not in fact_words]
    vowelless = [w for w in alpha if not re.search(r"[aeiouy]", w)]
    if alpha and len(vowelless) / len(alpha) > 0.15:
        problems.append(f"does not read as English ({', '.join(vowelless[:3])})")
    if len(lower_words) >= 12:
        if sum(w in _STOPWORDS for w in lower_words) / len(lower_words) < 0.12:
            problems.append("does not read as English (too few function words)")
        content = Counter(w for w in lower_words if len(w) > 3 and w not in _STOPWORDS)
        if content:
            word, n = content.most_common(1)[0]
            if n / len(lower_words) > 0.2 and n >= 4:
                problems.append(f"repeats {word!r} {n} times")
    names = Counter(
        w
        for w in words
        if w[0].isupper() and w.lower() in fact_words and w.lower() not in _STOPWORDS
    )
    if names and names.most_common(1)[0][1] > 2:
        problems.append(
            f"repeats {names.most_common(1)[0][0]!r} {names.most_common(1)[0][1]} times"
        )
    for a, b in zip(lower_words, lower_words[1:], strict=False):
        if a == b:
            problems.append(f"repeats {a!r}")
            break
    trigrams = Counter(zip(lower_words, lower_words[1:], lower_words[2:], strict=False))
    if trigrams and trigrams.most_common(1)[0][1] >= 3:
        problems.append(f"repeats the phrase {' '.join(trigrams.most_common(1)[0][0])!r}")
    sentences = [s.strip().lower() for s in _SENTENCE_END.split(text) if s.strip()]
    if len(sentences) != len(set(sentences)):
        problems.append("repeats a sentence")
    allowed = vocabulary(facts) | {t.lower() for t in FIELD_TOKENS.values()}
    outside = sorted({w for w in lower_words if w.replace("’", "'") not in allowed})
    if outside:
        problems.append(f"uses words outside the summary vocabulary: {', '.join(outside[:6])}")
    # Capitalised words inside a sentence are names: they must come from the facts.
    fact_text = " ".join(facts.texts())
    for sentence in _SENTENCE_END.split(text):
        for w in _WORD.findall(sentence)[1:]:
            if (
                w[0].isupper()
                and w not in fact_text
                and w.lower() not in _PRODUCT_WORDS
                and w not in FIELD_TOKENS.values()
            ):
                problems.append(f"names {w!r}, which is not in the facts")
                break
    return problems


_METRIC_MENTIONS = {
    "eye_contact": r"\beye contact\b",
    "confidence": r"\bconfiden(ce|t)\b",
    "engagement": r"\bengage(ment|d)\b",
    "posture": r"\bposture\b",
    "facial_expressions": r"\bfacial expressions?\b",
    "head_stability": r"\bhead stability\b",
    "gestures": r"\bgestures?\b",
    "voice_tone": r"\bvoice tone\b",
    "overall_score": r"\bscore\b",
}
# Finite verbs of the summary vocabulary: a sentence without one is a fragment.
_VERBS = set(
    [
        "was",
        "were",
        "is",
        "are",
        "had",
        "has",
        "have",
        "did",
        "does",
        "do",
        "showed",
        "shows",
        "completed",
        "earned",
        "maintained",
        "maintains",
        "kept",
        "remained",
        "held",
        "displayed",
        "demonstrated",
        "achieved",
        "reached",
        "received",
        "led",
        "followed",
        "noted",
        "observed",
        "appeared",
        "raised",
        "recorded",
        "detected",
        "flagged",
        "indicates",
        "suggests",
        "reflects",
        "needs",
        "could",
        "should",
        "would",
        "may",
        "might",
        "can",
        "averaged",
        "scored",
        "matched",
        "answered",
        "looked",
        "looks",
        "stayed",
    ]
)
# Words a sentence cannot end on.
_DANGLING = set(
    [
        "the",
        "a",
        "an",
        "of",
        "to",
        "and",
        "or",
        "with",
        "for",
        "in",
        "on",
        "at",
        "by",
        "only",
        "that",
        "which",
        "be",
        "been",
        "not",
        "than",
        "as",
        "from",
        "its",
        "their",
        "is",
        "was",
        "were",
        "are",
        "while",
        "but",
        "into",
        "per",
        "very",
        # a modal without its verb: "..., which a reviewer should."
        "should",
        "could",
        "would",
        "can",
        "may",
        "might",
        "must",
        "will",
    ]
)
# Judgement words and the values they need: (pattern, lowest allowed, highest allowed).
_JUDGEMENTS = (
    (re.compile(r"\b(strong|strongly|excellent|great|high)\b"), 70, 100),
    (re.compile(r"\b(good|solid|solidly|consistent|consistently|steady|steadily)\b"), 60, 100),
    (re.compile(r"\b(weak|weakly|poor|low)\b"), 0, 59),
    (re.compile(r"\b(limited)\b"), 0, 74),
)
# Comparatives compare with the other signals: "gestures were lower at 75" is true of the
# lowest of several, whatever its value; the highest cannot be "lower", nor the lowest "higher".
_HIGHER = re.compile(r"\b(higher|stronger|better)\b")
_LOWER = re.compile(r"\b(lower|weaker|worse)\b")
_METRIC_ANY = "|".join(_METRIC_MENTIONS.values())
_TOP = re.compile(r"\b(strongest|highest|best)\b")
_BOTTOM = re.compile(r"\b(weakest|lowest|worst)\b")
# What counts as saying something from the facts, besides numbers and the facts' own words.
_ANCHORS = re.compile(
    "|".join(_METRIC_MENTIONS.values())
    + r"|\b(alerts?|critical|warnings?|mismatch(es)?|phones?|suspicious|looking away|looked away|out of view|"
    r"verification|verified|matched|minutes?|seconds?|questions?|signals?|expression)\b"
    + r"|"
    + "|".join(EMOTION_LEXICON.values())
)


def _check_content(text: str, lower: str, facts: SummaryFacts) -> list[str]:
    """Every sentence must carry a fact, the key facts must be there, and judgements must fit the values."""
    problems = []
    fact_words = {w.lower() for t in facts.texts() for w in _WORD.findall(t) if len(w) > 3}
    for sentence in _SENTENCE_END.split(lower):
        words = _WORD.findall(sentence)
        if not words:
            continue
        if not (_ANCHORS.search(sentence) or _NUMBER.search(sentence) or set(words) & fact_words):
            problems.append(f"a sentence states no fact: {sentence[:60]!r}")
        if not set(words) & _VERBS:
            problems.append(f"a sentence has no verb: {sentence[:60]!r}")
        superlative = _TOP.search(sentence) or _BOTTOM.search(sentence)
        if superlative and not re.search(_METRIC_ANY + r"|\bsignals?\b", sentence):
            problems.append(
                f"says {superlative.group(0)!r} of something that is not a measured signal"
            )
        if words[-1] in _DANGLING and re.search(r"[a-z]\.?$", sentence):
            problems.append(f"a sentence stops mid-phrase: {sentence[-40:]!r}")
    if not re.search(rf"(?<![\d.]){facts.overall_score}(?![\d.]\d)", lower):
        problems.append(f"does not state the overall video score ({facts.overall_score})")
    critical = [
        k
        for k, n in facts.alert_counts.items()
        if n and k in ALERT_TYPES and ALERT_TYPES[k].severity == "critical"
    ]
    if (
        critical
        and not any(_mentions(ALERT_MENTIONS[k], lower)[0] for k in critical if k in ALERT_MENTIONS)
        and "critical" not in lower
    ):
        problems.append("leaves out the critical alerts")
    # "8 warnings for looking away": a count given for one kind must be that kind's count, or
    # the sum of the kinds it is given for ("5 critical alerts for multiple faces and face
    # mismatches").
    for m in _KIND_COUNT.finditer(lower):
        rest = lower[m.end() :]
        first = next((k for k, p in _LISTED_KINDS.items() if re.match(p, rest)), None)
        if first is None or not facts.alert_counts.get(first):
            continue
        stop = _LIST_END.search(rest)
        listed = rest[: stop.start()] if stop else rest
        kinds = [k for k, p in _LISTED_KINDS.items() if re.search(p, listed)]
        given = int(m.group(1))
        if given not in (
            facts.alert_counts[first],
            sum(facts.alert_counts.get(k, 0) for k in kinds),
        ):
            problems.append(
                f"gives {given} for {first.replace('_', ' ')} but "
                f"{facts.alert_counts[first]} were raised"
            )
    # A warning must be named too: "The session raised 3 alerts, 100% matching on face
    # verification" hides what the alerts were (kinds with no mention words cannot be checked).
    for kind in facts.alert_counts:
        t = ALERT_TYPES.get(kind)
        if t and t.severity == "warning" and t.mention and not _mentions(t.mention, lower)[0]:
            problems.append(f"leaves out the alerts for {t.phrases[1]}")
    values = {**facts.metrics(), "overall_score": facts.overall_score}
    measured = facts.metrics()
    for chunk in re.split(r"[.,;:()]|\b(?:and|while|but|whereas|although)\b", lower):
        named = [
            k
            for k, pattern in _METRIC_MENTIONS.items()
            if k in values and re.search(pattern, chunk)
        ]
        if len(named) != 1 or (named[0] == "engagement" and "low engagement" in chunk):
            continue
        key, value = named[0], values[named[0]]
        word = METRIC_WORDS.get(key, "overall video score")
        for m in _NUMBER.finditer(chunk):
            unit = _unit_after(chunk, m.end())
            scale = chunk[: m.start()].endswith("out of ")
            if not scale and unit in (None, "percent") and float(m.group(0)) != value:
                problems.append(f"gives {word} as {m.group(0)} but it was {value}")
        for pattern, lowest, highest in _JUDGEMENTS:
            judged = pattern.search(chunk)
            if judged and not lowest <= value <= highest:
                problems.append(f"calls {word} {judged.group(0)!r} but it was {value}")
        if key in measured and len(measured) > 1:
            if (hit := _HIGHER.search(chunk)) and value <= min(measured.values()):
                problems.append(f"calls {word} {hit.group(0)!r} but it was the lowest")
            if (hit := _LOWER.search(chunk)) and value >= max(measured.values()):
                problems.append(f"calls {word} {hit.group(0)!r} but it was the highest")
            if (hit := _TOP.search(chunk)) and value < max(measured.values()):
                problems.append(f"calls {word} the {hit.group(0)} but it was not")
            if (hit := _BOTTOM.search(chunk)) and value > min(measured.values()):
                problems.append(f"calls {word} the {hit.group(0)} but it was not")
    return problems


# Each given job field stands in the checked text as one of these words: the checks below
# read what the summary says around the fields, never the typed-in text itself.
FIELD_TOKENS = {"candidate_name": "Namefield", "job_title": "Rolefield", "company": "Companyfield"}
_FIELD_LABELS = {"candidate_name": "name", "job_title": "job title", "company": "company"}
_ROLE_NOUNS = r"(role|roles|position|positions|job|post|opening|vacancy)"


def mask_fields(text: str, facts: SummaryFacts) -> tuple[str, list[str]]:
    """``text`` with each given job field (as ``facts.job_fields`` writes it) replaced by its
    token, and the problems: a field missing or altered, or repeated more than twice."""
    problems = []
    fields = sorted(facts.job_fields().items(), key=lambda kv: -len(kv[1]))
    for name, shown in fields:
        pattern = re.compile(r"(?<![\w\"])" + re.escape(shown) + r"(?![\w\"])")
        text, n = pattern.subn(FIELD_TOKENS[name], text)
        if n == 0:
            problems.append(f"does not give the {_FIELD_LABELS[name]} as given ({shown})")
        elif n > 2:
            problems.append(f"repeats the {_FIELD_LABELS[name]} {n} times")
    return text, problems


# Word pairs that do not occur in a sentence: a grammar-forced word where another was meant.
_SALAD = (
    re.compile(
        r"\b(a|an|the)\s+(a|an|the|of|at|in|on|to|for|with|and|or|but|either|neither|is|was|were"
        r"|are|by|from|than|which|that|while|not|no|its|their)\b"
    ),
    re.compile(
        r"\b(at|in|on|of|for|with|by|from|to|into|during)\s+(at|in|on|of|for|with|by|from|to|into|during)\b"
    ),
    re.compile(r"(?<!\beye )\bcontact\b"),
    re.compile(r"(?<!\bhead )\bstability\b"),
    # "did not" before a past form: "the session did not raised any alerts"
    re.compile(r"\b(did|does|do)(n't| not)? (\w+ed|was|were|had|kept|held|led|stayed)\b"),
    # an article before a plural: "was a signals of growth"
    re.compile(
        r"\b(a|an) (signals|alerts|warnings|notices|checks|mismatches|faces|objects|strengths"
        r"|areas|scores|minutes|seconds|questions|expressions|gestures)\b"
    ),
    # a preposition before a clause: "with a reviewer should check the face"
    re.compile(
        r"\b(with|for|of|at|on|in|by) (a|an|the) \w+ (should|could|would|must|can|may|might|will)\b"
    ),
    # a percentage used as an adjective: "100% face verification matched on 100%"
    re.compile(
        r"\d%\s+(?!(of|and|or|but|while|with|in|on|at|for|to|across|over|during|throughout)\b)"
        r"[a-z]"
    ),
)


def _check_fields_and_grammar(masked_lower: str, facts: SummaryFacts) -> list[str]:
    """Job fields used as what they are, and sentences that read as sentences."""
    problems = []
    title, company = FIELD_TOKENS["job_title"].lower(), FIELD_TOKENS["company"].lower()
    for m in re.finditer(rf"\b{title}\b", masked_lower):
        after, before = masked_lower[m.end() :], masked_lower[: m.start()]
        if not re.match(rf"\s+{_ROLE_NOUNS}\b", after) and not re.search(r"\bas an?\s+$", before):
            problems.append("uses the job title as something other than the role")
            break
    for m in re.finditer(rf"\b{company}\b", masked_lower):
        if not re.search(r"\b(at|with|for|from|by|of|to|joining)\s+$", masked_lower[: m.start()]):
            problems.append("uses the company name as something other than the employer")
            break
    for m in re.finditer(rf"\b{_ROLE_NOUNS}\b", masked_lower):
        if not re.search(rf"\b{title}\s+$", masked_lower[: m.start()]):
            problems.append(f"speaks of a {m.group(0)!r} other than the given job title")
            break
    made_up = re.search(rf"\b{_ROLE_NOUNS}\s+at\s+(?!{company}\b)(\w+)", masked_lower)
    if made_up:  # "the Data Analyst role at the interview": an employer made up from other words
        problems.append(f"gives an employer that is not the given company ({made_up.group(0)!r})")
    for sentence in _SENTENCE_END.split(masked_lower):
        if re.search(r"\beither\b", sentence) and not re.search(r"\beither\b.*\bor\b", sentence):
            problems.append(f"'either' without 'or': {sentence[:60]!r}")
        if re.search(r"\bneither\b", sentence) and not re.search(r"\bneither\b.*\bnor\b", sentence):
            problems.append(f"'neither' without 'nor': {sentence[:60]!r}")
    for pattern in _SALAD:
        salad = pattern.search(masked_lower)
        if salad:
            problems.append(f"does not read as a sentence ({salad.group(0)!r})")
    return problems


def validate_summary(text: str, facts: SummaryFacts) -> list[str]:
    """Problems that keep ``text`` from being shown as the summary of ``facts``; empty when none."""
    text = (text or "").strip()
    if not text:
        return ["empty"]
    problems: list[str] = []
    words = _WORD.findall(text)
    if len(words) < MIN_WORDS:
        problems.append(f"too short ({len(words)} words, at least {MIN_WORDS})")
    if len(words) > MAX_WORDS or len(text) > MAX_CHARS:
        problems.append(f"too long ({len(words)} words / {len(text)} characters)")
    # Job fields are data: checked to be there as given, then masked, so that nothing typed
    # into them (numbers, "no alerts", instructions, sentence stops) counts in the checks below.
    text, field_problems = mask_fields(text, facts)
    problems += field_problems
    sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
    if len(sentences) > MAX_SENTENCES:
        problems.append(f"too many sentences ({len(sentences)}, at most {MAX_SENTENCES})")
    if not text[0].isupper():
        problems.append("does not start with a capital letter")
    if text[-1] not in ".!?":
        problems.append("does not end a sentence")
    lower = " ".join(text.lower().split())
    # Topics the rules' sentences or the raised alerts' own phrases name may be mentioned.
    raised = [p for k in facts.alert_counts if k in ALERT_TYPES for p in ALERT_TYPES[k].phrases]
    if facts.voice_tone is not None:  # audio was analysed: the voice is measured (docs/audio.md)
        raised.append("voice tone")
    facts_lower = " ".join(" ".join([*facts.texts(), *raised]).lower().split())
    problems += _check_fields_and_grammar(lower, facts)
    problems += _check_numbers(text, lower, facts)
    problems += _check_topics(lower, facts_lower)
    problems += _check_alerts(lower, facts, facts_lower)
    problems += _check_emotions(lower, facts, facts_lower)
    problems += _check_language(text, facts)
    problems += _check_content(text, lower, facts)
    return problems
