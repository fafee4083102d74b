"""Alert rules of the contract's "Alert Types" table, as model-free code.

Severities, messages and everything else about a type live in ``alert_types.py``;
this module holds only the triggers.  Each frame is reduced to ``FrameSignals`` (what the rules need: face count, whether
the candidate looks away, whether verification failed, engagement, objects, text).
``AlertEngine.evaluate`` feeds them to every rule and returns the alerts raised on
that frame.  All state is a plain dict (``AlertEngine.state``) so it can be stored
with the session and survive a restart.

Re-arm policy (docs/alerts.md):
- A rule fires once when its trigger is met (the Nth consecutive frame, or the first
  frame above the confidence threshold), then stays quiet while the condition persists.
- It re-arms when the condition has been absent for ``rearm_frames`` consecutive frames
  (default 2, so a one-frame flicker does not open a new episode).
- A condition that never clears is reported again every ``repeat_frames`` frames
  (default 30, about half a minute at 1 frame/s), so a proctor who joins late sees it.
- A frame on which a signal was not measured (``None``: no face for gaze, OCR not
  scheduled) neither advances nor clears that rule.
Object rules keep one episode per label, so a phone and a book each raise their own alert.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, cast

from .alert_types import alert_type
from .audio import FrameAudio


@dataclass
class Alert:
    type: str
    severity: str  # info | warning | critical
    message: str
    timestamp: float
    extra: dict = field(default_factory=dict)
    frame_number: int | None = None

    def as_contract(self) -> dict:
        out = {
            "type": self.type,
            "severity": self.severity,
            "message": self.message,
            "timestamp": self.timestamp,
        }
        out.update(self.extra)
        return out

    @classmethod
    def from_stored(cls, data: dict) -> Alert:
        """An alert as the contract wrote it (a stored frame result or report)."""
        extra = {k: v for k, v in data.items() if k not in _CONTRACT_KEYS}
        # values kept as stored (views check them), so the alert reads back unchanged
        return cls(
            cast(str, data.get("type")),
            cast(str, data.get("severity")),
            cast(str, data.get("message")),
            cast(float, data.get("timestamp")),
            extra,
        )


_CONTRACT_KEYS = ("type", "severity", "message", "timestamp")


@dataclass
class DetectedObject:
    name: str  # contract/Rekognition-style name, e.g. "Cell Phone"
    confidence: float  # 0-100
    evidence: dict = field(default_factory=dict)  # what each signal contributed


@dataclass
class FrameSignals:
    timestamp: float
    face_count: int
    looking_away: bool | None = None  # None: no face, gaze not measured
    mismatch: bool | None = None  # None: no verification on this frame
    engagement: float | None = None  # 0-100
    suspicious_objects: list[DetectedObject] = field(default_factory=list)
    objects_measured: bool = True  # False when the detector was not scheduled on this frame
    text_confidence: float | None = None  # 0-100 best text region; None when OCR did not run
    frame_number: int | None = None
    # True: the session failed passive liveness (photo, screen, replayed still); None: undecided
    presentation_attack: bool | None = None
    liveness: dict | None = None  # score and signals, kept as the alert's evidence
    audio: FrameAudio | None = None  # heard since the previous frame; None: no audio channel
    exam: bool = False  # the session's profile is exam: stricter gaze rule


@dataclass(frozen=True)
class AlertConfig:
    """Rule triggers; each field is the ``Settings`` field of the same name unless mapped."""

    no_face_frames: int = 3
    looking_away_frames: int = 5
    face_mismatch_frames: int = 3
    low_engagement_frames: int = 10
    low_engagement_below: float = 40.0
    suspicious_object_confidence: float = 70.0
    text_confidence: float = 80.0
    liveness_threshold: float = 50.0
    liveness_frames: int = 8
    liveness_still_frames: int = 5
    exam_looking_away_frames: int = 2
    multiple_voices_frames: int = 1
    speech_while_away_frames: int = 2
    speech_detected_frames: int = 1
    rearm_frames: int = field(default=2, metadata={"setting": "alert_rearm_frames"})
    repeat_frames: int = field(default=30, metadata={"setting": "alert_repeat_frames"})

    @staticmethod
    def setting_name(config_field: str) -> str:
        """The ``Settings`` field an AlertConfig field is read from."""
        f = _CONFIG_FIELDS[config_field]
        return f.metadata.get("setting", f.name)

    @classmethod
    def from_settings(cls, settings: Any) -> AlertConfig:
        """The triggers configured in ``settings`` (a ``server.config.Settings``)."""
        return cls(**{name: getattr(settings, cls.setting_name(name)) for name in _CONFIG_FIELDS})


_CONFIG_FIELDS = {f.name: f for f in fields(AlertConfig)}


class _Episode:
    """Consecutive-frame counter with fire-once / re-arm / repeat bookkeeping."""

    def __init__(self, state: dict):
        self.s = state
        self.s.setdefault("run", 0)  # consecutive frames with the condition
        self.s.setdefault("clear", 0)  # consecutive frames without it
        self.s.setdefault("fired", False)  # fired in the current episode
        self.s.setdefault("since", 0)  # frames since it last fired

    def step(self, present: bool | None, needed: int, rearm: int, repeat: int) -> bool:
        if present is None:
            return False
        if present:
            self.s["run"] += 1
            self.s["clear"] = 0
            if self.s["fired"]:
                self.s["since"] += 1
                if repeat and self.s["since"] >= repeat:
                    self.s["since"] = 0
                    return True
                return False
            if self.s["run"] >= needed:
                self.s["fired"] = True
                self.s["since"] = 0
                return True
            return False
        self.s["run"] = 0
        self.s["clear"] += 1
        if self.s["fired"] and self.s["clear"] >= rearm:
            self.s["fired"] = False
            self.s["since"] = 0
        return False


class AlertEngine:
    def __init__(self, config: AlertConfig, state: dict | None = None):
        self.config = config
        self.state: dict = state if state is not None else {}

    def _episode(self, key: str) -> _Episode:
        return _Episode(self.state.setdefault(key, {}))

    def evaluate(self, sig: FrameSignals) -> list[Alert]:
        c = self.config
        out: list[Alert] = []

        def emit(kind: str, **extra):
            t = alert_type(kind)  # severity and message come from the catalogue
            message = (
                t.message.format_map({**asdict(c), **extra}) if "{" in t.message else t.message
            )
            out.append(Alert(kind, t.severity, message, sig.timestamp, extra, sig.frame_number))

        if self._episode("no_face_detected").step(
            sig.face_count == 0, c.no_face_frames, c.rearm_frames, c.repeat_frames
        ):
            emit("no_face_detected")
        if self._episode("multiple_faces").step(
            sig.face_count > 1, 1, c.rearm_frames, c.repeat_frames
        ):
            emit("multiple_faces", face_count=sig.face_count)
        looking = sig.looking_away if sig.face_count == 1 else None
        away_frames = c.exam_looking_away_frames if sig.exam else c.looking_away_frames
        if self._episode("looking_away").step(
            looking, away_frames, c.rearm_frames, c.repeat_frames
        ):
            emit("looking_away")
        if self._episode("face_mismatch").step(
            sig.mismatch, c.face_mismatch_frames, c.rearm_frames, c.repeat_frames
        ):
            emit("face_mismatch")
        low = None if sig.engagement is None else sig.engagement < c.low_engagement_below
        if self._episode("low_engagement").step(
            low, c.low_engagement_frames, c.rearm_frames, c.repeat_frames
        ):
            emit("low_engagement", engagement=round(sig.engagement or 0.0, 1))

        if sig.objects_measured:
            seen = {
                o.name: o
                for o in sig.suspicious_objects
                if o.confidence > c.suspicious_object_confidence
            }
            obj_state = self.state.setdefault("suspicious_object", {})
            for name in set(obj_state) | set(seen):
                ep = _Episode(obj_state.setdefault(name, {}))
                if ep.step(name in seen, 1, c.rearm_frames, c.repeat_frames):
                    o = seen[name]
                    extra = {"confidence": round(o.confidence, 1), "object": name}
                    if o.evidence:
                        extra["evidence"] = o.evidence
                    emit("suspicious_object", **extra)

        if sig.text_confidence is not None:
            present = sig.text_confidence > c.text_confidence
            if self._episode("text_detected").step(present, 1, c.rearm_frames, c.repeat_frames):
                emit("text_detected", confidence=round(sig.text_confidence, 1))

        if self._episode("presentation_attack").step(
            sig.presentation_attack, 1, c.rearm_frames, c.repeat_frames
        ):
            live = sig.liveness or {}
            emit(
                "presentation_attack",
                liveness_score=live.get("score"),
                evidence=live.get("signals", {}),
            )

        heard = sig.audio  # None: no audio for this frame, so the audio rules hold still
        other = None if heard is None else heard.other_voice_s > 0
        if self._episode("multiple_voices").step(
            other, c.multiple_voices_frames, c.rearm_frames, c.repeat_frames
        ):
            emit("multiple_voices", other_voice_seconds=heard.other_voice_s if heard else 0.0)
        away = sig.face_count == 0 or (sig.face_count == 1 and sig.looking_away is True)
        speech_away = None if heard is None else heard.speech_s > 0 and away
        if self._episode("speech_while_away").step(
            speech_away, c.speech_while_away_frames, c.rearm_frames, c.repeat_frames
        ):
            emit("speech_while_away", speech_seconds=heard.speech_s if heard else 0.0)
        speech_exam = None if heard is None or not heard.exam else heard.speech_s > 0
        if self._episode("speech_detected").step(
            speech_exam, c.speech_detected_frames, c.rearm_frames, c.repeat_frames
        ):
            emit("speech_detected", speech_seconds=heard.speech_s if heard else 0.0)
        return out
