"""Socket.IO at ``/socket.io/``: join a session or the dashboard, send frames as events.

Client -> server events (each may carry a Socket.IO ack; the ack gets the same payload
as the event the server answers with):

- ``join_session`` {session_id}  -> ``joined`` {room, session_id, status, ...} or ``error``
- ``leave_session`` {session_id}
- ``join_dashboard`` {}          -> ``joined`` {room: "dashboard"} or ``error`` (proctors only)
- ``frame`` {session_id, frame}  -> ``frame_result`` to the session's room (the sender is
  put in it), or ``error`` to the sender

Events carry the REST shapes; docs/realtime.md lists them all.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

import socketio

from ..access import MSG_UNAUTHORIZED, AccessPolicy, credential_from
from ..service.errors import ServiceError, SessionNotFound
from .hub import DASHBOARD, PushHub, error_payload, session_room, submit_frame

if TYPE_CHECKING:  # annotations only, as in hub.py
    from ..service.proctor import ProctorService

log = logging.getLogger(__name__)


def _environ_credential(environ: dict, auth) -> str | None:
    if isinstance(auth, dict):
        for name in ("key", "token", "ticket"):  # in the CONNECT packet, never in the URL
            if isinstance(auth.get(name), str) and auth[name]:
                return auth[name]
    headers = {
        k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")
    }
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    return credential_from(headers, {k: v[0] for k, v in qs.items() if v})


def _addressed_session(data, joined: set):
    """A frame or audio event's session_id; when it names none, the one session this client
    joined (if it joined exactly one)."""
    session_id = data.get("session_id") if isinstance(data, dict) else None
    if session_id is None and len(joined) == 1:
        session_id = next(iter(joined))
    return session_id


def _unauthorized() -> ServiceError:
    return ServiceError(MSG_UNAUTHORIZED, status=401)


def build_socketio(
    hub: PushHub, policy: AccessPolicy, max_message_bytes: int
) -> socketio.AsyncServer:
    sio = socketio.AsyncServer(
        async_mode="asgi",
        # A frame is one message: leave room for the event framing around the REST limit.
        max_http_buffer_size=max_message_bytes + 64 * 1024,
        logger=False,
        engineio_logger=False,
    )
    hub.sio = sio
    # Frames of one client are analysed in the order sent (handlers run as tasks).
    order: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
    # Audio chunks keep their own order and never wait behind a frame (docs/audio.md).
    audio_order: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def running_service() -> ProctorService:
        if hub.service is None:  # the hub has not started yet
            raise ServiceError("Server is starting", status=503)
        return hub.service

    async def principal_for(sid: str, session_id: str | None):
        saved = await sio.get_session(sid)
        return policy.identify(saved.get("credential"), session_id)

    async def answer_error(sid: str, exc: Exception, event: str, **extra) -> dict:
        body = error_payload(exc, event=event, **extra)
        hub.reply(sid, "error", body)
        return body

    async def check_session(session_id) -> dict:
        if not isinstance(session_id, str) or not session_id:
            raise ServiceError("No session_id provided")
        rec = await running_service().reads.session(session_id)  # SessionNotFound when none
        return {
            "session_id": rec.id,
            "status": rec.status,
            "frames_received": rec.frames_received,
            "face_registered": rec.face_registered,
        }

    @sio.event
    async def connect(sid, environ, auth=None):
        credential = _environ_credential(environ, auth)
        # Refuse early what is no valid key, token or ticket (a token's session is checked later).
        if policy.enabled and policy.holder(credential) is None:
            raise socketio.exceptions.ConnectionRefusedError(
                {"success": False, "error": MSG_UNAUTHORIZED, "status": 401}
            )
        await sio.save_session(sid, {"credential": credential, "sessions": set()})

    @sio.event
    async def disconnect(sid, reason=None):
        order.pop(sid, None)
        audio_order.pop(sid, None)

    @sio.event
    async def join_session(sid, data=None):
        session_id = data.get("session_id") if isinstance(data, dict) else data
        try:
            if (
                await principal_for(sid, session_id if isinstance(session_id, str) else None)
                is None
            ):
                raise _unauthorized()
            info = await check_session(session_id)
        except ServiceError as exc:
            return await answer_error(sid, exc, "join_session", session_id=session_id)
        await sio.enter_room(sid, session_room(info["session_id"]))
        async with sio.session(sid) as saved:
            saved["sessions"].add(session_id)
        body = {"success": True, "room": session_room(info["session_id"]), **info}
        hub.reply(sid, "joined", body)
        return body

    @sio.event
    async def leave_session(sid, data=None):
        session_id = data.get("session_id") if isinstance(data, dict) else data
        if isinstance(session_id, str):
            await sio.leave_room(sid, session_room(session_id))
            async with sio.session(sid) as saved:
                saved["sessions"].discard(session_id)
        return {"success": True}

    @sio.event
    async def join_dashboard(sid, data=None):
        principal = await principal_for(sid, None)
        if principal is None or not principal.is_proctor:
            return await answer_error(sid, _unauthorized(), "join_dashboard")
        await sio.enter_room(sid, DASHBOARD)
        body = {"success": True, "room": DASHBOARD}
        hub.reply(sid, "joined", body)
        return body

    @sio.event
    async def frame(sid, data=None):
        async with order[sid]:
            saved = await sio.get_session(sid)
            session_id = _addressed_session(data, saved["sessions"])
            try:
                if (
                    policy.identify(
                        saved.get("credential"), session_id if isinstance(session_id, str) else None
                    )
                    is None
                ):
                    raise _unauthorized()
                if isinstance(session_id, str) and session_id not in saved["sessions"]:
                    # The result goes to the session's room: the sender joins it to hear back.
                    await sio.enter_room(sid, session_room(session_id))
                    saved["sessions"].add(session_id)
                    await sio.save_session(sid, saved)
                return await submit_frame(running_service(), session_id, data, max_message_bytes)
            except Exception as exc:  # noqa: BLE001  every failure answers an error event
                if isinstance(exc, SessionNotFound) and isinstance(session_id, str):
                    await sio.leave_room(sid, session_room(session_id))
                    saved["sessions"].discard(session_id)
                    await sio.save_session(sid, saved)
                if not isinstance(exc, ServiceError):
                    log.exception("frame event failed")
                return await answer_error(sid, exc, "frame", session_id=session_id)

    @sio.event
    async def audio(sid, data=None):
        """``audio`` {session_id, audio, timestamp?}: the REST audio chunk, answered by ack."""
        async with audio_order[sid]:
            saved = await sio.get_session(sid)
            session_id = _addressed_session(data, saved["sessions"])
            try:
                sid_session = session_id if isinstance(session_id, str) else None
                if policy.identify(saved.get("credential"), sid_session) is None:
                    raise _unauthorized()
                if not isinstance(data, dict):
                    raise ServiceError("Request body must be a JSON object")
                if not sid_session:
                    raise ServiceError("No session_id provided")
                return await running_service().listening.hear(
                    sid_session, data.get("audio"), data.get("timestamp")
                )
            except Exception as exc:  # noqa: BLE001  every failure answers an error event
                if not isinstance(exc, ServiceError):
                    log.exception("audio event failed")
                return await answer_error(sid, exc, "audio", session_id=session_id)

    return sio
