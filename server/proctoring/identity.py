"""Identity as one chain: ID document, live face, registered face, every frame.

Whichever identity step comes first, every later step is compared with what the chain
already holds, so a candidate cannot register their own face and then pass the document
check with someone else's ID and photo (or the reverse):

- ``register-face`` compares the new face with the document's face when a document
  was checked first (passed or failed: a failed check still says who the ID shows).
- ``verify-document`` compares the document face with the live face (the reference's
  check) and both with the face already registered, if any.
- Re-registration (proctor key only) compares the new face with the document's face.
- Every frame is compared with the registered face (``verification.match``).

Failed steps are counted; after ``max_attempts`` failures the session refuses further
attempts (a proctor re-registration still works).  All bookkeeping is plain JSON kept in
the session's ``state["identity"]`` and ``document`` columns; embeddings travel as
base64 float32 so the store needs no new column.  No model code here.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import numpy as np

from .verification import FaceMatch, SimilarityScale, match

MSG_LIVE_NOT_REGISTERED = (
    "Identity verification failed. The live face does not match the face already registered "
    "for this session ({similarity}% < {threshold:g}%)."
)
MSG_DOCUMENT_NOT_REGISTERED = (
    "Identity verification failed. The document photo does not match the face already "
    "registered for this session ({similarity}% < {threshold:g}%)."
)
MSG_REGISTER_NOT_DOCUMENT = (
    "Face does not match the ID document checked for this session ({similarity}% < "
    "{threshold:g}%). Only the person on the document can register."
)
MSG_TOO_MANY = (
    "Too many failed identity attempts for this session ({failures} of {limit}). "
    "Ask the proctor to re-register the candidate."
)
MSG_NOT_LIVE = (
    "Live capture looks like a photo or a screen, not a live person (liveness {score}). "
    "Please face the camera yourself in good, even light."
)

# How a stored ``document`` result lists the links it checked (additive keys).
LINK_DOCUMENT_LIVE = "document_live"
LINK_LIVE_REGISTERED = "live_registered"
LINK_DOCUMENT_REGISTERED = "document_registered"
LINK_REGISTER_DOCUMENT = "registered_document"


def pack_embedding(embedding: np.ndarray) -> str:
    """An embedding as base64 float32, storable in a JSON column."""
    return base64.b64encode(np.asarray(embedding, np.float32).reshape(-1).tobytes()).decode()


def unpack_embedding(text: str | None) -> np.ndarray | None:
    if not text:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        return None
    if not raw or len(raw) % 4:
        return None
    return np.frombuffer(raw, np.float32).copy()


@dataclass(frozen=True)
class Link:
    """One comparison of the chain: which two faces, and how they matched."""

    name: str
    match: FaceMatch

    def as_dict(self) -> dict:
        return {
            "verified": self.match.verified,
            "similarity": self.match.similarity,
            "cosine": self.match.cosine,
        }


@dataclass
class ChainResult:
    """All links checked for one step; ``verified`` only when every one matched."""

    links: list[Link] = field(default_factory=list)
    message: str | None = None  # why the step was refused (first failing link)

    @property
    def verified(self) -> bool:
        return all(link.match.verified for link in self.links)

    @property
    def failed(self) -> Link | None:
        return next((link for link in self.links if not link.match.verified), None)

    def link(self, name: str) -> Link | None:
        return next((link for link in self.links if link.name == name), None)

    def as_dict(self) -> dict:
        return {link.name: link.as_dict() for link in self.links}


def _safe_match(
    a: np.ndarray, b: np.ndarray, scale: SimilarityScale, threshold: float
) -> FaceMatch | None:
    try:
        return match(a, b, scale, threshold)
    except ValueError:  # registered with another embedder: not comparable, not a mismatch
        return None


def check_document(
    document_face: np.ndarray,
    live_face: np.ndarray,
    registered: np.ndarray | None,
    scale: SimilarityScale,
    threshold: float,
) -> ChainResult:
    """verify-document: document vs live (the reference's check), and both vs the registered face."""
    out = ChainResult()
    m = match(document_face, live_face, scale, threshold)
    out.links.append(Link(LINK_DOCUMENT_LIVE, m))
    if registered is not None:
        for name, face in (
            (LINK_LIVE_REGISTERED, live_face),
            (LINK_DOCUMENT_REGISTERED, document_face),
        ):
            lm = _safe_match(registered, face, scale, threshold)
            if lm is not None:
                out.links.append(Link(name, lm))
    bad = out.failed
    if bad is not None:
        s, t = bad.match.similarity, threshold
        if bad.name == LINK_DOCUMENT_LIVE:
            out.message = (
                f"Identity verification failed. Face similarity ({s}%) is below threshold ({t:g}%)."
            )
        elif bad.name == LINK_LIVE_REGISTERED:
            out.message = MSG_LIVE_NOT_REGISTERED.format(similarity=s, threshold=t)
        else:
            out.message = MSG_DOCUMENT_NOT_REGISTERED.format(similarity=s, threshold=t)
    return out


def check_registration(
    face: np.ndarray,
    document_face: np.ndarray | None,
    scale: SimilarityScale,
    threshold: float,
) -> ChainResult:
    """register-face (and proctor re-registration): the new face vs the document's face, if any."""
    out = ChainResult()
    if document_face is not None:
        m = _safe_match(document_face, face, scale, threshold)
        if m is not None:
            out.links.append(Link(LINK_REGISTER_DOCUMENT, m))
            if not m.verified:
                out.message = MSG_REGISTER_NOT_DOCUMENT.format(
                    similarity=m.similarity, threshold=threshold
                )
    return out


class IdentityLedger:
    """The session's identity bookkeeping (``state["identity"]``): attempts and events.

    ``events`` is the record the report reads: each registration, re-registration and
    document check with its outcome and time.  Plain dict in, plain dict out.
    """

    MAX_EVENTS = 50

    def __init__(self, state: dict | None):
        self.s = dict(state or {})
        self.s.setdefault("failures", 0)
        self.s.setdefault("document_attempts", 0)
        self.s.setdefault("registration_attempts", 0)
        self.s.setdefault("events", [])

    @property
    def failures(self) -> int:
        return int(self.s["failures"])

    def blocked(self, limit: int) -> bool:
        return limit > 0 and self.failures >= limit

    def blocked_message(self, limit: int) -> str:
        return MSG_TOO_MANY.format(failures=self.failures, limit=limit)

    def record(self, step: str, ok: bool, when: str, **details) -> None:
        """One attempt of ``step`` (document | register | reregister) and its outcome."""
        if step == "document":
            self.s["document_attempts"] += 1
        elif step == "register":
            self.s["registration_attempts"] += 1
        if not ok and step != "reregister":
            self.s["failures"] += 1
        if step == "reregister" and ok:
            self.s["failures"] = 0  # the proctor vouched: the candidate may try again
        event = {"step": step, "ok": ok, "timestamp": when}
        event.update({k: v for k, v in details.items() if v is not None})
        events = list(self.s["events"]) + [event]
        self.s["events"] = events[-self.MAX_EVENTS :]

    def as_state(self) -> dict:
        return self.s


def document_section(
    document: dict | None, identity: dict | None, registered: bool, kind: str = "live"
) -> dict:
    """The report's ``document`` section: what the ID check found, how often it was tried.

    ``status``: ``verified`` | ``failed`` | ``missing`` (no document check at all) |
    ``not_applicable`` (a pre-recorded video: there is no one to show an ID).
    """
    identity = identity or {}
    attempts = int(identity.get("document_attempts", 0))
    events = identity.get("events") or []
    rereg = [e for e in events if e.get("step") == "reregister" and e.get("ok")]
    section = {
        "status": "missing",
        "checked": bool(document),
        "document_type": None,
        "verified": None,
        "similarity": None,
        "attempts": attempts,
        "failed_identity_attempts": int(identity.get("failures", 0)),
        "timestamp": None,
        "face_registered": registered,
        "registered_by": None,
        "reregistrations": len(rereg),
        "liveness": None,
    }
    if document:
        section.update(
            status="verified" if document.get("verified") else "failed",
            document_type=document.get("document_type"),
            verified=bool(document.get("verified")),
            similarity=document.get("similarity"),
            timestamp=document.get("timestamp"),
            attempts=max(attempts, 1),
            liveness=(document.get("liveness") or {}).get("score"),
        )
        if document.get("chain"):
            section["chain"] = document["chain"]
    if not document and kind != "live":
        section["status"] = "not_applicable"
    for e in reversed(events):
        if e.get("ok") and e.get("step") in ("register", "reregister", "document"):
            section["registered_by"] = e["step"]
            break
    return section


def document_summary_line(section: dict | None) -> str | None:
    """One sentence for the summary when the ID check failed or never happened; None when fine."""
    if not section:
        return None
    if section.get("status") == "missing":
        return "No ID document check was made in this session."
    if section.get("status") == "failed":
        n = section.get("attempts") or 1
        return (
            f"The ID document check failed ({n} attempt{'s' if n != 1 else ''}); "
            "identity is not confirmed by a document."
        )
    return None
