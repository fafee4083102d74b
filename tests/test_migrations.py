"""Schema migrations: a store made by the previous release (0.1.0) upgrades with its rows kept,
the revisions build exactly the code's schema, and a database behind the code is refused with
the command to run.  On SQLite and on a throw-away PostgreSQL (tests/conftest.py)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from server.store import SchemaNotCurrent, migrate, open_store
from server.store.sql import create_engine
from tests.helpers import DATA

RELEASE_DDL = DATA / "schema"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    admin_url = request.getfixturevalue("postgres_url")
    name = f"mig_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as c:
        c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


def make_release_0_1_0(url: str) -> None:
    """The database as proctor 0.1.0 left it: its DDL, then rows of every table."""
    engine = create_engine(url)
    ddl = (RELEASE_DDL / f"release-0.1.0.{engine.dialect.name}.sql").read_text()
    ddl = "\n".join(line for line in ddl.splitlines() if not line.startswith("--"))
    statements = [s for s in ddl.split(";") if s.strip()]
    when = dt.datetime(2026, 11, 30, 9, 0)
    with engine.begin() as c:
        for statement in statements:
            c.exec_driver_sql(statement)
        c.execute(
            sa.text(
                "INSERT INTO sessions (id, status, start_time, last_activity, job_data,"
                " frames_received, frames_analyzed, alert_count, face_embedding, embedder,"
                " registration, state, version, kind) VALUES ('s-old', 'active', :t, 1.5,"
                " :jd, 2, 2, 1, :emb, 'sface', :reg, :st, 3, 'live')"
            ),
            dict(
                t=when,
                jd=json.dumps({"jobTitle": "Engineer"}),
                emb=bytes(range(16)),
                reg=json.dumps({"quality": 0.9}),
                st=json.dumps({"no_face": 2}),
            ),
        )
        for n in (1, 2):
            c.execute(
                sa.text(
                    "INSERT INTO frames (session_id, frame_number, timestamp, analyzed, result)"
                    " VALUES ('s-old', :n, :ts, :a, :r)"
                ),
                dict(n=n, ts=float(n), a=True, r=json.dumps({"frame_number": n})),
            )
        c.execute(
            sa.text(
                "INSERT INTO alerts (session_id, frame_number, timestamp, type, severity, message,"
                " extra) VALUES ('s-old', 2, 2.0, 'NO_FACE', 'high', 'No face', :x)"
            ),
            dict(x=json.dumps({"frames": 2})),
        )
        c.execute(
            sa.text(
                "INSERT INTO verifications (session_id, frame_number, timestamp, verified,"
                " similarity, message, threshold) VALUES ('s-old', 1, 1.0, :v, 0.7, 'ok', 0.4)"
            ),
            dict(v=True),
        )
        c.execute(
            sa.text(
                "INSERT INTO jobs (id, kind, state, source, path, owns_file, params, session_id,"
                " frames_done, frames_total, attempts, created_at, updated_at) VALUES"
                " ('j-old', 'video', 'running', 'a.mp4', '/media/a.mp4', :f, :p, 's-old', 2, 6,"
                " 1, :t, :t)"
            ),
            dict(f=False, p=json.dumps({"frame_interval": 12}), t=when),
        )
    engine.dispose()


def schema_differences(url: str) -> list:
    """What Alembic's comparison finds between the database and server/store/schema.py."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from server.store import schema
    from server.store.migrate import include_name

    engine = create_engine(url)
    with engine.connect() as c:
        ctx = MigrationContext.configure(
            c, opts={"include_name": include_name, "compare_type": True}
        )
        diff = compare_metadata(ctx, schema.metadata)
    engine.dispose()
    return diff


def test_one_head():
    """Two revisions on the same parent (two branches merged) must be chained before release."""
    assert migrate.code_head()


def test_release_0_1_0_upgrades_and_keeps_every_row(db_url):
    make_release_0_1_0(db_url)
    engine = create_engine(db_url)
    before = migrate.status(engine)
    assert before.legacy and before.current is None and not before.is_current
    _, after = migrate.upgrade(engine)
    engine.dispose()
    assert after.is_current and after.current == migrate.code_head()
    assert schema_differences(db_url) == []

    store = open_store(db_url, "never")  # now current: opens without upgrading
    try:
        s = store.get_session("s-old")
        assert s is not None and s.is_active and s.version == 3 and s.state == {"no_face": 2}
        assert s.job_data == {"jobTitle": "Engineer"} and s.registration == {"quality": 0.9}
        assert s.face_embedding is not None and s.face_embedding.tobytes() == bytes(range(16))
        assert [f.frame_number for f in store.frames("s-old")] == [1, 2]
        assert [(a.type, a.extra) for a in store.alerts("s-old")] == [("NO_FACE", {"frames": 2})]
        assert [v.similarity for v in store.verifications("s-old")] == [0.7]
        job = store.get_job("j-old")
        assert job is not None and job.state == "running" and job.session_id == "s-old"
        assert job.frames_done == 2 and job.params == {"frame_interval": 12}
    finally:
        store.close()


def test_empty_database_gets_the_code_schema(db_url):
    store = open_store(db_url)  # auto: an empty database is created at the head
    try:
        assert store.schema_status().is_current
    finally:
        store.close()
    assert schema_differences(db_url) == []


def test_behind_is_refused_where_not_allowed(db_url):
    make_release_0_1_0(db_url)
    sqlite = db_url.startswith("sqlite")
    with pytest.raises(SchemaNotCurrent, match="proctor db upgrade"):
        open_store(db_url, "never")
    if sqlite:  # the embedded default upgrades itself
        open_store(db_url, "auto").close()
    else:  # a shared database with data is upgraded on purpose, after a backup
        with pytest.raises(SchemaNotCurrent, match="back it up, then run `proctor db upgrade`"):
            open_store(db_url, "auto")
        open_store(db_url, "always").close()
    engine = create_engine(db_url)
    assert migrate.status(engine).is_current
    engine.dispose()


def test_a_revision_from_newer_code_is_refused(db_url):
    open_store(db_url).close()
    engine = create_engine(db_url)
    with engine.begin() as c:
        c.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(SchemaNotCurrent, match="newer release"):
        open_store(db_url, "always")
    with pytest.raises(SchemaNotCurrent, match="newer release"):
        migrate.upgrade(engine)
    engine.dispose()


def test_replicas_starting_together_upgrade_once(postgres_url):
    """Four stores opening one empty PostgreSQL database at once: one upgrades, all open."""
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    name = f"mig_{uuid.uuid4().hex[:12]}"
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    errors: list[BaseException] = []

    def open_one():
        try:
            open_store(url).close()
        except BaseException as exc:  # collected: the assertion names it
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert errors == []
        assert schema_differences(url) == []
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def proctor(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_serve_refuses_then_db_upgrade(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    make_release_0_1_0(url)
    env = {"PROCTOR_DATABASE_URL": url, "PROCTOR_DB_UPGRADE": "never"}
    r = proctor("serve", "--port", "1", env=env)  # refused before any model or port is touched
    assert r.returncode == 2 and "`proctor db upgrade`" in r.stderr, r.stderr
    r = proctor("db", "status", env=env)
    assert r.returncode == 3 and "behind" in r.stdout
    r = proctor("db", "upgrade", env=env)
    assert r.returncode == 0 and f"revision {migrate.code_head()}" in r.stdout, r.stderr
    r = proctor("db", "status", env=env)
    assert r.returncode == 0 and "current" in r.stdout
    store = open_store(url, "never")
    assert [f.frame_number for f in store.frames("s-old")] == [1, 2]
    store.close()
