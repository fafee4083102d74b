"""Shared fixtures: one app (models loaded once) for the API tests, on a throw-away store."""
from __future__ import annotations

import base64
from pathlib import Path

import cv2
import numpy as np
import pytest

DATA = Path(__file__).resolve().parent / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared"


def data_url(source, quality: int = 90) -> str:
    """A base64 JPEG data URL from a tests/data file name, a path or a BGR image."""
    if isinstance(source, np.ndarray):
        ok, buf = cv2.imencode(".jpg", source, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        raw = buf.tobytes()
    else:
        path = Path(source)
        raw = (path if path.is_absolute() else DATA / path).read_bytes()
    return "data:image/jpeg;base64," + base64.b64encode(raw).decode()


def read(name: str) -> np.ndarray:
    img = cv2.imread(str(DATA / name))
    assert img is not None, name
    return img


@pytest.fixture(scope="session")
def api_settings(tmp_path_factory):
    from server.config import Settings

    return Settings(data_dir=tmp_path_factory.mktemp("proctor-data"), llm_enabled=False, session_idle_timeout_s=0)


@pytest.fixture(scope="session")
def client(api_settings):
    from fastapi.testclient import TestClient

    from server.main import create_app

    with TestClient(create_app(api_settings)) as c:
        yield c


@pytest.fixture
def session_id(client) -> str:
    r = client.post("/api/sessions/start", json={"job_data": {"jobTitle": "Engineer", "candidateName": "Test"}})
    assert r.status_code == 200
    return r.json()["session_id"]
