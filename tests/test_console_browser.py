"""The console in a real browser: Debian's chromium driven by Playwright, its camera fed a
.y4m made from tests/data/single_face.mp4 followed by empty frames (the candidate leaves).

The candidate page starts a session, fails a document check (someone else's ID), is refused
when registering the face alone (it is not the face of that ID: the identity chain), passes
with an ID made from its own clip (which registers the face), sends frames at 1 fps over the plain websocket and ends; the dashboard shows the
session, its similarity and the no_face_detected alert the empty frames raise, all by push.
Screenshots of both pages are kept in tests/artifacts/.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import cv2
import numpy as np
import pytest

from tests.helpers import DATA, launch_with_fake_media, playwright_or_skip
from tests.live_server import LiveServer

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
WAIT_MS = 120_000  # the longest wait for a condition in the page (never a timing assertion)

FPS = 5
FACE_SECONDS = 16  # the clip played back and forth, long enough to register and send face frames
EMPTY_SECONDS = 9  # then a grey wall: 3+ frames without a face raise no_face_detected

sync_api = playwright_or_skip()


def write_y4m(
    path: Path,
    video: Path,
    fps: int = FPS,
    face_seconds: int = FACE_SECONDS,
    empty_seconds: int = EMPTY_SECONDS,
) -> int:
    """YUV4MPEG2 (I420) the fake camera loops over: the video back and forth, then empty frames."""
    cap = cv2.VideoCapture(str(video))
    src_fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    clip = []
    ok, frame = cap.read()
    while ok:
        clip.append(frame)
        ok, frame = cap.read()
    cap.release()
    assert clip, f"cannot decode {video}"
    h, w = clip[0].shape[:2]
    h, w = h - h % 2, w - w % 2
    step = max(1, round(src_fps / fps))
    sampled = clip[::step]
    pingpong = sampled + sampled[-2:0:-1]
    face_frames = [pingpong[i % len(pingpong)] for i in range(face_seconds * fps)]
    grey = np.full((h, w, 3), 128, np.uint8)
    frames = face_frames + [grey] * (empty_seconds * fps)
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for bgr in frames:
            f.write(b"FRAME\n")
            f.write(
                cv2.cvtColor(np.ascontiguousarray(bgr[:h, :w]), cv2.COLOR_BGR2YUV_I420).tobytes()
            )
    return len(frames)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = LiveServer(tmp_path_factory.mktemp("console-data")).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def camera_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("camera") / "candidate.y4m"
    n = write_y4m(path, DATA / "single_face.mp4")
    assert path.stat().st_size > n * 640 * 360  # header + I420 planes per frame
    return path


@pytest.fixture(scope="module")
def browser(camera_file, tmp_path_factory):
    with sync_api.sync_playwright() as p:
        b = launch_with_fake_media(
            p, "--disable-quic", f"--use-file-for-fake-video-capture={camera_file}"
        )
        yield b
        b.close()


def own_id_card(path: Path) -> Path:
    """An ID card whose photo is the first frame of the clip the camera plays (face in the middle)."""
    from scripts.calibrate_similarity import make_document

    cap = cv2.VideoCapture(str(DATA / "single_face.mp4"))
    ok, frame = cap.read()
    cap.release()
    assert ok
    card = make_document(frame[:, 160:480], face_height=140, quality=80, seed=1)
    assert cv2.imwrite(str(path), card)
    return path


def test_candidate_flow_and_dashboard_in_chromium(server, browser, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1440, "height": 960})
    requests: list[str] = []
    errors: list[str] = []
    context.on("request", lambda r: requests.append(r.url))

    dash = context.new_page()
    dash.on("pageerror", lambda e: errors.append(f"dashboard: {e}"))
    dash.goto(f"{server.url}/console/dashboard")
    dash.wait_for_function("() => document.body.dataset.conn === 'live'", timeout=WAIT_MS)

    cand = context.new_page()
    cand.on("pageerror", lambda e: errors.append(f"candidate: {e}"))
    cand.goto(f"{server.url}/console/candidate")
    # The fake camera plays: the preview has a size and its overlay is gone.
    cand.wait_for_function(
        "() => document.getElementById('preview').videoWidth > 0", timeout=WAIT_MS
    )
    assert cand.evaluate("document.getElementById('preview').videoWidth") == 640

    # 1. session
    cand.fill("#candidate-name", "Grace Browser")
    cand.fill("#job-title", "QA Engineer")
    cand.click("#start-btn")
    cand.wait_for_selector("#step-identity:not(.hidden)", timeout=WAIT_MS)
    session_id = cand.evaluate("document.body.dataset.session")
    assert session_id and len(session_id) == 36

    # The dashboard hears of it by push (no reload).
    card = dash.locator(f'.session-card[data-session="{session_id}"]')
    card.wait_for(timeout=WAIT_MS)
    assert "Grace Browser" in card.inner_text()

    # 2. identity: someone else's ID fails, with the reason shown; the face alone is then refused
    # (not the face of that ID, docs/cheating.md); the candidate's own ID verifies and registers.
    cand.set_input_files("#doc-file", str(DATA / "obama.jpg"))
    cand.wait_for_selector("#verify-btn:not([disabled])", timeout=WAIT_MS)
    cand.click("#verify-btn")
    cand.wait_for_selector("#identity-result.fail", timeout=WAIT_MS)
    reason = cand.inner_text("#identity-result")
    assert "Not verified" in reason and len(reason.split("\n", 1)[-1].strip()) > 10
    assert cand.is_disabled("#to-interview")
    cand.screenshot(path=str(ARTIFACTS / "console-candidate-identity.png"), full_page=True)

    # the camera loops its clip: retry when a capture fell on the empty frames ("no face",
    # not counted against the attempt limit)
    for _ in range(6):
        cand.click("#register-btn")
        cand.wait_for_selector("#identity-result.ok, #identity-result.fail", timeout=WAIT_MS)
        if "ID document" in cand.inner_text("#identity-result"):
            break
        cand.wait_for_timeout(1500)
    refusal = cand.inner_text("#identity-result")
    assert "Not verified" in refusal and "does not match the ID document" in refusal
    assert cand.is_disabled("#to-interview")

    cand.set_input_files("#doc-file", str(own_id_card(tmp_path / "own-id.jpg")))
    cand.wait_for_selector("#verify-btn:not([disabled])", timeout=WAIT_MS)
    for _ in range(6):
        cand.click("#verify-btn")
        cand.wait_for_selector("#identity-result.ok, #identity-result.fail", timeout=WAIT_MS)
        if cand.locator("#identity-result.ok").count():
            break
        cand.wait_for_timeout(1500)
    assert "Identity verified" in cand.inner_text("#identity-result")
    with server.client() as http:  # the verified document registered the face
        status = http.get(f"/api/sessions/{session_id}/document-status").json()
    assert status["document_verified"] is True and status["face_registered"] is True
    cand.click("#to-interview")

    # 3. frames at 1 fps over the websocket, live feedback, an alert from the empty frames
    cand.click("#begin-btn")
    cand.wait_for_function("() => Number(document.body.dataset.frames || 0) >= 3", timeout=WAIT_MS)
    cand.wait_for_selector("#alerts li.alert", timeout=WAIT_MS)
    cand.wait_for_function(
        "() => [...document.querySelectorAll('#alerts .alert-type')].some(e => e.textContent === 'no face detected')",
        timeout=WAIT_MS,
    )
    # The face comes back when the clip loops: a verified similarity for the screenshot.
    cand.wait_for_function(
        "() => document.getElementById('verify-tile').dataset.level === 'good'", timeout=WAIT_MS
    )
    assert cand.inner_text("#similarity").endswith("%")
    assert len(cand.locator("#metrics .metric").all()) == 4

    # The dashboard: live similarity and the alert on the session's card, then its timeline.
    dash.wait_for_function(
        f"""() => {{ const c = document.querySelector('.session-card[data-session="{session_id}"]');
                     return c && [...c.querySelectorAll('.chip')].some(e => e.textContent === 'no face detected')
                            && c.querySelector('.sim-value').textContent.endsWith('%'); }}""",
        timeout=WAIT_MS,
    )
    assert len(card.locator(".metric").all()) == 4
    card.click()
    # "attached", not "visible": a flat line at 100% has no height.
    dash.wait_for_selector(
        "#detail:not(.hidden) #chart path.series", state="attached", timeout=WAIT_MS
    )
    assert dash.locator("#chart path.series").count() == 5  # similarity and the four metrics
    dash.wait_for_selector("#detail-alerts li.alert", timeout=WAIT_MS)
    assert "no face detected" in dash.inner_text("#detail-alerts").lower()

    cand.screenshot(path=str(ARTIFACTS / "console-candidate.png"), full_page=True)
    dash.screenshot(path=str(ARTIFACTS / "console-dashboard.png"), full_page=True)

    # 4. end: the candidate gets the report link, the dashboard moves the session to "ended".
    cand.click("#end-btn")
    cand.wait_for_selector("#step-done:not(.hidden)", timeout=WAIT_MS)
    href = cand.get_attribute("#report-link", "href")
    assert href.startswith(f"/api/sessions/{session_id}/report") and "format=html" in href
    assert "frames analysed" in cand.inner_text("#done-summary")
    assert cand.evaluate("window.proctorCandidate.stream") is None  # the camera was released
    with server.client() as http:
        report = http.get(href)
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    cand.screenshot(path=str(ARTIFACTS / "console-candidate-done.png"), full_page=True)
    ended = dash.locator(f'#ended tr[data-session="{session_id}"]')
    ended.wait_for(timeout=WAIT_MS)
    assert (
        ended.locator("a", has_text="Report")
        .get_attribute("href")
        .startswith(f"/api/sessions/{session_id}/report")
    )
    assert dash.locator(f'.session-card[data-session="{session_id}"]').count() == 0
    dash.screenshot(path=str(ARTIFACTS / "console-dashboard-ended.png"), full_page=True)

    # Everything the pages loaded came from this server (no CDN, nothing off loopback).
    origins = {
        urlparse(u).netloc for u in requests if urlparse(u).scheme in ("http", "https", "ws", "wss")
    }
    assert origins == {f"127.0.0.1:{server.port}"}
    assert not errors
    context.close()


def test_y4m_writer_makes_i420_frames(tmp_path):
    path = tmp_path / "tiny.y4m"
    n = write_y4m(path, DATA / "single_face.mp4", fps=2, face_seconds=1, empty_seconds=1)
    raw = path.read_bytes()
    header, _, body = raw.partition(b"\n")
    assert header == b"YUV4MPEG2 W640 H360 F2:1 Ip A1:1 C420jpeg"
    frame_bytes = 640 * 360 * 3 // 2
    assert n == 4 and len(body) == n * (len(b"FRAME\n") + frame_bytes)
    last = np.frombuffer(body[-frame_bytes:], np.uint8)
    assert np.all(
        np.abs(last[: 640 * 360].astype(int) - 128) <= 2
    )  # the empty frames are flat grey
