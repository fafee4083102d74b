"""The store behind one interface, on SQLite and on a real PostgreSQL started for the test."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pytest

from server.proctoring.alerts import Alert
from server.store import FrameRecord, SessionRecord, StaleSession, VerificationRecord, open_store

# postgres_url (a throw-away PostgreSQL cluster): tests/conftest.py


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        st = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    else:
        url = request.getfixturevalue("postgres_url")
        st = open_store(url)
        from server.store import schema

        with st.engine.begin() as c:  # a clean slate per test
            for table in reversed(schema.metadata.sorted_tables):
                c.execute(table.delete())
    yield st
    st.close()


def new_session(store, sid: str = "s1") -> SessionRecord:
    rec = SessionRecord(
        id=sid,
        status="active",
        start_time=dt.datetime(2026, 1, 21, 10),
        last_activity=time.time(),
        job_data={"jobTitle": "Engineer"},
    )
    store.create_session(rec)
    return store.get_session(sid)


def test_session_round_trip_and_listing(store):
    s = new_session(store)
    assert s.is_active and s.job_data == {"jobTitle": "Engineer"} and s.version == 0
    new_session(store, "s2")
    assert {r.id for r in store.list_sessions()} == {"s1", "s2"}
    assert store.count_active() == 2
    assert store.delete_session("s2") is True and store.delete_session("s2") is False
    assert store.get_session("s2") is None


def test_registration_once_and_embedding_exact(store):
    new_session(store)
    emb = np.random.default_rng(0).normal(size=128).astype(np.float32)
    assert (
        store.save_registration("s1", emb, "sface:sface", {"face_confidence": 95.0}, time.time())
        is True
    )
    assert store.save_registration("s1", emb * 2, "sface:sface", {}, time.time()) is False
    s = store.get_session("s1")
    assert np.array_equal(s.face_embedding, emb) and s.registration == {"face_confidence": 95.0}


def test_commit_frame_is_atomic_and_versioned(store):
    s = new_session(store)
    alert = Alert("no_face_detected", "warning", "No face detected in frame", 3.0)
    store.commit_frame(
        "s1",
        s.version,
        FrameRecord(1, 1.0, True, {"frame_number": 1}, {"x": 1}),
        VerificationRecord(1, 1.0, True, 95.0, "Face verified", 80.0),
        [alert],
        {"a": 1},
        time.time(),
    )
    s2 = store.get_session("s1")
    assert (s2.frames_received, s2.frames_analyzed, s2.alert_count, s2.state) == (1, 1, 1, {"a": 1})
    with pytest.raises(StaleSession):  # a writer holding the old version loses, and writes nothing
        store.commit_frame(
            "s1", s.version, FrameRecord(2, 2.0, True, {}, {}), None, [alert], {"b": 2}, time.time()
        )
    assert (
        len(store.frames("s1")) == 1
        and len(store.alerts("s1")) == 1
        and store.get_session("s1").state == {"a": 1}
    )
    store.commit_frame(
        "s1", s2.version, FrameRecord(2, 2.0, False, None, None), None, [], {"a": 2}, time.time()
    )
    s3 = store.get_session("s1")
    assert (s3.frames_received, s3.frames_analyzed) == (2, 1)
    assert [a.as_contract() for a in store.alerts("s1")] == [alert.as_contract()]
    assert [v.similarity for v in store.verifications("s1")] == [95.0]


def test_end_first_wins_and_frames_refused_after(store):
    new_session(store)
    end = dt.datetime(2026, 1, 21, 10, 5)
    assert store.end_session("s1", end, "client", {"r": 1}) is True
    assert store.end_session("s1", end, "idle", {"r": 2}) is False
    s2 = store.get_session("s1")
    assert s2.report == {"r": 1} and s2.end_reason == "client" and not s2.is_active
    with pytest.raises(StaleSession):
        store.commit_frame(
            "s1", s2.version, FrameRecord(1, 1.0, True, {}, {}), None, [], {}, time.time()
        )


def test_idle_sessions(store):
    new_session(store)
    store.touch("s1", time.time() - 3600)
    new_session(store, "s2")
    assert store.idle_sessions(time.time() - 60) == ["s1"]


def test_api_flow_on_postgresql(postgres_url, tmp_path):
    """The same server code, only the URL changed: sessions live in PostgreSQL."""
    from fastapi.testclient import TestClient

    from server.config import Settings
    from server.main import create_app
    from tests.helpers import data_url

    settings = Settings(
        data_dir=tmp_path, database_url=postgres_url, llm_enabled=False, session_idle_timeout_s=0
    )
    with TestClient(create_app(settings)) as c:
        sid = c.post("/api/sessions/start", json={}).json()["session_id"]
        assert (
            c.post(
                f"/api/sessions/{sid}/register-face", json={"face": data_url("obama.jpg")}
            ).status_code
            == 200
        )
        res = c.post(f"/api/sessions/{sid}/frame", json={"frame": data_url("obama2.jpg")}).json()[
            "result"
        ]
        assert res["face_verification"]["verified"] is True
        report = c.post(f"/api/sessions/{sid}/end").json()["report"]
        assert report["session_summary"]["frames_analyzed"] == 1
    other = open_store(postgres_url)  # another replica reading the same database
    try:
        assert other.get_session(sid).report["session_summary"]["frames_analyzed"] == 1
    finally:
        other.close()
