"""FaceLandmarker adapter on real media: head pose signs, gaze against the camera ray, blendshapes."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from server.vision.landmarks import CanonicalFace, FaceLandmarker, head_pose_from_matrix
from tests.helpers import image
from tests.vision_media import WOLFGANG, YuNetFaces, frames, model_path, paste

FRONTAL = ["obama.jpg", "grace_hopper.jpg", "person_a_1.jpg", "impostor_2.jpg"]
# Portraits with a clear head turn and roll, to compare against their mirror images.
TURNED = ["person_a_2.jpg", "biden.jpg", "obama2.jpg", "single_face.jpg"]


@pytest.fixture(scope="module")
def video():
    # crying with eyes shut (60, 100), looking up-left (168), laughing (312, 336), head tilts (408, 456)
    return frames(WOLFGANG, [60, 100, 168, 312, 336, 408, 456])


def test_mesh_has_landmarks_blendshapes_and_canonical_model(landmarker):
    mesh = landmarker.detect(image("obama.jpg"))
    assert mesh is not None
    assert mesh.landmarks.shape == (478, 3)
    assert mesh.landmarks[:, :2].min() >= 0.0 and mesh.landmarks[:, :2].max() <= 1.0
    assert (
        len(mesh.blendshapes) == 52
        and {"eyeBlinkLeft", "browDownRight", "mouthSmileLeft"} <= mesh.blendshapes.keys()
    )
    assert all(0.0 <= v <= 1.0 for v in mesh.blendshapes.values())
    # the geometry read out of the .task bundle: 468 vertices, nose tip in front, chin below forehead
    canon = landmarker.canonical
    assert canon.vertices.shape == (468, 3)
    assert canon.vertices[1, 2] > 5 and canon.vertices[152, 1] < canon.vertices[10, 1]
    assert len(canon.ids) > 20 and abs(canon.weights.sum() - 1) < 1e-9


def test_no_face_gives_none(landmarker):
    assert landmarker.detect(image("page.png")) is None


@pytest.mark.parametrize("name", TURNED)
def test_head_pose_signs_follow_a_mirrored_image(landmarker, name):
    img = image(name)
    a, b = landmarker.detect(img), landmarker.detect(cv2.flip(img, 1))
    assert a is not None and b is not None
    assert abs(a.pose.yaw) > 5, "pick portraits with a visible head turn"
    assert np.sign(a.pose.yaw) == -np.sign(b.pose.yaw) and abs(a.pose.yaw + b.pose.yaw) < 3
    assert abs(a.pose.roll + b.pose.roll) < 3
    assert abs(a.pose.pitch - b.pose.pitch) < 3
    for pa, pb in ((a.pose_to_camera, b.pose_to_camera), (a.pose, b.pose)):
        assert (
            abs(pa.yaw + pb.yaw) < 3 and abs(pa.roll + pb.roll) < 3 and abs(pa.pitch - pb.pitch) < 3
        )


def test_yaw_sign_matches_where_the_nose_points(landmarker):
    """+yaw = turned to the candidate's left = nose toward image right of the cheek midpoint."""
    for name in TURNED:
        mesh = landmarker.detect(image(name))
        lm = mesh.landmarks
        nose_offset = lm[1, 0] - (lm[234, 0] + lm[454, 0]) / 2  # nose tip vs the two cheek contours
        assert np.sign(mesh.pose.yaw) == np.sign(nose_offset), name


def test_roll_matches_the_forehead_chin_line_in_the_image(landmarker, video):
    seen = []
    for i in (408, 456):
        f = video[i]
        h, w = f.shape[:2]
        mesh = landmarker.detect(f)
        top, chin = mesh.landmarks[10, :2] * (w, h), mesh.landmarks[152, :2] * (w, h)
        # clockwise in the image = top of the head moved to image right of the chin
        line = math.degrees(math.atan2(top[0] - chin[0], chin[1] - top[1]))
        assert abs(mesh.pose.roll - line) < 6, (i, mesh.pose.roll, line)
        seen.append(mesh.pose.roll)
    assert seen[0] < -15 and seen[1] > 10  # 408 tilts counter-clockwise, 456 clockwise


def test_pitch_is_positive_when_the_chin_goes_up(landmarker, video):
    """Laughing with the head thrown back (312, 336) vs crying with the head bowed (60, 100)."""

    def nose_ratio(
        mesh,
    ):  # nose tip between eye line (0) and mouth (1); looking up makes it smaller
        lm = mesh.landmarks
        eyes = (lm[33, 1] + lm[263, 1]) / 2
        return (lm[1, 1] - eyes) / (lm[13, 1] - eyes)

    up = [landmarker.detect(video[i]) for i in (312, 336)]
    down = [landmarker.detect(video[i]) for i in (60, 100)]
    assert min(m.pose.pitch for m in up) > max(m.pose.pitch for m in down) + 5
    assert min(m.pose.pitch for m in up) > 5
    assert max(nose_ratio(m) for m in up) < min(nose_ratio(m) for m in down)


@pytest.mark.parametrize("name", FRONTAL)
def test_frontal_portrait_has_small_angles_and_gaze_on_camera(landmarker, name):
    mesh = landmarker.detect(image(name))
    assert abs(mesh.pose.yaw) < 6 and abs(mesh.pose.pitch) < 8 and abs(mesh.pose.roll) < 8
    g = mesh.gaze
    assert abs(g.yaw) < 8 and abs(g.pitch) < 8
    assert g.on_camera > 0.8
    assert g.eye_openness > 0.6


def test_turned_head_has_larger_yaw_and_gaze_off_camera(landmarker, video):
    frontal = max(abs(landmarker.detect(image(n)).pose.yaw) for n in FRONTAL)
    side = landmarker.detect(image("obama2.jpg"))  # speaking to his right, head and eyes turned
    assert abs(side.pose.yaw) > 12 and abs(side.pose.yaw) > 3 * frontal
    assert side.gaze.yaw < -20 and side.gaze.on_camera < 0.2
    away = landmarker.detect(video[168])  # head turned to image left, eyes up and away
    assert away.pose.yaw < -12 and away.gaze.on_camera < 0.2


def test_face_in_a_corner_looking_into_the_lens_is_on_camera(landmarker):
    """The same frontal face pasted at the centre and in the corners of a 1280x720 frame."""
    src = image("obama.jpg")
    mesh = landmarker.detect(src)
    h, w = src.shape[:2]
    xs, ys = mesh.landmarks[:, 0] * w, mesh.landmarks[:, 1] * h
    side = int((ys.max() - ys.min()) * 1.6)
    x0, y0 = int(xs.mean() - side / 2), int(ys.mean() - side / 2)
    face = cv2.resize(src[y0 : y0 + side, x0 : x0 + side], (300, 300))
    centre = landmarker.detect(paste(face, (1280, 720), (490, 210)))
    assert centre.gaze.on_camera > 0.8
    for corner in ((10, 10), (970, 410)):
        m = landmarker.detect(paste(face, (1280, 720), corner))
        assert m.gaze.on_camera > 0.8, corner
        assert abs(m.gaze.yaw - centre.gaze.yaw) < 5 and abs(m.gaze.pitch - centre.gaze.pitch) < 5
        assert abs(m.pose_to_camera.yaw - centre.pose_to_camera.yaw) < 4
        # why gaze does not use the matrix: its rotation shifts with the position in the frame
        assert abs(m.pose.yaw - centre.pose.yaw) > 5


def test_eye_openness_follows_closed_and_open_eyes(landmarker, video):
    closed = [landmarker.detect(video[i]).gaze.eye_openness for i in (60, 100)]
    opened = [landmarker.detect(video[i]).gaze.eye_openness for i in (168, 312, 336)]
    assert max(closed) < 0.5 < 0.75 < min(opened)
    assert all(landmarker.detect(video[i]).gaze.on_camera < 0.3 for i in (60, 100))


def test_given_face_selects_that_face_and_finds_small_ones(landmarker):
    """multi_face.jpg shrunk into a 1280x720 frame: faces ~40 px wide, each requested by its box."""
    img = paste(image("multi_face.jpg"), (1280, 720), (200, 150), scale=0.45)
    faces = YuNetFaces()(img)
    assert len(faces) >= 4
    centres = []
    for face in faces[:4]:
        mesh = landmarker.detect(img, face)
        assert mesh is not None
        cx, cy = mesh.landmarks[:, 0].mean() * 1280, mesh.landmarks[:, 1].mean() * 720
        x1, y1, x2, y2 = face.bbox
        assert x1 < cx < x2 and y1 < cy < y2
        centres.append((cx, cy))
    assert len({(round(x), round(y)) for x, y in centres}) == 4


def test_given_face_and_whole_frame_agree_on_a_portrait(landmarker):
    img = image("person_a_2.jpg")
    face = YuNetFaces()(img)[0]
    a, b = landmarker.detect(img), landmarker.detect(img, face)
    h, w = img.shape[:2]
    assert np.abs((a.landmarks[:, :2] - b.landmarks[:, :2]) * (w, h)).mean() < 3
    assert abs(a.pose_to_camera.yaw - b.pose_to_camera.yaw) < 3
    assert abs(a.gaze.yaw - b.gaze.yaw) < 4


def test_head_pose_decomposition_round_trips():
    def rot(yaw, pitch, roll):
        y, p, r = np.radians([yaw, -pitch, -roll])
        ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
        rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
        rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
        return ry @ rx @ rz

    for yaw, pitch, roll in [(0, 0, 0), (35, -20, 10), (-60, 15, -25), (80, 5, 3)]:
        m = np.eye(4)
        m[:3, :3] = rot(yaw, pitch, roll)
        pose = head_pose_from_matrix(m)
        assert (pose.yaw, pose.pitch, pose.roll) == pytest.approx((yaw, pitch, roll), abs=1e-6)
    # an upright face turned far to the side keeps roll ~0 (no 180 degree flip)
    assert abs(head_pose_from_matrix(rot(75, -30, 0)).roll) < 1e-6


def test_closed_landmarker_refuses_work():
    lm = FaceLandmarker(model_path("face_landmarker"))
    lm.close()
    lm.close()  # idempotent
    with pytest.raises(RuntimeError):
        lm.detect(image("obama.jpg"))


def test_canonical_face_parses_its_own_bundle():
    canon = CanonicalFace.from_task(model_path("face_landmarker"))
    # canonical face is left-right symmetric: the eye corners 33/263 mirror each other
    v = canon.vertices
    assert v[33, 0] == pytest.approx(-v[263, 0], abs=1e-3) and v[33, 1] == pytest.approx(
        v[263, 1], abs=1e-3
    )
