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
from typing import Any

import numpy as np

from ..config import Settings
from ..models.manifest import ModelSpec
from ..models.registry import ModelRegistry
from ..proctoring.observation import Face, Observation
from .batching import Batcher, BatchingSession, batching_enabled
from .crops import detect_near_face, merge
from .faces import detect_document_faces
from .liveness import liveness_cues
from .roles import (
    Build,
    EmotionReader,
    FaceDetector,
    FaceEmbedder,
    FaceLandmarks,
    HandReader,
    ObjectDetector,
    PoseReader,
    TextReader,
    WorkerModel,
    build,
)
from .runtime import select_providers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifiedFace:
    """A session's last face whose embedding was computed and verified (see ``FramePlan.reuse``)."""

    bbox: tuple[float, float, float, float]
    embedding: np.ndarray
    size: tuple[int, int]  # width, height of the frame it came from


REUSE_MIN_IOU = 0.8  # the face box "barely moved": a swap of person cannot keep it


def box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class FramePlan:
    embed: bool = True
    # Set by the service only within a short window after a verified frame: when this
    # frame again has exactly one face whose box overlaps that one by REUSE_MIN_IOU,
    # its embedding stands in for this frame's (the SFace run is skipped).
    reuse: VerifiedFace | None = None
    landmarks: bool = True
    emotion: bool = True
    objects: bool = True
    ocr: bool = False
    pose: bool = False
    hands: bool = False
    # presentation-attack cues: motion cues on every frame with a face, the screen/print
    # cues (spectrum, edges, glare; 10-25 ms) only when set (server.vision.liveness)
    liveness_full: bool = True
    # the object detector run again on crops beside and below the face (server.vision.crops),
    # where phones and notes are held: small objects get enough input pixels
    object_crops: bool = False


FULL_PLAN = FramePlan(ocr=True, pose=True, hands=True, object_crops=True)


class ModelMissing(RuntimeError):
    pass


# Roles whose models are per worker thread (``WorkerModels``), not shared
WORKER_ROLES = ("face_landmarker", "emotion", "pose_landmarker", "hand_landmarker")


@dataclass
class SharedModels:
    """Thread-safe models (onnxruntime) shared by every worker, plus what was loaded."""

    settings: Settings
    registry: ModelRegistry
    providers: list[str]
    face_detector: FaceDetector
    face_embedder: FaceEmbedder
    objects: ObjectDetector | None = None
    ocr: TextReader | None = None
    specs: dict[str, ModelSpec] = field(default_factory=dict)
    batchers: list[BatchingSession] = field(default_factory=list)  # GPU only: one per batched model

    @classmethod
    def load(cls, settings: Settings) -> SharedModels:
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

        def load(spec: ModelSpec, second: ModelSpec | None = None) -> Any:
            how = Build(
                registry.path(spec),
                providers,
                threads,
                settings.face_detect_threshold,
                registry.path(second) if second else None,
            )
            return build(spec.role, spec.family, how)

        det, emb = need("face_detector"), need("face_embedder")
        face_detector: FaceDetector = load(det)
        face_embedder: FaceEmbedder = load(emb)
        batchers: list[BatchingSession] = []
        if batching_enabled(getattr(settings, "gpu_batching", True), providers):
            batcher = Batcher(
                providers, threads, settings.gpu_batch_max, settings.gpu_batch_wait_ms
            )
            face_detector = batcher.batch(face_detector, det.file)
            face_embedder = batcher.batch(face_embedder, emb.file)
            batchers = batcher.sessions
        shared = cls(
            settings,
            registry,
            providers,
            face_detector,
            face_embedder,
            specs=specs,
            batchers=batchers,
        )
        spec = registry.resolve("object_detector")
        if spec:
            shared.objects = load(spec)
            specs["object_detector"] = spec
        det_spec, rec_spec = registry.resolve("ocr_detector"), registry.resolve("ocr_recognizer")
        if det_spec:
            shared.ocr = load(det_spec, rec_spec)
            specs["ocr_detector"] = det_spec
            if rec_spec:
                specs["ocr_recognizer"] = rec_spec
        for role in (*WORKER_ROLES, "llm"):
            spec = registry.resolve(role)
            if spec:
                specs[role] = spec
        return shared

    def open(self, role: str) -> Any:
        """A new per-thread model for a worker role (``WORKER_ROLES``); None without one."""
        spec = self.specs.get(role)
        if spec is None:
            return None
        return build(role, spec.family, Build(self.registry.path(spec), self.providers))

    @property
    def embedder_id(self) -> str:
        spec = self.specs["face_embedder"]
        return f"{spec.family}:{spec.name}"

    def describe(self) -> dict:
        return {
            role: {
                "name": s.name,
                "file": s.file,
                "family": s.family,
                "licence": s.licence,
                "source": s.source,
            }
            for role, s in self.specs.items()
        }


class WorkerModels:
    """Per-thread models (MediaPipe tasks, TFLite). Create and use on one thread only."""

    def __init__(self, shared: SharedModels):
        self.landmarker: FaceLandmarks | None = shared.open("face_landmarker")
        self.emotion: EmotionReader | None = shared.open("emotion")
        self.pose: PoseReader | None = shared.open("pose_landmarker")
        self.hands: HandReader | None = shared.open("hand_landmarker")

    def close(self) -> None:
        models: tuple[WorkerModel | None, ...] = (
            self.landmarker,
            self.emotion,
            self.pose,
            self.hands,
        )
        for model in models:
            if model is not None:
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

    def warm_up(self, width: int = 1280, height: int = 720) -> float:
        """Run every model once on a webcam-like frame; returns the seconds it took.

        onnxruntime allocates its arenas and MediaPipe builds its graphs and delegates on
        the first call that reaches them: done here, at start, the first real frames are
        not slow and the RSS read after start is the working size.  The frame must reach
        the second stages too (a face for the mesh, a person for the pose landmarks, text
        for the OCR recogniser), so it is a real photo with lines of text beside it.  A
        failure is logged, never raised.
        """
        t0 = time.perf_counter()
        image = warm_up_frame(width, height)
        try:
            obs = self.analyse(image, FULL_PLAN)
            if obs.primary_face is None:  # no photo: reach the face stages with a made-up face
                side = height / 3
                x0, y0 = (width - side) / 2, (height - side) / 2
                kps = np.array(
                    [[0.34, 0.46], [0.66, 0.46], [0.5, 0.64], [0.37, 0.82], [0.63, 0.82]],
                    np.float32,
                )
                face = Face(
                    bbox=(x0, y0, x0 + side, y0 + side),
                    score=1.0,
                    kps=kps * side + np.array([x0, y0], np.float32),
                )
                self.embed(image, face)
                if self.local.landmarker is not None:
                    self.local.landmarker.detect(image, face)
                if self.local.emotion is not None:
                    self.local.emotion.classify(image, face, None)
        except Exception:  # warming is an optimisation: a model that fails shows up on real frames
            log.warning("warm-up failed", exc_info=True)
        return time.perf_counter() - t0

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

        def timed(name: str, fn, *args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                t[name] = round((time.perf_counter() - t0) * 1000, 2)

        obs.faces = timed("face_detection", self.shared.face_detector.detect, image)
        primary = obs.primary_face
        if primary is not None and plan.embed:
            r = plan.reuse
            if (
                r is not None
                and obs.face_count == 1
                and r.size == (w, h)
                and box_iou(primary.bbox, r.bbox) >= REUSE_MIN_IOU
            ):
                primary.embedding = r.embedding
            else:
                timed("embedding", self.embed, image, primary)
        if primary is not None and plan.landmarks and self.local.landmarker is not None:
            obs.mesh = timed("landmarks", self.local.landmarker.detect, image, primary)
        if primary is not None and plan.emotion and self.local.emotion is not None:
            blend = obs.mesh.blendshapes if obs.mesh is not None else None
            obs.emotions = timed("emotion", self.local.emotion.classify, image, primary, blend)
        if plan.objects and self.shared.objects is not None:
            obs.objects = timed("objects", self.shared.objects.detect, image)
            if plan.object_crops and primary is not None:
                near = timed("object_crops", detect_near_face, self.shared.objects, image, primary)
                obs.objects = merge(obs.objects, near)
        if plan.ocr and self.shared.ocr is not None:
            obs.text = timed("ocr", self.shared.ocr.detect, image)
        if plan.pose and self.local.pose is not None:
            obs.body = timed("pose", self.local.pose.detect, image)
        if plan.hands and self.local.hands is not None:
            obs.hands = timed("hands", self.local.hands.detect, image)
        if primary is not None:
            obs.liveness = timed(
                "liveness", liveness_cues, image, primary, obs.mesh, full=plan.liveness_full
            )
        return obs


def warm_up_frame(width: int = 1280, height: int = 720) -> np.ndarray:
    """A frame for ``FramePipeline.warm_up``: scikit-image's astronaut photo (public domain,
    shipped in its wheel) on grey, and printed lines of text beside it."""
    import cv2

    canvas = np.full((height, width, 3), 128, np.uint8)
    try:
        from skimage import data

        photo = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
        side = int(height * 0.9)
        photo = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)
        x0, y0 = (width - side) // 2, height - side
        canvas[y0:, x0 : x0 + side] = photo
    except Exception:  # no photo: the text and the grey still warm the first stages
        log.debug("warm-up photo unavailable", exc_info=True)
    # a short line and one as wide as the frame: the recogniser's input width follows the line
    for i, line in enumerate(
        ("WARM UP 0123", "PROCTOR 4567 ABCDEFGHIJKLM NOPQRSTUVWXYZ 89 abcdefghijklmnopqrstuvwxyz")
    ):
        cv2.putText(
            canvas,
            line,
            (10, 50 + 60 * i),
            cv2.FONT_HERSHEY_SIMPLEX,
            1.0,
            (0, 0, 0),
            2,
            cv2.LINE_AA,
        )
    return canvas


def models_summary(shared: SharedModels, models_dir: Path) -> list[str]:
    return [
        f"{role}: {s.name} ({s.file}, {s.licence}, {s.source})" for role, s in shared.specs.items()
    ]
