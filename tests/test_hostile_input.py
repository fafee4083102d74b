"""Hostile input through the real app: every refusal is a 400 in the contract's shape, and
nothing stored can break a later read (the session list, the report as JSON, HTML and PDF,
the timeline)."""

from __future__ import annotations

import asyncio
import json

import pytest

from server.security.middleware import BodyGuard

HEADERS = {"Content-Type": "application/json"}


def assert_400(r, fragment: str = ""):
    assert r.status_code == 400, (r.status_code, r.text)
    body = r.json()
    assert body["success"] is False and isinstance(body["error"], str)
    assert fragment.lower() in body["error"].lower(), body["error"]


def nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth):
        value = {"k": value}
    return value


@pytest.mark.parametrize(
    "raw, fragment",
    [
        ('{"job_data": {"candidateName": "\\ud800"}}', "unicode"),
        ('{"job_data": {"\\udc00": "x"}}', "unicode"),
        ('{"job_data": {"n": NaN}}', "json"),
        ('{"job_data": {"n": Infinity}}', "json"),
        ('{"job_data": {"n": 1e400}}', "out of range"),
        ('{"job_data": {"n": -1e400}}', "out of range"),
        ("[" * 5000, "json"),
        (json.dumps({"job_data": nested(300)}), "nested"),
        (json.dumps({"job_data": nested(6)}), "nested"),
        (json.dumps({"job_data": {f"k{i}": i for i in range(200)}}), "keys"),
        (json.dumps({"job_data": {"candidateName": "x" * 5000}}), "characters"),
        (json.dumps({"job_data": "a string"}), "object"),
    ],
)
def test_start_refuses_hostile_job_data(client, raw, fragment):
    before = client.get("/api/sessions").json()["total_sessions"]
    r = client.post("/api/sessions/start", content=raw.encode(), headers=HEADERS)
    assert_400(r, fragment)
    listing = client.get("/api/sessions")
    assert listing.status_code == 200 and listing.json()["total_sessions"] == before


@pytest.mark.parametrize("value", ['"inf"', '"-inf"', '"nan"', '"1e400"', "1e400", '"Infinity"'])
def test_video_frame_interval_refuses_non_finite_numbers(client, value):
    raw = '{"video_url": "missing.mp4", "frame_interval": ' + value + "}"
    r = client.post("/comprehensive-interview-analysis", content=raw, headers=HEADERS)
    assert_400(r)


def test_upload_refuses_non_finite_interval_and_leaves_no_file(client):
    r = client.post(
        "/api/videos/analyze",
        files={"video": ("v.mp4", b"\x00\x00\x00\x18ftypmp42" + b"0" * 1000, "video/mp4")},
        data={"frame_interval": "1e400"},
    )
    assert_400(r)
    staging = client.app.state.settings.data_dir / "video-jobs"
    assert not staging.exists() or not any(p.suffix == ".upload" for p in staging.iterdir())


@pytest.mark.parametrize(
    "path, raw",
    [
        ("frame", '{"frame": "\\ud800"}'),
        ("frame", '{"frame": 1e400}'),
        ("frame", '{"frame": NaN}'),
        ("register-face", '{"face": "\\udfff"}'),
        ("verify-document", '{"document": "x", "live_face": "y", "document_type": "\\ud800"}'),
        (
            "verify-document",
            '{"document": "x", "live_face": "y", "document_type": "' + "p" * 500 + '"}',
        ),
    ],
)
def test_session_posts_refuse_hostile_values(client, session_id, path, raw):
    r = client.post(f"/api/sessions/{session_id}/{path}", content=raw, headers=HEADERS)
    assert_400(r)


def test_a_stored_pathological_row_cannot_break_reads(client):
    """A row written before the limits (or by another tool) still lists and reports."""
    sid = client.post("/api/sessions/start", json={"job_data": {"jobTitle": "QA"}}).json()[
        "session_id"
    ]
    store = client.app.state.runtime.store
    from server.store import schema

    with store.engine.begin() as c:
        c.execute(
            schema.sessions.update()
            .where(schema.sessions.c.id == sid)
            .values(job_data={"candidateName": "bad\ud800name", "deep": nested(40)})
        )
    listing = client.get("/api/sessions")
    assert listing.status_code == 200, listing.text
    assert client.post(f"/api/sessions/{sid}/end").status_code == 200
    for fmt in ("json", "html", "pdf"):
        r = client.get(f"/api/sessions/{sid}/report", params={"format": fmt})
        assert r.status_code == 200, (fmt, r.text[:300])
    timeline = client.get(f"/api/sessions/{sid}/timeline")
    assert timeline.status_code in (200, 404)
    assert client.get("/api/sessions").status_code == 200


def test_openapi_documents_400_not_422_and_links_session_ids(client):
    doc = client.get("/openapi.json").json()
    assert '"422"' not in json.dumps(doc)
    start = doc["paths"]["/api/sessions/start"]["post"]["responses"]
    links = start["200"]["links"]
    assert len(links) >= 8
    assert all(
        v["parameters"] == {"session_id": "$response.body#/session_id"} for v in links.values()
    )
    frame = doc["paths"]["/api/sessions/{session_id}/frame"]["post"]["responses"]
    assert frame["400"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorResponse")


# --- slow bodies (the middleware alone: no server needed) ---------------------------------
def test_a_body_that_stops_arriving_gets_408():
    async def app(scope, receive, send):  # never reached
        raise AssertionError("the route must not run")

    sent: list[dict] = []

    async def receive():
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/sessions/start", "headers": []}
    asyncio.run(BodyGuard(app, idle_timeout_s=0.05)(scope, receive, send))
    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"])["success"] is False


def test_a_json_body_is_replayed_to_the_route():
    seen = []

    async def app(scope, receive, send):
        seen.append(await receive())

    chunks = [
        {"type": "http.request", "body": b'{"a"', "more_body": True},
        {"type": "http.request", "body": b": 1}", "more_body": False},
    ]

    async def receive():
        return chunks.pop(0)

    async def send(message):
        raise AssertionError(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": []}
    asyncio.run(BodyGuard(app)(scope, receive, send))
    assert seen == [{"type": "http.request", "body": b'{"a": 1}', "more_body": False}]


# --- video URLs that parse differently must never reach what they point at -----------------
@pytest.fixture
def canary():
    from tests.test_security_units import Canary

    c = Canary()
    yield c
    c.close()


@pytest.mark.parametrize(
    "template",
    [
        "http://videos.example@127.0.0.1:{p}/a.mp4",
        "http://127.0.0.1:{p}\\@videos.example/a.mp4",
        "http://videos.example\\@127.0.0.1:{p}/a.mp4",
        "http://127.0.0.1:{p}#@videos.example/a.mp4",
        "http://[::ffff:127.0.0.1]:{p}/a.mp4",
        "http://2130706433:{p}/a.mp4",
        "http://videos.example:{p}/a.mp4",
    ],
)
def test_video_url_parser_differentials_never_connect(client, canary, template):
    settings = client.app.state.settings
    saved = settings.allowed_video_hosts
    settings.allowed_video_hosts = "videos.example"
    try:
        r = client.post(
            "/comprehensive-interview-analysis",
            json={"video_url": template.format(p=canary.port)},
        )
    finally:
        settings.allowed_video_hosts = saved
    assert_400(r)
    assert str(canary.port) not in r.json()["error"]
    assert canary.hits == 0
