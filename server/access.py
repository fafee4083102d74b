"""Access by API key: proctor keys see everything, a candidate token sees its own session.

Off unless ``PROCTOR_API_KEYS_PROCTOR`` lists at least one key, so the reference
contract works unchanged.  When on:

- a proctor key, in a header only (``X-API-Key`` or ``Authorization: Bearer``), opens
  every endpoint; the server keeps SHA-256 hashes of the keys, never the keys;
- a candidate token (``ct_``), returned as ``candidate_token`` by session start, is signed
  (HMAC, random secret in the data folder or PROCTOR_API_TOKEN_SECRET) with its session id
  and an expiry (PROCTOR_CANDIDATE_TOKEN_TTL_S): it opens that session's own endpoints
  and nothing else, and needs no storage;
- a ticket (``tk_``, ``POST /api/tickets``) carries the rights of the key or token that
  asked for it for PROCTOR_TICKET_TTL_S seconds: the only credential a URL may carry
  (``?ticket=`` on websockets and GET links), so no long-lived secret is ever in a URL;
- anything else answers 401 in the contract's error shape.

The console pages and the start page are shells with no data: they are public, and their
scripts call the API with the key or token the user gave them (kept in the tab only).

``AccessGuard`` enforces this for every HTTP and websocket route of the FastAPI app,
so routers added later are closed by default; the Socket.IO server, which sits outside
FastAPI, asks the same ``AccessPolicy`` in its handlers.  This module stands apart from
``api`` and ``realtime`` so both read one policy and neither imports the other.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

from .config import Settings
from .security.secrets import TICKET_PREFIX, KeyHashes, TokenSigner, secret_from_setting

MSG_UNAUTHORIZED = "Missing or invalid API key"
TOKEN_PREFIX = "ct_"  # candidate tokens; proctor keys are whatever the operator chose

# Paths anyone may open: liveness, the console's static files, the API's own docs.
PUBLIC = re.compile(
    r"^/(|health|health/live|health/ready|favicon\.ico|docs|docs/oauth2-redirect|redoc|openapi\.json|console|"
    r"console/(?:dashboard|candidate)/?|console/static/.*)$"
)
TICKETS_PATH = "/api/tickets"  # any valid key or token may ask for a ticket of its own rights
# A session's own resources: what a candidate token may reach (with CANDIDATE_POSTS below).
SESSION_PATH = re.compile(r"^/(?:api|ws)/sessions/(?P<sid>[^/]+)(?:/(?P<sub>[^/]+))?/?$")
# Writes a candidate makes during an interview; deleting a session stays with proctors.
CANDIDATE_POSTS = frozenset({"verify-document", "register-face", "frame", "audio", "end"})
NOT_SESSION_IDS = frozenset({"start"})


@dataclass(frozen=True)
class Principal:
    role: str  # "proctor" | "candidate" | "open" (access off)
    session_id: str | None = None

    def may_see(self, session_id: str) -> bool:
        return self.role in ("proctor", "open") or self.session_id == session_id

    @property
    def is_proctor(self) -> bool:
        return self.role in ("proctor", "open")


OPEN = Principal("open")
PROCTOR = Principal("proctor")


class AccessPolicy:
    def __init__(
        self,
        proctor_keys: Iterable[str] = (),
        secret: str | bytes | None = None,
        token_ttl_s: float = 6 * 3600.0,
        ticket_ttl_s: float = 60.0,
    ):
        """``proctor_keys``: clear keys or ``sha256:`` hashes; ``secret``: signs tokens and
        tickets (None: a random one for this process, as tests want)."""
        self.keys = KeyHashes(proctor_keys)
        if isinstance(secret, str):
            secret = secret.encode()
        self.signer = TokenSigner(secret or secrets.token_bytes(32))
        self.token_ttl_s = token_ttl_s
        self.ticket_ttl_s = ticket_ttl_s

    @classmethod
    def from_settings(cls, settings: Settings) -> AccessPolicy:
        keys = KeyHashes(settings.api_keys_proctor.split(","))
        # The secret file is made only when keys are on: an open server needs none.
        secret = (
            secret_from_setting(
                settings.api_token_secret, Path(settings.data_dir) / "secrets" / "token.key"
            )
            if keys
            else None
        )
        return cls(
            keys.hashes,
            secret,
            token_ttl_s=settings.candidate_token_ttl_s,
            ticket_ttl_s=settings.ticket_ttl_s,
        )

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def candidate_token(self, session_id: str) -> str:
        return self.signer.candidate_token(session_id, self.token_ttl_s)

    def ticket(self, principal: Principal) -> str:
        kind = "proctor" if principal.is_proctor else "candidate"
        return self.signer.ticket(kind, principal.session_id, self.ticket_ttl_s)

    def is_proctor_key(self, credential: str | None) -> bool:
        return self.keys.matches(credential)

    def holder(self, credential: str | None) -> Principal | None:
        """Who holds ``credential``, whatever session it is for (None: nobody)."""
        if not self.enabled:
            return OPEN
        if not credential:
            return None
        for prefix in (TICKET_PREFIX, TOKEN_PREFIX):
            if credential.startswith(prefix):
                claim = self.signer.verify(prefix, credential)
                if claim is None:
                    return None
                if claim.kind == "proctor" and prefix == TICKET_PREFIX:
                    return PROCTOR
                return Principal("candidate", claim.session_id) if claim.session_id else None
        return PROCTOR if self.keys.matches(credential) else None

    def identify(self, credential: str | None, session_id: str | None = None) -> Principal | None:
        """Who ``credential`` is for ``session_id`` (None: not allowed)."""
        who = self.holder(credential)
        if who is None or who.is_proctor:
            return who
        return who if session_id and who.session_id == session_id else None


def credential_from(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The credential a request carries: a key or token in a header, else a ``?ticket=``.

    A key or token in the query (``?key=``, ``?token=``) is ignored: URLs end up in logs,
    browser histories and Referer headers.
    """
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    ticket = query.get("ticket")
    if ticket and ticket.startswith(TICKET_PREFIX):
        return ticket
    return None


def _scope_credential(scope) -> str | None:
    headers = {
        k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())
    }
    query: dict[str, str] = {}
    # Tickets in URLs: websockets and GET links only (a POST has headers to use).
    if scope["type"] == "websocket" or scope.get("method") in ("GET", "HEAD"):
        qs = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        query = {k: v[0] for k, v in qs.items() if v}
    return credential_from(headers, query)


def required_session(method: str, path: str) -> tuple[bool, str | None]:
    """(public, session a candidate may use) for a request; (False, None) means proctors only."""
    if PUBLIC.match(path):
        return True, None
    m = SESSION_PATH.match(path)
    if m is None or m["sid"] in NOT_SESSION_IDS:
        return False, None
    sub = m["sub"]
    if method in ("GET", "HEAD") or path.startswith("/ws/"):
        return False, m["sid"]
    if method == "POST" and sub in CANDIDATE_POSTS:
        return False, m["sid"]
    return False, None


class AccessGuard:
    """ASGI middleware: 401 (contract shape) for HTTP, close 4401 after an error message for websockets."""

    def __init__(self, app, policy: AccessPolicy):
        self.app = app
        self.policy = policy

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or not self.policy.enabled:
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        method = scope.get("method", "GET")
        public, session_id = required_session(method, path)
        if public or (method == "OPTIONS" and scope["type"] == "http"):
            return await self.app(scope, receive, send)  # CORS preflights carry no credential
        if path == TICKETS_PATH:
            credential = _scope_credential(scope)
            # A ticket cannot buy another: a leaked one dies with its minute.
            principal = (
                None
                if credential and credential.startswith(TICKET_PREFIX)
                else self.policy.holder(credential)
            )
        else:
            principal = self.policy.identify(_scope_credential(scope), session_id)
        if principal is not None:
            scope.setdefault("state", {})["principal"] = principal
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await self._refuse_websocket(receive, send)
        return await self._refuse_http(scope, send, path)

    @staticmethod
    async def _refuse_http(scope, send, path: str):
        body = json.dumps({"success": False, "error": MSG_UNAUTHORIZED}).encode()
        ctype = b"application/json"
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", ctype),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="proctor"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _refuse_websocket(receive, send):
        # Accept first so that a browser can read why (a refused handshake is only "1006").
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        await send(
            {
                "type": "websocket.send",
                "text": json.dumps(
                    {"type": "error", "success": False, "error": MSG_UNAUTHORIZED, "status": 401}
                ),
            }
        )
        await send({"type": "websocket.close", "code": 4401})
