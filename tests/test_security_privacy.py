"""Privacy at the store: embeddings encrypted at rest (and rotated), deletes that leave nothing,
retention, the staging sweep and the disk quota.  No models: the store and the service's
retention functions on a throw-away SQLite file."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import subprocess
import sys
import uuid

import numpy as np
import pytest

from server.config import Settings
from server.security import setup
from server.security.secrets import CIPHER_MAGIC
from server.service import retention
from server.store import SessionRecord, open_store


@pytest.fixture
def settings(tmp_path):
    return Settings(data_dir=tmp_path / "data", llm_enabled=False)


@pytest.fixture
def store(settings):
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    st = open_store(settings.sqlalchemy_url)
    st.embedding_cipher = setup.embedding_cipher(settings)
    yield st
    st.close()


def new_session(store, name="Ada Lovelace", ended_days_ago: float | None = None) -> str:
    sid = str(uuid.uuid4())
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    store.create_session(
        SessionRecord(
            id=sid,
            status="active",
            start_time=now,
            last_activity=0.0,
            job_data={"candidateName": name},
        )
    )
    if ended_days_ago is not None:
        store.end_session(sid, now - dt.timedelta(days=ended_days_ago), "ended", {"ok": True})
    return sid


def raw_embedding(settings, sid) -> bytes:
    with sqlite3.connect(settings.data_dir / "proctor.db") as db:
        return db.execute("select face_embedding from sessions where id=?", (sid,)).fetchone()[0]


def test_embeddings_are_encrypted_at_rest_and_read_back(settings, store):
    sid = new_session(store)
    emb = np.random.default_rng(1).standard_normal(128).astype(np.float32)
    assert store.save_registration(sid, emb, "sface", {"confidence": 99.0}, 0.0)
    blob = raw_embedding(settings, sid)
    assert blob.startswith(CIPHER_MAGIC) and emb.tobytes() not in blob
    assert np.array_equal(store.get_session(sid).face_embedding, emb)
    key_file = settings.data_dir / "secrets" / "embedding.key"
    assert key_file.stat().st_mode & 0o077 == 0


def test_rows_from_before_encryption_still_read(settings, store):
    sid = new_session(store)
    emb = np.arange(128, dtype=np.float32)
    cipher, store.embedding_cipher = store.embedding_cipher, None
    store.save_registration(sid, emb, "sface", {}, 0.0)  # a clear row, as 0.1.0 wrote
    store.embedding_cipher = cipher
    assert raw_embedding(settings, sid) == emb.tobytes()
    assert np.array_equal(store.get_session(sid).face_embedding, emb)
    changed, total = store.reseal_embeddings()  # rotation also encrypts old clear rows
    assert (changed, total) == (1, 1) and raw_embedding(settings, sid).startswith(CIPHER_MAGIC)


def test_rotation_moves_every_row_to_the_new_key(settings, store):
    sids = [new_session(store) for _ in range(3)]
    embs = [np.full(128, i, np.float32) for i in range(3)]
    for sid, emb in zip(sids, embs, strict=True):
        store.save_registration(sid, emb, "sface", {}, 0.0)
    key_file = settings.data_dir / "secrets" / "embedding.key"
    old_key = key_file.read_text()
    done = setup.rotate_embedding_key(settings, store)
    assert done == {"rows": 3, "re_encrypted": 3}
    assert key_file.read_text() != old_key
    assert not list(key_file.parent.glob("embedding.key.*"))  # no next/previous left behind
    fresh = open_store(settings.sqlalchemy_url)
    fresh.embedding_cipher = setup.embedding_cipher(settings)  # only the new key now
    try:
        for sid, emb in zip(sids, embs, strict=True):
            assert np.array_equal(fresh.get_session(sid).face_embedding, emb)
    finally:
        fresh.close()


def test_remove_session_leaves_no_trace_in_the_database_file(settings, store):
    sid = new_session(store, name="Quentin Tracewell")
    store.save_registration(sid, np.ones(128, np.float32), "sface", {}, 0.0)
    keep = new_session(store, name="Someone Else")
    upload = retention.staging_path(settings) / f"{uuid.uuid4()}.upload"
    upload.write_bytes(b"video bytes")
    with store.engine.begin() as c:
        from server.store import schema

        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        c.execute(
            schema.jobs.insert().values(
                id=str(uuid.uuid4()),
                kind="video",
                state="done",
                source="upload",
                path=str(upload),
                owns_file=True,
                params={},
                session_id=sid,
                frames_done=0,
                frames_total=0,
                attempts=0,
                created_at=now,
                updated_at=now,
            )
        )
    assert retention.remove_session(store, settings, sid)
    assert not upload.exists()
    for path in settings.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert sid.encode() not in data, path
            assert b"Quentin Tracewell" not in data, path
    assert store.get_session(keep) is not None


def test_purge_removes_only_old_ended_sessions(settings, store):
    old = new_session(store, ended_days_ago=40)
    recent = new_session(store, ended_days_ago=2)
    active = new_session(store)
    removed = asyncio.run(retention.purge(settings, days=30, store=store))
    assert removed == [old]
    assert store.get_session(old) is None
    assert store.get_session(recent) is not None and store.get_session(active) is not None


def test_purge_command(settings, store):
    old = new_session(store, ended_days_ago=40)
    env = {"PROCTOR_DATA_DIR": str(settings.data_dir), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "purge", "--days", "30"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "purged 1 session" in out.stdout
    assert store.get_session(old) is None


def test_staging_sweep_keeps_only_files_of_unfinished_jobs(settings, store):
    folder = retention.staging_path(settings)
    stray = folder / "crashed.upload"
    stray.write_bytes(b"x")
    assert retention.sweep_staging(store, settings) == 1 and not stray.exists()


def test_disk_quota_refuses_when_full(settings):
    tight = settings.model_copy(update={"disk_quota_bytes": 10})
    (retention.staging_path(tight) / "a.upload").write_bytes(b"x" * 20)
    with pytest.raises(retention.DiskFull) as err:
        retention.StagingQuota(tight).room()
    assert err.value.status == 507
    roomy = settings.model_copy(update={"disk_quota_bytes": 10**6})
    assert 0 < retention.StagingQuota(roomy).room() <= 10**6


def test_keys_commands():
    run = [sys.executable, "-m", "server.cli", "keys"]
    new = subprocess.run([*run, "new"], capture_output=True, text=True, timeout=60)
    key = new.stdout.split("key:")[1].split()[0]
    digest = new.stdout.split("hash:")[1].split()[0]
    again = subprocess.run([*run, "hash"], input=key + "\n", capture_output=True, text=True)
    assert again.stdout.strip() == digest and digest.startswith("sha256:")


def test_serve_refuses_an_open_server_on_every_interface(settings):
    assert setup.exposure_refusal(settings, "0.0.0.0") is not None
    assert setup.exposure_refusal(settings, "127.0.0.1") is None
    assert setup.exposure_refusal(settings, "::1") is None
    assert (
        setup.exposure_refusal(settings.model_copy(update={"open_mode": True}), "0.0.0.0") is None
    )
    keyed = settings.model_copy(update={"api_keys_proctor": "sha256:" + "a" * 64})
    assert setup.exposure_refusal(keyed, "0.0.0.0") is None
    env = {"PROCTOR_DATA_DIR": str(settings.data_dir), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--host", "0.0.0.0", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "PROCTOR_OPEN_MODE" in out.stderr


def test_rotation_also_moves_the_document_face(settings, store):
    import base64

    from server.store import schema

    sid = new_session(store)
    face = np.full(128, 7, np.float32)
    sealed = store.embedding_cipher.encrypt(face.tobytes(), sid)
    doc = {"verified": True, "face_embedding": base64.b64encode(sealed).decode()}
    with store.engine.begin() as c:
        c.execute(schema.sessions.update().where(schema.sessions.c.id == sid).values(document=doc))
    assert setup.rotate_embedding_key(settings, store) == {"rows": 1, "re_encrypted": 1}
    fresh = setup.embedding_cipher(settings)  # only the new key now
    stored = store.get_session(sid).document
    blob = base64.b64decode(stored["face_embedding"])
    assert fresh.current_key(blob) and stored["verified"] is True
    assert fresh.decrypt(blob, sid) == face.tobytes()
