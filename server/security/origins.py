"""Which browser origins may call the API and open push channels (``PROCTOR_CORS_ORIGINS``).

One policy for REST (CORS answers, preflight on every route), Socket.IO and the plain
websockets (their ``Origin`` checked at the handshake).  Defaults (docs/security.md):

- keys off: any origin, without credentials: the reference's browser clients run on the
  integrator's own site, and an open server has nothing a cookie would unlock;
- keys on: same origin only, until the operator lists the integrators' origins: a keyed
  server is a deliberate deployment, and a page on any site could otherwise drive a
  candidate's token or a proctor's key that leaked into it.

Clients that send no ``Origin`` (curl, SDKs, server-to-server) are not browsers and are
not subject to it; the same origin as the server is always allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.middleware.cors import CORSMiddleware

# What the reference's clients and the console send, and what they must be able to read.
ALLOW_HEADERS = ("Content-Type", "X-API-Key", "Authorization", "Prefer", "X-Proctor-Ticket")
EXPOSE_HEADERS = ("Retry-After", "Content-Disposition", "Location")
ALLOW_METHODS = ("GET", "POST", "DELETE", "OPTIONS")
PREFLIGHT_MAX_AGE = 600


def normalise(origin: str) -> str | None:
    """``scheme://host[:port]`` in lower case, default port dropped; None if not an origin."""
    origin = origin.strip()
    if origin == "*":
        return "*"
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        return None
    if parts.username or parts.password or parts.query or parts.fragment:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


@dataclass(frozen=True)
class OriginPolicy:
    origins: tuple[str, ...]  # normalised; ("*",) = any

    @classmethod
    def from_setting(cls, setting: str | None, keys_enabled: bool) -> OriginPolicy:
        if setting is None or not setting.strip():
            return cls(() if keys_enabled else ("*",))
        found = []
        for item in setting.split(","):
            if not item.strip():
                continue
            norm = normalise(item)
            if norm is None:
                raise ValueError(f"PROCTOR_CORS_ORIGINS: '{item.strip()}' is not an origin")
            found.append(norm)
        return cls(("*",) if "*" in found else tuple(dict.fromkeys(found)))

    @property
    def any(self) -> bool:
        return self.origins == ("*",)

    def allows(self, origin: str | None, host: str | None = None) -> bool:
        """May a browser page of ``origin`` reach a server addressed as ``host``?"""
        if origin is None:
            return True  # not a browser
        if self.any:
            return True
        norm = normalise(origin)
        if norm is None:
            return False  # "null" (sandboxed frames, file://) and garbage
        if host and urlsplit(norm).netloc == host.strip().lower():
            return True  # same origin (any scheme: TLS may end at a proxy)
        return norm in self.origins

    def allows_headers(self, headers: Mapping[str, str]) -> bool:
        return self.allows(headers.get("origin"), headers.get("host"))

    def socketio_setting(self):
        """python-socketio's ``cors_allowed_origins``: '*', or this policy as a callable."""
        if self.any:
            return "*"
        return lambda origin, environ: self.allows(origin, environ.get("HTTP_HOST"))


def add_cors(app, policy: OriginPolicy) -> None:
    """Starlette's CORS middleware with this policy: answers every route's preflight."""
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(policy.origins),
        allow_credentials=False,  # keys travel in headers, never in cookies
        allow_methods=list(ALLOW_METHODS),
        allow_headers=list(ALLOW_HEADERS),
        expose_headers=list(EXPOSE_HEADERS),
        max_age=PREFLIGHT_MAX_AGE,
    )


class WebSocketOrigins:
    """ASGI middleware: a websocket handshake from a page of a refused origin is closed (403)."""

    def __init__(self, app, policy: OriginPolicy):
        self.app = app
        self.policy = policy

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket" or self.policy.any:
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.policy.allows_headers(headers):
            return await self.app(scope, receive, send)
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.close", "code": 4403, "reason": "Origin not allowed"})
        return None
