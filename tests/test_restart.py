"""A kill -9 of the server and a restart lose nothing: sessions, registration, counters and rule state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.helpers import data_url, free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[1]


def start_server(data_dir: Path, port: int) -> subprocess.Popen:
    env = dict(
        os.environ,
        PROCTOR_DATA_DIR=str(data_dir),
        PROCTOR_LLM_ENABLED="false",
        PYTHONUNBUFFERED="1",
        PROCTOR_SESSION_IDLE_TIMEOUT_S="0",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return wait_healthy(proc, port, 120)


def test_kill_9_and_restart_lose_nothing(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(tmp_path, port)
    try:
        with httpx.Client(base_url=base, timeout=60) as c:
            sid = c.post("/api/sessions/start", json={"job_data": {"candidateName": "Ada"}}).json()[
                "session_id"
            ]
            assert (
                c.post(
                    f"/api/sessions/{sid}/register-face", json={"face": data_url("obama.jpg")}
                ).status_code
                == 200
            )
            assert (
                c.post(
                    f"/api/sessions/{sid}/frame", json={"frame": data_url("obama2.jpg")}
                ).status_code
                == 200
            )
            for _ in range(
                2
            ):  # two frames without a face: one short of the no_face_detected trigger
                r = c.post(f"/api/sessions/{sid}/frame", json={"frame": data_url("page.png")})
                assert "no_face_detected" not in [a["type"] for a in r.json()["result"]["alerts"]]
            before = c.get(f"/api/sessions/{sid}/metrics").json()["metrics"]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    proc = start_server(tmp_path, port)
    try:
        with httpx.Client(base_url=base, timeout=60) as c:
            listed = {s["session_id"]: s for s in c.get("/api/sessions").json()["sessions"]}
            assert (
                sid in listed
                and listed[sid]["is_active"] is True
                and listed[sid]["frames_analyzed"] == 3
            )
            after = c.get(f"/api/sessions/{sid}/metrics").json()["metrics"]
            assert after["frames_analyzed"] == before["frames_analyzed"] == 3
            assert after["metrics"] == before["metrics"]
            status = c.get(f"/api/sessions/{sid}/verification-status").json()
            assert (
                status["face_registered"] is True
                and status["verification_summary"]["total_verifications"] == 1
            )
            # the third no-face frame after the restart completes the trigger: rule state survived
            res = c.post(f"/api/sessions/{sid}/frame", json={"frame": data_url("page.png")}).json()[
                "result"
            ]
            assert res["frame_number"] == 4
            assert "no_face_detected" in [a["type"] for a in res["alerts"]]
            # the registration embedding survived: the same person still verifies
            res = c.post(
                f"/api/sessions/{sid}/frame", json={"frame": data_url("obama3.jpg")}
            ).json()["result"]
            assert res["face_verification"]["verified"] is True
            assert (
                c.post(f"/api/sessions/{sid}/end").json()["report"]["session_summary"][
                    "frames_analyzed"
                ]
                == 5
            )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
