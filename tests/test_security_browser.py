"""The reference's own browser client, cross-origin, in Debian's chromium with a fake webcam.

The "JavaScript Integration / Complete Example" block of ../shared/reference/seed-api.md is
extracted verbatim and put in a page served by another loopback port (another origin, as
on an integrator's site).  Against a server whose PROCTOR_CORS_ORIGINS names that origin,
start, register, frames, metrics, alerts, verification status and end all succeed; from a
page on an origin not on the list the browser blocks the first call (the CORS answer is what
makes the difference), and the plain websocket refuses that origin while it opens for the
listed one.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
from pathlib import Path

import cv2
import pytest

from tests.helpers import DATA, SHARED, free_port, launch_with_fake_media, playwright_or_skip
from tests.live_server import LiveServer

REFERENCE = SHARED / "reference" / "seed-api.md"
WAIT_MS = 120_000  # the longest wait for a page condition (never a timing assertion)

sync_api = playwright_or_skip()
if not REFERENCE.exists():
    pytest.skip(f"{REFERENCE} is absent (../shared not laid out)", allow_module_level=True)


def reference_client() -> str:
    """The Complete Example's code block, byte for byte."""
    text = REFERENCE.read_text()
    section = text.split("### Complete Example", 1)[1]
    match = re.search(r"```javascript\n(.*?)\n```", section, re.S)
    assert match, "the reference's Complete Example block is missing"
    code = match.group(1)
    assert "class InterviewProctoring" in code and "async endSession()" in code
    return code


HARNESS = """
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
window.runReferenceClient = async (apiBase) => {
  const out = {};
  const video = document.getElementById('videoElement');
  video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true });
  await video.play();
  while (video.readyState < video.HAVE_ENOUGH_DATA) await sleep(100);
  const p = new InterviewProctoring(apiBase);
  try {
    out.start = await p.startSession({ jobTitle: 'Software Engineer', candidateName: 'John Doe' });
  } catch (e) {
    out.blocked = String(e);
    return out;
  }
  out.sessionId = p.sessionId;
  out.register = await p.registerFace(video);
  const frames = [];
  p.startCapturing(video, 1000, (r) => frames.push(r));
  while (frames.length < 3) await sleep(200);
  p.stopCapturing();
  out.frames = frames;
  out.metrics = await p.getMetrics();
  out.alerts = await p.getAlerts();
  out.verification = await p.getVerificationStatus();
  out.end = await p.endSession();
  return out;
};
window.openSocket = (url) => new Promise((resolve) => {
  const ws = new WebSocket(url);
  ws.onopen = () => { resolve('open'); ws.close(); };
  ws.onerror = () => resolve('refused');
});
"""


def page_html() -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>integrator</title></head>"
        "<body><video id='videoElement' autoplay muted playsinline></video>"
        f"<script>\n{reference_client()}\n</script><script>{HARNESS}</script></body></html>"
    )


def write_y4m(path: Path, video: Path, fps: int = 5, seconds: int = 30) -> None:
    """A YUV4MPEG2 clip for chromium's fake camera: the face video back and forth."""
    cap = cv2.VideoCapture(str(video))
    frames = []
    ok, frame = cap.read()
    while ok:
        frames.append(frame)
        ok, frame = cap.read()
    cap.release()
    assert frames
    step = max(1, round((cap.get(cv2.CAP_PROP_FPS) or 30) / fps))
    clip = frames[::step]
    clip = clip + clip[-2:0:-1]
    h, w = (d - d % 2 for d in clip[0].shape[:2])
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(fps * seconds):
            f.write(
                b"FRAME\n"
                + cv2.cvtColor(clip[i % len(clip)][:h, :w], cv2.COLOR_BGR2YUV_I420).tobytes()
            )


class PageServer:
    """The integrator's site: one static page on its own loopback port."""

    def __init__(self, root: Path):
        handler = functools.partial(_Quiet, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    root = tmp_path_factory.mktemp("integrator")
    (root / "index.html").write_text(page_html())
    listed, unlisted = PageServer(root), PageServer(root)
    yield listed, unlisted
    listed.close()
    unlisted.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, sites):
    listed, _ = sites
    srv = LiveServer(tmp_path_factory.mktemp("cors-data"), cors_origins=listed.origin).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    camera = tmp_path_factory.mktemp("camera") / "face.y4m"
    write_y4m(camera, DATA / "single_face.mp4")
    with sync_api.sync_playwright() as p:
        b = launch_with_fake_media(p, f"--use-file-for-fake-video-capture={camera}")
        yield b
        b.close()


def test_reference_client_runs_cross_origin(server, sites, browser):
    listed, _ = sites
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{listed.origin}/index.html")
    page.set_default_timeout(WAIT_MS)
    out = page.evaluate("(base) => runReferenceClient(base)", server.url)
    assert "blocked" not in out, out.get("blocked")
    assert out["start"]["success"] is True and out["sessionId"] == out["start"]["session_id"]
    assert out["register"]["success"] is True, out["register"]
    assert out["register"]["face_confidence"] > 0
    assert len(out["frames"]) >= 3 and all(f["success"] for f in out["frames"])
    assert any(f["result"]["face_detected"] for f in out["frames"])
    assert out["metrics"]["success"] and out["metrics"]["metrics"]["frames_analyzed"] >= 3
    assert out["alerts"]["success"] and isinstance(out["alerts"]["alerts"], list)
    assert out["verification"]["success"] and out["verification"]["face_registered"] is True
    assert out["end"]["success"] and out["end"]["report"]["session_summary"]["frames_analyzed"] >= 3
    # The plain websocket takes the listed origin.
    ws = server.url.replace("http://", "ws://") + f"/ws/sessions/{out['sessionId']}"
    assert page.evaluate("(u) => openSocket(u)", ws) == "open"
    assert not errors
    page.close()


def test_an_unlisted_origin_is_blocked_by_the_browser(server, sites, browser):
    _, unlisted = sites
    page = browser.new_page()
    page.goto(f"{unlisted.origin}/index.html")
    page.set_default_timeout(WAIT_MS)
    with server.client() as http:
        before = http.get("/api/sessions").json()["total_sessions"]
        out = page.evaluate("(base) => runReferenceClient(base)", server.url)
        assert "Failed to fetch" in out.get("blocked", ""), out
        # The preflight was refused, so the POST never ran: no session was made.
        assert http.get("/api/sessions").json()["total_sessions"] == before
    ws = server.url.replace("http://", "ws://") + "/ws/dashboard"
    assert page.evaluate("(u) => openSocket(u)", ws) == "refused"
    page.close()


# --- the console on a keyed server: the key stays out of every URL ---------------------------
KEY = "pk_browser-test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    from server.security.secrets import hash_key

    srv = LiveServer(tmp_path_factory.mktemp("keyed-data"), api_keys_proctor=hash_key(KEY)).start()
    yield srv
    srv.stop()


def test_keyed_dashboard_keeps_the_key_out_of_urls(keyed, browser):
    with keyed.client() as http:
        sid = http.post("/api/sessions/start", json={}, headers={"X-API-Key": KEY}).json()[
            "session_id"
        ]
    context = browser.new_context()
    urls: list[str] = []
    context.on("request", lambda r: urls.append(r.url))
    sockets: list[str] = []
    context.on("page", lambda pg: pg.on("websocket", lambda ws: sockets.append(ws.url)))
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    # No key yet: the page asks for one (it holds no data itself).
    page.goto(f"{keyed.url}/console/dashboard")
    page.wait_for_selector("#key-input")
    page.fill("#key-input", KEY)
    page.click("#banner button")
    page.wait_for_function("() => document.body.dataset.conn === 'live'")  # websocket by ticket
    page.locator(f'.session-card[data-session="{sid}"]').wait_for()
    # A link carrying the key after "#": read, kept in the tab, and dropped from the address bar.
    second = context.new_page()
    second.goto(f"{keyed.url}/console/dashboard#key={KEY}")
    second.wait_for_function("() => document.body.dataset.conn === 'live'")
    assert KEY not in second.url
    assert urls and not any(KEY in u for u in urls + sockets)  # never sent in a URL
    assert any("ticket=tk_" in u for u in sockets)  # the websockets went by ticket
    context.close()


def test_keyed_candidate_link_carries_its_token_after_the_hash(keyed, browser):
    with keyed.client() as http:
        started = http.post("/api/sessions/start", json={}, headers={"X-API-Key": KEY}).json()
    sid, token = started["session_id"], started["candidate_token"]
    context = browser.new_context()
    urls: list[str] = []
    context.on("request", lambda r: urls.append(r.url))
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{keyed.url}/console/candidate?session={sid}#token={token}")
    assert token not in page.url  # read into the tab, dropped from the address bar
    own = page.evaluate("(sid) => Console.api(`/api/sessions/${sid}/metrics`)", sid)
    assert own["success"] is True and own["session_id"] == sid
    denied = page.evaluate("() => Console.api('/api/sessions').then(() => 0, (e) => e.status)")
    assert denied == 401  # the token opens its own session only
    assert not any(token in u for u in urls)
    context.close()
