"""Per-frame 0-100 scores from one observation plus a little per-session memory.

Definitions (also in docs/metrics.md, which is the text a candidate can be shown):

- **Baseline.** The first ``BASELINE_FRAMES`` frames with exactly one face set the
  candidate's resting head and gaze direction (median, clamped to +-15 degrees): a
  webcam placed to the side makes a head that "sits slightly turned", which is not
  looking away.  Until then the baseline is straight ahead.
- **Gaze offset** = angle between where the eyes point (head + eyes, measured against
  the face-to-camera ray) and the baseline.
- **eye_contact** = 100 when the offset is <= 8 degrees, falling linearly to 0 at 30
  degrees; halved while the eyes are closed (openness < 0.2).  No face: 0.
- **looking_away** (for the alert) = offset > 25 degrees, or head yaw more than 35 /
  pitch more than 25 degrees off baseline (head turned or looking down at a desk).
- **head_stability** = 100 - 4 x (mean absolute frame-to-frame change of yaw and pitch
  over the last 10 frames, degrees), floored at 0.
- **posture** = from body landmarks when measured in the last 5 frames: 100 minus
  penalties for shoulder tilt beyond 4 degrees (3 points per degree, at most 40), lean
  beyond 8 degrees (2 points per degree, at most 40) and distance (shoulders narrower
  than 18% or wider than 75% of the frame: 20).  Without body landmarks the head is
  used: roll beyond 6 degrees (2 points per degree, at most 40) and a face far off the
  frame centre (up to 20).
- **facial_expressions** = 100 x (HAPPY + 0.9 CALM + 0.7 SURPRISED + 0.5 CONFUSED +
  0.2 SAD + 0.1 (ANGRY + DISGUSTED + FEAR)): how interview-appropriate the expression is.
- **engagement** = 0.6 eye_contact + 0.2 alertness (eye openness x 100) + 0.2
  expressiveness (100 x min(1, 0.5 + HAPPY + SURPRISED + 0.5 CONFUSED)).  No face: 0.
- **confidence** = 0.35 eye_contact + 0.25 head_stability + 0.2 posture + 0.2 composure,
  composure = 100 x (1 - FEAR - SAD - 0.5 CONFUSED), floored at 0.
- **gestures** = 70 with no hands in view (neutral), 85 with hands visible and calm,
  minus 30 when a hand covers the face or mouth; None until hands were measured.

All scores are rounded to integers in 0-100.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .observation import EMOTIONS, Observation

BASELINE_FRAMES = 10
BASELINE_LIMIT = 15.0
GAZE_FULL = 8.0
GAZE_ZERO = 30.0
LOOK_AWAY_GAZE = 25.0
LOOK_AWAY_YAW = 35.0
LOOK_AWAY_PITCH = 25.0
HISTORY = 10


def clamp(v: float, lo: float = 0.0, hi: float = 100.0) -> float:
    return max(lo, min(hi, v))


def _median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


@dataclass
class FrameScores:
    eye_contact: int
    confidence: int
    engagement: int
    posture: int
    facial_expressions: int | None
    head_stability: int | None
    gestures: int | None
    looking_away: bool | None
    gaze_offset: float | None


class MetricsTracker:
    """Computes ``FrameScores``; its ``state`` (a plain dict) is stored with the session."""

    def __init__(self, state: dict | None = None):
        self.state = state if state is not None else {}
        self.state.setdefault(
            "baseline_samples", []
        )  # [[gaze_yaw, gaze_pitch, head_yaw, head_pitch], ...]
        self.state.setdefault("baseline", None)
        self.state.setdefault("history", [])  # recent [yaw, pitch]
        self.state.setdefault("body", None)  # last body measurement and its age
        self.state.setdefault("hands_seen", False)

    # --- baseline ---------------------------------------------------------------------
    def _baseline(self) -> list[float]:
        return self.state["baseline"] or [0.0, 0.0, 0.0, 0.0]

    def _learn(self, sample: list[float]) -> None:
        if self.state["baseline"] is not None:
            return
        samples = self.state["baseline_samples"]
        samples.append([round(v, 2) for v in sample])
        if len(samples) >= BASELINE_FRAMES:
            med = [_median([s[i] for s in samples]) for i in range(4)]
            self.state["baseline"] = [
                round(clamp(v, -BASELINE_LIMIT, BASELINE_LIMIT), 2) for v in med
            ]
            self.state["baseline_samples"] = []

    # --- one frame --------------------------------------------------------------------
    def update(self, obs: Observation) -> FrameScores:
        emotions = obs.emotions or {}
        mesh = obs.mesh if obs.face_count >= 1 else None

        # head stability from recent head angles
        hist = self.state["history"]
        if mesh is not None:
            hist.append([round(mesh.pose.yaw, 2), round(mesh.pose.pitch, 2)])
            del hist[:-HISTORY]
        head_stability = None
        if len(hist) >= 2:
            deltas = [
                abs(a[0] - b[0]) + abs(a[1] - b[1])
                for a, b in zip(hist[1:], hist[:-1], strict=False)
            ]
            head_stability = clamp(100 - 4 * (sum(deltas) / len(deltas) / 2))

        # gaze and looking away, relative to the candidate's baseline
        eye_contact = 0.0
        looking_away = None
        offset = None
        openness = 0.0
        if mesh is not None and obs.face_count == 1:
            g = mesh.gaze
            gy, gp = (g.yaw, g.pitch) if g is not None else (mesh.pose.yaw, mesh.pose.pitch)
            self._learn([gy, gp, mesh.pose.yaw, mesh.pose.pitch])
            b = self._baseline()
            offset = math.hypot(gy - b[0], gp - b[1])
            openness = g.eye_openness if g is not None else 1.0
            eye_contact = clamp(100 * (GAZE_ZERO - offset) / (GAZE_ZERO - GAZE_FULL))
            if openness < 0.2:
                eye_contact *= 0.5
            looking_away = (
                offset > LOOK_AWAY_GAZE
                or abs(mesh.pose.yaw - b[2]) > LOOK_AWAY_YAW
                or abs(mesh.pose.pitch - b[3]) > LOOK_AWAY_PITCH
            )
        elif mesh is not None:
            openness = mesh.gaze.eye_openness if mesh.gaze is not None else 1.0

        # posture: body landmarks when recent, else head roll and framing
        if obs.body is not None:
            self.state["body"] = {
                "tilt": obs.body.shoulder_tilt_deg,
                "lean": obs.body.lean_deg,
                "width": obs.body.shoulder_width,
                "vis": obs.body.visibility,
                "age": 0,
            }
        elif self.state["body"] is not None:
            self.state["body"]["age"] += 1
        body = self.state["body"]
        posture = self._posture(
            obs, body if body is not None and body["age"] <= 5 and body["vis"] >= 0.5 else None
        )

        facial = None
        if emotions:
            e = {k: emotions.get(k, 0.0) for k in EMOTIONS}
            facial = clamp(
                100
                * (
                    e["HAPPY"]
                    + 0.9 * e["CALM"]
                    + 0.7 * e["SURPRISED"]
                    + 0.5 * e["CONFUSED"]
                    + 0.2 * e["SAD"]
                    + 0.1 * (e["ANGRY"] + e["DISGUSTED"] + e["FEAR"])
                )
            )
        else:
            e = {k: 0.0 for k in EMOTIONS}

        if obs.face_count == 0:
            engagement = 0.0
            confidence = 0.0
        else:
            expressive = 100 * min(1.0, 0.5 + e["HAPPY"] + e["SURPRISED"] + 0.5 * e["CONFUSED"])
            engagement = clamp(
                0.6 * eye_contact + 0.2 * 100 * clamp(openness, 0, 1) + 0.2 * expressive
            )
            composure = clamp(100 * (1 - e["FEAR"] - e["SAD"] - 0.5 * e["CONFUSED"]))
            stab = head_stability if head_stability is not None else 100.0
            confidence = clamp(0.35 * eye_contact + 0.25 * stab + 0.2 * posture + 0.2 * composure)

        gestures = None
        if obs.hands is not None:
            self.state["hands_seen"] = True
            gestures = self._gestures(obs)

        return FrameScores(
            eye_contact=round(eye_contact),
            confidence=round(confidence),
            engagement=round(engagement),
            posture=round(posture),
            facial_expressions=None if facial is None else round(facial),
            head_stability=None if head_stability is None else round(head_stability),
            gestures=gestures,
            looking_away=looking_away,
            gaze_offset=None if offset is None else round(offset, 1),
        )

    @staticmethod
    def _posture(obs: Observation, body: dict | None) -> float:
        if body is not None:
            score = 100.0
            score -= min(40.0, max(0.0, abs(body["tilt"]) - 4) * 3)
            score -= min(40.0, max(0.0, abs(body["lean"]) - 8) * 2)
            if body["width"] < 0.18 or body["width"] > 0.75:
                score -= 20
            return clamp(score)
        face = obs.primary_face
        if face is None:
            return 0.0
        score = 100.0
        if obs.mesh is not None:
            score -= min(40.0, max(0.0, abs(obs.mesh.pose.roll) - 6) * 2)
        cx = (face.bbox[0] + face.bbox[2]) / 2 / obs.width
        cy = (face.bbox[1] + face.bbox[3]) / 2 / obs.height
        off = max(abs(cx - 0.5), abs(cy - 0.45))
        score -= min(20.0, max(0.0, off - 0.2) * 100)
        return clamp(score)

    @staticmethod
    def _gestures(obs: Observation) -> int:
        hands = obs.hands or []
        if not hands:
            return 70
        score = 85.0
        face = obs.primary_face
        if face is not None:
            x1, y1, x2, y2 = (
                face.bbox[0] / obs.width,
                face.bbox[1] / obs.height,
                face.bbox[2] / obs.width,
                face.bbox[3] / obs.height,
            )
            for h in hands:
                cx, cy = h.center
                if x1 <= cx <= x2 and y1 <= cy <= y2:
                    score -= 30
                    break
        return round(clamp(score))
