"""PoseEstimator and HandTracker on real media: shoulders, lean, distance proxy, hand centres."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from server.vision.body import HandTracker, PoseEstimator, body_pose_from_landmarks
from tests.helpers import SHARED, image
from tests.vision_media import WOLFGANG, YuNetFaces, frames, model_path, paste

UPPER_BODY = ["grace_hopper.jpg", "obama.jpg", "person_a_1.jpg", "astronaut.png"]
# COCO photo (CC BY-NC-SA, not shipped): a man holding a phone to his ear.  Read in place.
PHONE_AT_EAR = SHARED / "data" / "coco-objects" / "coco_000000000395.jpg"


@pytest.fixture(scope="module")
def pose():
    with PoseEstimator(model_path("pose_landmarker")) as p:
        yield p


@pytest.fixture(scope="module")
def hands():
    with HandTracker(model_path("hand_landmarker")) as h:
        yield h


def rotate(img, clockwise_deg):
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D(
        (w / 2, h / 2), -clockwise_deg, 1.0
    )  # OpenCV: + is counter-clockwise
    return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("name", UPPER_BODY)
def test_upper_body_portrait_has_plausible_shoulders(pose, name):
    body = pose.detect(image(name))
    assert body is not None
    assert body.visibility > 0.9
    assert abs(body.shoulder_tilt_deg) < 6
    assert abs(body.lean_deg) < 12
    assert 0.3 < body.shoulder_width < 0.95


def test_no_person_gives_none(pose):
    assert pose.detect(image("page.png")) is None


@pytest.mark.parametrize("name", ["grace_hopper.jpg", "obama.jpg"])
def test_tilt_and_lean_follow_a_rotation_of_the_image(pose, name):
    img = image(name)
    base = pose.detect(img)
    for angle in (-12, 12):
        turned = pose.detect(rotate(img, angle))
        assert turned.shoulder_tilt_deg - base.shoulder_tilt_deg == pytest.approx(angle, abs=4), (
            angle
        )
        assert turned.lean_deg - base.lean_deg == pytest.approx(angle, abs=5), angle


def test_shoulder_width_halves_when_the_person_is_twice_as_far(pose):
    img = image("grace_hopper.jpg")
    h, w = img.shape[:2]
    near = pose.detect(img)
    far = pose.detect(paste(img, (w, h), (w // 4, h // 2), scale=0.5))
    assert far.shoulder_width / near.shoulder_width == pytest.approx(0.5, abs=0.08)


def test_body_pose_geometry_by_hand():
    xy = np.zeros((33, 2))
    xy[0] = (0.5, 0.3)  # nose
    xy[11], xy[12] = (0.7, 0.6), (0.3, 0.6)  # candidate's left shoulder is on image right
    level = body_pose_from_landmarks(xy, np.ones(33), 640, 480)
    assert level.shoulder_tilt_deg == pytest.approx(0) and level.lean_deg == pytest.approx(0)
    assert level.shoulder_width == pytest.approx(0.4) and level.visibility == 1.0
    xy[11] = (
        0.7,
        0.6 + 256 / 480,
    )  # image-right shoulder lower by its horizontal gap: 45 deg clockwise
    assert body_pose_from_landmarks(xy, np.ones(33), 640, 480).shoulder_tilt_deg == pytest.approx(
        45, abs=1e-6
    )
    xy[11] = (0.7, 0.6)
    xy[0] = (0.5 + 144 / 640, 0.3)  # nose right of the shoulder midpoint by its height above it
    assert body_pose_from_landmarks(xy, np.ones(33), 640, 480).lean_deg == pytest.approx(
        45, abs=1e-6
    )


def test_hand_at_the_mouth_is_centred_on_the_hand(hands):
    """Crying with a fist at the mouth (frames 60-88, where MediaPipe finds the hand): one hand, on the lower face."""
    detect = YuNetFaces()
    fr = frames(WOLFGANG, [68, 76, 84])
    for i, f in fr.items():
        found = hands.detect(f)
        assert len(found) == 1, i
        hand = found[0]
        h, w = f.shape[:2]
        face = detect(f)[0]
        mouth = face.kps[3:5].mean(axis=0) / (w, h)
        x1, y1, x2, y2 = hand.bbox
        assert x1 <= mouth[0] <= x2 and y1 - 0.05 <= mouth[1] <= y2  # fingers over the mouth
        # the palm is below the mouth, within a face width of it (the fingers reach across)
        assert abs(hand.center[0] - mouth[0]) * w < face.width and hand.center[1] > mouth[1]
        assert x1 <= hand.center[0] <= x2 and y1 <= hand.center[1] <= y2
        assert hand.score > 0.8 and hand.handedness in ("Left", "Right")


def test_mirrored_image_mirrors_hand_centre_and_handedness(hands):
    img = image("multi_face.jpg")
    a, b = hands.detect(img), hands.detect(cv2.flip(img, 1))
    assert len(a) >= 1 and len(b) == len(a)
    ha = a[0]
    hb = min(b, key=lambda h: abs((1 - h.center[0]) - ha.center[0]))
    assert abs(ha.center[0] + hb.center[0] - 1) < 0.03 and abs(ha.center[1] - hb.center[1]) < 0.03
    assert {ha.handedness, hb.handedness} == {"Left", "Right"}


def test_no_hands_in_a_portrait(hands):
    assert hands.detect(image("grace_hopper.jpg")) == []


@pytest.mark.skipif(not PHONE_AT_EAR.exists(), reason="shared COCO test photo not present")
def test_phone_hand_at_the_ear_is_beside_the_face(hands):
    img = cv2.imread(str(PHONE_AT_EAR))
    h, w = img.shape[:2]
    face = YuNetFaces()(img)[0]
    found = hands.detect(img)
    assert found
    x1, y1, x2, y2 = face.bbox
    cx, cy = found[0].center[0] * w, found[0].center[1] * h
    # palm at the side of the head, level with the face, not below the chin
    assert y1 < cy < y2 and x1 - 0.5 * face.width < cx < x2 + 0.5 * face.width
    assert cx > (x1 + x2) / 2  # on the ear side (the man faces image left)


def test_closed_trackers_refuse_work():
    p, t = PoseEstimator(model_path("pose_landmarker")), HandTracker(model_path("hand_landmarker"))
    p.close(), t.close()
    with pytest.raises(RuntimeError):
        p.detect(image("obama.jpg"))
    with pytest.raises(RuntimeError):
        t.detect(image("obama.jpg"))
