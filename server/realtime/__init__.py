"""Push channels: Socket.IO at /socket.io/ and plain websockets at /ws/..., fed by one hub.

``install`` wires them into the FastAPI app (``websocket.py`` holds the /ws routes);
``build_runtime`` starts the hub on the service; ``asgi`` wraps the app so one server
answers REST and Socket.IO.
"""

from __future__ import annotations

import socketio
from fastapi import FastAPI

from ..access import AccessPolicy
from ..config import Settings
from ..security.setup import origin_policy
from . import websocket
from .bus import make_bus
from .hub import PushHub
from .socketio_server import build_socketio

__all__ = ["Realtime", "install", "make_bus"]


class Realtime:
    def __init__(self, settings: Settings, policy: AccessPolicy):
        self.hub = PushHub()
        self.sio = build_socketio(self.hub, policy, settings.max_body_bytes)
        # Browser origins as for REST (PROCTOR_CORS_ORIGINS), checked at the handshake.
        self.sio.eio.cors_allowed_origins = origin_policy(settings).socketio_setting()

    def asgi(self, app: FastAPI) -> socketio.ASGIApp:
        """REST, pages and plain websockets through ``app``; ``/socket.io/`` to Socket.IO.

        Lifespan events pass through to ``app`` (its lifespan loads the models)."""
        return socketio.ASGIApp(self.sio, other_asgi_app=app, socketio_path="socket.io")


def install(app: FastAPI, settings: Settings, policy: AccessPolicy) -> Realtime:
    realtime = Realtime(settings, policy)
    app.include_router(websocket.router)
    app.state.realtime = realtime
    app.state.websocket_enabled = True
    return realtime
