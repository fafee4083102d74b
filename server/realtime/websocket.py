"""Plain websockets for clients without Socket.IO (the console pages use these).

``/ws/sessions/{id}``: in ``{"type": "frame", "frame": ...}`` (and ``{"type": "ping"}``);
out ``{"type": "joined" | "frame_result" | "alert" | "identity" | "session_ended" |
"error" | "pong", ...}``: the Socket.IO events, each flattened with its ``type``.
``/ws/dashboard``: out every dashboard event. See docs/realtime.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from ..service.errors import ServiceError, SessionNotFound
from .hub import DASHBOARD, PushHub, error_payload, session_room, submit_frame

log = logging.getLogger(__name__)

router = APIRouter(tags=["realtime"])

OUTBOX_LIMIT = 512  # events waiting for a client that stopped reading; beyond it, it is dropped


class SocketSubscriber:
    """One connection: the hub drops events into ``outbox``; ``pump`` writes them in order."""

    def __init__(self, websocket: WebSocket):
        self.websocket = websocket
        self.outbox: asyncio.Queue = asyncio.Queue(maxsize=OUTBOX_LIMIT)
        self.overflowed = False

    def deliver(self, event: str, data: dict) -> None:
        try:
            self.outbox.put_nowait({"type": event, **data})
        except asyncio.QueueFull:
            self.overflowed = True

    async def pump(self) -> None:
        while not self.overflowed:
            message = await self.outbox.get()
            await self.websocket.send_text(json.dumps(message))
        await self.websocket.close(code=1013)  # "try again later": too slow to keep up


def _hub(websocket: WebSocket) -> PushHub:
    return websocket.app.state.realtime.hub


async def _serve(websocket: WebSocket, hub: PushHub, rooms: list[str], handle) -> None:
    sub = SocketSubscriber(websocket)
    for room in rooms:
        hub.subscribe(room, sub)
    pump = asyncio.create_task(sub.pump())
    try:
        while True:
            raw = await websocket.receive_text()
            try:
                message = json.loads(raw)
            except ValueError:
                hub.reply(
                    sub, "error", {"success": False, "error": "Invalid JSON message", "status": 400}
                )
                continue
            if not isinstance(message, dict):
                hub.reply(
                    sub,
                    "error",
                    {"success": False, "error": "Message must be a JSON object", "status": 400},
                )
                continue
            kind = message.get("type")
            if kind == "ping":
                hub.reply(sub, "pong", {})
            elif handle is not None and kind == "frame":
                await handle(sub, message)
            else:
                hub.reply(
                    sub,
                    "error",
                    {"success": False, "error": f"Unknown message type: {kind!r}", "status": 400},
                )
    except (WebSocketDisconnect, RuntimeError):  # RuntimeError: closed by the pump (too slow)
        pass
    finally:
        hub.unsubscribe(sub)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump


@router.websocket("/ws/sessions/{session_id}")
async def session_socket(websocket: WebSocket, session_id: str):
    hub = _hub(websocket)
    service = websocket.app.state.service
    limit = websocket.app.state.settings.max_body_bytes
    await websocket.accept()
    try:
        rec = await service.reads.session(session_id)
    except SessionNotFound as exc:
        await websocket.send_text(json.dumps({"type": "error", **error_payload(exc)}))
        await websocket.close(code=4404)
        return

    async def handle(sub: SocketSubscriber, message: dict) -> None:
        try:
            await submit_frame(
                service, session_id, message, limit
            )  # the result arrives via the room
        except Exception as exc:  # noqa: BLE001  every failure answers an error message
            if not isinstance(exc, ServiceError):
                log.exception("websocket frame failed")
            hub.reply(sub, "error", error_payload(exc, event="frame", session_id=session_id))

    joined = {
        "success": True,
        "room": session_room(session_id),
        "session_id": rec.id,
        "status": rec.status,
        "frames_received": rec.frames_received,
        "face_registered": rec.face_registered,
    }
    await websocket.send_text(json.dumps({"type": "joined", **joined}))
    await _serve(websocket, hub, [session_room(session_id)], handle)


@router.websocket("/ws/dashboard")
async def dashboard_socket(websocket: WebSocket):
    hub = _hub(websocket)
    await websocket.accept()
    await websocket.send_text(json.dumps({"type": "joined", "success": True, "room": DASHBOARD}))
    await _serve(websocket, hub, [DASHBOARD], None)
