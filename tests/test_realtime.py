"""Push channels against a real server on loopback: Socket.IO (python-socketio client) and
the plain websocket, frames in, results and alerts out, the dashboard room."""

from __future__ import annotations

import json
import queue

import pytest
import socketio
import websocket  # websocket-client

from server.api.errors import MISSING_FIELD
from server.realtime.hub import DASHBOARD, fan_out, session_room
from tests.helpers import blank_b64, image_b64
from tests.live_server import LiveServer

WAIT = 60  # seconds to wait for an event before failing (never a timing assertion)
EVENTS = (
    "joined",
    "frame_result",
    "frame_summary",
    "alert",
    "error",
    "identity",
    "session_started",
    "session_ended",
    "session_deleted",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = LiveServer(tmp_path_factory.mktemp("realtime-data")).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def http(server):
    with server.client() as c:
        yield c


@pytest.fixture(scope="module")
def face():
    return image_b64("single_face.jpg")


class Listener:
    """A python-socketio client that records every event in arrival order."""

    def __init__(self, url: str, **connect):
        self.events: queue.Queue = queue.Queue()
        self.sio = socketio.Client(reconnection=False)
        for name in EVENTS:
            self.sio.on(name, self._recorder(name))
        self.sio.connect(url, socketio_path="socket.io", wait_timeout=WAIT, **connect)

    def _recorder(self, name):
        return lambda data=None: self.events.put((name, data))

    def next(self, *names: str) -> tuple[str, dict]:
        """The next event among ``names`` (others are skipped)."""
        while True:
            name, data = self.events.get(timeout=WAIT)
            if name in names:
                return name, data

    def close(self):
        self.sio.disconnect()


@pytest.fixture
def listener(server):
    clients = []

    def make(**connect) -> Listener:
        c = Listener(server.url, **connect)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def start(http) -> str:
    r = http.post("/api/sessions/start", json={"job_data": {"candidateName": "Push Test"}})
    assert r.status_code == 200
    return r.json()["session_id"]


# --- pure: what a service event becomes ------------------------------------------------------
def test_fan_out_maps_service_events_to_rest_shaped_client_events():
    result = {
        "frame_number": 7,
        "timestamp": 3.2,
        "face_detected": True,
        "face_count": 1,
        "metrics": {"eye_contact": 90},
        "face_verification": None,
        "alerts": [],
        "emotions": {"CALM": 90.0},
        "dominant_emotion": "CALM",
    }
    outs = fan_out("s1", "frame_result", result)
    assert [(o.rooms, o.event) for o in outs] == [
        ((session_room("s1"),), "frame_result"),
        ((DASHBOARD,), "frame_summary"),
    ]
    assert outs[0].data == {"success": True, "session_id": "s1", "result": result}
    assert "emotions" not in outs[1].data and outs[1].data["frame_number"] == 7
    alert = {
        "type": "no_face_detected",
        "severity": "warning",
        "message": "No face detected in frame",
        "timestamp": 1.0,
    }
    (out,) = fan_out("s1", "alert", alert)
    assert out.rooms == (session_room("s1"), DASHBOARD) and out.data == {
        "session_id": "s1",
        "alert": alert,
    }
    (out,) = fan_out("s1", "session_ended", {"reason": "client"})
    assert out.data["report_url"] == "/api/sessions/s1/report?format=html"


# --- the served app ------------------------------------------------------------------------
def test_health_reports_websocket_and_start_points_at_socketio(http):
    assert http.get("/health").json()["features"]["websocket_enabled"] is True
    body = http.post("/api/sessions/start", json={}).json()
    assert body["websocket_url"].endswith("/socket.io/")
    assert (
        "candidate_token" not in body
    )  # access is off by default: the reference contract, unchanged


# --- Socket.IO -----------------------------------------------------------------------------
def test_frames_sent_by_event_come_back_as_results_in_order(server, http, listener, face):
    sid = start(http)
    c = listener()
    ack = c.sio.call("join_session", {"session_id": sid}, timeout=WAIT)
    assert ack["success"] is True and ack["room"] == session_room(sid)
    blank = blank_b64()
    sent = [face, blank, face, blank, face, face]
    for frame in sent:  # back to back: the server must keep them in order
        c.sio.emit("frame", {"session_id": sid, "frame": frame})
    results = [c.next("frame_result")[1] for _ in sent]
    assert [r["result"]["frame_number"] for r in results] == [1, 2, 3, 4, 5, 6]
    # Each result is the one for the frame sent at that position, not just a counter.
    assert [r["result"]["face_detected"] for r in results] == [True, False, True, False, True, True]
    for r in results:
        assert r["success"] is True and r["session_id"] == sid
    # Same shape as REST's POST /frame.
    rest = http.post(f"/api/sessions/{sid}/frame", json={"frame": face}).json()
    assert set(rest) == set(results[0]) and set(rest["result"]) == set(results[0]["result"])
    assert rest["result"]["frame_number"] == 7


def test_alert_arrives_as_event_in_the_session_room_and_the_dashboard(server, http, listener, face):
    dash = listener()
    assert dash.sio.call("join_dashboard", {}, timeout=WAIT)["room"] == DASHBOARD
    sid = start(http)
    name, started = dash.next("session_started")
    assert started["session_id"] == sid and started["job_data"]["candidateName"] == "Push Test"

    cand = listener()
    cand.sio.call("join_session", {"session_id": sid}, timeout=WAIT)
    blank = blank_b64()
    for _ in range(3):  # no face 3 frames running: the reference's no_face_detected trigger
        cand.sio.emit("frame", {"session_id": sid, "frame": blank})
    _, alert = cand.next("alert")
    assert alert["session_id"] == sid
    assert alert["alert"]["type"] == "no_face_detected" and alert["alert"]["severity"] == "warning"

    # The dashboard sees each frame's summary (without the per-frame detail), then the alert.
    frame_numbers = []
    while True:
        name, data = dash.next("frame_summary", "alert")
        if name == "alert":
            break
        assert data["session_id"] == sid and "emotions" not in data
        frame_numbers.append(data["frame_number"])
    assert data == alert
    assert frame_numbers == [1, 2, 3]

    http.post(f"/api/sessions/{sid}/end")
    _, ended = cand.next("session_ended")
    assert ended["session_id"] == sid and ended["report_url"].startswith(
        f"/api/sessions/{sid}/report"
    )
    _, dash_ended = dash.next("session_ended")
    assert dash_ended["session_id"] == sid


def test_multiple_faces_raise_a_critical_alert_event(server, http, listener):
    sid = start(http)
    c = listener()
    c.sio.emit(
        "frame", {"session_id": sid, "frame": image_b64("multi_face.jpg")}
    )  # joins the room by sending
    _, result = c.next("frame_result")
    assert result["result"]["face_count"] > 1
    _, alert = c.next("alert")
    assert alert["alert"]["type"] == "multiple_faces" and alert["alert"]["severity"] == "critical"


def test_frame_errors_are_error_events_with_the_rest_shape(server, http, listener, face):
    sid = start(http)
    c = listener()
    c.sio.call("join_session", {"session_id": sid}, timeout=WAIT)

    ack = c.sio.call("frame", {"session_id": sid}, timeout=WAIT)
    rest = http.post(f"/api/sessions/{sid}/frame", json={})
    assert (
        rest.status_code == 400 and ack["error"] == rest.json()["error"] == MISSING_FIELD["frame"]
    )
    assert ack["success"] is False and ack["status"] == 400
    _, event = c.next("error")
    assert event == ack and event["event"] == "frame"

    ack = c.sio.call("frame", {"session_id": "no-such-session", "frame": face}, timeout=WAIT)
    rest = http.post("/api/sessions/no-such-session/frame", json={"frame": face})
    assert rest.status_code == 404 and ack["status"] == 404 and ack["error"] == rest.json()["error"]

    ack = c.sio.call("frame", {"session_id": sid, "frame": "bm90IGFuIGltYWdl"}, timeout=WAIT)
    rest = http.post(f"/api/sessions/{sid}/frame", json={"frame": "bm90IGFuIGltYWdl"})
    assert rest.status_code == 400 and ack["error"] == rest.json()["error"]

    http.post(f"/api/sessions/{sid}/end")
    ack = c.sio.call("frame", {"session_id": sid, "frame": face}, timeout=WAIT)
    assert ack["error"] == "Session has ended"

    ack = c.sio.call("join_session", {"session_id": "no-such-session"}, timeout=WAIT)
    assert ack == {
        "success": False,
        "error": "Invalid session",
        "status": 404,
        "event": "join_session",
        "session_id": "no-such-session",
    }


# --- plain websocket -----------------------------------------------------------------------
def ws_connect(server, path: str) -> websocket.WebSocket:
    return websocket.create_connection(server.url.replace("http://", "ws://") + path, timeout=WAIT)


def ws_next(ws: websocket.WebSocket, *types: str) -> dict:
    while True:
        msg = json.loads(ws.recv())
        if msg["type"] in types:
            return msg


def test_plain_websocket_frames_results_alerts_and_dashboard(server, http, face):
    dash = ws_connect(server, "/ws/dashboard")
    try:
        assert ws_next(dash, "joined")["room"] == DASHBOARD
        sid = start(http)
        assert ws_next(dash, "session_started")["session_id"] == sid
        ws = ws_connect(server, f"/ws/sessions/{sid}")
        try:
            assert ws_next(ws, "joined")["session_id"] == sid
            blank = blank_b64()
            for frame in (face, blank, blank, blank):
                ws.send(json.dumps({"type": "frame", "frame": frame}))
            numbers = []
            alerts = []
            while len(numbers) < 4 or not alerts:
                msg = ws_next(ws, "frame_result", "alert")
                if msg["type"] == "frame_result":
                    assert msg["success"] is True and msg["session_id"] == sid
                    numbers.append(msg["result"]["frame_number"])
                else:
                    alerts.append(msg["alert"]["type"])
            assert numbers == [1, 2, 3, 4] and "no_face_detected" in alerts

            ws.send(json.dumps({"type": "frame"}))
            err = ws_next(ws, "error")
            assert err["error"] == MISSING_FIELD["frame"] and err["status"] == 400
            ws.send("not json")
            assert ws_next(ws, "error")["error"] == "Invalid JSON message"
            ws.send(json.dumps({"type": "ping"}))
            assert ws_next(ws, "pong")["type"] == "pong"
        finally:
            ws.close()
        assert ws_next(dash, "alert")["alert"]["type"] == "no_face_detected"
    finally:
        dash.close()


def test_plain_websocket_unknown_session_is_refused_with_404(server):
    ws = ws_connect(server, "/ws/sessions/no-such-session")
    try:
        msg = json.loads(ws.recv())
        assert msg == {"type": "error", "success": False, "error": "Invalid session", "status": 404}
    finally:
        ws.close()
