"""One proctored session driven with real media through the API, for the report tests (not a test module).

The script: register obama.jpg, then frames that match (obama2, obama3), frames of
tests/data/single_face.mp4 (another person: mismatches), biden.jpg three times (a
face_mismatch alert), multi_face.jpg (multiple_faces), three frames of no_face.mp4
(no_face_detected), and obama2.jpg again.  Every frame is a base64 JPEG data URL,
as a browser sends it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from server.config import Settings
from tests.helpers import DATA, data_url, image


def video_frames(name: str, count: int) -> list[np.ndarray]:
    """``count`` frames spread evenly over the video, read with cv2.VideoCapture
    (decoded in full: a container's frame count is not always exact)."""
    cap = cv2.VideoCapture(str(DATA / name))
    decoded = []
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            decoded.append(frame)
    finally:
        cap.release()
    assert len(decoded) >= count, f"{name}: decoded {len(decoded)} frames, want {count}"
    return [decoded[round(i * (len(decoded) - 1) / max(1, count - 1))] for i in range(count)]


def script() -> list[tuple[str, np.ndarray]]:
    """(what, frame) in the order they are sent."""
    frames = [("match", image("obama2.jpg")), ("match", image("obama3.jpg"))]
    frames += [("other", f) for f in video_frames("single_face.mp4", 8)]
    frames += [("mismatch", image("biden.jpg"))] * 3
    frames += [("multi", image("multi_face.jpg"))]
    frames += [("noface", f) for f in video_frames("no_face.mp4", 3)]
    frames += [("match", image("obama2.jpg"))]
    return frames


def report_settings(data_dir: Path, **overrides) -> Settings:
    """Settings on a fresh data folder; the LLM off unless asked (it is tested in test_llm*)."""
    return Settings(
        **{"data_dir": data_dir, "database_url": None, "llm_enabled": False, **overrides}
    )


@dataclass
class DrivenSession:
    session_id: str
    sent: list[str] = field(default_factory=list)  # the "what" of each frame sent
    frame_results: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)  # GET /metrics before /end: its "metrics" object
    alerts: dict = field(default_factory=dict)  # GET /alerts before /end
    verification: dict = field(default_factory=dict)  # GET /verification-status before /end
    end: dict = field(default_factory=dict)  # POST /end answer


def drive(client, job_data: dict) -> DrivenSession:
    r = client.post("/api/sessions/start", json={"job_data": job_data})
    assert r.status_code == 200, r.text
    sid = r.json()["session_id"]
    r = client.post(
        f"/api/sessions/{sid}/register-face", json={"face": data_url(image("obama.jpg"))}
    )
    assert r.status_code == 200 and r.json()["success"], r.text
    run = DrivenSession(sid)
    for what, frame in script():
        r = client.post(f"/api/sessions/{sid}/frame", json={"frame": data_url(frame)})
        assert r.status_code == 200, r.text
        run.sent.append(what)
        run.frame_results.append(r.json()["result"])
    run.metrics = client.get(f"/api/sessions/{sid}/metrics").json()["metrics"]
    run.alerts = client.get(f"/api/sessions/{sid}/alerts").json()
    run.verification = client.get(f"/api/sessions/{sid}/verification-status").json()
    r = client.post(f"/api/sessions/{sid}/end")
    assert r.status_code == 200, r.text
    run.end = r.json()
    return run
