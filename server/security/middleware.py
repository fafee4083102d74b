"""ASGI middleware at the edge: strict JSON bodies and a bounded wait for slow bodies.

``BodyGuard`` sits inside the body-size limit, so what it buffers is already bounded:

- every request body must keep arriving: a pause longer than ``idle_timeout_s`` between two
  chunks answers 408 (a client that opens a request and trickles it holds no worker);
- a JSON body (or one without a content type, which FastAPI reads as JSON) is parsed with
  ``strict_loads`` before any route sees it: NaN, Infinity, 1e400, lone surrogates and deep
  nesting answer 400 in the contract's shape, whatever route and schema are behind.
"""

from __future__ import annotations

import asyncio
import json

from .limits import InputRejected, strict_loads

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SlowBody(Exception):
    """The client stopped sending its body."""


def is_json_type(content_type: bytes | None) -> bool:
    if not content_type:
        return True  # FastAPI reads a body without a content type as JSON
    main = content_type.split(b";", 1)[0].strip().lower()
    return main == b"application/json" or main.endswith(b"+json")


async def reply(send, status: int, message: str, headers: list | None = None) -> None:
    body = json.dumps({"success": False, "error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyGuard:
    def __init__(self, app, idle_timeout_s: float = 30.0):
        self.app = app
        self.idle_timeout_s = idle_timeout_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") not in BODY_METHODS:
            return await self.app(scope, receive, send)
        content_type = None
        for name, value in scope.get("headers", ()):
            if name == b"content-type":
                content_type = value
        timeout = self.idle_timeout_s if self.idle_timeout_s > 0 else None

        async def timed_receive():
            try:
                return await asyncio.wait_for(receive(), timeout)
            except TimeoutError:
                raise SlowBody() from None

        if not is_json_type(content_type):
            started = False

            async def tracking_send(message):
                nonlocal started
                started = started or message["type"] == "http.response.start"
                await send(message)

            try:
                return await self.app(scope, timed_receive, tracking_send)
            except SlowBody:
                if not started:
                    await reply(send, 408, "Request body not received in time")
                return None

        chunks: list[bytes] = []
        while True:
            try:
                message = await timed_receive()
            except SlowBody:
                return await reply(send, 408, "Request body not received in time")
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if body.strip():
            try:
                strict_loads(body)
            except InputRejected as exc:
                return await reply(send, 400, exc.message)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: only the disconnect remains

        return await self.app(scope, replay, send)
