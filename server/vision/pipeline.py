"""The frame pipeline: one image in, one ``Observation`` out.

decode -> detect faces -> (embed, landmarks, emotion, objects, ocr, pose, hands) -> Observation

Models load once from the models folder through the manifest (``ModelRegistry``).
onnxruntime sessions are thread-safe and shared by all workers (``SharedModels``);
MediaPipe tasks and the TFLite interpreter are not, so each worker thread owns its
own (``WorkerModels``).  ``FramePlan`` says which of the costly stages run on a frame
(see ``server.vision.schedule``).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import Settings
from ..models.manifest import ModelSpec
from ..models.registry import ModelRegistry
from ..proctoring.observation import Face, Observation
from .faces import detect_document_faces, load_face_detector, load_face_embedder
from .runtime import select_providers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FramePlan:
    embed: bool = True
    landmarks: bool = True
    emotion: bool = True
    objects: bool = True
    ocr: bool = False
    pose: bool = False
    hands: bool = False


FULL_PLAN = FramePlan(ocr=True, pose=True, hands=True)


class ModelMissing(RuntimeError):
    pass


@dataclass
class SharedModels:
    """Thread-safe models (onnxruntime) shared by every worker, plus what was loaded."""

    settings: Settings
    registry: ModelRegistry
    providers: list[str]
    face_detector: object
    face_embedder: object
    objects: object | None = None
    ocr: object | None = None
    specs: dict[str, ModelSpec] = field(default_factory=dict)

    @classmethod
    def load(cls, settings: Settings) -> "SharedModels":
        registry = ModelRegistry(settings.models_dir, getattr(settings, "llm_model", None))
        providers = select_providers(settings.providers)
        threads = settings.intra_op_threads
        specs: dict[str, ModelSpec] = {}

        def need(role: str) -> ModelSpec:
            spec = registry.resolve(role)
            if spec is None:
                raise ModelMissing(
                    f"no model for role {role!r} in {settings.models_dir}; run `proctor models fetch`"
                )
            specs[role] = spec
            return spec

        det = need("face_detector")
        emb = need("face_embedder")
        face_detector = load_face_detector(det.family, registry.path(det), providers, threads,
                                           settings.face_detect_threshold)
        face_embedder = load_face_embedder(emb.family, registry.path(emb), providers, threads)
        shared = cls(settings, registry, providers, face_detector, face_embedder, specs=specs)

        spec = registry.resolve("object_detector")
        if spec:
            from .objects import load_object_detector

            shared.objects = load_object_detector(spec, registry.path(spec), providers, threads)
            specs["object_detector"] = spec
        det_spec, rec_spec = registry.resolve("ocr_detector"), registry.resolve("ocr_recognizer")
        if det_spec:
            from .ocr import TextDetector

            shared.ocr = TextDetector(registry.path(det_spec), registry.path(rec_spec) if rec_spec else None,
                                      providers=providers, threads=threads)
            specs["ocr_detector"] = det_spec
            if rec_spec:
                specs["ocr_recognizer"] = rec_spec
        for role in ("face_landmarker", "emotion", "pose_landmarker", "hand_landmarker", "llm"):
            spec = registry.resolve(role)
            if spec:
                specs[role] = spec
        return shared

    @property
    def embedder_id(self) -> str:
        spec = self.specs["face_embedder"]
        return f"{spec.family}:{spec.name}"

    def describe(self) -> dict:
        return {
            role: {"name": s.name, "file": s.file, "family": s.family, "licence": s.licence, "source": s.source}
            for role, s in self.specs.items()
        }


class WorkerModels:
    """Per-thread models (MediaPipe tasks, TFLite). Create and use on one thread only."""

    def __init__(self, shared: SharedModels):
        reg = shared.registry
        self.landmarker = self.emotion = self.pose = self.hands = None
        spec = shared.specs.get("face_landmarker")
        if spec:
            from .landmarks import FaceLandmarker

            self.landmarker = FaceLandmarker(reg.path(spec))
        spec = shared.specs.get("emotion")
        if spec:
            from .emotion import EmotionClassifier

            self.emotion = EmotionClassifier(reg.path(spec))
        spec = shared.specs.get("pose_landmarker")
        if spec:
            from .body import PoseEstimator

            self.pose = PoseEstimator(reg.path(spec))
        spec = shared.specs.get("hand_landmarker")
        if spec:
            from .body import HandTracker

            self.hands = HandTracker(reg.path(spec))

    def close(self) -> None:
        for model in (self.landmarker, self.emotion, self.pose, self.hands):
            if model is not None and hasattr(model, "close"):
                try:
                    model.close()
                except Exception:  # closing at shutdown must not raise
                    log.debug("close failed", exc_info=True)


class FramePipeline:
    """Runs the models on one image. One instance per worker thread."""

    def __init__(self, shared: SharedModels):
        self.shared = shared
        self.local = WorkerModels(shared)

    def close(self) -> None:
        self.local.close()

    # --- identity (registration, documents) -------------------------------------------
    def faces(self, image: np.ndarray) -> list[Face]:
        return self.shared.face_detector.detect(image)

    def embed(self, image: np.ndarray, face: Face) -> np.ndarray:
        face.embedding = self.shared.face_embedder.embed(image, face)
        return face.embedding

    def document_faces(self, image: np.ndarray) -> tuple[np.ndarray, list[Face], int]:
        return detect_document_faces(self.shared.face_detector, image)

    # --- frames -------------------------------------------------------------------------
    def analyse(self, image: np.ndarray, plan: FramePlan) -> Observation:
        h, w = image.shape[:2]
        obs = Observation(width=w, height=h)
        t = obs.timings_ms

        def timed(name: str, fn, *args):
            t0 = time.perf_counter()
            try:
                return fn(*args)
            finally:
                t[name] = round((time.perf_counter() - t0) * 1000, 2)

        obs.faces = timed("face_detection", self.shared.face_detector.detect, image)
        primary = obs.primary_face
        if primary is not None and plan.embed:
            timed("embedding", self.embed, image, primary)
        if primary is not None and plan.landmarks and self.local.landmarker is not None:
            obs.mesh = timed("landmarks", self.local.landmarker.detect, image, primary)
        if primary is not None and plan.emotion and self.local.emotion is not None:
            blend = obs.mesh.blendshapes if obs.mesh is not None else None
            obs.emotions = timed("emotion", self.local.emotion.classify, image, primary, blend)
        if plan.objects and self.shared.objects is not None:
            obs.objects = timed("objects", self.shared.objects.detect, image)
        if plan.ocr and self.shared.ocr is not None:
            obs.text = timed("ocr", self.shared.ocr.detect, image)
        if plan.pose and self.local.pose is not None:
            obs.body = timed("pose", self.local.pose.detect, image)
        if plan.hands and self.local.hands is not None:
            obs.hands = timed("hands", self.local.hands.detect, image)
        return obs


def models_summary(shared: SharedModels, models_dir: Path) -> list[str]:
    return [f"{role}: {s.name} ({s.file}, {s.licence}, {s.source})" for role, s in shared.specs.items()]
