"""One observation -> the frame's ``FrameResult``, its alerts and the updated session state.

``FrameResult`` is the contract's frame "result" (``as_contract()``) plus ``detail``,
the measurements kept for reports that the contract does not carry.  Both are stored
as JSON (the frame row's ``result`` and ``signals``); ``FrameResult.from_stored`` reads
rows of any version back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .alerts import Alert, AlertConfig, AlertEngine, FrameSignals
from .audio import FrameAudio
from .contract import Section
from .expression import ExpressionSmoother
from .liveness import LivenessTracker
from .metrics import FrameScores, MetricsTracker
from .objects import labels_detected, suspicious_objects
from .observation import EMOTIONS, Observation
from .verification import FaceMatch


def emotion_percentages(probs: dict[str, float] | None) -> dict[str, float]:
    """Eight keys, percentages with one decimal that add up to exactly 100 (0s without a face)."""
    if not probs:
        return {k: 0.0 for k in EMOTIONS}
    total = sum(max(0.0, probs.get(k, 0.0)) for k in EMOTIONS) or 1.0
    tenths = {k: max(0.0, probs.get(k, 0.0)) / total * 1000 for k in EMOTIONS}
    floors = {k: int(v) for k, v in tenths.items()}
    rest = 1000 - sum(floors.values())
    for k in sorted(EMOTIONS, key=lambda k: tenths[k] - floors[k], reverse=True)[:rest]:
        floors[k] += 1
    return {k: floors[k] / 10 for k in EMOTIONS}


def dominant(percentages: dict[str, float]) -> str | None:
    if not any(percentages.values()):
        return None
    return max(EMOTIONS, key=lambda k: percentages[k])


@dataclass
class LiveScores(Section):
    """The four 0-100 scores of every frame (the contract's "metrics")."""

    eye_contact: int = 0
    confidence: int = 0
    engagement: int = 0
    posture: int = 0


@dataclass
class PoseAngles(Section):
    pitch: float = 0.0
    roll: float = 0.0
    yaw: float = 0.0


@dataclass
class FaceCheck(Section):
    """The contract's "face_verification" of one frame."""

    verified: bool = False
    similarity: float = 0.0
    message: str = ""
    threshold: float = 0.0


@dataclass
class FrameDetail(Section):
    """Measurements kept for reports, outside the contract (stored as the frame's signals)."""

    facial_expressions: int | None = None
    head_stability: int | None = None
    gestures: int | None = None
    gaze_offset: float | None = None
    looking_away: bool | None = None
    text_confidence: float | None = None
    objects: list[dict] = field(default_factory=list)  # name, confidence, evidence
    timings_ms: dict[str, float] = field(default_factory=dict)
    cosine: float | None = None  # only with a verification
    liveness: dict | None = None  # passive liveness score and signals, once measured


@dataclass
class FrameResult(Section):
    """One analysed frame: the contract's frame result plus ``detail``."""

    frame_number: int = 0
    timestamp: float = 0.0
    face_detected: bool = False
    face_count: int = 0
    emotions: dict[str, float] = field(default_factory=dict)
    dominant_emotion: str | None = None
    metrics: LiveScores = field(default_factory=LiveScores, metadata={"section": LiveScores})
    face_verification: FaceCheck | None = field(default=None, metadata={"section": FaceCheck})
    pose: PoseAngles | None = field(default=None, metadata={"section": PoseAngles})
    labels_detected: list[str] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list, metadata={"items": Alert})
    # Not part of the contract's body: stored beside it.
    detail: FrameDetail = field(
        default_factory=FrameDetail, metadata={"stored_apart": True}, compare=False
    )

    @classmethod
    def from_stored(cls, result: Any, signals: Any = None) -> FrameResult:
        """A frame row of any version: its ``result`` (contract) and ``signals`` (detail) JSON."""
        frame = super().from_stored(result)
        frame.detail = FrameDetail.from_stored(signals or {})
        return frame

    def stored_detail(self) -> dict:
        """``detail`` as stored beside the result (the frame row's ``signals``)."""
        return self.detail.as_contract()


@dataclass
class FrameOutcome:
    frame: FrameResult
    state: dict
    scores: FrameScores

    @property
    def alerts(self) -> list[Alert]:
        return self.frame.alerts


def analyse_observation(
    obs: Observation,
    state: dict,
    frame_number: int,
    timestamp: float,
    match: FaceMatch | None,
    config: AlertConfig,
    audio: FrameAudio | None = None,
    exam: bool = False,
) -> FrameOutcome:
    state = dict(state)
    timestamp = round(timestamp, 2)
    tracker = MetricsTracker(state.setdefault("metrics", {}))
    scores = tracker.update(obs)
    objects_state = state.setdefault("objects", {})
    suspicious = suspicious_objects(obs, objects_state)
    text_conf = None
    if obs.text is not None:
        text_conf = max((t.confidence for t in obs.text), default=0.0) * 100
    liveness = LivenessTracker(
        state.setdefault("liveness", {}),
        frames=config.liveness_frames,
        threshold=config.liveness_threshold,
        still_frames=config.liveness_still_frames,
    )
    live = liveness.update(obs.liveness if obs.face_count else None)

    signals = FrameSignals(
        timestamp=timestamp,
        face_count=obs.face_count,
        looking_away=scores.looking_away,
        mismatch=None if match is None else not match.verified,
        engagement=float(scores.engagement) if obs.face_count else None,
        suspicious_objects=suspicious,
        objects_measured=obs.objects is not None,
        text_confidence=text_conf,
        frame_number=frame_number,
        presentation_attack=liveness.attack() if live is not None else None,
        liveness=live.as_dict() if live is not None else None,
        audio=audio,
        exam=exam,
    )
    engine = AlertEngine(config, state.setdefault("alerts", {}))
    alerts = engine.evaluate(signals)

    # speech is not surprise, and one frame is not a mood (expression.py)
    blend = obs.mesh.blendshapes if obs.mesh is not None else None
    expression = ExpressionSmoother(state.setdefault("expression", {}))
    smoothed = expression.update(obs.emotions if obs.face_count else None, blend, timestamp)
    emotions = emotion_percentages(smoothed)
    mesh = obs.mesh
    detail = FrameDetail(
        facial_expressions=scores.facial_expressions,
        head_stability=scores.head_stability,
        gestures=scores.gestures,
        gaze_offset=scores.gaze_offset,
        looking_away=scores.looking_away,
        text_confidence=None if text_conf is None else round(text_conf, 1),
        objects=[
            {"name": o.name, "confidence": o.confidence, "evidence": o.evidence} for o in suspicious
        ],
        timings_ms=obs.timings_ms,
        cosine=None if match is None else match.cosine,
        liveness=None if live is None else live.as_dict(),
        # keys written only when measured, as stored rows always had them
        absent=frozenset(k for k, v in (("cosine", match), ("liveness", live)) if v is None),
    )
    frame = FrameResult(
        frame_number=frame_number,
        timestamp=round(timestamp, 2),
        face_detected=obs.face_count > 0,
        face_count=obs.face_count,
        emotions=emotions,
        dominant_emotion=dominant(emotions),
        metrics=LiveScores(
            eye_contact=scores.eye_contact,
            confidence=scores.confidence,
            engagement=scores.engagement,
            posture=scores.posture,
        ),
        face_verification=None if match is None else FaceCheck(**match.as_contract()),
        pose=(
            PoseAngles(
                pitch=round(mesh.pose.pitch, 1),
                roll=round(mesh.pose.roll, 1),
                yaw=round(mesh.pose.yaw, 1),
            )
            if mesh is not None and obs.face_count
            else None
        ),
        labels_detected=labels_detected(obs),
        alerts=alerts,
        detail=detail,
    )
    return FrameOutcome(frame, state, scores)
