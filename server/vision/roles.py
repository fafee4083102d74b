"""What the frame pipeline asks of each model role, and which adapter serves each family.

A role (``server.models.manifest.ROLES``) is a job in the pipeline: find faces, embed a
face, find objects, read text, mesh a face...  Each is a ``Protocol`` here; the adapters
(one class per model family, in ``faces``, ``objects``, ``ocr``, ``landmarks``, ``body``,
``emotion``) satisfy it without inheriting from it.  ``FAMILIES`` says which adapter
builds a model of a given role and family: a new model family is one adapter class and
one row there, nothing else in the pipeline changes.

Shared roles (onnxruntime: thread-safe) are built once for all workers; worker roles
(MediaPipe tasks, the LiteRT interpreter: one graph each) once per worker thread, and
must be closed.  The worker adapters import on first use: a models folder without them
never loads MediaPipe or LiteRT.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self

import numpy as np

from ..proctoring.observation import BodyPose, Face, FaceMesh, Hand, ObjectDetection, TextRegion
from .faces import InsightFaceDetector, InsightFaceEmbedder, SFaceEmbedder, YuNetDetector
from .objects import FAMILIES as OBJECT_FAMILIES
from .objects import ObjectDetector as CocoDetector
from .ocr import TextDetector
from .runtime import BatchFactory

# --- shared roles (onnxruntime) -------------------------------------------------------


class Batchable(Protocol):
    def batched(self, batch: BatchFactory) -> Self | None:
        """A copy whose onnxruntime session batches the calls of many workers (GPU);
        None when the model cannot (its graph has no free batch axis, or it runs a
        session of its own that cannot be swapped)."""
        ...


class FaceDetector(Batchable, Protocol):
    family: str

    def detect(self, image_bgr: np.ndarray, score_threshold: float | None = None) -> list[Face]:
        """Faces with pixel boxes, a 0-1 score and five keypoints, on the whole image."""
        ...


class FaceEmbedder(Batchable, Protocol):
    family: str
    dim: int

    def embed(self, image_bgr: np.ndarray, face: Face) -> np.ndarray:
        """The L2-normalised identity embedding (``dim`` floats) of ``face``."""
        ...


class ObjectDetector(Protocol):
    def detect(
        self, image_bgr: np.ndarray, conf: float = 0.25, max_det: int = 100
    ) -> list[ObjectDetection]:
        """COCO objects (``person``, ``cell phone``, ``book``...) with pixel boxes."""
        ...


class TextReader(Protocol):
    def detect(self, image_bgr: np.ndarray, recognise: bool = True) -> list[TextRegion]:
        """Text regions, most confident first; read (``text``) when ``recognise``."""
        ...


# --- worker roles (one per worker thread) -----------------------------------------------


class WorkerModel(Protocol):
    def close(self) -> None: ...


class FaceLandmarks(WorkerModel, Protocol):
    def detect(self, image_bgr: np.ndarray, face: Face | None = None) -> FaceMesh | None:
        """Head pose, gaze, blendshapes and landmarks of ``face`` (or the largest face)."""
        ...


class EmotionReader(WorkerModel, Protocol):
    def classify(
        self, image_bgr: np.ndarray, face: Face, blendshapes: dict[str, float] | None = None
    ) -> dict[str, float]:
        """Probability of each of the contract's emotions for ``face``."""
        ...


class PoseReader(WorkerModel, Protocol):
    def detect(self, image_bgr: np.ndarray) -> BodyPose | None: ...


class HandReader(WorkerModel, Protocol):
    def detect(self, image_bgr: np.ndarray) -> list[Hand]: ...


# --- the family table ------------------------------------------------------------------


@dataclass(frozen=True)
class Build:
    """What an adapter is built from: its file and the run-time settings."""

    path: Path
    providers: list[str]
    threads: int = 1
    face_threshold: float = 0.6
    second: Path | None = None  # the OCR recogniser that goes with the detector


def _landmarks(b: Build) -> FaceLandmarks:
    from .landmarks import FaceLandmarker

    return FaceLandmarker(b.path)


def _emotion(b: Build) -> EmotionReader:
    from .emotion import EmotionClassifier

    return EmotionClassifier(b.path)


def _pose(b: Build) -> PoseReader:
    from .body import PoseEstimator

    return PoseEstimator(b.path)


def _hands(b: Build) -> HandReader:
    from .body import HandTracker

    return HandTracker(b.path)


def _objects(family: str) -> Callable[[Build], ObjectDetector]:
    return lambda b: CocoDetector(family, b.path, b.providers, b.threads)


# role -> family (``ModelSpec.family``) -> how its adapter is built
FAMILIES: dict[str, dict[str, Callable[[Build], Any]]] = {
    "face_detector": {
        "yunet": lambda b: YuNetDetector(b.path, b.providers, b.threads, b.face_threshold),
        "scrfd": lambda b: InsightFaceDetector(b.path, b.providers, b.threads, b.face_threshold),
    },
    "face_embedder": {
        "sface": lambda b: SFaceEmbedder(b.path, b.providers, b.threads),
        "arcface": lambda b: InsightFaceEmbedder(b.path, b.providers, b.threads),
    },
    "object_detector": {family: _objects(family) for family in OBJECT_FAMILIES},
    "ocr_detector": {
        "ppocr": lambda b: TextDetector(b.path, b.second, providers=b.providers, threads=b.threads)
    },
    "face_landmarker": {"mediapipe": _landmarks},
    "emotion": {"fer2013": _emotion},
    "pose_landmarker": {"mediapipe": _pose},
    "hand_landmarker": {"mediapipe": _hands},
}


def build(role: str, family: str, how: Build) -> Any:
    """The adapter for a model of ``role`` and ``family`` (the caller types it by its role)."""
    loader = FAMILIES.get(role, {}).get(family)
    if loader is None:
        known = ", ".join(sorted(FAMILIES.get(role, {}))) or "none"
        raise ValueError(f"unknown {role} family {family!r} (known: {known})")
    return loader(how)
