"""Facial expressions over time: speech is not surprise, and one frame is not a mood.

A FER2013 model sees a speaking mouth as a surprised or fearful one: the mouth opens in
both. What tells them apart is the upper face. Surprise raises the brows (FACS AU1+2)
and widens the eyes (AU5), fear does both too; speech moves only the jaw, at syllable
rate. So:

- ``speech_discount``: the SURPRISED and FEAR probability that the brows and eyes do
  not support moves to CALM, in proportion to how much the mouth speaks;
- ``ExpressionSmoother`` (per session, state in the session's rule state): the jaw's
  range over the last second says whether the candidate is speaking (a closed-mouth
  frame between syllables counts too), and a short exponential average over time
  (half-life ``HALF_LIFE_S``) keeps the dominant expression from flipping frame to frame.

Figures before/after on the test videos: docs/emotions.md.
"""

from __future__ import annotations

import math

from .observation import EMOTIONS

HALF_LIFE_S = 0.15  # longer lags behind real changes (crying -> laughing) by too much
RESET_GAP_S = 2.0  # a longer gap (no face, a paused video) starts afresh
JAW_WINDOW_S = 1.0  # syllables come 3-6 a second: a second holds several
JAW_SPEECH_RANGE = 0.05  # jawOpen range in the window that counts as speaking
JAW_MIN_SAMPLES = 3
SPEECH_SENSITIVE = ("SURPRISED", "FEAR")


def _ramp(x: float, lo: float, hi: float) -> float:
    return min(1.0, max(0.0, (x - lo) / (hi - lo)))


def _mean(bs: dict[str, float], *keys: str) -> float:
    return sum(float(bs.get(k, 0.0)) for k in keys) / len(keys)


def surprise_support(bs: dict[str, float] | None) -> float:
    """0..1: how much the upper face shows surprise or fear (raised brows or wide eyes).
    Resting brows reach 0.25 on the test portraits and videos; raised ones 0.5-0.9."""
    if not bs:
        return 1.0  # nothing to judge by: leave the model's reading alone
    brows = _ramp(_mean(bs, "browInnerUp", "browOuterUpLeft", "browOuterUpRight"), 0.3, 0.6)
    eyes = _ramp(_mean(bs, "eyeWideLeft", "eyeWideRight"), 0.15, 0.4)
    return max(brows, eyes)


def mouth_open(bs: dict[str, float] | None) -> float:
    """0..1 from jawOpen; a closed mouth at rest reads up to 0.06 on the test media."""
    return _ramp(float(bs.get("jawOpen", 0.0)), 0.06, 0.2) if bs else 0.0


def speech_discount(probs: dict[str, float], speaking: float, support: float) -> dict[str, float]:
    """Move ``speaking * (1 - support)`` of SURPRISED and FEAR to CALM (the sum is kept)."""
    k = min(1.0, max(0.0, speaking)) * (1.0 - min(1.0, max(0.0, support)))
    out = {e: float(probs.get(e, 0.0)) for e in EMOTIONS}
    if k <= 0.0:
        return out
    for e in SPEECH_SENSITIVE:
        moved = out[e] * k
        out[e] -= moved
        out["CALM"] += moved
    return out


class ExpressionSmoother:
    """One session's expression probabilities over time (``state`` is JSON, kept by the caller)."""

    def __init__(self, state: dict) -> None:
        self.state = state

    def update(
        self, probs: dict[str, float] | None, blendshapes: dict[str, float] | None, t: float
    ) -> dict[str, float] | None:
        """This frame's probabilities, speech-corrected and averaged with the frames before."""
        st = self.state
        if not probs:
            st.clear()  # no face: the next face starts afresh
            return probs
        last_t = st.get("t")
        fresh = last_t is None or not (0.0 <= t - last_t <= RESET_GAP_S)
        jaw = [] if fresh else [(a, j) for a, j in st.get("jaw", []) if t - a <= JAW_WINDOW_S]
        if blendshapes:
            jaw.append((t, round(float(blendshapes.get("jawOpen", 0.0)), 3)))
        values = [j for _, j in jaw]
        speaking = len(values) >= JAW_MIN_SAMPLES and max(values) - min(values) >= JAW_SPEECH_RANGE
        current = speech_discount(probs, 1.0 if speaking else 0.0, surprise_support(blendshapes))
        if fresh or last_t is None:
            smoothed = current
        else:
            a = 1.0 - math.pow(0.5, (t - last_t) / HALF_LIFE_S)
            prev = st.get("p", {})
            smoothed = {e: prev.get(e, 0.0) + a * (current[e] - prev.get(e, 0.0)) for e in EMOTIONS}
        total = sum(smoothed.values()) or 1.0
        smoothed = {e: v / total for e, v in smoothed.items()}
        st.update(t=t, p={e: round(v, 5) for e, v in smoothed.items()}, jaw=jaw, speaking=speaking)
        return smoothed
