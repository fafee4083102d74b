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
- ``still``: consecutive frames that differ only by re-encoding noise (no cell of the
  64x36 frame thumbnail changes by more than ``STILL_CHANGE`` grey levels): a still
  picture replayed by a virtual camera.
- ``artefact``: screen and print cues (moiré peaks, glare, straight edges framing the
  face) averaged over the frames where they were measured.

score (0-100) = 100 x life x (1 - 0.6 x artefact), with life = the strongest live cue,
each scaled to 0-1 by where live video sits.  The decision, taken once ``frames`` frames
with a face were seen and then held: live when the score reaches the threshold without
strong screen cues; an attack when it does not and screen/print cues are there, or when
no sign of life appeared in ``PATIENCE`` times as many frames.  A still run of
``still_frames`` frames is an attack at once, at any time of the session.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Scaling of each cue to 0-1: what honest live video reaches within a few frames, above
# what the attacks built from real media reached (docs/cheating.md has the figures).
DEPTH_LIVE = 0.04  # homography residual of the mesh / eye distance (prints <= 0.027)
EXPRESSION_LIVE = 0.4  # blendshape range (a moved photo's blendshapes wobble up to ~0.25)
BLINK_LIVE = 0.6  # an eye closed; a photo's eyes read up to ~0.5
BLINK_WEIGHT = 0.8
STILL_CHANGE = 3.0  # a replayed still changes the 64x36 thumbnail by <= 2 grey levels
BEZEL_WEIGHT = 0.6
GLARE_WEIGHT = 0.5
ARTEFACT_WEIGHT = 0.6
ARTEFACT_SUSPECT = 0.25  # with a low score: screen/print cues decide at once
ARTEFACT_ATTACK = 0.6  # strong moiré fails even a face that seems to move
SINGLE_WEIGHT = 0.55  # one image: moiré or edges alone stay above a 25 refusal line
PATIENCE = 3  # frames x liveness_frames without any sign of life fail without artefacts
SINGLE_IMAGE_NOTE = (
    "single image: only screen and print cues can be scored; the decision is completed "
    "over the first frames of the session"
)


@dataclass
class LivenessCues:
    """Per-frame measurements of the primary face (``server.vision.liveness``)."""

    points: list[list[float]] | None = None  # mesh landmark subset, frame-normalised x, y
    blink: float | None = None  # 0-1, the more closed eye
    expression: list[float] | None = None  # a few blendshapes
    moire: float | None = None  # 0-1, None when not measured on this frame
    glare: float | None = None
    bezel: float | None = None

    frame_change: float | None = None  # largest grey change of the 64x36 frame thumbnail

    @property
    def artefact(self) -> float | None:
        if self.moire is None and self.bezel is None and self.glare is None:
            return None
        return artefact_of(self.moire or 0.0, self.bezel or 0.0, self.glare or 0.0)


def artefact_of(moire: float, bezel: float, glare: float) -> float:
    """0-1 screen/print evidence: moiré counts fully; straight edges framing the face on more
    than one side (a phone, a print's border) and blown-out glare only add to it."""
    edges = min(1.0, max(0.0, (bezel - 0.25) / 0.5))
    return float(min(1.0, moire + BEZEL_WEIGHT * edges + GLARE_WEIGHT * glare))


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
    # One image is weak evidence (a photo of a moiré-like pattern, a door frame behind the
    # head): only moiré and framing edges together pull the score under the refusal line.
    moire, bezel, glare = (
        (cues.moire or 0.0, cues.bezel or 0.0, cues.glare or 0.0) if cues else (0, 0, 0)
    )
    edges = min(1.0, max(0.0, (bezel - 0.25) / 0.5))
    artefact = min(1.0, SINGLE_WEIGHT * (moire + edges) + GLARE_WEIGHT * 0.5 * glare)
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
        self.frames_needed = max(1, frames)
        self.threshold = threshold
        self.still_frames = still_frames
        s = self.s
        for key, value in (
            ("frames", 0), ("expr_min", None), ("expr_max", None), ("depth", 0.0),
            ("blink", 0.0), ("still_run", 0), ("still_max", 0), ("moire", [0.0, 0]),
            ("bezel", [0.0, 0]), ("glare", [0.0, 0]), ("refs", []), ("decided", None),
        ):  # fmt: skip
            s.setdefault(key, value)

    def update(self, cues: LivenessCues | None) -> LivenessResult | None:
        """Feed one frame's cues (None: no face on this frame); the current result."""
        s = self.s
        if cues is None:
            s["still_run"] = 0
            return None
        s["frames"] += 1
        if cues.frame_change is not None:
            if cues.frame_change <= STILL_CHANGE:
                s["still_run"] += 1
                s["still_max"] = max(s["still_max"], s["still_run"])
            else:
                s["still_run"] = 0
        if cues.expression:
            e = np.asarray(cues.expression)
            lo = e if s["expr_min"] is None else np.minimum(e, s["expr_min"])
            hi = e if s["expr_max"] is None else np.maximum(e, s["expr_max"])
            s["expr_min"], s["expr_max"] = lo.round(3).tolist(), hi.round(3).tolist()
        if cues.blink is not None:
            s["blink"] = max(s["blink"], float(cues.blink))
        if cues.points:
            pts = np.asarray(cues.points, np.float64)
            eye = _eye_distance(pts)
            for ref in s["refs"]:
                r = np.asarray(ref)
                if r.shape == pts.shape:
                    s["depth"] = max(s["depth"], _homography_residual(r, pts) / eye)
            s["refs"] = (list(s["refs"]) + [np.round(pts, 5).tolist()])[-self.REFS :]
        for key in ("moire", "bezel", "glare"):
            v = getattr(cues, key)
            if v is not None:
                s[key] = [s[key][0] + float(v), s[key][1] + 1]
        return self.result()

    def _mean(self, key: str) -> float:
        total, n = self.s[key]
        return total / n if n else 0.0

    def result(self) -> LivenessResult:
        s = self.s
        expr = 0.0
        if s["expr_min"] is not None:
            expr = float((np.asarray(s["expr_max"]) - np.asarray(s["expr_min"])).max())
        life = max(
            min(1.0, s["depth"] / DEPTH_LIVE),
            min(1.0, expr / EXPRESSION_LIVE),
            BLINK_WEIGHT * min(1.0, s["blink"] / BLINK_LIVE),
        )
        artefact = artefact_of(self._mean("moire"), self._mean("bezel"), self._mean("glare"))
        score = round(100.0 * life * (1.0 - ARTEFACT_WEIGHT * artefact), 1)
        verdict = self._verdict(score, artefact)
        signals = {
            "frames": s["frames"],
            "expression_range": round(expr, 3),
            "depth": round(s["depth"], 4),
            "blink": round(s["blink"], 3),
            "still_frames": s["still_max"],
            "moire": round(self._mean("moire"), 3),
            "bezel": round(self._mean("bezel"), 3),
            "artefact": round(artefact, 3),
        }
        if verdict is not None and s["decided"] is None:
            s["decided"] = not verdict
        final = s["decided"] is not None
        passed = bool(s["decided"]) if final else score >= self.threshold
        if verdict:  # a still run fails even a session that passed before
            passed = False
        return LivenessResult(score, passed, final, signals)

    def _verdict(self, score: float, artefact: float) -> bool | None:
        """True: attack; False: live; None: not enough frames yet."""
        s = self.s
        if self.still_frames > 0 and s["still_run"] >= self.still_frames:
            return True
        if s["decided"] is not None:
            return None
        if s["frames"] < self.frames_needed:
            return None
        if score >= self.threshold and artefact < ARTEFACT_ATTACK:
            return False
        if artefact >= ARTEFACT_SUSPECT:
            return True  # no convincing life and screen/print cues
        # no sign of life but nothing of a screen either: keep watching a while longer
        return True if s["frames"] >= PATIENCE * self.frames_needed else None

    def attack(self) -> bool | None:
        """For the rule: True when the session failed liveness (or a still run is on now),
        None while undecided.  A decision holds; a still picture fails at any time."""
        s = self.s
        if self.still_frames > 0 and s["still_run"] >= self.still_frames:
            return True
        if s["decided"] is None:
            return None
        return not s["decided"]
