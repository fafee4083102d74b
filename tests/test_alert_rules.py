"""Alert rules on plain observations: triggers, severities, messages and the re-arm policy."""

from __future__ import annotations

from server.proctoring.alerts import AlertConfig, AlertEngine, DetectedObject, FrameSignals


def run(engine: AlertEngine, signals: list[FrameSignals]) -> list[list[str]]:
    return [[a.type for a in engine.evaluate(s)] for s in signals]


def sig(i: int, **kw) -> FrameSignals:
    kw.setdefault("face_count", 1)
    return FrameSignals(timestamp=float(i), frame_number=i, **kw)


def test_no_face_fires_on_third_consecutive_frame_once():
    e = AlertEngine(AlertConfig())
    out = run(e, [sig(i, face_count=0) for i in range(1, 8)])
    assert out == [[], [], ["no_face_detected"], [], [], [], []]
    a = e.evaluate(sig(8, face_count=0))
    assert a == []


def test_no_face_counter_resets_on_a_face():
    e = AlertEngine(AlertConfig())
    out = run(
        e,
        [
            sig(1, face_count=0),
            sig(2, face_count=0),
            sig(3),
            sig(4, face_count=0),
            sig(5, face_count=0),
        ],
    )
    assert all("no_face_detected" not in x for x in out)


def test_multiple_faces_immediate_with_count_and_critical():
    e = AlertEngine(AlertConfig())
    alerts = e.evaluate(sig(1, face_count=2))
    assert len(alerts) == 1
    a = alerts[0].as_contract()
    assert a == {
        "type": "multiple_faces",
        "severity": "critical",
        "message": "Multiple faces detected (2 faces)",
        "timestamp": 1.0,
        "face_count": 2,
    }


def test_looking_away_needs_five_and_ignores_unmeasured_frames():
    e = AlertEngine(AlertConfig())
    seq = [
        sig(1, looking_away=True),
        sig(2, looking_away=True),
        sig(3, looking_away=None),
        sig(4, looking_away=True),
        sig(5, looking_away=True),
        sig(6, looking_away=True),
    ]
    out = run(e, seq)
    assert out[-1] == ["looking_away"] and sum(len(x) for x in out) == 1
    assert e.evaluate(sig(7, looking_away=True)) == []


def test_face_mismatch_three_consecutive_message():
    e = AlertEngine(AlertConfig())
    out = (
        e.evaluate(sig(1, mismatch=True))
        + e.evaluate(sig(2, mismatch=True))
        + e.evaluate(sig(3, mismatch=True))
    )
    assert [a.as_contract() for a in out] == [
        {
            "type": "face_mismatch",
            "severity": "critical",
            "message": "Face verification failed 3 consecutive times",
            "timestamp": 3.0,
        }
    ]


def test_low_engagement_ten_frames_info():
    e = AlertEngine(AlertConfig())
    out = run(e, [sig(i, engagement=20.0) for i in range(1, 11)])
    assert out[-1] == ["low_engagement"] and sum(len(x) for x in out) == 1
    assert e.state["low_engagement"]["fired"] is True


def test_suspicious_object_threshold_and_per_label_episodes():
    e = AlertEngine(AlertConfig())
    assert (
        e.evaluate(sig(1, suspicious_objects=[DetectedObject("Cell Phone", 70.0)])) == []
    )  # > 70 needed
    a = e.evaluate(
        sig(2, suspicious_objects=[DetectedObject("Cell Phone", 95.2, {"detector": 95.2})])
    )
    assert [x.as_contract()["message"] for x in a] == ["Suspicious object detected: Cell Phone"]
    assert a[0].extra["confidence"] == 95.2 and a[0].severity == "warning"
    both = e.evaluate(
        sig(3, suspicious_objects=[DetectedObject("Cell Phone", 90), DetectedObject("Book", 80)])
    )
    assert [x.extra["object"] for x in both] == ["Book"]


def test_objects_not_measured_do_not_clear():
    e = AlertEngine(AlertConfig())
    e.evaluate(sig(1, suspicious_objects=[DetectedObject("Book", 90)]))
    for i in range(2, 6):
        assert e.evaluate(sig(i, objects_measured=False)) == []
    assert e.evaluate(sig(6, suspicious_objects=[DetectedObject("Book", 90)])) == []


def test_text_detected_above_80_only_when_ocr_ran():
    e = AlertEngine(AlertConfig())
    assert e.evaluate(sig(1, text_confidence=None)) == []
    assert e.evaluate(sig(2, text_confidence=80.0)) == []
    a = e.evaluate(sig(3, text_confidence=93.0))
    assert [(x.type, x.severity, x.extra["confidence"]) for x in a] == [
        ("text_detected", "info", 93.0)
    ]


def test_rearm_after_two_clear_frames_not_after_one():
    e = AlertEngine(AlertConfig())
    assert run(e, [sig(1, face_count=2)]) == [["multiple_faces"]]
    assert run(e, [sig(2), sig(3, face_count=2)]) == [[], []]  # one clear frame: same episode
    assert run(e, [sig(4), sig(5), sig(6, face_count=2)]) == [[], [], ["multiple_faces"]]


def test_persistent_condition_repeats_every_repeat_frames():
    e = AlertEngine(AlertConfig(repeat_frames=30))
    out = run(e, [sig(i, face_count=0) for i in range(1, 64)])
    fired = [i + 1 for i, x in enumerate(out) if x]
    assert fired == [3, 33, 63]


def test_configurable_triggers_and_state_round_trip():
    import json

    cfg = AlertConfig(no_face_frames=2, rearm_frames=1, repeat_frames=0)
    e = AlertEngine(cfg)
    e.evaluate(sig(1, face_count=0))
    restored = AlertEngine(cfg, json.loads(json.dumps(e.state)))  # state survives storage as JSON
    assert [a.type for a in restored.evaluate(sig(2, face_count=0))] == ["no_face_detected"]
    assert run(restored, [sig(i, face_count=0) for i in range(3, 50)]) == [[]] * 47
