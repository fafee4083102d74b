"""Under load and faults: a busy or unreachable store is a 503 with Retry-After (never a 500),
the wait for a session's lock is bounded, and upload files never outlive a failed request;
a full staging quota is a clear 507."""

from __future__ import annotations

import asyncio
import types

import pytest
import sqlalchemy.exc as sa_exc

from server.service.context import ServiceContext
from server.service.errors import Busy


def locked(*_args, **_kwargs):
    raise sa_exc.OperationalError("UPDATE sessions", {}, Exception("database is locked"))


def pool_timeout(*_args, **_kwargs):
    raise sa_exc.TimeoutError("QueuePool limit of size 5 overflow 5 reached")


@pytest.mark.parametrize("failure", [locked, pool_timeout])
def test_store_errors_answer_503_with_retry_after(client, session_id, monkeypatch, failure):
    store = client.app.state.runtime.store
    for name in ("get_session", "list_sessions", "create_session"):
        monkeypatch.setattr(store, name, failure)
    for method, path, body in [
        ("GET", f"/api/sessions/{session_id}/metrics", None),
        ("GET", "/api/sessions", None),
        ("POST", "/api/sessions/start", {"job_data": {}}),
        ("POST", f"/api/sessions/{session_id}/frame", {"frame": "x"}),
    ]:
        r = client.request(method, path, json=body)
        assert r.status_code == 503, (path, r.status_code, r.text)
        assert r.json()["success"] is False and "retry" in r.json()["error"].lower()
        assert int(r.headers["retry-after"]) >= 1
    monkeypatch.undo()
    assert client.get(f"/api/sessions/{session_id}/metrics").status_code == 200


def test_the_wait_for_a_session_lock_is_bounded():
    ctx = types.SimpleNamespace(
        locks={"s": asyncio.Lock()}, settings=types.SimpleNamespace(lock_wait_s=0.05)
    )

    async def scenario():
        await ctx.locks["s"].acquire()  # an earlier request still holds the session
        with pytest.raises(Busy) as err:
            async with ServiceContext.hold(ctx, "s"):
                raise AssertionError("must not get the lock")
        assert err.value.status == 503 and err.value.retry_after >= 1
        ctx.locks["s"].release()
        async with ServiceContext.hold(ctx, "s"):
            assert ctx.locks["s"].locked()
        assert not ctx.locks["s"].locked()

    asyncio.run(scenario())


def staging_files(client) -> list:
    folder = client.app.state.settings.data_dir / "video-jobs"
    return [p for p in folder.iterdir() if p.is_file()] if folder.exists() else []


VIDEO_HEAD = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 4096


@pytest.mark.parametrize(
    "data",
    [
        {"jobData": "{not json"},
        {"jobData": '{"candidateName": "' + "x" * 5000 + '"}'},
        {"questionsWithAnswer": "[1, 2]"},
        {"llm_provider": "somebody-else"},
        {"frame_interval": "-3"},
    ],
)
def test_a_refused_upload_leaves_no_file(client, data):
    before = set(staging_files(client))
    r = client.post(
        "/api/videos/analyze", files={"video": ("v.mp4", VIDEO_HEAD, "video/mp4")}, data=data
    )
    assert r.status_code == 400, r.text
    assert set(staging_files(client)) == before


def test_an_interrupted_upload_leaves_no_file(client):
    before = set(staging_files(client))
    boundary = "xyzzy"

    def body():
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="video"; filename="v.mp4"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        yield VIDEO_HEAD
        raise ConnectionResetError("the client went away mid-upload")

    with pytest.raises(ConnectionResetError):
        client.post(
            "/api/videos/analyze",
            content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    assert set(staging_files(client)) == before


def test_a_full_staging_quota_is_a_clear_507(client):
    settings = client.app.state.settings
    saved = settings.disk_quota_bytes
    queued = settings.data_dir / "video-jobs" / "queued-job.upload"  # another job's video
    queued.parent.mkdir(parents=True, exist_ok=True)
    queued.write_bytes(b"v" * 1000)
    settings.disk_quota_bytes = 1000
    try:
        r = client.post("/api/videos/analyze", files={"video": ("v.mp4", VIDEO_HEAD, "video/mp4")})
    finally:
        settings.disk_quota_bytes = saved
        queued.unlink()
    assert r.status_code == 507, r.text
    assert r.json()["success"] is False and "storage" in r.json()["error"].lower()
