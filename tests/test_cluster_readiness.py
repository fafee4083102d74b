"""/health/live and /health/ready: ready only with the models warmed, the database answering
and the schema at this code's revision; /health keeps the reference's answer."""

from __future__ import annotations

import pytest

from server.store import migrate


def test_live_and_ready_on_a_serving_replica(client):
    r = client.get("/health/live")
    assert r.status_code == 200 and r.json()["status"] == "alive"
    r = client.get("/health/ready")
    assert r.status_code == 200, r.text
    checks = r.json()["checks"]
    assert checks["models"] is True and checks["database"] is True
    assert checks["schema"] == checks["schema_expected"] == migrate.code_head()
    # the reference's /health is unchanged
    h = client.get("/health").json()
    assert h["status"] == "healthy" and h["service"] == "Live Interview Analyzer API"


def test_not_ready_once_the_schema_moved_past_this_code(client):
    """Another release upgraded the database: this replica stops taking traffic (503)."""
    store = client.app.state.runtime.store
    head = migrate.code_head()
    with store.engine.begin() as c:
        c.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    try:
        r = client.get("/health/ready")
        assert r.status_code == 503
        body = r.json()
        assert body["success"] is False and "9999" in body["error"] and head in body["error"]
        assert body["checks"]["database"] is True and body["checks"]["schema"] == "9999"
        assert client.get("/health/live").status_code == 200  # alive: no restart for this
    finally:
        with store.engine.begin() as c:
            c.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{head}'")
    assert client.get("/health/ready").status_code == 200


def test_not_ready_without_the_database(client, monkeypatch):
    """The database does not answer: 503 with the reason, never a 500."""
    store = client.app.state.runtime.store

    def unreachable():
        import sqlalchemy as sa

        raise sa.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))

    monkeypatch.setattr(store, "schema_status", unreachable)
    r = client.get("/health/ready")
    assert r.status_code == 503
    assert r.json()["checks"]["database"] is False
    assert "OperationalError" in r.json()["error"]


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
def test_probes_are_public_when_keys_are_required(path):
    from server.access import PUBLIC

    assert PUBLIC.match(path)
