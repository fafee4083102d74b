"""Bad input gets a clear error in the contract's format, never a 500, and changes nothing stored."""

from __future__ import annotations

import base64
import struct
import zlib

import cv2
import numpy as np
import pytest

from tests.helpers import data_url, image


def png_bomb(width: int = 60000, height: int = 60000) -> bytes:
    """A valid PNG header claiming width x height, with almost no data: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


def b64(raw: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(raw).decode()


def error(r, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["success"] is False and isinstance(body["error"], str) and body["error"]
    return body["error"]


def snapshot(client, sid: str) -> tuple:
    m = client.get(f"/api/sessions/{sid}/metrics").json()["metrics"]
    v = client.get(f"/api/sessions/{sid}/verification-status").json()
    a = client.get(f"/api/sessions/{sid}/alerts").json()
    return (
        m["frames_analyzed"],
        m["total_frames_received"],
        v["face_registered"],
        v["verification_summary"]["total_verifications"],
        a["total_alerts"],
    )


BAD_FRAMES = {
    "broken base64": "data:image/jpeg;base64,@@@not-base64@@@",
    "not an image": "data:image/jpeg;base64,"
    + base64.b64encode(b"hello, this is plain text" * 20).decode(),
    "truncated jpeg": None,  # filled in the test
    "decompression bomb": b64(png_bomb()),
    "tiny image": None,
}


@pytest.mark.parametrize("case", list(BAD_FRAMES))
def test_bad_frame_is_400_and_changes_nothing(client, session_id, case):
    client.post(f"/api/sessions/{session_id}/register-face", json={"face": data_url("obama.jpg")})
    client.post(f"/api/sessions/{session_id}/frame", json={"frame": data_url("obama2.jpg")})
    before = snapshot(client, session_id)
    payload = BAD_FRAMES[case]
    if case == "truncated jpeg":
        raw = cv2.imencode(".jpg", image("obama2.jpg"))[1].tobytes()
        payload = "data:image/jpeg;base64," + base64.b64encode(raw[:200]).decode()
    if case == "tiny image":
        payload = data_url(np.zeros((4, 4, 3), np.uint8))
    message = error(client.post(f"/api/sessions/{session_id}/frame", json={"frame": payload}), 400)
    assert "frame" in message.lower() or "image" in message.lower()
    assert snapshot(client, session_id) == before


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"frame": None},
        {"frame": ""},
        {"frame": 123},
        {"frame": ["a"]},
        {"frame": {"a": 1}},
        {"image": "abc"},
    ],
)
def test_missing_or_mistyped_frame(client, session_id, body):
    assert (
        error(client.post(f"/api/sessions/{session_id}/frame", json=body), 400)
        == "No frame data provided"
    )


def test_non_json_bodies(client, session_id):
    r = client.post(
        f"/api/sessions/{session_id}/frame",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert error(r, 400) == "Invalid JSON body"
    r = client.post(
        f"/api/sessions/{session_id}/frame",
        content=b"[1, 2]",
        headers={"content-type": "application/json"},
    )
    assert error(r, 400)
    r = client.post(f"/api/sessions/{session_id}/frame", content=b"")
    assert error(r, 400) == "No frame data provided"
    r = client.post("/api/sessions/start", json={"job_data": "not-an-object"})
    assert error(r, 400) == "job_data must be an object"


def test_body_over_limit_is_413(client, session_id, api_settings):
    big = "A" * (api_settings.max_body_bytes + 10)
    r = client.post(
        f"/api/sessions/{session_id}/frame",
        content=('{"frame": "' + big + '"}').encode(),
        headers={"content-type": "application/json"},
    )
    assert "too large" in error(r, 413).lower()
    assert snapshot(client, session_id)[1] == 0


def test_register_face_errors(client, session_id, api_settings):
    assert (
        error(client.post(f"/api/sessions/{session_id}/register-face", json={}), 400)
        == "No face data provided"
    )
    no_face = data_url("page.png")
    assert (
        error(client.post(f"/api/sessions/{session_id}/register-face", json={"face": no_face}), 400)
        == "No face detected in the image. Please ensure your face is clearly visible."
    )
    assert (
        error(
            client.post(
                f"/api/sessions/{session_id}/register-face",
                json={"face": data_url("multi_face.jpg")},
            ),
            400,
        )
        == "Multiple faces detected. Please ensure only you are in the frame."
    )
    # low confidence: a real face that scores below the (raised) registration minimum
    old = api_settings.min_face_confidence
    api_settings.min_face_confidence = 99.9
    try:
        msg = error(
            client.post(
                f"/api/sessions/{session_id}/register-face", json={"face": data_url("obama.jpg")}
            ),
            400,
        )
    finally:
        api_settings.min_face_confidence = old
    assert msg.startswith("Face detection confidence too low (") and msg.endswith(
        "%). Please ensure good lighting and face the camera directly."
    )
    assert (
        client.get(f"/api/sessions/{session_id}/verification-status").json()["face_registered"]
        is False
    )
    ok = client.post(
        f"/api/sessions/{session_id}/register-face", json={"face": data_url("obama.jpg")}
    )
    assert ok.status_code == 200
    r = client.post(
        f"/api/sessions/{session_id}/register-face", json={"face": data_url("biden.jpg")}
    )
    assert r.status_code == 400
    assert r.json() == {
        "success": False,
        "error": "Face already registered for this session",
        "face_registered": True,
    }


def test_verify_document_errors(client, session_id):
    from scripts.calibrate_similarity import make_document

    url = f"/api/sessions/{session_id}/verify-document"
    doc = data_url(make_document(image("person_b_1.jpg")))
    live = data_url("person_b_2.jpg")
    r = client.post(url, json={"document": doc, "live_face": live, "document_type": "library_card"})
    assert "document_type" in error(r, 400)
    r = client.post(
        url, json={"document": data_url("page.png"), "live_face": live, "document_type": "aadhaar"}
    )
    assert error(r, 400) == (
        "No face detected in the document. Please upload a clear image of your ID with a "
        "visible photo."
    )
    assert r.json()["verified"] is False and r.json()["document_type"] == "aadhaar"
    r = client.post(
        url,
        json={"document": doc, "live_face": data_url("multi_face.jpg"), "document_type": "aadhaar"},
    )
    assert (
        error(r, 400)
        == "Multiple faces detected in live image. Please ensure only you are in the frame."
    )
    assert r.json()["verified"] is False and r.json()["document_type"] == "aadhaar"
    r = client.post(url, json={"document": "@@@", "live_face": live})
    assert "document" in error(r, 400).lower()
    r = client.post(url, json={"live_face": live})
    assert error(r, 400) == "No document data provided"
    # nothing was stored by the rejected calls
    status = client.get(f"/api/sessions/{session_id}/document-status").json()
    assert status["verification_result"] is None and status["face_registered"] is False


def test_wrong_method_and_unknown_path(client):
    assert error(client.get("/api/sessions/start"), 405)
    assert error(client.get("/api/nothing-here"), 404)
