"""One observation -> the contract's frame result, its alerts and the updated session state."""

from __future__ import annotations

from dataclasses import dataclass

from .alerts import Alert, AlertConfig, AlertEngine, FrameSignals
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
class FrameOutcome:
    result: dict  # the contract's "result" object
    alerts: list[Alert]
    scores: FrameScores
    signals: dict  # extra measurements kept for reports (not part of the contract)
    state: dict


def analyse_observation(
    obs: Observation,
    state: dict,
    frame_number: int,
    timestamp: float,
    match: FaceMatch | None,
    config: AlertConfig,
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
    )
    engine = AlertEngine(config, state.setdefault("alerts", {}))
    alerts = engine.evaluate(signals)

    emotions = emotion_percentages(obs.emotions if obs.face_count else None)
    mesh = obs.mesh
    result = {
        "frame_number": frame_number,
        "timestamp": round(timestamp, 2),
        "face_detected": obs.face_count > 0,
        "face_count": obs.face_count,
        "emotions": emotions,
        "dominant_emotion": dominant(emotions),
        "metrics": {
            "eye_contact": scores.eye_contact,
            "confidence": scores.confidence,
            "engagement": scores.engagement,
            "posture": scores.posture,
        },
        "face_verification": match.as_contract() if match is not None else None,
        "pose": (
            {
                "pitch": round(mesh.pose.pitch, 1),
                "roll": round(mesh.pose.roll, 1),
                "yaw": round(mesh.pose.yaw, 1),
            }
            if mesh is not None and obs.face_count
            else None
        ),
        "labels_detected": labels_detected(obs),
        "alerts": [a.as_contract() for a in alerts],
    }
    extra = {
        "facial_expressions": scores.facial_expressions,
        "head_stability": scores.head_stability,
        "gestures": scores.gestures,
        "gaze_offset": scores.gaze_offset,
        "looking_away": scores.looking_away,
        "text_confidence": None if text_conf is None else round(text_conf, 1),
        "objects": [
            {"name": o.name, "confidence": o.confidence, "evidence": o.evidence} for o in suspicious
        ],
        "timings_ms": obs.timings_ms,
    }
    if match is not None:
        extra["cosine"] = match.cosine
    if live is not None:
        extra["liveness"] = live.as_dict()
    return FrameOutcome(result, alerts, scores, extra, state)
