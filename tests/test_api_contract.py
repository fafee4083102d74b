"""Contract tests: every endpoint answers with every key of the reference's example, typed right."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.helpers import data_url

NUM = (int, float)


def assert_keys(obj: dict, spec: dict, where: str = "") -> None:
    """``spec`` maps key -> type, tuple of types, or nested spec dict."""
    assert isinstance(obj, dict), f"{where} is not an object: {obj!r}"
    for key, kind in spec.items():
        assert key in obj, f"missing {where}.{key}"
        value = obj[key]
        if isinstance(kind, dict):
            assert_keys(value, kind, f"{where}.{key}")
        elif kind is not None:
            assert isinstance(value, kind) and not (
                kind in (int, NUM) and isinstance(value, bool)
            ), f"{where}.{key} = {value!r} is not {kind}"


def iso(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


HEALTH = {
    "status": str,
    "service": str,
    "version": str,
    "timestamp": str,
    "active_sessions": int,
    "features": {
        "aws_rekognition": bool,
        "openai_llm": bool,
        "anthropic_llm": bool,
        "rest_api_enabled": bool,
        "websocket_enabled": bool,
        "video_url_analysis": bool,
    },
}
START = {
    "success": bool,
    "session_id": str,
    "status": str,
    "start_time": str,
    "face_verification_required": bool,
    "websocket_url": str,
    "api_endpoints": {
        k: str
        for k in (
            "verify_document",
            "register_face",
            "analyze_frame",
            "get_metrics",
            "get_alerts",
            "get_document_status",
            "get_verification_status",
            "end_session",
        )
    },
    "verification_flow": list,
}
FRAME_RESULT = {
    "frame_number": int,
    "timestamp": NUM,
    "face_detected": bool,
    "face_count": int,
    "emotions": dict,
    "dominant_emotion": str,
    "metrics": {"eye_contact": int, "confidence": int, "engagement": int, "posture": int},
    "face_verification": {"verified": bool, "similarity": NUM, "message": str, "threshold": NUM},
    "pose": {"pitch": NUM, "roll": NUM, "yaw": NUM},
    "labels_detected": list,
    "alerts": list,
}
VERIFICATION_SUMMARY = {
    "enabled": bool,
    "registered": bool,
    "total_verifications": int,
    "successful_verifications": int,
    "average_similarity": NUM,
    "max_similarity": NUM,
    "min_similarity": NUM,
    "verification_rate": NUM,
    "total_mismatches": int,
}
EMOTIONS = ("HAPPY", "CALM", "CONFUSED", "SURPRISED", "SAD", "ANGRY", "DISGUSTED", "FEAR")


def test_health(client):
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert_keys(body, HEALTH)
    assert body["status"] == "healthy"
    iso(body["timestamp"])
    assert body["models"]["face_detector"]["licence"]  # addition: loaded models with licences
    assert body["models"]["face_embedder"]["family"] in ("sface", "arcface")


def test_start_session(client):
    r = client.post(
        "/api/sessions/start",
        json={"job_data": {"jobTitle": "Software Engineer", "company": "TechCorp"}},
    )
    assert r.status_code == 200
    body = r.json()
    assert_keys(body, START)
    assert body["success"] is True and body["status"] == "active"
    sid = body["session_id"]
    assert body["api_endpoints"]["analyze_frame"] == f"/api/sessions/{sid}/frame"
    assert body["websocket_url"].endswith("/socket.io/") and body["websocket_url"].startswith("ws")
    iso(body["start_time"])
    assert len(body["verification_flow"]) == 3


def test_start_session_without_body(client):
    r = client.post("/api/sessions/start")
    assert r.status_code == 200 and r.json()["success"] is True


def test_register_face_and_frame_shapes(client, session_id):
    r = client.post(
        f"/api/sessions/{session_id}/register-face", json={"face": data_url("obama.jpg")}
    )
    body = r.json()
    assert r.status_code == 200, body
    assert_keys(
        body,
        {
            "success": bool,
            "message": str,
            "face_confidence": NUM,
            "verification_enabled": bool,
            "face_bounding_box": {"Width": NUM, "Height": NUM, "Left": NUM, "Top": NUM},
        },
    )
    box = body["face_bounding_box"]
    assert (
        0 < box["Width"] < 1
        and 0 < box["Height"] < 1
        and 0 <= box["Left"] < 1
        and 0 <= box["Top"] < 1
    )
    assert 80 <= body["face_confidence"] <= 100

    r = client.post(f"/api/sessions/{session_id}/frame", json={"frame": data_url("obama2.jpg")})
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["success"] is True and body["session_id"] == session_id
    res = body["result"]
    assert_keys(res, FRAME_RESULT, "result")
    assert res["frame_number"] == 1 and res["face_count"] == 1 and res["face_detected"] is True
    assert set(res["emotions"]) == set(EMOTIONS)
    assert abs(sum(res["emotions"].values()) - 100) < 0.05
    assert res["dominant_emotion"] in EMOTIONS
    for v in res["metrics"].values():
        assert 0 <= v <= 100
    assert (
        res["face_verification"]["verified"] is True
        and res["face_verification"]["threshold"] == 80.0
    )
    assert -90 <= res["pose"]["yaw"] <= 90
    assert "Person" in res["labels_detected"]
    assert res["timestamp"] >= 0

    r = client.post(f"/api/sessions/{session_id}/frame", json={"frame": data_url("obama3.jpg")})
    assert r.json()["result"]["frame_number"] == 2
    assert r.json()["result"]["timestamp"] >= res["timestamp"]


def test_metrics_alerts_verification_status(client, session_id):
    client.post(f"/api/sessions/{session_id}/register-face", json={"face": data_url("obama.jpg")})
    for name in ("obama2.jpg", "obama3.jpg"):
        assert (
            client.post(
                f"/api/sessions/{session_id}/frame", json={"frame": data_url(name)}
            ).status_code
            == 200
        )

    body = client.get(f"/api/sessions/{session_id}/metrics").json()
    assert_keys(
        body,
        {
            "success": bool,
            "session_id": str,
            "metrics": {
                "session_id": str,
                "frames_analyzed": int,
                "total_frames_received": int,
                "session_duration": NUM,
                "is_active": bool,
                "alert_count": int,
                "metrics": {
                    "avg_eye_contact": int,
                    "avg_confidence": int,
                    "avg_engagement": int,
                    "avg_posture": int,
                    "avg_facial_expressions": int,
                    "dominant_emotion": str,
                    "emotion_distribution": dict,
                },
            },
        },
    )
    m = body["metrics"]
    assert m["frames_analyzed"] == 2 and m["total_frames_received"] == 2 and m["is_active"] is True
    assert 99 <= sum(m["metrics"]["emotion_distribution"].values()) <= 101

    body = client.get(f"/api/sessions/{session_id}/alerts").json()
    assert_keys(body, {"success": bool, "session_id": str, "total_alerts": int, "alerts": list})
    assert body["total_alerts"] == len(body["alerts"]) == 0

    body = client.get(f"/api/sessions/{session_id}/verification-status").json()
    assert_keys(
        body,
        {
            "success": bool,
            "session_id": str,
            "face_registered": bool,
            "verification_enabled": bool,
            "verification_summary": VERIFICATION_SUMMARY,
            "recent_verifications": list,
        },
    )
    s = body["verification_summary"]
    assert (
        s["total_verifications"] == 2
        and s["successful_verifications"] == 2
        and s["verification_rate"] == 100.0
    )
    assert s["min_similarity"] >= 80
    for v in body["recent_verifications"]:
        assert_keys(
            v,
            {
                "timestamp": NUM,
                "verified": bool,
                "similarity": NUM,
                "message": str,
                "threshold": NUM,
            },
        )


def test_document_flow_shapes(client, session_id):
    from scripts.calibrate_similarity import make_document
    from tests.helpers import image

    doc = make_document(image("person_a_1.jpg"), rotation=90)
    r = client.post(
        f"/api/sessions/{session_id}/verify-document",
        json={
            "document": data_url(doc),
            "live_face": data_url("person_a_2.jpg"),
            "document_type": "passport",
        },
    )
    body = r.json()
    assert r.status_code == 200, body
    assert_keys(
        body,
        {
            "success": bool,
            "verified": bool,
            "similarity": NUM,
            "threshold": NUM,
            "document_type": str,
            "document_face_confidence": NUM,
            "live_face_confidence": NUM,
            "message": str,
            "face_registered": bool,
            "next_step": str,
        },
    )
    assert (
        body["verified"] is True
        and body["face_registered"] is True
        and body["document_type"] == "passport"
    )

    body = client.get(f"/api/sessions/{session_id}/document-status").json()
    assert_keys(
        body,
        {
            "success": bool,
            "session_id": str,
            "document_verified": bool,
            "document_type": str,
            "verification_result": {
                "verified": bool,
                "similarity": NUM,
                "document_type": str,
                "timestamp": str,
            },
            "face_registered": bool,
        },
    )
    assert body["document_verified"] is True and body["face_registered"] is True
    # document verification registered the live face: a second registration is refused
    r = client.post(
        f"/api/sessions/{session_id}/register-face", json={"face": data_url("person_a_2.jpg")}
    )
    assert r.status_code == 400 and r.json() == {
        "success": False,
        "error": "Face already registered for this session",
        "face_registered": True,
    }


def test_document_status_before_any_document(client, session_id):
    body = client.get(f"/api/sessions/{session_id}/document-status").json()
    assert (
        body["success"] is True
        and body["document_verified"] is False
        and body["verification_result"] is None
    )


def test_end_list_delete(client, session_id):
    client.post(f"/api/sessions/{session_id}/register-face", json={"face": data_url("obama.jpg")})
    client.post(f"/api/sessions/{session_id}/frame", json={"frame": data_url("obama2.jpg")})
    client.post(f"/api/sessions/{session_id}/frame", json={"frame": data_url("biden.jpg")})

    r = client.post(f"/api/sessions/{session_id}/end")
    assert r.status_code == 200
    body = r.json()
    assert body["success"] is True and body["session_id"] == session_id
    rep = body["report"]
    assert_keys(
        rep,
        {
            "session_summary": {
                "start_time": str,
                "end_time": str,
                "duration_seconds": NUM,
                "total_frames_received": int,
                "frames_analyzed": int,
                "total_alerts": int,
            },
            "face_verification_summary": VERIFICATION_SUMMARY,
            "alert_history": list,
        },
    )
    assert rep["session_summary"]["frames_analyzed"] == 2
    assert rep["face_verification_summary"]["total_verifications"] == 2
    assert rep["face_verification_summary"]["total_mismatches"] == 1
    assert iso(rep["session_summary"]["end_time"]) >= iso(rep["session_summary"]["start_time"])

    # ended: frames are refused, the list shows it inactive, end again returns the same report
    r = client.post(f"/api/sessions/{session_id}/frame", json={"frame": data_url("obama2.jpg")})
    assert r.status_code == 400 and r.json() == {"success": False, "error": "Session has ended"}
    listing = client.get("/api/sessions").json()
    assert_keys(listing, {"success": bool, "total_sessions": int, "sessions": list})
    mine = [s for s in listing["sessions"] if s["session_id"] == session_id][0]
    assert_keys(
        mine,
        {
            "session_id": str,
            "is_active": bool,
            "start_time": str,
            "frames_analyzed": int,
            "alert_count": int,
        },
    )
    assert mine["is_active"] is False and mine["frames_analyzed"] == 2
    again = client.post(f"/api/sessions/{session_id}/end").json()
    assert again["report"]["session_summary"] == rep["session_summary"]

    r = client.delete(f"/api/sessions/{session_id}")
    assert r.status_code == 200 and r.json() == {
        "success": True,
        "message": "Session deleted successfully",
    }
    assert client.get(f"/api/sessions/{session_id}/metrics").status_code == 404
    assert client.delete(f"/api/sessions/{session_id}").status_code == 404


@pytest.mark.parametrize(
    "method,path",
    [
        ("post", "/frame"),
        ("post", "/register-face"),
        ("post", "/verify-document"),
        ("get", "/document-status"),
        ("get", "/verification-status"),
        ("get", "/metrics"),
        ("get", "/alerts"),
        ("post", "/end"),
        ("delete", ""),
    ],
)
def test_unknown_session_is_404(client, method, path):
    kwargs = (
        {"json": {"frame": data_url("obama.jpg"), "face": data_url("obama.jpg")}}
        if method == "post"
        else {}
    )
    r = getattr(client, method)(f"/api/sessions/does-not-exist{path}", **kwargs)
    assert r.status_code == 404
    assert r.json() == {"success": False, "error": "Invalid session"}


def test_openapi_docs(client):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/api/sessions/{session_id}/frame" in spec["paths"]
    assert "FrameResult" in spec["components"]["schemas"]
