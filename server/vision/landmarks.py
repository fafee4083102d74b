"""Face mesh adapter: MediaPipe ``FaceLandmarker`` -> ``FaceMesh`` (head pose, gaze, blendshapes).

Frames of reference.  MediaPipe's facial transformation matrix maps the canonical face
model (centimetres; x toward the face's own left, y up, z out of the face) into a
camera space with x to image right, y up, z toward the viewer (the camera looks down
-z).  Angles follow ``server.proctoring.observation``:

* yaw   + when the face normal points to image right (the candidate turns to their left),
* pitch + when it points up,
* roll  + when the head's up axis leans to image right (clockwise in the image).

``FaceMesh.pose`` is the matrix's rotation.  That rotation is not the face's
orientation relative to the camera: for the same frontal face pasted at the centre and
in a corner of a 1280x720 frame it moves by 10-15 degrees, while the ray from the face
to the camera (under MediaPipe's assumed 63 degree field of view) moves by ~40.  So
gaze does not use it.  Gaze uses ``pose_to_camera``: the weighted orthographic
Procrustes fit of MediaPipe's own canonical mesh (and landmark weights, read from the
``.task`` bundle) to the landmarks.  The landmark model sees the face along its line of
sight, so that fit is the head's rotation relative to the face-to-camera ray, and a face
in a corner of the frame looking into the lens is on camera.
"""

from __future__ import annotations

import math
import struct
import zipfile
from pathlib import Path

import cv2
import numpy as np
from mediapipe.tasks.python import vision

from server.proctoring.observation import Face, FaceMesh, Gaze, HeadPose

from .mediapipe_task import MediaPipeTask, base_options

# Landmark indices of the 478-point mesh (468 face + 10 iris).  "right"/"left" are the
# candidate's own sides: the candidate's right eye is on the image left.
RIGHT_EYE_OUTER, RIGHT_EYE_INNER = 33, 133
LEFT_EYE_INNER, LEFT_EYE_OUTER = 362, 263
RIGHT_IRIS_CENTER, LEFT_IRIS_CENTER = 468, 473
IRIS_LANDMARK_COUNT = 478

# Eye-in-head rotation from the iris offset: the visible iris centre moves about
# r*sin(angle) for an eyeball radius r ~ 12 mm, and the corner-to-corner eye width
# is ~ 29 mm, so sin(angle) ~ 2.4 * offset / width.
EYE_WIDTH_OVER_RADIUS = 2.4
# At rest the iris centre sits above the corner line: median of (iris y offset / eye
# width) on the 24 portraits (12 and their mirror images) in tests/data that look into
# the lens.
IRIS_REST_Y = 0.080
# Iris offsets beyond this fraction of the eye width are tracking failures
# (sunglasses, closed or occluded eyes), not gaze.
IRIS_MAX_OFFSET = 0.4
# Blendshape eye cues, fitted against the iris-geometry angle on 142 frames with open
# eyes (portraits, their mirror images, both expression videos): yaw = 32.4 * h - 2.7
# (r = 0.98), pitch = 27.5 * v + 1.8 (r = 0.85).  The horizontal cue is biased: on a
# portrait and its mirror image it reads +0.10 on average where it should cancel.
BLENDSHAPE_YAW_DEG = 32.0
BLENDSHAPE_YAW_BIAS = 0.09
BLENDSHAPE_PITCH_DEG = 27.0
BLENDSHAPE_PITCH_BIAS = -0.065
# Gaussian fall-off of on_camera with the angle between gaze and the camera ray.
ON_CAMERA_SIGMA_DEG = 12.0


class CanonicalFace:
    """MediaPipe's canonical face mesh and Procrustes weights, read from a face_landmarker.task.

    The bundle's ``geometry_pipeline_metadata_landmarks.binarypb`` is a small protobuf
    (``GeometryPipelineMetadata``): field 1 the canonical ``Mesh3d`` (field 3: vertex
    floats x, y, z, u, v per vertex), field 2 the weighted landmark basis
    (``landmark_id``, ``weight``).  Parsed with a minimal wire-format reader because
    mediapipe 1.2 ships no Python protos.
    """

    MEMBER = "geometry_pipeline_metadata_landmarks.binarypb"

    def __init__(self, vertices: np.ndarray, ids: np.ndarray, weights: np.ndarray) -> None:
        self.vertices = vertices  # 468x3, cm
        self.ids = ids
        self.weights = weights / weights.sum()

    @classmethod
    def from_task(cls, path: str | Path) -> CanonicalFace:
        with zipfile.ZipFile(path) as z:
            data = z.read(cls.MEMBER)
        vertices: list[float] = []
        ids: list[int] = []
        weights: list[float] = []
        for field, value in _pb_fields(data):
            if field == 1:
                for f, v in _pb_fields(value):
                    if f == 3 and isinstance(v, bytes) and len(v) == 4:
                        vertices.append(struct.unpack("<f", v)[0])
                    elif f == 3 and isinstance(v, bytes):  # packed encoding
                        vertices.extend(np.frombuffer(v, "<f4").tolist())
            elif field == 2:
                entry = dict(_pb_fields(value))
                ids.append(int(entry.get(1, 0)))
                weights.append(struct.unpack("<f", entry[2])[0] if 2 in entry else 0.0)
        if len(vertices) % 5 or not ids:
            raise ValueError(f"{path}: unexpected geometry metadata layout")
        verts = np.asarray(vertices, dtype=np.float64).reshape(-1, 5)[:, :3]
        return cls(verts, np.asarray(ids), np.asarray(weights, dtype=np.float64))

    def rotation_to(self, points: np.ndarray) -> np.ndarray:
        """Rotation of the weighted similarity fit canonical -> ``points`` (Nx3, same units on all axes)."""
        p, q, w = points[self.ids], self.vertices[self.ids], self.weights[:, None]
        pc, qc = p - (w * p).sum(0), q - (w * q).sum(0)
        u, _, vt = np.linalg.svd((w * pc).T @ qc)
        d = np.diag([1.0, 1.0, float(np.sign(np.linalg.det(u @ vt)))])
        return u @ d @ vt


def _pb_varint(buf: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, i


def _pb_fields(buf: bytes):
    """(field number, value) of a protobuf message: ints for varints, bytes otherwise."""
    i = 0
    while i < len(buf):
        key, i = _pb_varint(buf, i)
        wire = key & 7
        value: int | bytes
        if wire == 0:
            value, i = _pb_varint(buf, i)
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 2:
            n, i = _pb_varint(buf, i)
            value, i = buf[i : i + n], i + n
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield key >> 3, value


def _rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rotation(matrix: np.ndarray) -> np.ndarray:
    rot = np.asarray(matrix, dtype=np.float64)[:3, :3]
    return rot / np.linalg.norm(rot, axis=0, keepdims=True)  # drop any scale


def head_pose_from_matrix(matrix: np.ndarray) -> HeadPose:
    """Yaw, pitch, roll (degrees) of a rotation (3x3, or the 4x4 facial transformation matrix).

    ``R = Ry(yaw) @ Rx(-pitch) @ Rz(-roll)``: yaw and pitch come from the face normal
    (third column), roll from what is left.  Roll is thus measured in the face's own
    plane and stays ~0 for an upright face whatever its yaw and pitch (a solvePnP-style
    decomposition in another order flips it to ~180 degrees).
    """
    rot = _rotation(matrix)
    n = rot[:, 2]
    yaw = math.atan2(n[0], n[2])
    pitch = math.asin(float(np.clip(n[1], -1.0, 1.0)))
    rest = (_rot_y(yaw) @ _rot_x(-pitch)).T @ rot  # = Rz(-roll)
    roll = -math.atan2(rest[1, 0], rest[0, 0])
    return HeadPose(pitch=math.degrees(pitch), yaw=math.degrees(yaw), roll=math.degrees(roll))


def _direction(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Unit vector for a yaw/pitch pair in the convention above (0, 0 -> +z)."""
    y, p = math.radians(yaw_deg), math.radians(pitch_deg)
    return np.array([math.sin(y) * math.cos(p), math.sin(p), math.cos(y) * math.cos(p)])


def camera_space_points(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """Normalised landmarks -> pixel-scaled points with x right, y up, z toward the camera."""
    return np.column_stack(
        [landmarks[:, 0] * width, -landmarks[:, 1] * height, -landmarks[:, 2] * width]
    )


def eye_angles_from_iris(
    points: np.ndarray, head_rotation: np.ndarray
) -> tuple[float, float] | None:
    """Eye-in-head yaw/pitch (degrees) from the iris centres relative to the eye corners.

    ``points`` from ``camera_space_points``; rotated into the head frame so that head
    rotation does not foreshorten the eye.  None without iris points or when the iris
    sits implausibly far from the eye centre (a tracking failure).
    """
    if points.shape[0] < IRIS_LANDMARK_COUNT:
        return None
    head = points @ _rotation(head_rotation)  # row-vector form of R.T @ p
    hs, vs = [], []
    for outer, inner, iris in (
        (RIGHT_EYE_OUTER, RIGHT_EYE_INNER, RIGHT_IRIS_CENTER),
        (LEFT_EYE_OUTER, LEFT_EYE_INNER, LEFT_IRIS_CENTER),
    ):
        a, b, c = head[outer], head[inner], head[iris]
        w = float(np.linalg.norm((b - a)[:2]))
        if w < 1e-6:
            return None
        off = c - (a + b) / 2.0
        hs.append(off[0] / w)
        vs.append(off[1] / w - IRIS_REST_Y)
    h, v = float(np.mean(hs)), float(np.mean(vs))
    if abs(h) > IRIS_MAX_OFFSET or abs(v) > IRIS_MAX_OFFSET:
        return None
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, EYE_WIDTH_OVER_RADIUS * h))))
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, EYE_WIDTH_OVER_RADIUS * v))))
    return yaw, pitch


def eye_angles_from_blendshapes(bs: dict[str, float]) -> tuple[float, float] | None:
    """Eye-in-head yaw/pitch (degrees) from the eyeLook* blendshapes (candidate's sides).

    Looking to the candidate's left is eyeLookOutLeft + eyeLookInRight (image right, +yaw).
    """
    keys = (
        "eyeLookOutLeft",
        "eyeLookInLeft",
        "eyeLookInRight",
        "eyeLookOutRight",
        "eyeLookUpLeft",
        "eyeLookUpRight",
        "eyeLookDownLeft",
        "eyeLookDownRight",
    )
    if not all(k in bs for k in keys):
        return None
    h = (
        (bs["eyeLookOutLeft"] - bs["eyeLookInLeft"])
        + (bs["eyeLookInRight"] - bs["eyeLookOutRight"])
    ) / 2.0
    v = (
        (bs["eyeLookUpLeft"] + bs["eyeLookUpRight"])
        - (bs["eyeLookDownLeft"] + bs["eyeLookDownRight"])
    ) / 2.0
    return (h - BLENDSHAPE_YAW_BIAS) * BLENDSHAPE_YAW_DEG, (
        v - BLENDSHAPE_PITCH_BIAS
    ) * BLENDSHAPE_PITCH_DEG


def eye_openness_from_blendshapes(bs: dict[str, float]) -> float | None:
    if "eyeBlinkLeft" not in bs or "eyeBlinkRight" not in bs:
        return None
    return float(np.clip(1.0 - (bs["eyeBlinkLeft"] + bs["eyeBlinkRight"]) / 2.0, 0.0, 1.0))


def gaze_from(
    head_to_camera: np.ndarray, eye_yaw: float, eye_pitch: float, openness: float
) -> Gaze:
    """Gaze from the head rotation relative to the face-to-camera ray plus the eye-in-head angles.

    In that frame +z is the ray from the face to the camera, so the gaze direction's
    yaw/pitch are the angles off the ray and on_camera falls off with their total.
    """
    g = _rotation(head_to_camera) @ _direction(eye_yaw, eye_pitch)
    yaw = math.degrees(math.atan2(g[0], g[2]))
    pitch = math.degrees(math.asin(float(np.clip(g[1], -1.0, 1.0))))
    off = math.degrees(math.acos(float(np.clip(g[2], -1.0, 1.0))))
    on_camera = math.exp(-0.5 * (off / ON_CAMERA_SIGMA_DEG) ** 2)
    # Closed eyes do not meet the camera; half-closed ones still may.
    on_camera *= min(1.0, openness / 0.4)
    return Gaze(yaw=yaw, pitch=pitch, eye_openness=openness, on_camera=float(on_camera))


class FaceLandmarker(MediaPipeTask):
    """MediaPipe FaceLandmarker (IMAGE mode) for the largest face of a frame."""

    def __init__(
        self, path: str | Path, *, num_faces: int = 2, min_confidence: float = 0.5
    ) -> None:
        self.canonical = CanonicalFace.from_task(path)
        options = vision.FaceLandmarkerOptions(
            base_options=base_options(path),
            running_mode=vision.RunningMode.IMAGE,
            num_faces=num_faces,
            min_face_detection_confidence=min_confidence,
            min_face_presence_confidence=min_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        super().__init__(vision.FaceLandmarker.create_from_options(options))

    def detect(self, image_bgr: np.ndarray, face: Face | None = None) -> FaceMesh | None:
        """Head pose, gaze, blendshapes and landmarks of one face; None without a face.

        Without ``face``: the largest face MediaPipe finds in the frame (its own detector
        misses faces under ~10 % of the frame width).  With ``face`` (e.g. the frame's
        primary face from the face detector): the landmarker runs on a square crop of
        2.2x the bbox around it, so small faces are found and the mesh belongs to that
        face; if MediaPipe finds no face in the crop, the whole frame is tried and the
        mesh around the face's centre kept.  Landmarks are in frame coordinates either
        way.  ``pose`` is the matrix rotation for the image the landmarker ran on: for a
        crop that is as if the face were centred in view, close to ``pose_to_camera``.
        """
        h, w = image_bgr.shape[:2]
        if face is not None:
            crop, side, (x0, y0) = _face_crop(image_bgr, face)
            result = self._run(crop)
            if result.face_landmarks:
                meshes = _meshes(result)
                # the mesh nearest the crop centre, where the requested face is
                i = min(
                    range(len(meshes)),
                    key=lambda k: float(np.hypot(*(meshes[k][:, :2].mean(0) - 0.5))),
                )
                lm = meshes[i]
                frame_lm = np.column_stack(
                    [(lm[:, 0] * side + x0) / w, (lm[:, 1] * side + y0) / h, lm[:, 2] * side / w]
                )
                return self._mesh(result, i, frame_lm, w, h)
        result = self._run(image_bgr)
        if not result.face_landmarks:
            return None
        meshes = _meshes(result)
        if face is None:
            candidates = list(range(len(meshes)))
        else:
            x1, y1, x2, y2 = face.bbox
            cx, cy = (x1 + x2) / 2.0 / w, (y1 + y2) / 2.0 / h
            candidates = [k for k in range(len(meshes)) if _contains(meshes[k], cx, cy)]
            if not candidates:
                return None
        i = max(candidates, key=lambda k: _pixel_area(meshes[k], w, h))
        return self._mesh(result, i, meshes[i], w, h)

    def _mesh(self, result, i: int, landmarks: np.ndarray, w: int, h: int) -> FaceMesh:
        landmarks = landmarks.astype(np.float32)
        blendshapes = (
            {c.category_name: float(c.score) for c in result.face_blendshapes[i]}
            if result.face_blendshapes
            else {}
        )
        if len(result.facial_transformation_matrixes) <= i:
            raise RuntimeError(
                "FaceLandmarker returned no transformation matrix although it was requested"
            )
        pose = head_pose_from_matrix(np.asarray(result.facial_transformation_matrixes[i]))
        points = camera_space_points(landmarks, w, h)
        to_camera = self.canonical.rotation_to(points)
        return FaceMesh(
            pose=pose,
            gaze=_gaze(points, to_camera, blendshapes),
            blendshapes=blendshapes,
            landmarks=landmarks,
            pose_to_camera=head_pose_from_matrix(to_camera),
        )


def _gaze(points: np.ndarray, head_to_camera: np.ndarray, bs: dict[str, float]) -> Gaze | None:
    # Both eye cues are noisy in different ways (iris points jitter on small faces,
    # blendshapes saturate and carry a person-specific bias): average what is there.
    cues = [
        c
        for c in (eye_angles_from_iris(points, head_to_camera), eye_angles_from_blendshapes(bs))
        if c
    ]
    if not cues:
        return None
    eye_yaw = float(np.mean([c[0] for c in cues]))
    eye_pitch = float(np.mean([c[1] for c in cues]))
    openness = eye_openness_from_blendshapes(bs)
    return gaze_from(head_to_camera, eye_yaw, eye_pitch, 1.0 if openness is None else openness)


# Crop around a given face: side = CROP_SCALE x the longer bbox side, resampled to
# between CROP_MIN and CROP_MAX pixels (MediaPipe's own detector sees 128x128).
CROP_SCALE = 2.2
CROP_MIN, CROP_MAX = 192, 512


def _face_crop(image_bgr: np.ndarray, face: Face) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Square crop centred on the face (grey border outside the frame), its side and origin in frame pixels."""
    x1, y1, x2, y2 = (float(v) for v in face.bbox)
    side = CROP_SCALE * max(x2 - x1, y2 - y1, 1.0)
    x0, y0 = (x1 + x2) / 2.0 - side / 2.0, (y1 + y2) / 2.0 - side / 2.0
    out = int(round(min(CROP_MAX, max(CROP_MIN, side))))
    s = out / side
    m = np.array([[s, 0.0, -s * x0], [0.0, s, -s * y0]], dtype=np.float64)
    interp = cv2.INTER_AREA if s < 1.0 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(
        image_bgr,
        m,
        (out, out),
        flags=interp,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(127, 127, 127),
    )
    return crop, side, (x0, y0)


def _meshes(result) -> list[np.ndarray]:
    return [
        np.array([(p.x, p.y, p.z) for p in lms], dtype=np.float64) for lms in result.face_landmarks
    ]


def _contains(landmarks: np.ndarray, x: float, y: float) -> bool:
    return bool(
        landmarks[:, 0].min() <= x <= landmarks[:, 0].max()
        and landmarks[:, 1].min() <= y <= landmarks[:, 1].max()
    )


def _pixel_area(landmarks: np.ndarray, w: int, h: int) -> float:
    x, y = landmarks[:, 0] * w, landmarks[:, 1] * h
    return float((x.max() - x.min()) * (y.max() - y.min()))
