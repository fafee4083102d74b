"""Shared fixtures: one app (models loaded once) for the API tests, on a throw-away store.

Fixtures only: helpers (DATA, image, data_url, free_port...) are in tests/helpers.py,
imported as ``from tests.helpers import ...``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import free_port


@pytest.fixture(scope="module")
def landmarker():
    """MediaPipe's FaceLandmarker on the default model (the vision tests)."""
    from server.vision.landmarks import FaceLandmarker
    from tests.vision_media import model_path

    with FaceLandmarker(model_path("face_landmarker")) as lm:
        yield lm


@pytest.fixture(scope="session")
def api_settings(tmp_path_factory):
    from server.config import Settings

    return Settings(
        data_dir=tmp_path_factory.mktemp("proctor-data"),
        llm_enabled=False,
        session_idle_timeout_s=0,
    )


@pytest.fixture(scope="session")
def client(api_settings):
    from fastapi.testclient import TestClient

    from server.main import create_app

    with TestClient(create_app(api_settings)) as c:
        yield c


@pytest.fixture
def session_id(client) -> str:
    r = client.post(
        "/api/sessions/start", json={"job_data": {"jobTitle": "Engineer", "candidateName": "Test"}}
    )
    assert r.status_code == 200
    return r.json()["session_id"]


PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory):
    """PROCTOR_TEST_DATABASE_URL, or a throw-away cluster from Debian's PostgreSQL on loopback."""
    url = os.environ.get("PROCTOR_TEST_DATABASE_URL")
    if url:
        yield url
        return
    if not PG_BIN or shutil.which("su") is None:
        pytest.skip(
            "no PostgreSQL server binaries (apt-get install postgresql) and no PROCTOR_TEST_DATABASE_URL"
        )
    import tempfile

    bin_dir = PG_BIN[-1]
    base = Path(tempfile.mkdtemp(prefix="proctor-pg-"))  # pytest's own tmp dirs are private to root
    data = base / "data"
    port = free_port()
    run_as = [] if os.geteuid() != 0 else ["su", "postgres", "-s", "/bin/sh", "-c"]
    if run_as:
        shutil.chown(base, "postgres")

    def sh(cmd: str):
        full = run_as + [cmd] if run_as else ["/bin/sh", "-c", cmd]
        return subprocess.run(full, capture_output=True, text=True, timeout=120)

    r = sh(f"{bin_dir}/initdb -D {data} -A trust -U postgres >/dev/null")
    if r.returncode:
        pytest.skip(f"initdb failed: {r.stderr.strip()[:200]}")
    r = sh(
        f'{bin_dir}/pg_ctl -D {data} -l {data}/log -w -o "-p {port} -k {data} -c listen_addresses=127.0.0.1" start'
    )
    if r.returncode:
        pytest.skip(f"postgres did not start: {r.stderr.strip()[:200]}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        sh(f"{bin_dir}/pg_ctl -D {data} -m immediate stop")
        shutil.rmtree(base, ignore_errors=True)
