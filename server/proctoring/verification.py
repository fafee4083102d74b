"""Identity verification: cosine similarity of embeddings -> the contract's 0-100 score.

The contract reports ``similarity`` on 0-100 with ``threshold: 80.0``.  Cosine
similarity of two L2-normalised embeddings is not on that scale (SFace genuine pairs
score ~0.6-0.85, impostors below ~0.3), so it is mapped by a logistic curve

    similarity = 100 / (1 + exp(-(cos - centre) / width))

whose parameters are chosen per embedder family so that ``similarity == threshold``
(80 by default) falls exactly on the calibrated cosine threshold ``cos_threshold``:
``centre = cos_threshold - width * ln(t / (100 - t))`` with ``t`` the 0-100 threshold.
``scripts/calibrate_similarity.py`` measures genuine and impostor cosines on the
photos in ``tests/data/`` and writes ``server/proctoring/calibration.json``; see
``docs/verification.md`` for the figures.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")

# Used only if calibration.json lacks the family (a drop-in nobody calibrated yet).
_FALLBACK = {
    "sface": {"cos_threshold": 0.45, "width": 0.06},
    "arcface": {"cos_threshold": 0.30, "width": 0.05},
}


@dataclass(frozen=True)
class SimilarityScale:
    family: str
    cos_threshold: float  # cosine at which two faces are the same person
    width: float  # logistic width in cosine units: smaller = sharper

    def to_percent(self, cosine: float, threshold: float = 80.0) -> float:
        t = min(max(threshold, 1.0), 99.0)
        centre = self.cos_threshold - self.width * math.log(t / (100.0 - t))
        z = (cosine - centre) / self.width
        z = max(-50.0, min(50.0, z))
        return round(100.0 / (1.0 + math.exp(-z)), 1)


def load_scale(family: str) -> SimilarityScale:
    data = {}
    if CALIBRATION_FILE.exists():
        data = json.loads(CALIBRATION_FILE.read_text()).get("families", {})
    params = data.get(family) or _FALLBACK.get(family) or _FALLBACK["sface"]
    return SimilarityScale(family, float(params["cos_threshold"]), float(params["width"]))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, np.float32).reshape(-1)
    b = np.asarray(b, np.float32).reshape(-1)
    if a.shape != b.shape:  # embeddings from different models are not comparable
        raise ValueError("embedding size mismatch: the face was registered with another embedder")
    return float(a @ b / ((np.linalg.norm(a) * np.linalg.norm(b)) + 1e-12))


@dataclass(frozen=True)
class FaceMatch:
    verified: bool
    similarity: float  # 0-100
    cosine: float
    message: str
    threshold: float

    def as_contract(self) -> dict:
        return {
            "verified": self.verified,
            "similarity": self.similarity,
            "message": self.message,
            "threshold": self.threshold,
        }


def match(
    registered: np.ndarray, live: np.ndarray, scale: SimilarityScale, threshold: float
) -> FaceMatch:
    cos = cosine(registered, live)
    sim = scale.to_percent(cos, threshold)
    ok = sim >= threshold
    return FaceMatch(
        ok, sim, round(cos, 4), "Face verified" if ok else "Different person detected", threshold
    )
