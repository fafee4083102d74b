"""The push hub: what the service reports goes out to session rooms and the dashboard.

The service calls ``PushHub.on_service_event(session_id, event, payload)`` after each
frame result, alert and session change (``ProctorService.subscribe``).
``fan_out`` turns that into the events clients see (the REST shapes, see
docs/realtime.md); one task delivers them in order to Socket.IO rooms and to plain
websocket subscribers, so a client sees a frame's ``frame_result`` before the next one.
Replies to one client (errors, ``joined``) go through the same queue for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..service.errors import ServiceError
from .bus import on_loop

if TYPE_CHECKING:  # for annotations only: the hub itself needs no model code loaded
    from ..service.proctor import ProctorService

log = logging.getLogger(__name__)

DASHBOARD = "dashboard"


def session_room(session_id: str) -> str:
    return f"session:{session_id}"


def report_url(session_id: str) -> str:
    return f"/api/sessions/{session_id}/report?format=html"


@dataclass(frozen=True)
class Outgoing:
    rooms: tuple[str, ...]
    event: str
    data: dict


def frame_summary(session_id: str, result: dict) -> dict:
    """What the dashboard needs of a frame: the REST result less emotions, pose and labels."""
    keep = (
        "frame_number",
        "timestamp",
        "face_detected",
        "face_count",
        "dominant_emotion",
        "metrics",
        "face_verification",
        "alerts",
    )
    return {"session_id": session_id, **{k: result.get(k) for k in keep}}


def fan_out(session_id: str, event: str, payload: dict) -> list[Outgoing]:
    """Service event -> client events (pure: tests build the payloads by hand)."""
    room = session_room(session_id)
    if event == "frame_result":
        return [
            Outgoing(
                (room,),
                "frame_result",
                {"success": True, "session_id": session_id, "result": payload},
            ),
            Outgoing((DASHBOARD,), "frame_summary", frame_summary(session_id, payload)),
        ]
    if event == "alert":
        return [Outgoing((room, DASHBOARD), "alert", {"session_id": session_id, "alert": payload})]
    if event == "session_started":
        return [Outgoing((DASHBOARD,), "session_started", {"session_id": session_id, **payload})]
    if event == "session_ended":
        data = {"session_id": session_id, **payload, "report_url": report_url(session_id)}
        return [Outgoing((room, DASHBOARD), "session_ended", data)]
    # identity, session_deleted and anything the service adds later reach both.
    return [Outgoing((room, DASHBOARD), event, {"session_id": session_id, **payload})]


def error_payload(exc: Exception, **extra) -> dict:
    """The REST error body (``{"success": false, "error": ...}``) plus its HTTP ``status``."""
    if isinstance(exc, ServiceError):
        body = {"success": False, "error": exc.message, **exc.extra, "status": exc.status}
    else:
        body = {"success": False, "error": "Internal server error", "status": 500}
    body.update(extra)
    return body


def too_large(limit: int) -> ServiceError:
    # The same words and status as the REST body limit (server/api/errors.py).
    return ServiceError(f"Request body too large (limit {limit // (1024 * 1024)} MB)", status=413)


async def submit_frame(service: ProctorService, session_id: Any, data: Any, limit: int) -> dict:
    """A frame sent over a push channel: REST validation and errors, REST response."""
    if not isinstance(data, dict):
        raise ServiceError("Request body must be a JSON object")
    if not isinstance(session_id, str) or not session_id:
        raise ServiceError("No session_id provided")
    frame = data.get("frame")
    if isinstance(frame, str) and len(frame) > limit:
        raise too_large(limit)
    result = await service.frames.analyse_frame(session_id, frame)
    return {"success": True, "session_id": session_id, "result": result.as_contract()}


class Subscriber(Protocol):
    """A plain-websocket connection: takes an event without blocking the hub."""

    def deliver(self, event: str, data: dict) -> None: ...


class PushHub:
    def __init__(self) -> None:
        self.sio = None  # socketio.AsyncServer, set by the Socket.IO wiring
        self.service: ProctorService | None = None
        self.bus = None
        self._rooms: dict[str, set[Subscriber]] = defaultdict(set)
        self._queue: asyncio.Queue | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None

    # --- life -------------------------------------------------------------------------
    async def start(self, service: ProctorService, bus=None) -> None:
        """``bus``: a ``PgEventBus`` sharing events with the other replicas (bus.py), or None."""
        self.service = service
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="push-hub")
        self.bus = bus
        if bus is not None:
            await bus.start(self.on_remote_event)
        service.subscribe(self.on_service_event)

    async def stop(self) -> None:
        if self.service is not None:
            self.service.unsubscribe(self.on_service_event)
        if self.bus is not None:
            await self.bus.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    # --- producers --------------------------------------------------------------------
    def on_service_event(self, session_id: str, event: str, payload: dict) -> None:
        self._put(("fan", fan_out(session_id, event, payload)))
        if self.bus is not None:
            self.bus.publish(session_id, event, payload)

    def on_remote_event(self, session_id: str, event: str, payload: dict) -> None:
        """An event another replica raised (through the bus): to this replica's clients."""
        self._put(("fan", fan_out(session_id, event, payload)))

    def reply(self, target, event: str, data: dict) -> None:
        """One client only: a Socket.IO sid (str) or a websocket ``Subscriber``."""
        self._put(("one", target, event, data))

    def _put(self, item) -> None:
        if self._queue is None or self._loop is None:  # not started: nobody to deliver to
            return
        on_loop(self._loop, self._queue.put_nowait, item)

    # --- plain websocket subscriptions ------------------------------------------------
    def subscribe(self, room: str, sub: Subscriber) -> None:
        self._rooms[room].add(sub)

    def unsubscribe(self, sub: Subscriber) -> None:
        for room in list(self._rooms):
            self._rooms[room].discard(sub)
            if not self._rooms[room]:
                del self._rooms[room]

    def subscribers(self, room: str) -> int:
        return len(self._rooms.get(room, ()))

    # --- delivery ---------------------------------------------------------------------
    async def _run(self) -> None:
        queue = self._queue
        assert queue is not None  # start() makes it before this task
        while True:
            item = await queue.get()
            try:
                if item[0] == "fan":
                    for out in item[1]:
                        await self._deliver(out)
                else:
                    _, target, event, data = item
                    if isinstance(target, str):
                        if self.sio is not None:
                            await self.sio.emit(event, data, to=target)
                    else:
                        target.deliver(event, data)
            except Exception:  # one bad client must not stop the others' events
                log.exception("push delivery failed")

    async def _deliver(self, out: Outgoing) -> None:
        seen: set[int] = set()
        for room in out.rooms:
            for sub in list(self._rooms.get(room, ())):
                if id(sub) not in seen:
                    seen.add(id(sub))
                    sub.deliver(out.event, out.data)
        if self.sio is not None:
            # A list of rooms reaches each client once, even one in both rooms.
            await self.sio.emit(out.event, out.data, to=list(out.rooms))
