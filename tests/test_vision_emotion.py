"""EmotionClassifier on real media: laughing vs crying, the eight contract keys, alignment, CONFUSED."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from server.proctoring.observation import EMOTIONS, Face
from server.vision.emotion import (
    CONFUSION_DONORS,
    EmotionClassifier,
    confusion_score,
    mix_confusion,
)
from tests.helpers import image
from tests.vision_media import SINGLE_FACE, WOLFGANG, YuNetFaces, frames, model_path

CRYING = list(range(0, 129, 16))  # 9 frames, eyes shut, mouth pulled, tears
LAUGHING = list(range(300, 461, 20))  # 9 frames


@pytest.fixture(scope="module")
def classifier():
    with EmotionClassifier(model_path("emotion")) as c:
        yield c


@pytest.fixture(scope="module")
def detect():
    return YuNetFaces()


@pytest.fixture(scope="module")
def wolfgang():
    return frames(WOLFGANG, CRYING + LAUGHING)


def classify(classifier, landmarker, detect, img, *, kps=True, blend=True):
    faces = detect(img)
    assert faces, "test media must show a face"
    face = faces[0] if kps else Face(bbox=faces[0].bbox, score=faces[0].score)
    mesh = landmarker.detect(img, faces[0]) if blend else None
    return classifier.classify(img, face, mesh.blendshapes if mesh else None)


def assert_contract(probs):
    assert list(probs) == list(EMOTIONS)
    assert all(0.0 <= v <= 1.0 for v in probs.values())
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-6)


def dominant(probs):
    return max(probs, key=probs.get)


def test_model_signature_is_read_from_the_interpreter(classifier):
    assert classifier.input_size == (64, 64)
    assert classifier.crop(image("obama.jpg"), Face(bbox=(370, 90, 610, 420), score=1.0)).shape == (
        64,
        64,
    )


def test_laughing_frames_are_happy(classifier, landmarker, detect, wolfgang):
    for i in LAUGHING:
        probs = classify(classifier, landmarker, detect, wolfgang[i])
        assert_contract(probs)
        assert dominant(probs) == "HAPPY" and probs["HAPPY"] > 0.8, (i, probs)


def test_crying_frames_are_not_happy(classifier, landmarker, detect, wolfgang):
    runs = [classify(classifier, landmarker, detect, wolfgang[i]) for i in CRYING]
    for probs in runs:
        assert_contract(probs)
    mean = {k: float(np.mean([p[k] for p in runs])) for k in EMOTIONS}
    assert dominant(mean) == "SAD" and mean["HAPPY"] < 0.3
    # the early grimace (frames 16 and 32, teeth showing) is read as a weak smile
    happy_frames = [i for i, p in zip(CRYING, runs, strict=False) if dominant(p) == "HAPPY"]
    assert len(happy_frames) <= 2, happy_frames
    assert all(p["HAPPY"] < 0.6 for p in runs)


def test_neutral_then_smile(classifier, landmarker, detect):
    fr = frames(SINGLE_FACE, [0, 6, 12, 40, 55, 70])
    assert all(
        dominant(classify(classifier, landmarker, detect, fr[i])) == "CALM" for i in (0, 6, 12)
    )
    assert all(
        dominant(classify(classifier, landmarker, detect, fr[i])) == "HAPPY" for i in (40, 55, 70)
    )


@pytest.mark.parametrize("name", ["obama.jpg", "person_a_1.jpg", "grace_hopper.jpg", "biden.jpg"])
def test_eight_keys_sum_to_one_on_every_path(classifier, landmarker, detect, name):
    img = image(name)
    for kps in (True, False):
        for blend in (True, False):
            assert_contract(classify(classifier, landmarker, detect, img, kps=kps, blend=blend))
    assert classify(classifier, landmarker, detect, img, blend=False)["CONFUSED"] == 0.0


def test_alignment_on_points_undoes_head_roll(classifier, detect):
    """A smiling portrait rotated by +-30 degrees: the crop aligned on the 5 points looks like the
    upright one (YuNet's points are rough, so compare by correlation, not pixel by pixel)."""

    def corr(a, b):
        return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])

    img = image("person_b_2.jpg")
    h, w = img.shape[:2]
    upright = classifier.crop(img, detect(img)[0])
    for angle in (-30, 30):
        rot = cv2.warpAffine(
            img,
            cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0),
            (w, h),
            borderMode=cv2.BORDER_REPLICATE,
        )
        face = detect(rot)[0]
        aligned = corr(upright, classifier.crop(rot, face))
        box_only = corr(upright, classifier.crop(rot, Face(bbox=face.bbox, score=face.score)))
        assert aligned > 0.7 and aligned > box_only + 0.25, (angle, aligned, box_only)
        assert dominant(classifier.classify(rot, face, None)) == "HAPPY"


def test_confusion_score_rule():
    neutral = {
        "browDownLeft": 0.1,
        "browDownRight": 0.1,
        "mouthPressLeft": 0.1,
        "mouthPressRight": 0.1,
    }
    assert confusion_score(neutral) == 0.0
    assert confusion_score(None) == 0.0 and confusion_score({}) == 0.0
    furrowed = {
        "browDownLeft": 0.9,
        "browDownRight": 0.9,
        "mouthPressLeft": 0.55,
        "mouthPressRight": 0.55,
    }
    assert confusion_score(furrowed) > 0.7
    brows_only = {"browDownLeft": 0.9, "browDownRight": 0.9}
    assert 0.3 < confusion_score(brows_only) < confusion_score(furrowed)
    one_brow_up = {"browOuterUpLeft": 0.7, "browOuterUpRight": 0.1}
    assert confusion_score(one_brow_up) == pytest.approx(0.6)
    smiling = dict(furrowed, mouthSmileLeft=0.8, mouthSmileRight=0.8)
    assert confusion_score(smiling) == 0.0


def test_mix_confusion_takes_from_donors_only():
    probs = {"HAPPY": 0.2, "CALM": 0.4, "SAD": 0.2, "SURPRISED": 0.1, "ANGRY": 0.1}
    out = mix_confusion(probs, 0.5)
    assert_contract(out)
    assert out["HAPPY"] == pytest.approx(0.2) and out["SURPRISED"] == pytest.approx(0.1)
    assert out["CONFUSED"] == pytest.approx(0.5 * sum(probs.get(k, 0) for k in CONFUSION_DONORS))
    assert out["CALM"] == pytest.approx(0.2)
    assert mix_confusion(probs, 0.0)["CONFUSED"] == 0.0


def test_confused_stays_low_on_smiles_and_calm_faces(classifier, landmarker, detect, wolfgang):
    for img in [wolfgang[i] for i in LAUGHING[::3]] + [
        image(n) for n in ("obama.jpg", "person_a_1.jpg", "grace_hopper.jpg")
    ]:
        assert classify(classifier, landmarker, detect, img)["CONFUSED"] < 0.1


def test_closed_classifier_refuses_work():
    c = EmotionClassifier(model_path("emotion"))
    c.close()
    with pytest.raises(RuntimeError):
        c.classify(image("obama.jpg"), Face(bbox=(370, 90, 610, 420), score=1.0), None)


# --- speech and time (server/proctoring/expression.py; no model needed) --------------------

from server.proctoring.expression import (  # noqa: E402
    HALF_LIFE_S,
    ExpressionSmoother,
    mouth_open,
    speech_discount,
    surprise_support,
)

SURPRISED_READING = {e: 0.0 for e in EMOTIONS} | {"SURPRISED": 0.55, "FEAR": 0.15, "CALM": 0.3}
REST = {"jawOpen": 0.03, "browInnerUp": 0.1, "browOuterUpLeft": 0.05, "browOuterUpRight": 0.05}
SPEAKING_MOUTH = REST | {"jawOpen": 0.25}
SURPRISED_FACE = SPEAKING_MOUTH | {
    "browInnerUp": 0.8,
    "browOuterUpLeft": 0.7,
    "browOuterUpRight": 0.7,
}


def test_an_open_mouth_without_raised_brows_is_speech_not_surprise():
    probs = speech_discount(
        SURPRISED_READING, mouth_open(SPEAKING_MOUTH), surprise_support(SPEAKING_MOUTH)
    )
    assert dominant(probs) == "CALM" and probs["SURPRISED"] < 0.05 and probs["FEAR"] < 0.05
    assert sum(probs.values()) == pytest.approx(1.0)


def test_raised_brows_keep_the_surprise():
    probs = speech_discount(
        SURPRISED_READING, mouth_open(SURPRISED_FACE), surprise_support(SURPRISED_FACE)
    )
    assert probs["SURPRISED"] == pytest.approx(0.55)
    # a closed mouth changes nothing either, and without blendshapes nothing is judged
    assert speech_discount(SURPRISED_READING, mouth_open(REST), surprise_support(REST))[
        "SURPRISED"
    ] == pytest.approx(0.55)
    assert mouth_open(None) == 0.0 and surprise_support(None) == 1.0


def test_a_moving_jaw_counts_as_speech_between_syllables_too():
    smoother = ExpressionSmoother({})
    out = None
    # 10 frames a second, the jaw opening and closing at syllable rate; the model reads
    # surprise on every frame, closed-mouth ones included
    for i in range(20):
        bs = SPEAKING_MOUTH if i % 3 == 0 else REST
        out = smoother.update(SURPRISED_READING, bs, i / 10)
    assert smoother.state["speaking"] is True
    assert dominant(out) == "CALM" and out["SURPRISED"] < 0.1


def test_a_surprised_face_that_speaks_stays_surprised():
    smoother = ExpressionSmoother({})
    for i in range(20):
        bs = SURPRISED_FACE if i % 3 == 0 else SURPRISED_FACE | {"jawOpen": 0.03}
        out = smoother.update(SURPRISED_READING, bs, i / 10)
    assert dominant(out) == "SURPRISED"


def test_one_odd_frame_does_not_flip_the_dominant_expression():
    calm = {e: 0.02 for e in EMOTIONS} | {"CALM": 0.86}
    sad = {e: 0.02 for e in EMOTIONS} | {"SAD": 0.86}
    smoother = ExpressionSmoother({})
    doms = []
    for i in range(30):  # 30 frames a second; one frame reads SAD
        doms.append(dominant(smoother.update(sad if i == 15 else calm, REST, i / 30)))
    assert doms.count("CALM") == 30
    # a real change takes over within a few half-lives
    for i in range(30, 60):
        out = smoother.update(sad, REST, i / 30)
    assert dominant(out) == "SAD"
    assert 3 * HALF_LIFE_S < 1.0


def test_smoother_state_is_json_and_starts_afresh_after_a_gap():
    import json

    state: dict = {}
    smoother = ExpressionSmoother(state)
    calm = {e: 0.0 for e in EMOTIONS} | {"CALM": 1.0}
    happy = {e: 0.0 for e in EMOTIONS} | {"HAPPY": 1.0}
    smoother.update(calm, REST, 0.0)
    smoother.update(calm, REST, 0.1)
    again = ExpressionSmoother(json.loads(json.dumps(state)))  # as stored between frames
    assert dominant(again.update(happy, REST, 10.0)) == "HAPPY"  # after a 10 s gap: no lag
    assert again.update(None, None, 10.1) is None and again.state == {}  # no face: reset
