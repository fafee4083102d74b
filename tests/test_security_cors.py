"""The origin policy on the app itself (no models: preflights, the start page and the Socket.IO
handshake are answered before any use case runs).

- keys off, default: any origin, no credentials, a preflight answered on every route;
- a listed origin only: the others get no CORS answer (REST), a refused handshake (Socket.IO)
  and a closed websocket (the browser test covers /ws/ in chromium);
- keys on, default: same origin only.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from server.config import Settings
from server.main import create_app, create_asgi

LISTED = "https://integrator.example"


def app_client(tmp_path, asgi=False, **overrides) -> TestClient:
    settings = Settings(data_dir=tmp_path, llm_enabled=False, **overrides)
    # No "with": the lifespan (models) does not run; what is tested answers before it matters.
    return TestClient((create_asgi if asgi else create_app)(settings))


def operations(client) -> list[tuple[str, str]]:
    doc = client.app.openapi() if hasattr(client.app, "openapi") else None
    assert doc
    ops = []
    for path, item in doc["paths"].items():
        for method in item:
            ops.append(
                (method.upper(), path.replace("{session_id}", "s1").replace("{job_id}", "j1"))
            )
    return ops


def preflight(client, path: str, method: str, origin: str):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
    )


def test_open_server_answers_every_preflight_for_any_origin(tmp_path):
    client = app_client(tmp_path)
    ops = operations(client)
    assert len(ops) >= 15
    for method, path in ops:
        r = preflight(client, path, method, "https://anywhere.example")
        assert r.status_code == 200, (method, path, r.text)
        assert r.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in r.headers
        assert method in r.headers["access-control-allow-methods"]
        assert "x-api-key" in r.headers["access-control-allow-headers"].lower()


def test_listed_origins_only(tmp_path):
    client = app_client(tmp_path, cors_origins=LISTED)
    ok = preflight(client, "/api/sessions/start", "POST", LISTED)
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == LISTED
    refused = preflight(client, "/api/sessions/start", "POST", "https://evil.example")
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


def test_keyed_server_defaults_to_same_origin(tmp_path):
    client = app_client(tmp_path, api_keys_proctor="a-proctor-key-0123456789")
    r = preflight(client, "/api/sessions/start", "POST", "https://anywhere.example")
    assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
    # Even a 401 carries CORS headers for a listed origin, so a browser client can read why.
    listed = app_client(
        tmp_path / "b", api_keys_proctor="a-proctor-key-0123456789", cors_origins=LISTED
    )
    r = listed.get("/api/sessions", headers={"Origin": LISTED})
    assert r.status_code == 401 and r.headers["access-control-allow-origin"] == LISTED


@pytest.mark.parametrize("origin, allowed", [(LISTED, True), ("https://evil.example", False)])
def test_socketio_handshake_checks_the_origin(tmp_path, origin, allowed):
    client = app_client(tmp_path, asgi=True, cors_origins=LISTED)
    r = client.get(
        "/socket.io/", params={"EIO": "4", "transport": "polling"}, headers={"Origin": origin}
    )
    assert (r.status_code == 200) is allowed, (r.status_code, r.text[:200])


def test_start_page_links_the_consoles_and_docs(tmp_path):
    r = app_client(tmp_path).get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    for href in ("/console/dashboard", "/console/candidate", "/docs"):
        assert f'href="{href}"' in r.text
