"""Metric scores and the frame result on hand-built observations (no model)."""

from __future__ import annotations

import numpy as np
import pytest

from server.proctoring.alerts import AlertConfig
from server.proctoring.frame import analyse_observation, emotion_percentages
from server.proctoring.metrics import MetricsTracker
from server.proctoring.objects import suspicious_objects
from server.proctoring.observation import (
    EMOTIONS,
    BodyPose,
    Face,
    FaceMesh,
    Gaze,
    Hand,
    HeadPose,
    ObjectDetection,
    Observation,
    TextRegion,
)


def face(x1=500, y1=200, x2=780, y2=520) -> Face:
    return Face(bbox=(x1, y1, x2, y2), score=0.95, kps=np.zeros((5, 2), np.float32))


def obs(
    gaze=(0.0, 0.0), head=(0.0, 0.0, 0.0), openness=0.9, emotions=None, faces=1, **kw
) -> Observation:
    mesh = FaceMesh(
        pose=HeadPose(pitch=head[1], yaw=head[0], roll=head[2]),
        gaze=Gaze(yaw=gaze[0], pitch=gaze[1], eye_openness=openness, on_camera=1.0),
    )
    calm = {k: 0.0 for k in EMOTIONS} | {"CALM": 1.0}
    return Observation(
        width=1280,
        height=720,
        faces=[face() for _ in range(faces)],
        mesh=mesh if faces else None,
        emotions=emotions or calm,
        **kw,
    )


def test_eye_contact_full_at_camera_zero_far_off():
    t = MetricsTracker()
    assert t.update(obs(gaze=(3, 2))).eye_contact == 100
    assert t.update(obs(gaze=(35, 0))).eye_contact == 0
    mid = t.update(obs(gaze=(19, 0))).eye_contact
    assert 40 <= mid <= 60


def test_closed_eyes_halve_eye_contact():
    t = MetricsTracker()
    assert t.update(obs(openness=0.1)).eye_contact == 50


def test_baseline_forgives_a_slightly_turned_resting_head():
    t = MetricsTracker()
    for _ in range(10):  # a candidate whose webcam sits to the side: rests at 12 degrees
        t.update(obs(gaze=(12, 0), head=(12, 0, 0)))
    s = t.update(obs(gaze=(12, 0), head=(12, 0, 0)))
    assert s.eye_contact == 100 and s.looking_away is False
    assert t.update(obs(gaze=(45, 0), head=(40, 0, 0))).looking_away is True


def test_baseline_is_clamped():
    t = MetricsTracker()
    for _ in range(10):
        t.update(obs(gaze=(40, 0)))
    assert t.state["baseline"][0] == 15.0


def test_no_face_scores_zero():
    s = MetricsTracker().update(obs(faces=0))
    assert (s.eye_contact, s.engagement, s.confidence, s.posture) == (
        0,
        0,
        0,
        0,
    ) and s.looking_away is None


def test_posture_from_body_and_head_stability():
    t = MetricsTracker()
    good = t.update(
        obs(body=BodyPose(shoulder_tilt_deg=1, lean_deg=2, shoulder_width=0.4, visibility=0.99))
    )
    bad = MetricsTracker().update(
        obs(body=BodyPose(shoulder_tilt_deg=15, lean_deg=25, shoulder_width=0.9, visibility=0.99))
    )
    assert good.posture == 100 and bad.posture < 30
    t2 = MetricsTracker()
    for yaw in (0, 20, -20, 20, -20):
        s = t2.update(obs(head=(yaw, 0, 0)))
    assert s.head_stability <= 30
    t3 = MetricsTracker()
    for _ in range(5):
        s = t3.update(obs(head=(2, 1, 0)))
    assert s.head_stability == 100


def test_emotions_move_facial_expressions_and_engagement():
    happy = {k: 0.0 for k in EMOTIONS} | {"HAPPY": 1.0}
    sad = {k: 0.0 for k in EMOTIONS} | {"SAD": 0.9, "FEAR": 0.1}
    a = MetricsTracker().update(obs(emotions=happy))
    b = MetricsTracker().update(obs(emotions=sad))
    assert a.facial_expressions == 100 and b.facial_expressions < 25
    assert a.engagement > b.engagement and a.confidence > b.confidence


def test_emotion_percentages_sum_to_exactly_100():
    p = emotion_percentages({"HAPPY": 1 / 3, "CALM": 1 / 3, "SAD": 1 / 3})
    assert list(p) == list(EMOTIONS) and sum(p.values()) == pytest.approx(100.0, abs=1e-9)
    assert emotion_percentages(None) == {k: 0.0 for k in EMOTIONS}


def test_phone_evidence_fusion():
    hand_at_ear = Hand("Right", center=(0.66, 0.5), bbox=(0.6, 0.4, 0.7, 0.6), score=0.9)
    o = obs(hands=[hand_at_ear], objects=[ObjectDetection("cell phone", 0.5, (800, 300, 850, 380))])
    phone = [x for x in suspicious_objects(o, {}) if x.name == "Cell Phone"][0]
    assert phone.confidence == pytest.approx(72.5) and phone.evidence["hand_at_ear"] is True
    alone = [
        x
        for x in suspicious_objects(obs(hands=[hand_at_ear], objects=[]), {})
        if x.name == "Cell Phone"
    ][0]
    assert alone.confidence == pytest.approx(
        45.0
    )  # a hand at the ear alone stays under the 70 threshold
    assert suspicious_objects(obs(hands=[], objects=[]), {}) == []


def test_hand_low_and_still_while_looking_down():
    state: dict = {}
    low = Hand("Left", center=(0.5, 0.95), bbox=(0.45, 0.9, 0.55, 1.0), score=0.9)
    outs = [
        suspicious_objects(obs(head=(0, -25, 0), hands=[low], objects=[]), state) for _ in range(3)
    ]
    assert outs[0] == [] and outs[1] == []
    assert outs[2][0].evidence["hand_low_still"] is True and outs[2][0].confidence == pytest.approx(
        35.0
    )


def test_frame_result_and_state_round_trip():
    import json

    o = obs(
        objects=[
            ObjectDetection("book", 0.85, (0, 0, 10, 10)),
            ObjectDetection("person", 0.9, (0, 0, 5, 5)),
        ],
        text=[TextRegion(0.93, (0, 0, 10, 10), "hello")],
    )
    out = analyse_observation(o, {}, 1, 0.5, None, AlertConfig())
    r = out.frame.as_contract()
    assert r["labels_detected"][:2] == ["Person", "Face"] and "Book" in r["labels_detected"]
    assert "Text" in r["labels_detected"]
    assert sorted(a["type"] for a in r["alerts"]) == ["suspicious_object", "text_detected"]
    assert r["face_verification"] is None and r["dominant_emotion"] == "CALM"
    state = json.loads(json.dumps(out.state))  # stored as JSON
    again = analyse_observation(o, state, 2, 1.5, None, AlertConfig())
    assert again.frame.alerts == []  # same episode: no repeat
