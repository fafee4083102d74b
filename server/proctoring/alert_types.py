"""Every alert type, once: what the rules raise and everything that describes it.

Adding a type = one ``AlertType`` entry below + its rule in ``alerts.py`` (+ a
``Settings`` field and an ``AlertConfig`` field when its trigger is configurable).
The rules take severity and message from here; the report takes penalty, area of
growth and advice; the summary writer takes the phrases and the validator the
mention pattern; the HTML/PDF views take the label; ``docs/alerts.md`` is generated
from here (``python scripts/alerts_table.py``).  ``tests/test_alert_types.py`` fails
when an entry lacks a part or a rule raises a type that is not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")  # most serious first
SEVERITY_ORDER: dict[str, int] = {s: i for i, s in enumerate(SEVERITIES)}

# Settings every rule reads (the re-arm policy in alerts.py).
COMMON_SETTINGS = ("alert_rearm_frames", "alert_repeat_frames")


@dataclass(frozen=True, kw_only=True)
class AlertType:
    """One alert type.  Every field is required so that a new entry cannot forget a part."""

    name: str  # the contract's "type"
    severity: Severity
    # The contract's "message"; ``{placeholders}`` are the alert's ``fields`` or AlertConfig fields.
    message: str
    fields: tuple[str, ...]  # extra keys of the contract's alert object, beside type/severity/...
    trigger: str  # when it fires, for docs; ``{placeholders}`` are AlertConfig fields
    settings: tuple[str, ...]  # Settings fields its trigger reads (besides COMMON_SETTINGS)
    label: str  # short name in the report's charts and tables
    penalty: int  # points off overallVideoScore when the type was raised at least once
    growth: str  # the report's "area of growth" when raised
    advice: (
        str | None
    )  # the report's recommendation when raised (None: a metric's advice covers it)
    phrases: tuple[str, str]  # the summary's words after "N for ...": (one, several)
    mention: str | None  # regex naming it in a summary (validator); None: no words tell it apart


_TYPES = (
    AlertType(
        name="no_face_detected",
        severity="warning",
        message="No face detected in frame",
        fields=(),
        trigger="{no_face_frames}+ consecutive frames without a face",
        settings=("no_face_frames",),
        label="No face",
        penalty=5,
        growth="Left the camera's view during the session",
        advice="Stay within the camera's view for the whole session",
        phrases=("the face out of view", "the face out of view"),
        mention=r"\b(face (was |went )?(out of view|not visible|not detected|missing)|no face(?! verification)"
        r"|left the (frame|camera view)|absent from (the )?(frame|camera|view))\b",
    ),
    AlertType(
        name="multiple_faces",
        severity="critical",
        message="Multiple faces detected ({face_count} faces)",
        fields=("face_count",),
        trigger="immediate (first frame with more than one face)",
        settings=(),
        label="Multiple faces",
        penalty=10,
        growth="Another person appeared in the frame",
        advice="Take the interview alone in a quiet room",
        phrases=("multiple faces", "multiple faces"),
        mention=r"\b(multiple|several|more than one|another|second|additional|other|extra)"
        r" (faces?|people|persons?|individuals?)\b",
    ),
    AlertType(
        name="looking_away",
        severity="warning",
        message="Candidate looking away from camera",
        fields=(),
        trigger="{looking_away_frames}+ consecutive frames (one face, gaze or head off); "
        "{exam_looking_away_frames}+ in the exam profile",
        settings=("looking_away_frames", "exam_looking_away_frames"),
        label="Looking away",
        penalty=5,
        growth="Looked away from the camera repeatedly",
        advice="Keep notes and other screens out of reach and look at the camera",
        phrases=("looking away", "looking away"),
        mention=r"\blook(ed|ing|s)? away\b",
    ),
    AlertType(
        name="face_mismatch",
        severity="critical",
        message="Face verification failed {face_mismatch_frames} consecutive times",
        fields=(),
        trigger="{face_mismatch_frames}+ consecutive failed verifications",
        settings=("face_mismatch_frames",),
        label="Face mismatch",
        penalty=10,
        growth="Identity could not be confirmed on several frames",
        advice="Use good, even lighting on the face so identity checks succeed",
        phrases=("a face mismatch", "face mismatches"),
        mention=r"\b(face|identity) mismatch(es)?\b|\bmismatch(es|ed)?\b|\b(did|does) not match\b",
    ),
    AlertType(
        name="low_engagement",
        severity="info",
        message="Low engagement detected",
        fields=("engagement",),
        trigger="{low_engagement_frames}+ consecutive frames with engagement below "
        "{low_engagement_below:g}",
        settings=("low_engagement_frames", "low_engagement_below"),
        label="Low engagement",
        penalty=0,
        growth="Long stretches of low engagement",
        advice=None,  # the engagement score's own recommendation says it
        phrases=("low engagement", "low engagement"),
        mention=None,  # "low engagement" is also a score judgement
    ),
    AlertType(
        name="suspicious_object",
        severity="warning",
        message="Suspicious object detected: {object}",
        fields=("confidence", "object", "evidence"),
        trigger="object confidence > {suspicious_object_confidence:g}% (one episode per object)",
        settings=("suspicious_object_confidence",),
        label="Suspicious object",
        penalty=5,
        growth="A potentially unauthorised object was visible",
        advice="Keep phones, books and other devices out of the frame",
        phrases=("a suspicious object", "suspicious objects"),
        mention=r"\b(suspicious objects?|(mobile |cell )?phones?|smartphones?)\b",
    ),
    AlertType(
        name="text_detected",
        severity="info",
        message="Readable text detected in frame",
        fields=("confidence",),
        trigger="OCR confidence > {text_confidence:g}%",
        settings=("text_confidence",),
        label="Text in view",
        penalty=0,
        growth="Readable text (notes or a screen) was visible in the frame",
        advice="Keep written material out of the camera's view",
        phrases=("text in view", "text in view"),
        mention=None,  # "text" alone is too common a word to tell
    ),
    AlertType(
        name="presentation_attack",
        severity="critical",
        message="Presentation attack suspected: the camera shows a photo, a screen or a still "
        "picture, not a live person",
        fields=("liveness_score", "evidence"),
        trigger="liveness score below {liveness_threshold:g} over the first {liveness_frames} "
        "frames with a face, or {liveness_still_frames}+ consecutive frames of a still picture",
        settings=("liveness_threshold", "liveness_frames", "liveness_still_frames"),
        label="Presentation attack",
        penalty=10,
        growth="The camera showed a photo, a screen or a still picture instead of a live person",
        advice="Appear live in front of the camera; photos, screens and virtual cameras are "
        "not accepted",
        phrases=("a presentation attack", "presentation attacks"),
        mention=r"\b(presentation attacks?|spoof(ing|ed)?|(photo|screen|still picture) "
        r"instead of a live person)\b",
    ),
    # Audio (docs/audio.md): the frame's ``audio`` holds what was heard since the previous frame.
    AlertType(
        name="multiple_voices",
        severity="critical",
        message="Another voice heard besides the candidate's",
        fields=("other_voice_seconds",),
        trigger="{multiple_voices_frames}+ consecutive frames with a voice that is not the "
        "candidate's (a voice holds 2+ windows of 1.6 s)",
        settings=("multiple_voices_frames",),
        label="Second voice",
        penalty=10,
        growth="Another voice was heard during the session",
        advice="Take the interview alone, with no one in the room speaking or prompting",
        phrases=("a second voice", "a second voice"),
        mention=r"\b((second|another|other|additional|extra) voices?|multiple voices)\b",
    ),
    AlertType(
        name="speech_while_away",
        severity="warning",
        message="Speech heard while the candidate was away from the camera",
        fields=("speech_seconds",),
        trigger="{speech_while_away_frames}+ consecutive frames with speech and no face or the "
        "candidate looking away",
        settings=("speech_while_away_frames",),
        label="Speech while away",
        penalty=5,
        growth="Spoke while out of view or looking away",
        advice="Stay in view and face the camera while speaking",
        phrases=("speech while away", "speech while away"),
        mention=r"\b(speech|spoke|speaking|talking) while (away|out of view|looking away)\b",
    ),
    AlertType(
        name="speech_detected",
        severity="warning",
        message="Speech detected during an exam",
        fields=("speech_seconds",),
        trigger="exam profile only: {speech_detected_frames}+ consecutive frames with speech",
        settings=("speech_detected_frames",),
        label="Speech (exam)",
        penalty=5,
        growth="Spoke during a silent exam",
        advice="Stay silent for the whole exam",
        phrases=("speech during the exam", "speech during the exam"),
        mention=r"\b(speech|spoke|speaking|talking) during (the|an) exam\b",
    ),
)

ALERT_TYPES: dict[str, AlertType] = {t.name: t for t in _TYPES}


def alert_type(name: str) -> AlertType:
    """The catalogue entry of ``name``; a KeyError names a type missing from the catalogue."""
    try:
        return ALERT_TYPES[name]
    except KeyError:
        raise KeyError(f"alert type {name!r} is not in server/proctoring/alert_types.py") from None


def severity_of(name: str, default: Severity = "info") -> Severity:
    t = ALERT_TYPES.get(name)
    return t.severity if t else default


def label_of(name: str) -> str:
    """The chart/table label; unknown types (from newer stored data) show their name."""
    t = ALERT_TYPES.get(name)
    return t.label if t else name.replace("_", " ")


def penalty(raised: set[str] | list[str] | dict) -> int:
    """Points off the overall score for the alert types raised (each type counts once)."""
    return sum(ALERT_TYPES[n].penalty for n in set(raised) if n in ALERT_TYPES)
