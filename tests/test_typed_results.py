"""FrameResult and Report: typed in the code, the same JSON out, and stored rows of any version read back."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import numpy as np

from server.proctoring.alerts import Alert, AlertConfig
from server.proctoring.frame import FrameResult, analyse_observation
from server.proctoring.observation import EMOTIONS, Face, FaceMesh, Gaze, HeadPose, Observation
from server.proctoring.report import compute_report
from server.proctoring.report_sections import Report
from server.proctoring.verification import FaceMatch
from server.reports.html import render_report_html


def observation(faces: int = 1, yaw: float = 0.0) -> Observation:
    face = Face(bbox=(500, 200, 780, 520), score=0.95, kps=np.zeros((5, 2), np.float32))
    mesh = FaceMesh(
        pose=HeadPose(pitch=0.0, yaw=yaw, roll=0.0),
        gaze=Gaze(yaw=0.0, pitch=0.0, eye_openness=0.9, on_camera=1.0),
    )
    return Observation(
        width=1280,
        height=720,
        faces=[face] * faces,
        mesh=mesh if faces else None,
        emotions={k: 0.0 for k in EMOTIONS} | {"CALM": 0.7, "HAPPY": 0.3},
    )


def as_stored(value):
    return json.loads(json.dumps(value))


def session_frames(n: int = 8) -> tuple[list[dict], list[dict], list[Alert]]:
    """n frames through the real rules, as the store keeps them (result JSON, signals JSON)."""
    state: dict = {}
    rows, signals, alerts = [], [], []
    match = FaceMatch(True, 91.0, 0.61, "Face verified", 80.0)
    for i in range(1, n + 1):
        obs = observation(faces=2 if i == 3 else 1, yaw=5.0 * i)
        out = analyse_observation(obs, state, i, i * 1.0, match if i % 2 else None, AlertConfig())
        state = as_stored(out.state)
        rows.append(as_stored(out.frame.as_contract()))
        signals.append(as_stored(out.frame.stored_detail()))
        alerts += out.alerts
    return rows, signals, alerts


def test_a_frame_reads_back_from_its_stored_rows_exactly():
    rows, signals, _ = session_frames()
    for row, sig in zip(rows, signals, strict=True):
        frame = FrameResult.from_stored(row, sig)
        assert frame.as_contract() == row
        assert frame.stored_detail() == sig
        assert frame.metrics.eye_contact == row["metrics"]["eye_contact"]
    assert "cosine" in signals[0] and "cosine" not in signals[1]  # only with a verification
    assert rows[2]["face_count"] == 2 and rows[2]["alerts"][0]["type"] == "multiple_faces"


def test_rows_of_an_older_version_keep_their_shape():
    old = {
        "frame_number": 4,
        "timestamp": 2.0,
        "face_detected": True,
        "face_count": 1,
        "emotions": {"CALM": 100.0},
        "dominant_emotion": "CALM",
        "metrics": {"eye_contact": 70, "confidence": 60, "engagement": 65, "posture": 80},
        "face_verification": None,
        "alerts": [
            {"type": "looking_away", "severity": "warning", "message": "m", "timestamp": 2.0}
        ],
        "written_by_a_newer_version": {"x": 1},
    }
    frame = FrameResult.from_stored(old, None)
    assert frame.as_contract() == old  # no "pose"/"labels_detected" invented, the unknown key kept
    assert frame.pose is None and frame.detail.gestures is None
    assert frame.alerts[0].severity == "warning"


def _session(frames: int) -> SimpleNamespace:
    return SimpleNamespace(
        id="s-1",
        start_time=dt.datetime(2026, 1, 1, 9, 0, 0),
        frames_received=frames,
        frames_analyzed=frames,
        face_registered=True,
        job_data={"candidateName": "Ada", "jobTitle": "Engineer"},
        # the identity chain of store.SessionRecord (issue 13): no ID check in this session
        document=None,
        state={},
        kind="live",
    )


def test_the_report_is_computed_from_typed_frames_and_reads_back_exactly():
    rows, signals, alerts = session_frames(12)
    frames = [FrameResult.from_stored(r, s) for r, s in zip(rows, signals, strict=True)]
    end = dt.datetime(2026, 1, 1, 9, 0, 12)
    report, facts = compute_report(_session(12), frames, alerts, [], end)
    body = as_stored(report.as_contract())
    assert Report.from_stored(body).as_contract() == body
    assert body["alert_history"] == [a.as_contract() for a in alerts]
    assert body["behavioral_analysis"]["eye_contact"] == round(
        sum(r["metrics"]["eye_contact"] for r in rows) / len(rows)
    )
    assert len(body["timeline"]["points"]) == 12
    assert body["interview"]["candidate_name"] == "Ada"
    assert body["document"]["status"] == "missing" and body["document"]["face_registered"]
    assert facts["alerts_by_type"]["multiple_faces"] == 1
    assert sum(facts["alerts_by_type"].values()) == len(body["alert_history"]) == len(alerts)


def test_a_report_stored_by_an_older_version_reads_back_unchanged():
    old = {
        "session_id": "s-0",
        "session_summary": {"duration_seconds": 30.0, "total_alerts": 0},
        "ai_summary": {"summary": "text", "keyStrengths": [], "areasOfGrowth": []},
        "alert_history": [],
        "analysis_metadata": {"llm_enhanced": False, "end_reason": "ended"},
        "video_only_section": {"questions": 3},
    }
    report = Report.from_stored(old)
    assert report.as_contract() == old  # no timeline/interview invented, the unknown key kept
    assert report.score is None  # no overallVideoScore, no overall section
    assert report.session_summary.duration_seconds == 30.0


def test_views_draw_a_typed_report_and_its_stored_body_alike():
    rows, signals, alerts = session_frames(6)
    frames = [FrameResult.from_stored(r, s) for r, s in zip(rows, signals, strict=True)]
    report, _ = compute_report(_session(6), frames, alerts, [], dt.datetime(2026, 1, 1, 9, 0, 6))
    page = render_report_html(report)
    assert page == render_report_html(as_stored(report.as_contract()))
    assert "Multiple faces" in page  # the catalogue's label in the alert table
