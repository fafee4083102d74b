"""Access by API key: proctor keys see everything, a candidate token sees its own session.

Off unless ``PROCTOR_API_KEYS_PROCTOR`` lists at least one key, so the reference
contract works unchanged.  When on:

- a proctor key (``X-API-Key`` header, ``Authorization: Bearer``, or ``?key=`` for
  pages and websockets) opens every endpoint;
- a candidate token, returned as ``candidate_token`` by session start, is an HMAC of
  the session id: it opens that session's own endpoints and nothing else, and needs
  no storage (it stays valid across restarts while the secret does);
- anything else answers 401 in the contract's error shape.

``AccessGuard`` enforces this for every HTTP and websocket route of the FastAPI app,
so routers added later are closed by default; the Socket.IO server, which sits outside
FastAPI, asks the same ``AccessPolicy`` in its handlers.  This module stands apart from
``api`` and ``realtime`` so both read one policy and neither imports the other.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

from .config import Settings

MSG_UNAUTHORIZED = "Missing or invalid API key"
TOKEN_PREFIX = "ct_"  # candidate tokens; proctor keys are whatever the operator chose

# Paths anyone may open: liveness, the console's static files, the API's own docs.
PUBLIC = re.compile(
    r"^/(health|favicon\.ico|docs|docs/oauth2-redirect|redoc|openapi\.json|console/static/.*)$"
)
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
    def __init__(self, proctor_keys: Iterable[str] = (), secret: str | None = None):
        self.proctor_keys = tuple(k for k in (s.strip() for s in proctor_keys) if k)
        if secret:
            self._secret = secret.encode()
        else:
            # Derived from the keys so that a deployment needs one setting; rotating the
            # keys then also revokes every candidate token.
            keys = "\0".join(sorted(self.proctor_keys)).encode()
            self._secret = hashlib.sha256(b"proctor-candidate\0" + keys).digest()

    @classmethod
    def from_settings(cls, settings: Settings) -> AccessPolicy:
        return cls(settings.api_keys_proctor.split(","), settings.api_token_secret)

    @property
    def enabled(self) -> bool:
        return bool(self.proctor_keys)

    def candidate_token(self, session_id: str) -> str:
        digest = hmac.new(
            self._secret, b"candidate:" + session_id.encode(), hashlib.sha256
        ).hexdigest()
        return TOKEN_PREFIX + digest[:40]

    def is_proctor_key(self, credential: str | None) -> bool:
        if not credential:
            return False
        # Compare against every key (no early exit) so timing says nothing about which matched.
        found = False
        for key in self.proctor_keys:
            found |= hmac.compare_digest(credential.encode(), key.encode())
        return found

    def identify(self, credential: str | None, session_id: str | None = None) -> Principal | None:
        """Who ``credential`` is for ``session_id`` (None: not allowed)."""
        if not self.enabled:
            return OPEN
        if self.is_proctor_key(credential):
            return PROCTOR
        if (
            credential
            and session_id
            and hmac.compare_digest(credential.encode(), self.candidate_token(session_id).encode())
        ):
            return Principal("candidate", session_id)
        return None


def credential_from(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The key or token a request carries: header first, then ``?key=`` / ``?token=``."""
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    for name in ("key", "token"):
        if query.get(name):
            return query[name]
    return None


def _scope_credential(scope) -> str | None:
    headers = {
        k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())
    }
    qs = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return credential_from(headers, {k: v[0] for k, v in qs.items() if v})


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


def candidate_page_session(path: str, scope) -> str | None:
    """The candidate console page opens for the token of the session it names."""
    if path.rstrip("/") != "/console/candidate":
        return None
    qs = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return (qs.get("session") or [None])[0]


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
        if public:
            return await self.app(scope, receive, send)
        session_id = session_id or candidate_page_session(path, scope)
        principal = self.policy.identify(_scope_credential(scope), session_id)
        if principal is not None:
            scope.setdefault("state", {})["principal"] = principal
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await self._refuse_websocket(receive, send)
        return await self._refuse_http(scope, send, path)

    @staticmethod
    async def _refuse_http(scope, send, path: str):
        wants_html = path.startswith("/console/") and any(
            k == b"accept" and b"text/html" in v for k, v in scope.get("headers", ())
        )
        if wants_html:
            # Keep the page's other query parameters (the candidate's session) through the form.
            qs = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            hidden = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v[0])}">'
                for k, v in qs.items()
                if k not in ("key", "token") and v
            )
            body = UNAUTHORIZED_PAGE.replace("<!--hidden-->", hidden).encode()
            ctype = b"text/html; charset=utf-8"
        else:
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


UNAUTHORIZED_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>proctor: key needed</title>
<link rel="stylesheet" href="/console/static/console.css"></head>
<body class="gate"><main class="card gate-card"><h1>Access key needed</h1>
<p>This server is protected. Proctors: enter your API key.
Candidates: open the interview link your proctor sent you.</p>
<form method="get"><!--hidden-->
<input type="password" name="key" placeholder="API key" autocomplete="off" required>
<button class="btn primary" type="submit">Open</button></form></main></body></html>"""
