"""The end-of-session report through the API: shape, agreement with /metrics and /alerts,
stored and fetched again, PDF, and sessions the server ends itself when idle."""

from __future__ import annotations

import json
import re
import time
import zlib

import pytest
from fastapi.testclient import TestClient

from server.main import create_app
from server.proctoring.alert_types import ALERT_TYPES
from server.proctoring.frame import FrameResult
from server.proctoring.observation import EMOTIONS
from server.proctoring.report import MAX_TIMELINE, metrics_timeline
from tests.helpers import DATA, data_url, image
from tests.report_session import DrivenSession, drive, report_settings

REFERENCE = json.loads((DATA / "reference_end_response.json").read_text())
JOB = {
    "candidateName": "Ada Lovelace",
    "jobTitle": "Software Engineer",
    "company": "TechCorp",
    "interviewType": "Technical",
}
# Documented no-signal values (README): no audio, and cultural fit is not measurable from frames.
NO_SIGNAL = {
    ("report", "behavioral_analysis", "voice_tone"),
    ("report", "cultural_fit_analysis", "overallAveragePercentage"),
}
# emotion_timeline points name only the emotions of 5% and more, so their keys vary.
FREE_KEYS = {("report", "emotion_timeline", "[]", "emotions")}
# With no frame analysed there is no score at all: those are null too.
NO_FRAME = frozenset(
    {
        ("report", "behavioral_analysis", k)
        for k in (
            "eye_contact",
            "posture",
            "gestures",
            "facial_expressions",
            "confidence",
            "engagement",
        )
    }
    | {
        ("report", "body_language_analysis", "detailed_scores", k)
        for k in ("posture", "gestures", "eye_contact", "facial_expressions", "head_stability")
    }
    | {
        ("report", "body_language_analysis", "overallAveragePercentage"),
        ("report", "overall_behavior_analysis", "overallAveragePercentage"),
        ("report", "ai_summary", "overallVideoScore"),
    }
)
IDLE_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def app_client(tmp_path_factory):
    with TestClient(create_app(report_settings(tmp_path_factory.mktemp("report-api")))) as c:
        yield c


@pytest.fixture(scope="module")
def run(app_client) -> DrivenSession:
    return drive(app_client, JOB)


@pytest.fixture(scope="module")
def report(run) -> dict:
    return run.end["report"]


def check_shape(example, actual, path=("report",), null_ok=frozenset()):
    """Every key of the reference's example is there with a value of the example's type
    (``null_ok``: paths that may also be null)."""
    where = ".".join(path)
    if path in NO_SIGNAL:
        assert actual is None, f"{where}: no signal is measured, so it must be null, got {actual!r}"
        return
    if path in null_ok and actual is None:
        return
    if isinstance(example, bool):
        assert isinstance(actual, bool), f"{where}: want a boolean, got {actual!r}"
    elif isinstance(example, (int, float)):
        assert isinstance(actual, (int, float)) and not isinstance(actual, bool), (
            f"{where}: want a number, got {actual!r}"
        )
    elif isinstance(example, str):
        assert isinstance(actual, str), f"{where}: want a string, got {actual!r}"
    elif isinstance(example, list):
        assert isinstance(actual, list), f"{where}: want a list, got {actual!r}"
        for item in actual:
            check_shape(example[0], item, path + ("[]",), null_ok)
    elif isinstance(example, dict):
        assert isinstance(actual, dict), f"{where}: want an object, got {actual!r}"
        if path in FREE_KEYS:
            assert set(actual) <= set(EMOTIONS), where
            assert all(isinstance(v, (int, float)) for v in actual.values()), where
            return
        missing = sorted(set(example) - set(actual))
        assert not missing, f"{where}: missing {missing}"
        for key, value in example.items():
            check_shape(value, actual[key], path + (key,), null_ok)


def test_report_holds_every_reference_key_with_its_type(run, report):
    assert run.end["success"] is True and run.end["session_id"] == run.session_id
    check_shape(REFERENCE["report"], report)
    # the lists the example shows filled are filled here too (the session raised alerts)
    for key in ("emotion_timeline", "alert_history"):
        assert report[key], key
    assert report["ai_summary"]["summary"].strip()
    assert set(report["behavioral_analysis"]["emotion_summary"]) == set(EMOTIONS)
    assert report["session_id"] == run.session_id


def test_report_numbers_agree_with_metrics_and_alerts(run, report):
    m = run.metrics["metrics"]
    ba = report["behavioral_analysis"]
    for key in ("eye_contact", "confidence", "engagement", "posture", "facial_expressions"):
        assert ba[key] == m[f"avg_{key}"], key
    ss = report["session_summary"]
    assert ss["frames_analyzed"] == run.metrics["frames_analyzed"] == len(run.sent)
    assert ss["total_frames_received"] == run.metrics["total_frames_received"] == len(run.sent)
    assert (
        ss["total_alerts"]
        == run.alerts["total_alerts"]
        == run.metrics["alert_count"]
        == len(report["alert_history"])
    )
    assert report["alert_history"] == run.alerts["alerts"]
    # ... and the alerts are exactly those the frame answers raised, in order
    assert report["alert_history"] == [a for r in run.frame_results for a in r["alerts"]]
    assert report["face_verification_summary"] == run.verification["verification_summary"]
    assert (
        report["ai_summary"]["overallVideoScore"]
        == report["overall_behavior_analysis"]["overallAveragePercentage"]
    )


def test_report_reflects_what_the_frames_showed(run, report):
    types = {a["type"] for a in report["alert_history"]}
    assert {"face_mismatch", "multiple_faces", "no_face_detected"} <= types
    ver = report["face_verification_summary"]
    assert ver["registered"] is True
    assert 0 < ver["successful_verifications"] < ver["total_verifications"]
    assert ver["total_mismatches"] == ver["total_verifications"] - ver["successful_verifications"]
    # emotion_summary: the mean of the frames' emotions over frames with a face
    faces = [r for r in run.frame_results if r["face_detected"]]
    for k in EMOTIONS:
        assert report["behavioral_analysis"]["emotion_summary"][k] == round(
            sum(r["emotions"][k] for r in faces) / len(faces), 1
        ), k
    assert [p["dominant_emotion"] for p in report["emotion_timeline"]] == [
        r["dominant_emotion"] for r in faces
    ]


def test_overall_score_follows_the_documented_rule(report):
    ba = report["behavioral_analysis"]
    core = [
        ba[k] for k in ("eye_contact", "confidence", "engagement", "posture", "facial_expressions")
    ]
    types = {a["type"] for a in report["alert_history"]}
    # the documented rule: 10 per critical type raised, 5 per warning type
    per_severity = {"critical": 10, "warning": 5, "info": 0}
    penalty = sum(per_severity[ALERT_TYPES[t].severity] for t in types)
    assert report["overall_behavior_analysis"]["overallAveragePercentage"] == max(
        0, round(sum(core) / len(core) - penalty)
    )
    detailed = report["body_language_analysis"]["detailed_scores"]
    measured = [v for v in detailed.values() if v is not None]
    assert report["body_language_analysis"]["overallAveragePercentage"] == round(
        sum(measured) / len(measured)
    )


def test_timeline_has_one_point_per_analysed_frame(run, report):
    tl = report["timeline"]
    assert tl["frames_per_point"] == 1
    assert tl["verification_threshold"] == 80.0
    assert len(tl["points"]) == len(run.frame_results)
    for point, result in zip(tl["points"], run.frame_results, strict=False):
        assert point["timestamp"] == result["timestamp"]
        assert point["face_count"] == result["face_count"]
        for key in ("eye_contact", "confidence", "engagement", "posture"):
            assert point[key] == (result["metrics"][key] if result["face_detected"] else None), key
        fv = result["face_verification"]
        assert point["similarity"] == (fv["similarity"] if fv else None)
    counts = [
        p["face_count"]
        for p, what in zip(tl["points"], run.sent, strict=False)
        if what in ("multi", "noface")
    ]
    assert counts[0] > 1 and counts[1:] == [0, 0, 0]
    assert report["interview"] == {
        "candidate_name": "Ada Lovelace",
        "job_title": "Software Engineer",
        "company": "TechCorp",
        "interview_type": "Technical",
    }


def test_timeline_is_bounded_by_bucket_means():
    def result(i):
        face = i % 10 != 0
        return {
            "timestamp": i * 0.5,
            "face_detected": face,
            "face_count": 2 if i == 7 else int(face),
            "metrics": {"eye_contact": i % 100, "confidence": 50, "engagement": 60, "posture": 70},
            "face_verification": {"similarity": 90.0} if i % 6 == 0 else None,
        }

    frames = [FrameResult.from_stored(result(i)) for i in range(1500)]  # rows as stored
    tl = metrics_timeline(frames, 80.0).as_contract()
    assert tl["frames_per_point"] == 3 and len(tl["points"]) == 500 <= MAX_TIMELINE
    first = tl["points"][0]  # frames 0 (no face), 1, 2
    assert first == {
        "timestamp": 0.0,
        "eye_contact": 2,
        "confidence": 50,
        "engagement": 60,
        "posture": 70,
        "similarity": 90.0,
        "face_count": 1,
    }
    assert tl["points"][1]["similarity"] is None  # frames 3-5: none was checked
    assert tl["points"][2]["face_count"] == 2  # frames 6-8: the most faces seen in the bucket


def test_stored_report_is_what_end_returned(app_client, run, report):
    r = app_client.get(f"/api/sessions/{run.session_id}/report")
    assert r.status_code == 200
    assert r.json() == {"success": True, "session_id": run.session_id, "report": report}
    again = app_client.post(f"/api/sessions/{run.session_id}/end")
    assert again.status_code == 200 and again.json()["report"] == report


def test_report_errors_use_the_contract_format(app_client):
    sid = app_client.post("/api/sessions/start", json={}).json()["session_id"]
    try:
        r = app_client.get(f"/api/sessions/{sid}/report")
        assert r.status_code == 409
        assert r.json()["success"] is False and "active" in r.json()["error"]
        for fmt in ("html", "pdf"):
            assert (
                app_client.get(f"/api/sessions/{sid}/report", params={"format": fmt}).status_code
                == 409
            )
    finally:
        app_client.delete(f"/api/sessions/{sid}")
    r = app_client.get("/api/sessions/no-such-session/report")
    assert r.status_code == 404 and r.json() == {"success": False, "error": "Invalid session"}
    r = app_client.get(f"/api/sessions/{sid}/report", params={"format": "docx"})
    assert r.status_code == 400 and r.json()["success"] is False


def _pdf_streams(data: bytes) -> list[bytes]:
    out = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            out.append(zlib.decompress(m.group(1)))
        except zlib.error:
            out.append(m.group(1))
    return out


def test_report_pdf(app_client, run, report):
    r = app_client.get(f"/api/sessions/{run.session_id}/report", params={"format": "pdf"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"].startswith("inline;")
    data = r.content
    assert data.startswith(b"%PDF-") and b"%%EOF" in data[-64:]
    assert len(re.findall(rb"/Type\s*/Page\b", data)) >= 2
    # the charts are vector paths: four metric lines and the similarity line, each a polyline
    # through the session's consecutive frames (grid lines are single segments)
    lines = sum(len(re.findall(rb"m\s+(?:[\d.]+ [\d.]+ l\s+){5,}S", s)) for s in _pdf_streams(data))
    assert lines >= 5


# --- sessions the server ends itself ------------------------------------------------------
@pytest.fixture(scope="module")
def idle_client(tmp_path_factory):
    """A second app: the local LLM on (for its metadata) and a tiny idle timeout."""
    settings = report_settings(
        tmp_path_factory.mktemp("report-idle"),
        llm_enabled=True,
        session_idle_timeout_s=IDLE_TIMEOUT_S,
    )
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def idle_session(idle_client) -> dict:
    """A session that registers a face and then goes quiet until the server ends it."""
    sid = idle_client.post("/api/sessions/start", json={"job_data": JOB}).json()["session_id"]
    r = idle_client.post(
        f"/api/sessions/{sid}/register-face", json={"face": data_url(image("obama.jpg"))}
    )
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 120  # the reaper runs every 5 s; this only bounds a hang
    while True:
        rows = {s["session_id"]: s for s in idle_client.get("/api/sessions").json()["sessions"]}
        if not rows[sid]["is_active"]:
            return rows[sid]
        if time.monotonic() > deadline:
            pytest.fail(f"session {sid} idle for {IDLE_TIMEOUT_S} s was never ended by the server")
        time.sleep(0.5)


def test_idle_session_is_ended_by_the_server(idle_client, idle_session):
    sid = idle_session["session_id"]
    assert idle_session["is_active"] is False
    assert idle_session["status"] == "ended" and idle_session["end_reason"] == "idle"
    r = idle_client.get(f"/api/sessions/{sid}/report")
    assert r.status_code == 200
    report = r.json()["report"]
    assert report["session_summary"]["frames_analyzed"] == 0
    check_shape(REFERENCE["report"], report, null_ok=NO_FRAME)
    assert (
        report["overall_behavior_analysis"]["overallAveragePercentage"] is None
    )  # never an invented score
    assert report["face_verification_summary"]["registered"] is True
    assert report["ai_summary"]["summary"].strip()
    # kept: ending it again answers the stored report, and frames are refused
    assert idle_client.post(f"/api/sessions/{sid}/end").json()["report"] == report
    r = idle_client.post(
        f"/api/sessions/{sid}/frame", json={"frame": "data:image/jpeg;base64,AAAA"}
    )
    assert r.status_code == 400 and r.json() == {"success": False, "error": "Session has ended"}
    assert (
        idle_client.get(f"/api/sessions/{sid}/report", params={"format": "html"}).status_code == 200
    )


def test_report_llm_metadata(idle_client, idle_session):
    report = idle_client.get(f"/api/sessions/{idle_session['session_id']}/report").json()["report"]
    meta = report["analysis_metadata"]
    assert {"llm_enhanced", "llm_provider", "llm_model", "summary_source", "summary_reason"} <= set(
        meta
    )
    assert meta["llm_provider"] == "local-llama.cpp"
    assert isinstance(meta["llm_model"], str) and meta["llm_model"]
    # no frame was analysed: the template writes the summary, and says so
    assert meta["llm_enhanced"] is False and meta["summary_source"] == "template"
    assert set(report["token_consumption"]) == set(REFERENCE["report"]["token_consumption"])
    assert report["token_consumption"]["total_api_calls"] == 0
