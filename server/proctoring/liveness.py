"""Passive liveness: is a live person in front of the camera, or a photo, a screen, a still?

Model-free: ``server.vision.liveness`` measures cheap cues per frame (``LivenessCues``);
this module scores them.  One image can only be scored weakly (screen and print
artefacts); the decision is finished over the session's first frames, where a live
person gives themselves away by what a flat picture cannot do:

- ``expression``: the face changes (talking, smiling, frowning): the largest range of a
  few mouth/brow/cheek blendshapes over the frames seen.
- ``depth``: the face mesh does not move as one plane.  A photo or a screen moved in the
  hand moves its landmarks by a homography (a plane seen by a camera); a head turning
  or talking leaves a residual after the best homography.  Residual in units of the
  inter-ocular distance, largest over the frames seen.
- ``blink``: an eye closed on at least one frame (blendshape eyeBlink > 0.5).
- ``still``: consecutive frames that differ only by re-encoding noise (landmarks within
  ``STILL_POINTS`` of the eye distance and the 16x16 face thumbnail within
  ``STILL_GREY`` grey levels): a still picture replayed by a virtual camera.
- ``artefact``: screen and print cues (moiré peaks, glare, straight edges framing the
  face) averaged over the frames where they were measured.

score (0-100) = 100 x life x (1 - 0.6 x artefact), with life = the strongest of the
three live cues, each scaled to 0-1 by where live video sits (docs/cheating.md has
the measurements).  ``passed``: score >= threshold and no still run.  A still run of
``still_frames`` frames fails at once, at any time of the session.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Scaling of each cue to 0-1: what honest live video reaches within a few frames.
EXPRESSION_LIVE = 0.12  # blendshape range
DEPTH_LIVE = 0.045  # homography residual / eye distance
BLINK_LIVE = 0.5
STILL_POINTS = 0.004  # landmark motion / eye distance between frames
STILL_GREY = 1.5  # mean grey-level change of the face thumbnail
ARTEFACT_WEIGHT = 0.6
SINGLE_IMAGE_NOTE = (
    "single image: only screen and print cues can be scored; the decision is completed "
    "over the first frames of the session"
)


@dataclass
class LivenessCues:
    """Per-frame measurements of the primary face (``server.vision.liveness``)."""

    thumb: list[int] = field(default_factory=list)  # 16x16 grey levels of the face box
    points: list[list[float]] | None = None  # mesh landmark subset, frame-normalised x, y
    blink: float | None = None  # 0-1, the more closed eye
    expression: list[float] | None = None  # a few blendshapes
    moire: float | None = None  # 0-1, None when not measured on this frame
    glare: float | None = None
    bezel: float | None = None

    @property
    def artefact(self) -> float | None:
        parts = [v for v in (self.moire, self.glare, self.bezel) if v is not None]
        if not parts:
            return None
        # moiré is the strongest single cue; edges and glare only add to it
        return float(
            min(1.0, (self.moire or 0.0) + 0.25 * (self.bezel or 0.0) + 0.5 * (self.glare or 0.0))
        )


@dataclass(frozen=True)
class LivenessResult:
    score: float  # 0-100
    passed: bool
    final: bool  # False while the frames needed for a decision are still coming
    signals: dict

    def as_dict(self) -> dict:
        return {
            "score": self.score,
            "passed": self.passed,
            "final": self.final,
            "signals": self.signals,
        }


def single_image_liveness(cues: LivenessCues | None, threshold: float) -> LivenessResult:
    """The weak score of one still image (register-face, verify-document's live face)."""
    artefact = (cues.artefact if cues else None) or 0.0
    score = round(100.0 * (1.0 - artefact), 1)
    signals = {
        "moire": cues.moire if cues else None,
        "glare": cues.glare if cues else None,
        "bezel": cues.bezel if cues else None,
        "method": SINGLE_IMAGE_NOTE,
    }
    return LivenessResult(score, score >= threshold, False, signals)


def _homography_residual(a: np.ndarray, b: np.ndarray) -> float:
    """RMS distance of ``b`` from the best homography image of ``a`` (DLT, normalised)."""
    n = len(a)
    if n < 6:
        return 0.0

    def norm(p):
        c = p.mean(0)
        s = np.sqrt(2) / (np.sqrt(((p - c) ** 2).sum(1)).mean() + 1e-12)
        t = np.array([[s, 0, -s * c[0]], [0, s, -s * c[1]], [0, 0, 1]])
        return (np.c_[p, np.ones(n)] @ t.T)[:, :2], t

    pa, ta = norm(a)
    pb, tb = norm(b)
    rows = []
    for (x, y), (u, v) in zip(pa, pb, strict=True):
        rows.append([-x, -y, -1, 0, 0, 0, u * x, u * y, u])
        rows.append([0, 0, 0, -x, -y, -1, v * x, v * y, v])
    _, _, vt = np.linalg.svd(np.asarray(rows))
    h = np.linalg.inv(tb) @ vt[-1].reshape(3, 3) @ ta
    proj = np.c_[a, np.ones(n)] @ h.T
    proj = proj[:, :2] / np.where(np.abs(proj[:, 2:]) < 1e-9, 1e-9, proj[:, 2:])
    return float(np.sqrt(((proj - b) ** 2).sum(1).mean()))


def _eye_distance(points: np.ndarray) -> float:
    # POINTS in server.vision.liveness: index 4 is landmark 33 (right eye outer), 13 is 263
    return float(np.linalg.norm(points[4] - points[13])) or 1e-6


class LivenessTracker:
    """Session liveness over frames; all state is a plain dict (``state["liveness"]``)."""

    REFS = 4  # earlier landmark sets kept to test parallax against

    def __init__(self, state: dict | None, *, frames: int, threshold: float, still_frames: int):
        self.s = state if state is not None else {}
        self.frames_needed = frames
        self.threshold = threshold
        self.still_frames = still_frames
        s = self.s
        s.setdefault("frames", 0)
        s.setdefault("expr_min", None)
        s.setdefault("expr_max", None)
        s.setdefault("depth", 0.0)
        s.setdefault("blink", 0.0)
        s.setdefault("still_run", 0)
        s.setdefault("still_max", 0)
        s.setdefault("artefact_sum", 0.0)
        s.setdefault("artefact_n", 0)
        s.setdefault("refs", [])
        s.setdefault("prev_thumb", None)
        s.setdefault("prev_points", None)
        s.setdefault("decided", None)

    def _still(self, cues: LivenessCues, pts: np.ndarray | None) -> bool | None:
        prev_t, prev_p = self.s["prev_thumb"], self.s["prev_points"]
        if not cues.thumb or not prev_t or len(prev_t) != len(cues.thumb):
            return None
        grey = float(np.abs(np.asarray(cues.thumb) - np.asarray(prev_t)).mean())
        if pts is not None and prev_p is not None:
            p0 = np.asarray(prev_p)
            moved = float(np.abs(pts - p0).max()) / _eye_distance(pts)
            return grey < STILL_GREY and moved < STILL_POINTS
        return grey < STILL_GREY * 0.5

    def update(self, cues: LivenessCues | None) -> LivenessResult | None:
        """Feed one frame's cues (None: no face on this frame); the current result."""
        s = self.s
        if cues is None:
            s["still_run"] = 0
            return None
        s["frames"] += 1
        pts = np.asarray(cues.points, np.float64) if cues.points else None
        still = self._still(cues, pts)
        if still:
            s["still_run"] += 1
            s["still_max"] = max(s["still_max"], s["still_run"])
        elif still is not None:
            s["still_run"] = 0
        if cues.expression:
            e = np.asarray(cues.expression)
            lo = e if s["expr_min"] is None else np.minimum(e, s["expr_min"])
            hi = e if s["expr_max"] is None else np.maximum(e, s["expr_max"])
            s["expr_min"], s["expr_max"] = lo.round(3).tolist(), hi.round(3).tolist()
        if cues.blink is not None:
            s["blink"] = max(s["blink"], float(cues.blink))
        if pts is not None:
            eye = _eye_distance(pts)
            for ref in s["refs"]:
                r = np.asarray(ref)
                if r.shape == pts.shape:
                    s["depth"] = max(s["depth"], _homography_residual(r, pts) / eye)
            refs = list(s["refs"]) + [np.round(pts, 5).tolist()]
            s["refs"] = refs[-self.REFS :]
        a = cues.artefact
        if a is not None:
            s["artefact_sum"] += a
            s["artefact_n"] += 1
        s["prev_thumb"] = cues.thumb or None
        s["prev_points"] = None if pts is None else np.round(pts, 5).tolist()
        return self.result()

    def result(self) -> LivenessResult:
        s = self.s
        expr = 0.0
        if s["expr_min"] is not None:
            expr = float((np.asarray(s["expr_max"]) - np.asarray(s["expr_min"])).max())
        cues = {
            "expression": min(1.0, expr / EXPRESSION_LIVE),
            "depth": min(1.0, s["depth"] / DEPTH_LIVE),
            "blink": min(1.0, s["blink"] / BLINK_LIVE),
        }
        life = max(cues.values())
        artefact = s["artefact_sum"] / s["artefact_n"] if s["artefact_n"] else 0.0
        score = round(100.0 * life * (1.0 - ARTEFACT_WEIGHT * artefact), 1)
        still = self.still_frames > 0 and s["still_max"] >= self.still_frames
        final = still or s["frames"] >= self.frames_needed
        passed = not still and score >= self.threshold
        signals = {
            "frames": s["frames"],
            "expression_range": round(expr, 3),
            "depth": round(s["depth"], 4),
            "blink": round(s["blink"], 3),
            "still_frames": s["still_max"],
            "artefact": round(artefact, 3),
        }
        if final and s["decided"] is None:
            s["decided"] = passed
        return LivenessResult(score, passed if final else score >= self.threshold, final, signals)

    def attack(self) -> bool | None:
        """For the rule: True when the session failed liveness (or a still run appears), None
        while undecided.  A decision, once taken, holds; a still picture fails at any time."""
        s = self.s
        if self.still_frames > 0 and s["still_run"] >= self.still_frames:
            return True
        if s["decided"] is None:
            return None
        return not s["decided"]
