"""Pre-recorded video analysis through the API, on real videos: the same frame pipeline,
sessions and report as a live interview, with video timestamps; refusals; uploads;
downloads from an allowed host (a loopback server); jobs, their progress, a restart
and a resume.  The summary comes from the template (``llm_enabled=False``), so two
runs of the same video give the same report."""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import math
import shutil
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.helpers import DATA

SINGLE = DATA / "single_face.mp4"  # 72 frames, 30 fps, 640x360
WOLFGANG = DATA / "WolfgangLanger_Pexels.mp4"  # 472 frames, 23.976 fps: crying, then laughing
NO_FACE = DATA / "no_face.mp4"
UPLOAD_LIMIT = 1024 * 1024
FACE_FRAMES = 45  # the generated clip: 1.5 s of a face, then 1.5 s of an empty grey frame, 30 fps
BLANK_FRAMES = 45


def video_settings(data_dir: Path, media: Path, **extra):
    from server.config import Settings

    return Settings(
        data_dir=data_dir,
        media_root=media,
        llm_enabled=False,
        session_idle_timeout_s=0,
        inference_workers=1,
        max_upload_bytes=UPLOAD_LIMIT,
        **extra,
    )


def write_face_leaves_clip(path: Path) -> None:
    """Real frames of single_face.mp4, then the face is gone (an empty room)."""
    cap = cv2.VideoCapture(str(SINGLE))
    frames = []
    while len(frames) < FACE_FRAMES:
        ok, frame = cap.read()
        assert ok
        frames.append(frame)
    cap.release()
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (w, h))
    assert out.isOpened()
    for f in frames:
        out.write(f)
    blank = np.full_like(frames[0], 118)
    for _ in range(BLANK_FRAMES):
        out.write(blank)
    out.release()


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.path.startswith("/redirect-away"):
            self.send_response(302)
            self.send_header(
                "Location", f"http://localhost:{self.server.server_port}/single_face.mp4"
            )
            self.end_headers()
            return
        return super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def http_videos(tmp_path_factory):
    """A file server on 127.0.0.1 (the only address these tests reach)."""
    root = tmp_path_factory.mktemp("http-videos")
    shutil.copy(SINGLE, root / "single_face.mp4")
    (root / "notes.mp4").write_text("these are not video frames\n")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("media")
    shutil.copy(SINGLE, root / "single_face.mp4")
    (root / "interviews").mkdir()
    shutil.copy(WOLFGANG, root / "interviews" / "wolfgang.mp4")
    write_face_leaves_clip(root / "face_leaves.mp4")
    (root / "notes.mp4").write_text("Question 1: tell me about yourself\n" * 50)
    data = SINGLE.read_bytes()
    (root / "truncated.mp4").write_bytes(
        data[: len(data) // 3]
    )  # the index (moov) is at the end: cut off
    rng = np.random.default_rng(0)
    (root / "garbled.mp4").write_bytes(
        data[:32] + rng.integers(0, 256, 60_000, dtype=np.uint8).tobytes()
    )
    outside = root.parent / f"{root.name}-outside"
    outside.mkdir()
    shutil.copy(SINGLE, outside / "secret.mp4")
    (root / "link.mp4").symlink_to(outside / "secret.mp4")
    return root


@pytest.fixture(scope="module")
def vclient(tmp_path_factory, media, http_videos):
    from server.main import create_app

    settings = video_settings(
        tmp_path_factory.mktemp("video-data"),
        media,
        # the loopback file server, listed with its port as an IP literal (security.fetch)
        allowed_video_hosts=http_videos.split("://", 1)[1],
    )
    with TestClient(create_app(settings)) as c:
        yield c


def analyse(client, video_url: str, **body) -> dict:
    r = client.post("/comprehensive-interview-analysis", json={"video_url": video_url, **body})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["success"] is True and out["report"]["session_id"] == out["session_id"]
    return out


def counts(client) -> tuple[int, int]:
    return client.get("/api/jobs").json()["total_jobs"], client.get("/api/sessions").json()[
        "total_sessions"
    ]


def deterministic(report: dict) -> dict:
    """A report without what differs between two runs of one video (ids, wall-clock times)."""
    out = {k: v for k, v in report.items() if k != "session_id"}
    summary = dict(out["session_summary"])
    summary.pop("start_time"), summary.pop("end_time")
    out["session_summary"] = summary
    return out


def wait_done(client, job_id: str, deadline_s: float = 300) -> tuple[dict, list[dict]]:
    seen = []
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        job = client.get(f"/api/jobs/{job_id}").json()
        seen.append(job)
        if job["state"] not in ("queued", "running"):
            return job, seen
        time.sleep(0.2)
    pytest.fail(f"job {job_id} still {seen[-1]['state']}")


# --- the analysis --------------------------------------------------------------------------
@pytest.mark.parametrize("interval", [6, 24])
def test_frames_analyzed_follows_frame_interval(vclient, interval):
    out = analyse(vclient, "single_face.mp4", frame_interval=interval)
    report = out["report"]
    assert report["session_summary"]["frames_analyzed"] == math.ceil(72 / interval)
    assert report["session_summary"]["total_frames_received"] == math.ceil(72 / interval)
    # timestamps are video time: frame i at i / 30 s
    stamps = [p["timestamp"] for p in report["emotion_timeline"]]
    assert stamps == [round(i / 30, 2) for i in range(0, 72, interval)]
    assert report["session_summary"]["duration_seconds"] == pytest.approx(2.4, abs=0.05)
    video = report["analysis_metadata"]["video"]
    assert (
        video["frame_interval"] == interval
        and video["frames_in_video"] == 72
        and video["fps"] == 30.0
    )


def test_video_is_a_session_listed_with_its_frames(vclient):
    out = analyse(vclient, "single_face.mp4", frame_interval=12)
    sid = out["session_id"]
    listed = {s["session_id"]: s for s in vclient.get("/api/sessions").json()["sessions"]}
    assert listed[sid]["kind"] == "video" and listed[sid]["is_active"] is False
    assert listed[sid]["frames_analyzed"] == 6
    assert vclient.get(f"/api/sessions/{sid}/report").json()["report"] == out["report"]
    metrics = vclient.get(f"/api/sessions/{sid}/metrics").json()["metrics"]
    assert metrics["frames_analyzed"] == 6


def test_request_fields_feed_the_report(vclient):
    out = analyse(
        vclient,
        "file://" + str(vclient.app.state.settings.media_root / "single_face.mp4"),
        frame_interval=24,
        llm_provider="openai",
        jobData={"jobTitle": "Site Reliability Engineer", "company": "Acme"},
        questionsWithAnswer=[
            {"question": "Tell me about yourself", "answer": "I run systems."},
            {"question": "Why us?", "answer": "  "},
            {"question": "Questions for us?", "answer": "Team size?"},
        ],
    )
    meta = out["report"]["analysis_metadata"]
    assert meta["requested_llm_provider"] == "openai" and "local model" in meta["note"]
    assert meta["llm_provider"] != "openai"
    assert meta["questions_total"] == 3 and meta["questions_answered"] == 2
    summary = out["report"]["ai_summary"]["summary"]
    assert "Site Reliability Engineer" in summary and "2 questions" in summary


def test_emotion_timeline_moves_from_sad_to_happy(vclient):
    report = analyse(vclient, "interviews/wolfgang.mp4", frame_interval=12)["report"]
    assert report["session_summary"]["frames_analyzed"] == math.ceil(472 / 12)
    timeline = report["emotion_timeline"]
    assert len(timeline) >= 30
    third = len(timeline) // 3
    first, last = timeline[:third], timeline[-third:]

    def mean(points, key):
        return sum(p["emotions"].get(key, 0) for p in points) / len(points)

    assert mean(first, "SAD") > mean(last, "SAD") + 20
    assert mean(last, "HAPPY") > mean(first, "HAPPY") + 40
    assert sum(p["dominant_emotion"] == "HAPPY" for p in last) > len(last) / 2
    assert sum(p["dominant_emotion"] == "HAPPY" for p in first) < len(first) / 4


def test_face_leaving_raises_no_face_detected_at_video_time(vclient):
    interval = 3
    report = analyse(vclient, "face_leaves.mp4", frame_interval=interval)["report"]
    alerts = [a for a in report["alert_history"] if a["type"] == "no_face_detected"]
    # the face is gone from frame 45 (1.5 s); the third frame without it (frames 45, 48, 51) raises
    assert [a["timestamp"] for a in alerts] == [
        pytest.approx((FACE_FRAMES + 2 * interval) / 30, abs=0.011)
    ]
    faces = [p["timestamp"] for p in report["emotion_timeline"]]
    assert faces and max(faces) < FACE_FRAMES / 30


# --- refusals ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "video_url, message",
    [
        ("truncated.mp4", "corrupt"),
        ("garbled.mp4", "corrupt"),
        ("notes.mp4", "not a video"),
        ("../{outside}/secret.mp4", "outside the media root"),
        ("{outside_abs}/secret.mp4", "outside the media root"),
        ("file://{outside_abs}/secret.mp4", "outside the media root"),
        ("link.mp4", "outside the media root"),
        ("interviews/../../{outside}/secret.mp4", "outside the media root"),
        ("missing.mp4", "not found"),
        ("http://localhost:9/video.mp4", "not allowed"),
        ("ftp://127.0.0.1/video.mp4", "scheme"),
        ("", "No video_url"),
    ],
)
@pytest.mark.parametrize("run_async", [False, True])
def test_refused_sources_leave_no_job_or_session(vclient, media, video_url, message, run_async):
    outside = media.parent / f"{media.name}-outside"
    url = video_url.format(outside=outside.name, outside_abs=outside)
    before = counts(vclient)
    staged = set((vclient.app.state.settings.data_dir / "video-jobs").glob("*"))
    r = vclient.post(
        "/comprehensive-interview-analysis", json={"video_url": url, "async": run_async}
    )
    assert r.status_code == 400, r.text
    assert r.json()["success"] is False and message.lower() in r.json()["error"].lower()
    assert counts(vclient) == before
    assert set((vclient.app.state.settings.data_dir / "video-jobs").glob("*")) == staged


@pytest.mark.parametrize(
    "body, message",
    [
        ({"frame_interval": 0}, "frame_interval"),
        ({"frame_interval": "every"}, "frame_interval"),
        ({"frame_interval": 2.5}, "frame_interval"),
        ({"llm_provider": "cloud-x"}, "llm_provider"),
        ({"jobData": ["a"]}, "jobData"),
        ({"questionsWithAnswer": "q"}, "questionsWithAnswer"),
    ],
)
def test_invalid_fields_are_refused(vclient, body, message):
    before = counts(vclient)
    r = vclient.post(
        "/comprehensive-interview-analysis", json={"video_url": "single_face.mp4", **body}
    )
    assert r.status_code == 400 and message in r.json()["error"]
    assert counts(vclient) == before


# --- download and upload ---------------------------------------------------------------------------
def test_video_from_an_allowed_host(vclient, http_videos):
    out = analyse(vclient, f"{http_videos}/single_face.mp4?X-Signature=secret", frame_interval=12)
    assert out["report"]["session_summary"]["frames_analyzed"] == 6
    name = out["report"]["analysis_metadata"]["video"]["name"]
    assert name == f"{http_videos}/single_face.mp4"  # no query: pre-signed URLs carry secrets there
    assert not list(
        (vclient.app.state.settings.data_dir / "video-jobs").glob("*")
    )  # download removed


@pytest.mark.parametrize(
    "path, message",
    [
        ("/redirect-away", "not allowed"),  # a redirect to a host that is not on the list
        ("/missing.mp4", "HTTP 404"),
        ("/notes.mp4", "not a video"),
    ],
)
def test_download_refusals(vclient, http_videos, path, message):
    before = counts(vclient)
    r = vclient.post("/comprehensive-interview-analysis", json={"video_url": http_videos + path})
    assert r.status_code == 400 and message in r.json()["error"], r.text
    assert counts(vclient) == before
    assert not list((vclient.app.state.settings.data_dir / "video-jobs").glob("*"))


def test_upload_gives_the_same_report_as_the_path(vclient):
    by_path = analyse(vclient, "single_face.mp4", frame_interval=12)["report"]
    with SINGLE.open("rb") as fh:
        r = vclient.post(
            "/api/videos/analyze",
            files={"video": ("interview.mp4", fh, "video/mp4")},
            data={"frame_interval": "12"},
        )
    assert r.status_code == 200, r.text
    uploaded = r.json()["report"]
    assert uploaded["analysis_metadata"]["video"].pop("name") == "interview.mp4"
    by_path["analysis_metadata"]["video"].pop("name")
    assert deterministic(uploaded) == deterministic(by_path)
    assert not list(
        (vclient.app.state.settings.data_dir / "video-jobs").glob("*")
    )  # temp file removed


@pytest.mark.parametrize(
    "files, status, message",
    [
        ({"video": ("notes.mp4", b"not a video at all", "video/mp4")}, 400, "not a video"),
        ({"video": ("big.mp4", b"\0" * (UPLOAD_LIMIT + 1), "video/mp4")}, 413, "too large"),
        ({"other": ("x.mp4", b"data", "video/mp4")}, 400, "No video file"),
    ],
)
def test_upload_refusals_leave_nothing(vclient, files, status, message):
    before = counts(vclient)
    r = vclient.post("/api/videos/analyze", files=files)
    assert r.status_code == status and message in r.json()["error"], r.text
    assert counts(vclient) == before
    assert not list((vclient.app.state.settings.data_dir / "video-jobs").glob("*"))


def test_upload_must_be_multipart(vclient):
    r = vclient.post("/api/videos/analyze", json={"video_url": "single_face.mp4"})
    assert r.status_code == 400 and "multipart" in r.json()["error"]


# --- jobs ----------------------------------------------------------------------------------------------
def test_async_job_reports_progress_and_the_sync_report(vclient):
    sync = analyse(vclient, "single_face.mp4", frame_interval=6)["report"]
    r = vclient.post(
        "/comprehensive-interview-analysis",
        json={"video_url": "single_face.mp4", "frame_interval": 6},
        headers={"Prefer": "respond-async"},
    )
    assert r.status_code == 202, r.text
    queued = r.json()
    assert queued["state"] == "queued" and r.headers["location"] == f"/api/jobs/{queued['job_id']}"
    assert queued["progress"] == {
        "frames_done": 0,
        "frames_total": 12,
        "percent": 0.0,
        "eta_seconds": None,
    }
    job, seen = wait_done(vclient, queued["job_id"])
    assert job["state"] == "done", job
    assert job["progress"]["frames_done"] == job["progress"]["frames_total"] == 12
    assert job["progress"]["percent"] == 100.0 and job["progress"]["eta_seconds"] == 0.0
    for s in seen:  # progress only grows, and a running job past its first frame has an ETA
        assert 0 <= s["progress"]["frames_done"] <= 12
        if s["state"] == "running" and 0 < s["progress"]["frames_done"] < 12:
            assert s["progress"]["eta_seconds"] is not None and s["progress"]["eta_seconds"] >= 0
    done = [s["progress"]["frames_done"] for s in seen]
    assert done == sorted(done)
    assert deterministic(job["report"]) == deterministic(sync)
    listed = vclient.get("/api/jobs").json()["jobs"]
    assert queued["job_id"] in [j["job_id"] for j in listed]


def test_async_flag_in_the_body_and_jobs_queue_one_at_a_time(vclient):
    ids = []
    for _ in range(2):
        r = vclient.post(
            "/comprehensive-interview-analysis",
            json={"video_url": "single_face.mp4", "frame_interval": 12, "async": True},
        )
        assert r.status_code == 202
        ids.append(r.json()["job_id"])
    for jid in ids:
        job, seen = wait_done(vclient, jid)
        assert job["state"] == "done" and job["report"]["session_summary"]["frames_analyzed"] == 6
    # one at a time (PROCTOR_VIDEO_JOBS_CONCURRENCY=1): the second started after the first finished
    first, second = (vclient.get(f"/api/jobs/{j}").json() for j in ids)
    assert second["started_at"] >= first["finished_at"]


def test_job_not_found_and_resume_of_a_done_job(vclient):
    assert vclient.get("/api/jobs/nope").status_code == 404
    r = vclient.post(
        "/comprehensive-interview-analysis",
        json={"video_url": "single_face.mp4", "frame_interval": 24, "async": True},
    )
    job, _ = wait_done(vclient, r.json()["job_id"])
    r = vclient.post(f"/api/jobs/{job['job_id']}/resume")
    assert r.status_code == 409 and "done" in r.json()["error"]


def test_live_frames_overtake_queued_video_frames(vclient):
    from server.vision.pool import BATCH, LIVE, InferencePool, PoolBusy

    pool = InferencePool(vclient.app.state.runtime.models, workers=1, max_queue=4)  # admits 5 live
    try:
        gate, order = threading.Event(), []
        blocker = pool.submit(lambda p: gate.wait(30), priority=BATCH)  # the worker is busy
        batch = [
            pool.submit(lambda p, i=i: order.append(f"video{i}"), priority=BATCH) for i in range(3)
        ]
        live = pool.submit(
            lambda p: order.append("live"), priority=LIVE
        )  # queued after the video frames
        batch.append(
            pool.submit(lambda p: order.append("video3"), priority=BATCH)
        )  # past the limit: still taken
        with pytest.raises(PoolBusy):
            pool.submit(lambda p: None, priority=LIVE)  # a live frame past the limit gets 503
        gate.set()
        for f in [blocker, *batch, live]:
            f.result(timeout=30)
        assert order == ["live", "video0", "video1", "video2", "video3"]
    finally:
        pool.close()


# --- restart and resume -------------------------------------------------------------------------------------
def test_restart_marks_running_jobs_interrupted_and_resume_continues(tmp_path, media, vclient):
    from server.main import create_app
    from server.service.video import VideoParams
    from server.store import JobRecord
    from server.vision.pool import BATCH

    sync = analyse(vclient, "single_face.mp4", frame_interval=12)["report"]
    settings = video_settings(tmp_path / "data", media)
    now = dt.datetime(2026, 1, 1, 9, 0)
    with TestClient(create_app(settings)) as first:
        service = first.app.state.service
        # A process was analysing: two of six frames stored, then it died (the job stays "running").
        session = first.portal.call(functools.partial(service.sessions.start, {}, kind="video"))
        cap = cv2.VideoCapture(str(SINGLE))
        for index in range(24):
            ok, frame = cap.read()
            if index % 12 == 0:
                first.portal.call(
                    functools.partial(
                        service.frames.analyse_image,
                        session.id,
                        frame,
                        timestamp=index / 30,
                        priority=BATCH,
                    )
                )
        cap.release()
        for jid, sid in (("job-with-session", session.id), ("job-without-session", None)):
            first.app.state.runtime.store.create_job(
                JobRecord(
                    id=jid,
                    kind="video",
                    state="running",
                    source="single_face.mp4",
                    path=str(media / "single_face.mp4"),
                    owns_file=False,
                    params=VideoParams(frame_interval=12).as_dict(),
                    created_at=now,
                    updated_at=now,
                    session_id=sid,
                    frames_done=2,
                    frames_total=6,
                )
            )
    with TestClient(create_app(settings)) as second:
        for jid in ("job-with-session", "job-without-session"):
            job = second.get(f"/api/jobs/{jid}").json()
            assert (
                job["state"] == "interrupted" and "resume" in job["error"] and job["report"] is None
            )
        r = second.post("/api/jobs/job-with-session/resume")
        assert r.status_code == 202 and r.json()["state"] == "queued"
        job, _ = wait_done(second, "job-with-session")
        assert job["state"] == "done" and job["session_id"] == session.id and job["attempts"] == 1
        assert (
            job["report"]["session_summary"]["frames_analyzed"] == 6
        )  # 2 before the restart + 4 after
        assert deterministic(job["report"]) == deterministic(sync)
        assert second.post("/api/jobs/job-without-session/resume").status_code == 202
        job, _ = wait_done(second, "job-without-session")
        assert job["state"] == "done" and job["session_id"] not in (None, session.id)
        assert deterministic(job["report"]) == deterministic(sync)
