"""Push channels: Socket.IO at /socket.io/ and plain websockets at /ws/..., fed by one hub.

``install`` wires them into the FastAPI app; the lifespan calls ``start``/``stop``
around the service; ``asgi`` wraps the app so one server answers REST and Socket.IO.
"""

from __future__ import annotations

import socketio
from fastapi import FastAPI

from ..api.auth import AccessPolicy
from ..config import Settings
from ..security.setup import origin_policy
from .bus import PgEventBus
from .hub import PushHub
from .socketio_server import build_socketio


class Realtime:
    def __init__(self, settings: Settings, policy: AccessPolicy):
        self.hub = PushHub()
        self.sio = build_socketio(self.hub, policy, settings.max_body_bytes)
        # Browser origins as for REST (PROCTOR_CORS_ORIGINS), checked at the handshake.
        self.sio.eio.cors_allowed_origins = origin_policy(settings).socketio_setting()

    async def start(self, service, bus=None) -> None:
        await self.hub.start(service, bus)

    async def stop(self) -> None:
        await self.hub.stop()

    def asgi(self, app: FastAPI) -> socketio.ASGIApp:
        """REST, pages and plain websockets through ``app``; ``/socket.io/`` to Socket.IO.

        Lifespan events pass through to ``app`` (its lifespan loads the models)."""
        return socketio.ASGIApp(self.sio, other_asgi_app=app, socketio_path="socket.io")


def make_bus(settings: Settings) -> PgEventBus | None:
    """The cross-replica bus the settings ask for (``PROCTOR_PUSH_BUS``), or None."""
    if settings.push_bus == "off" or not settings.sqlalchemy_url.startswith("postgresql"):
        return None
    return PgEventBus(settings.sqlalchemy_url)


def install(app: FastAPI, settings: Settings, policy: AccessPolicy) -> Realtime:
    from ..api.routes import ws

    realtime = Realtime(settings, policy)
    app.include_router(ws.router)
    app.state.realtime = realtime
    app.state.websocket_enabled = True
    return realtime
