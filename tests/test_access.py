"""API keys: off by default (the reference contract, open); on, a proctor key sees everything
and a candidate token only its own session, over REST, pages, websockets and Socket.IO.
Keys and tokens travel in headers (or Socket.IO's CONNECT packet); a URL carries only a
short-lived ticket (POST /api/tickets)."""

from __future__ import annotations

import json

import httpx
import pytest
import socketio
import websocket  # websocket-client

from server.access import MSG_UNAUTHORIZED, AccessPolicy, required_session
from tests.helpers import image_b64
from tests.live_server import LiveServer

PROCTOR_KEY = "pk-test-0123456789"
OTHER_KEY = "pk-second-key"
UNAUTHORIZED = {"success": False, "error": MSG_UNAUTHORIZED}


# --- the policy alone -----------------------------------------------------------------------
def test_policy_is_open_without_keys():
    policy = AccessPolicy([""], None)
    assert not policy.enabled
    assert policy.identify(None, "any").role == "open"


def test_candidate_token_opens_its_own_session_only():
    policy = AccessPolicy([PROCTOR_KEY, OTHER_KEY])
    token = policy.candidate_token("session-a")
    assert policy.identify(token, "session-a").role == "candidate"
    assert policy.identify(token, "session-b") is None
    assert policy.identify(token, None) is None
    assert policy.identify(OTHER_KEY, None).role == "proctor"
    assert policy.identify("wrong", "session-a") is None
    assert policy.identify(None, "session-a") is None
    # Tokens follow the secret: new keys (or an explicit secret) revoke them.
    assert AccessPolicy(["rotated"]).identify(token, "session-a") is None
    with_secret = AccessPolicy([PROCTOR_KEY], "s3cret").candidate_token("a")
    assert with_secret != AccessPolicy([PROCTOR_KEY]).candidate_token("a")


@pytest.mark.parametrize(
    "method,path,expected",
    [
        ("GET", "/health", (True, None)),
        ("GET", "/console/static/console.css", (True, None)),
        ("POST", "/api/sessions/start", (False, None)),
        ("GET", "/api/sessions", (False, None)),
        ("GET", "/api/sessions/abc/metrics", (False, "abc")),
        ("GET", "/api/sessions/abc/report", (False, "abc")),
        ("POST", "/api/sessions/abc/frame", (False, "abc")),
        ("POST", "/api/sessions/abc/end", (False, "abc")),
        ("DELETE", "/api/sessions/abc", (False, None)),  # deleting stays with proctors
        ("GET", "/ws/sessions/abc", (False, "abc")),
        ("GET", "/ws/dashboard", (False, None)),
        ("GET", "/console/dashboard", (True, None)),  # a shell: its data needs the key
        ("GET", "/", (True, None)),
    ],
)
def test_which_paths_a_candidate_token_may_use(method, path, expected):
    assert required_session(method, path) == expected


# --- off (default): the reference contract works without any key ---------------------------
def test_default_mode_is_open(client):
    r = client.post("/api/sessions/start", json={})
    assert r.status_code == 200 and "candidate_token" not in r.json()
    assert client.get("/api/sessions").status_code == 200
    assert client.get("/console/dashboard").status_code == 200
    with client.websocket_connect("/ws/dashboard") as ws:
        assert ws.receive_json()["type"] == "joined"


# --- on ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    srv = LiveServer(
        tmp_path_factory.mktemp("access-data"), api_keys_proctor=f"{PROCTOR_KEY}, {OTHER_KEY}"
    ).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def http(keyed):
    with keyed.client() as c:
        yield c


@pytest.fixture(scope="module")
def two_sessions(http):
    """(session_id, candidate_token) twice, started with the proctor key."""
    out = []
    for _ in range(2):
        r = http.post("/api/sessions/start", json={}, headers={"X-API-Key": PROCTOR_KEY})
        assert r.status_code == 200
        out.append((r.json()["session_id"], r.json()["candidate_token"]))
    return out


def test_without_a_key_everything_but_health_is_401_in_the_contract_shape(http, two_sessions):
    (a, _), _ = two_sessions
    assert http.get("/health").status_code == 200
    for method, path in [
        ("POST", "/api/sessions/start"),
        ("GET", "/api/sessions"),
        ("GET", f"/api/sessions/{a}/metrics"),
        ("POST", f"/api/sessions/{a}/frame"),
        ("GET", "/docs/../api/sessions"),
    ]:
        r = http.request(method, path, json={})
        assert r.status_code == 401, path
        assert r.json() == UNAUTHORIZED
        assert r.headers["www-authenticate"].startswith("Bearer")
    assert http.get("/api/sessions", headers={"X-API-Key": "wrong"}).status_code == 401


def test_proctor_key_sees_everything(http, two_sessions):
    (a, _), (b, _) = two_sessions
    for headers in ({"X-API-Key": PROCTOR_KEY}, {"Authorization": f"Bearer {OTHER_KEY}"}):
        listed = {
            s["session_id"] for s in http.get("/api/sessions", headers=headers).json()["sessions"]
        }
        assert {a, b} <= listed
        assert http.get(f"/api/sessions/{b}/alerts", headers=headers).status_code == 200
    # A key in a URL is not taken (URLs end up in logs and histories).
    assert http.get(f"/api/sessions/{a}/metrics", params={"key": PROCTOR_KEY}).status_code == 401


def test_candidate_token_sees_only_its_own_session(http, two_sessions):
    (a, token_a), (b, _) = two_sessions
    own = [
        ("GET", f"/api/sessions/{a}/metrics"),
        ("GET", f"/api/sessions/{a}/alerts"),
        ("GET", f"/api/sessions/{a}/document-status"),
        ("GET", f"/api/sessions/{a}/timeline"),
    ]
    for method, path in own:
        assert http.request(method, path, headers={"X-API-Key": token_a}).status_code == 200, path
    assert (
        http.get(
            f"/api/sessions/{a}/metrics", headers={"Authorization": f"Bearer {token_a}"}
        ).status_code
        == 200
    )
    assert http.get(f"/api/sessions/{a}/metrics", params={"token": token_a}).status_code == 401
    r = http.post(
        f"/api/sessions/{a}/frame",
        json={"frame": image_b64("single_face.jpg")},
        headers={"X-API-Key": token_a},
    )
    assert r.status_code == 200 and r.json()["result"]["face_count"] == 1

    denied = [
        ("GET", f"/api/sessions/{b}/metrics"),
        ("POST", f"/api/sessions/{b}/frame"),
        ("GET", "/api/sessions"),
        ("POST", "/api/sessions/start"),
        ("DELETE", f"/api/sessions/{a}"),
    ]
    for method, path in denied:
        r = http.request(method, path, headers={"X-API-Key": token_a})
        assert r.status_code == 401 and r.json() == UNAUTHORIZED, path


def ticket_for(http, credential: str) -> str:
    r = http.post("/api/tickets", headers={"X-API-Key": credential})
    assert r.status_code == 200, r.text
    return r.json()["ticket"]


def test_pages_are_shells_and_links_take_a_ticket(http, two_sessions):
    (a, token_a), (b, _) = two_sessions
    assert http.get("/console/static/console.css").status_code == 200  # no secrets in static files
    page = http.get("/console/dashboard")
    assert page.status_code == 200 and a not in page.text  # the page holds no data
    assert http.get("/").status_code == 200
    assert http.post("/api/tickets").status_code == 401
    assert http.post("/api/tickets", headers={"X-API-Key": "wrong"}).status_code == 401
    # A ticket opens a GET link (the report) with the rights of who asked for it.
    proctor_ticket = ticket_for(http, PROCTOR_KEY)
    assert proctor_ticket.startswith("tk_") and PROCTOR_KEY not in proctor_ticket
    assert http.get("/api/sessions", params={"ticket": proctor_ticket}).status_code == 200
    cand_ticket = ticket_for(http, token_a)
    assert http.get(f"/api/sessions/{a}/metrics", params={"ticket": cand_ticket}).status_code == 200
    assert http.get(f"/api/sessions/{b}/metrics", params={"ticket": cand_ticket}).status_code == 401
    assert http.get("/api/sessions", params={"ticket": cand_ticket}).status_code == 401
    # A ticket cannot be traded for a fresh one (it would never expire).
    assert http.post("/api/tickets", headers={"X-API-Key": proctor_ticket}).status_code == 401
    # Not for writes: those have headers to use.
    r = http.post(f"/api/sessions/{a}/end", params={"ticket": cand_ticket})
    assert r.status_code == 401
    # A token is not a ticket, in a URL or anywhere a ticket is asked for.
    assert http.get(f"/api/sessions/{a}/metrics", params={"ticket": token_a}).status_code == 401


def test_keys_may_be_configured_as_hashes(tmp_path_factory):
    from server.config import Settings
    from server.security.secrets import hash_key

    settings = Settings(
        data_dir=tmp_path_factory.mktemp("hashed"), api_keys_proctor=hash_key(PROCTOR_KEY)
    )
    policy = AccessPolicy.from_settings(settings)
    assert policy.identify(PROCTOR_KEY).role == "proctor"
    assert policy.identify(hash_key(PROCTOR_KEY)) is None  # the hash opens nothing
    assert (settings.data_dir / "secrets" / "token.key").exists()  # a random signing secret
    token = policy.candidate_token("s1")
    assert AccessPolicy.from_settings(settings).identify(token, "s1").role == "candidate"
    expired = AccessPolicy.from_settings(settings.model_copy(update={"candidate_token_ttl_s": -1}))
    assert expired.identify(expired.candidate_token("s1"), "s1") is None


def ws_first(url: str) -> tuple[dict, websocket.WebSocket]:
    ws = websocket.create_connection(url, timeout=60)
    return json.loads(ws.recv()), ws


def test_websockets_need_the_key_too(keyed, two_sessions):
    (a, token_a), (b, _) = two_sessions
    base = keyed.url.replace("http://", "ws://")
    msg, ws = ws_first(f"{base}/ws/sessions/{a}")
    assert msg == {"type": "error", **UNAUTHORIZED, "status": 401}
    opcode, data = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(data[:2], "big") == 4401
    ws.close()
    with httpx.Client(base_url=keyed.url, timeout=60) as http:
        cand, proctor = ticket_for(http, token_a), ticket_for(http, PROCTOR_KEY)
    msg, ws = ws_first(f"{base}/ws/sessions/{a}?ticket={cand}")
    assert msg["type"] == "joined" and msg["session_id"] == a
    ws.close()
    msg, ws = ws_first(f"{base}/ws/sessions/{a}?token={token_a}")  # never a token in a URL
    assert msg["status"] == 401
    ws.close()
    msg, ws = ws_first(f"{base}/ws/sessions/{b}?ticket={cand}")
    assert msg["status"] == 401
    ws.close()
    msg, ws = ws_first(f"{base}/ws/dashboard?ticket={cand}")
    assert msg["status"] == 401
    ws.close()
    msg, ws = ws_first(f"{base}/ws/dashboard?key={PROCTOR_KEY}")  # never a key in a URL
    assert msg["status"] == 401
    ws.close()
    msg, ws = ws_first(f"{base}/ws/dashboard?ticket={proctor}")
    assert msg["type"] == "joined"
    ws.close()


def test_socketio_needs_a_key_and_a_token_reaches_only_its_session(keyed, two_sessions):
    (a, token_a), (b, _) = two_sessions
    anonymous = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        anonymous.connect(keyed.url, wait_timeout=30)
    with pytest.raises(socketio.exceptions.ConnectionError):
        socketio.Client(reconnection=False).connect(
            keyed.url, auth={"key": "wrong"}, wait_timeout=30
        )

    cand = socketio.Client(reconnection=False)
    cand.connect(keyed.url, auth={"token": token_a}, wait_timeout=30)
    try:
        assert cand.call("join_session", {"session_id": a}, timeout=60)["success"] is True
        denied = cand.call("join_session", {"session_id": b}, timeout=60)
        assert denied["status"] == 401 and denied["error"] == MSG_UNAUTHORIZED
        assert cand.call("join_dashboard", {}, timeout=60)["status"] == 401
        assert (
            cand.call(
                "frame", {"session_id": b, "frame": image_b64("single_face.jpg")}, timeout=60
            )["status"]
            == 401
        )
        ok = cand.call(
            "frame", {"session_id": a, "frame": image_b64("single_face.jpg")}, timeout=60
        )
        assert ok["success"] is True and ok["session_id"] == a
    finally:
        cand.disconnect()

    proctor = socketio.Client(reconnection=False)
    proctor.connect(keyed.url, auth={"key": PROCTOR_KEY}, wait_timeout=30)
    try:
        assert proctor.call("join_dashboard", {}, timeout=60)["success"] is True
        assert proctor.call("join_session", {"session_id": b}, timeout=60)["success"] is True
    finally:
        proctor.disconnect()


def test_only_a_proctor_key_reregisters_a_face(http, two_sessions):
    """issue 13: replacing the registered face is a proctor's act, never a candidate's."""
    (a, token_a), _ = two_sessions
    body = {"face": image_b64("obama.jpg"), "reason": "new camera"}
    r = http.post(f"/api/sessions/{a}/reregister-face", json=body, headers={"X-API-Key": token_a})
    assert r.status_code == 401 and r.json() == UNAUTHORIZED
    r = http.post(
        f"/api/sessions/{a}/reregister-face", json=body, headers={"X-API-Key": PROCTOR_KEY}
    )
    assert r.status_code == 200 and r.json()["success"] is True
