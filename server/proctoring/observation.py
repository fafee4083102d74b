"""What the vision pipeline saw in one frame: plain data, no model code.

The frame pipeline (``server.vision.pipeline``) fills an ``Observation``; every rule,
metric and report in ``server.proctoring`` reads only these types, so tests can build
them by hand.  Coordinates are pixels of the decoded frame; angles are degrees.
A field that is ``None`` means "not measured on this frame" (model absent, or the
schedule skipped it), which is different from "measured and empty".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .liveness import LivenessCues

# The eight emotion names of the contract, in the order reports print them.
EMOTIONS = ("HAPPY", "CALM", "CONFUSED", "SURPRISED", "SAD", "ANGRY", "DISGUSTED", "FEAR")


@dataclass
class Face:
    """One detected face. Detection creates it; later stages fill the optional parts."""

    bbox: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels
    score: float  # detector confidence 0-1
    kps: np.ndarray | None = (
        None  # 5x2: right eye, left eye, nose, right mouth, left mouth (image coords)
    )
    embedding: np.ndarray | None = None  # L2-normalised identity vector

    @property
    def width(self) -> float:
        return self.bbox[2] - self.bbox[0]

    @property
    def height(self) -> float:
        return self.bbox[3] - self.bbox[1]

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)


@dataclass
class HeadPose:
    pitch: float  # + looking up
    yaw: float  # + turned to the candidate's left (image right)
    roll: float  # + head tilted clockwise in the image


@dataclass
class Gaze:
    """Where the eyes point, relative to the ray from the face to the camera."""

    yaw: float  # degrees off the camera ray, horizontal (head + eyes)
    pitch: float  # degrees off the camera ray, vertical (head + eyes)
    eye_openness: float  # 0 closed .. 1 wide open
    on_camera: float  # 0..1 how squarely the eyes meet the camera


@dataclass
class FaceMesh:
    """MediaPipe FaceLandmarker output for the primary face, reduced to what rules need."""

    pose: HeadPose
    gaze: Gaze | None
    blendshapes: dict[str, float] = field(default_factory=dict)
    landmarks: np.ndarray | None = None  # Nx3 normalised (x, y in 0-1 of the frame, z relative)
    # Head rotation relative to the ray from the face to the camera (``pose`` is relative
    # to the camera axes): the same for a candidate facing the lens anywhere in the frame.
    pose_to_camera: HeadPose | None = None


@dataclass
class ObjectDetection:
    label: (
        str  # COCO name as the detector reports it ("cell phone", "book", "laptop", "person", ...)
    )
    confidence: float  # 0-1
    bbox: tuple[float, float, float, float]


@dataclass
class TextRegion:
    confidence: float  # 0-1, detector (and recogniser where run) confidence
    bbox: tuple[float, float, float, float]
    text: str | None = None


@dataclass
class BodyPose:
    """Upper-body landmarks from PoseLandmarker, normalised 0-1 to the frame."""

    shoulder_tilt_deg: float  # angle of the shoulder line vs horizontal
    lean_deg: float  # angle of the neck line (shoulder mid to nose) vs vertical
    shoulder_width: float  # shoulder distance as a fraction of frame width (distance to camera)
    visibility: float  # mean visibility of the shoulders 0-1


@dataclass
class Hand:
    handedness: str  # "Left" / "Right" as MediaPipe reports it
    center: tuple[float, float]  # normalised 0-1
    bbox: tuple[float, float, float, float]  # normalised 0-1
    score: float


@dataclass
class Observation:
    """Everything measured on one frame."""

    width: int
    height: int
    faces: list[Face] = field(default_factory=list)
    mesh: FaceMesh | None = None
    emotions: dict[str, float] | None = None  # EMOTIONS -> probability 0-1, sums to 1
    objects: list[ObjectDetection] | None = None
    text: list[TextRegion] | None = None
    body: BodyPose | None = None
    hands: list[Hand] | None = None
    liveness: LivenessCues | None = None  # presentation-attack cues of the primary face
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def face_count(self) -> int:
        return len(self.faces)

    @property
    def primary_face(self) -> Face | None:
        return max(self.faces, key=lambda f: f.area) if self.faces else None
