"""Secrets: proctor keys kept as hashes, signed tokens and tickets, the embedding cipher.

- Proctor keys: the server keeps SHA-256 hashes only (``sha256:<hex>``; the setting takes
  hashes or clear keys and hashes the clear ones at start).  Keys are long random strings
  (``proctor keys new``), so a fast hash is enough: there is no dictionary to try.
- Candidate tokens (``ct_``) and tickets (``tk_``) are HMAC-SHA256 signatures with an
  expiry, under a random secret kept in ``<data_dir>/secrets/`` (or given in a setting):
  a token opens one session's endpoints until it expires; a ticket is a short-lived
  stand-in for a key where a browser can only use a URL (websockets, page loads).
- Embeddings are AES-256-GCM encrypted (``cryptography``), bound to their session id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HASH_PREFIX = "sha256:"
TOKEN_PREFIX = "ct_"
TICKET_PREFIX = "tk_"
SIG_CHARS = 43  # base64url of the 32-byte HMAC, unpadded


# --- proctor keys -----------------------------------------------------------------------------
def hash_key(key: str) -> str:
    return HASH_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


def is_key_hash(entry: str) -> bool:
    digest = entry[len(HASH_PREFIX) :]
    return (
        entry.startswith(HASH_PREFIX)
        and len(digest) == 64
        and all(c in "0123456789abcdef" for c in digest)
    )


def new_key() -> str:
    return "pk_" + secrets.token_urlsafe(32)


class KeyHashes:
    """The proctor keys as hashes; ``matches`` compares against all of them in constant time."""

    def __init__(self, entries: Iterable[str]):
        hashes = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            hashes.append(entry.lower() if is_key_hash(entry.lower()) else hash_key(entry))
        self.hashes = tuple(dict.fromkeys(hashes))

    def __bool__(self) -> bool:
        return bool(self.hashes)

    def matches(self, credential: str | None) -> bool:
        if not credential or len(credential) > 512:
            return False
        candidate = hash_key(credential).encode()
        found = False
        for entry in self.hashes:  # no early exit: timing says nothing about which matched
            found |= hmac.compare_digest(candidate, entry.encode())
        return found


# --- secret files -----------------------------------------------------------------------------
def load_or_create_secret(path: Path, size: int = 32) -> bytes:
    """The random secret in ``path`` (base64), made on first use with mode 0600."""
    try:
        return base64.b64decode(path.read_text().strip(), validate=True)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    secret = secrets.token_bytes(size)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(secret).decode() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)  # never replace a secret another process made at the same moment
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return base64.b64decode(path.read_text().strip(), validate=True)


def secret_from_setting(value: str | None, path: Path) -> bytes:
    """A given secret (any string, used as bytes) or the one kept in ``path``."""
    if value:
        return value.encode("utf-8")
    return load_or_create_secret(path)


# --- tokens and tickets -----------------------------------------------------------------------
@dataclass(frozen=True)
class Claim:
    kind: str  # "candidate" | "proctor"
    session_id: str | None
    expires: int


class TokenSigner:
    """Signed, expiring strings: ``<prefix><expiry>.<kind>.<session>.<signature>``."""

    def __init__(self, secret: bytes, clock=time.time):
        self._secret = hashlib.sha256(b"proctor-tokens\0" + secret).digest()
        self._clock = clock

    def _sign(self, prefix: str, body: str) -> str:
        mac = hmac.new(self._secret, f"{prefix}{body}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def issue(self, prefix: str, kind: str, session_id: str | None, ttl_s: float) -> str:
        expires = int(self._clock() + ttl_s)
        body = f"{expires:x}.{kind}.{session_id or '-'}"
        return f"{prefix}{body}.{self._sign(prefix, body)}"

    def verify(self, prefix: str, value: str | None) -> Claim | None:
        if not value or not value.startswith(prefix) or len(value) > 512:
            return None
        body, _, sig = value[len(prefix) :].rpartition(".")
        if len(sig) != SIG_CHARS or not hmac.compare_digest(
            sig.encode(), self._sign(prefix, body).encode()
        ):
            return None
        try:
            expires_hex, kind, session = body.split(".", 2)
            expires = int(expires_hex, 16)
        except ValueError:
            return None
        if expires < self._clock():
            return None
        return Claim(kind, None if session == "-" else session, expires)

    def candidate_token(self, session_id: str, ttl_s: float) -> str:
        return self.issue(TOKEN_PREFIX, "candidate", session_id, ttl_s)

    def ticket(self, kind: str, session_id: str | None, ttl_s: float) -> str:
        return self.issue(TICKET_PREFIX, kind, session_id, ttl_s)


# --- embeddings at rest -----------------------------------------------------------------------
CIPHER_MAGIC = b"PEC1"  # version prefix: rows without it are clear (stored before encryption)
KEY_ID_BYTES = 8
NONCE_BYTES = 12


class CipherError(Exception):
    """A stored embedding cannot be decrypted with any known key."""


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"proctor-embedding-key\0" + key).digest()[:KEY_ID_BYTES]


class EmbeddingCipher:
    """AES-256-GCM for embeddings; ``keys[0]`` encrypts, any of ``keys`` decrypts (rotation)."""

    def __init__(self, keys: Iterable[bytes]):
        self.keys = [k for k in keys if k]
        for key in self.keys:
            if len(key) != 32:
                raise ValueError("an embedding key is 32 bytes (base64 of 32 random bytes)")
        if not self.keys:
            raise ValueError("no embedding key")
        self._by_id = {key_id(k): AESGCM(k) for k in self.keys}
        self._current = key_id(self.keys[0])

    @staticmethod
    def is_encrypted(blob: bytes) -> bool:
        return blob[: len(CIPHER_MAGIC)] == CIPHER_MAGIC

    def current_key(self, blob: bytes) -> bool:
        return self.is_encrypted(blob) and blob[4 : 4 + KEY_ID_BYTES] == self._current

    def encrypt(self, plain: bytes, session_id: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._by_id[self._current].encrypt(nonce, plain, _aad(session_id))
        return CIPHER_MAGIC + self._current + nonce + sealed

    def decrypt(self, blob: bytes, session_id: str) -> bytes:
        if not self.is_encrypted(blob):
            return blob  # a row from before encryption: read as it is
        head = len(CIPHER_MAGIC)
        kid = blob[head : head + KEY_ID_BYTES]
        nonce = blob[head + KEY_ID_BYTES : head + KEY_ID_BYTES + NONCE_BYTES]
        aead = self._by_id.get(kid)
        if aead is None:
            raise CipherError("embedding encrypted with a key this server does not have")
        try:
            return aead.decrypt(nonce, blob[head + KEY_ID_BYTES + NONCE_BYTES :], _aad(session_id))
        except InvalidTag:
            raise CipherError("embedding does not decrypt (wrong key or altered row)") from None


def _aad(session_id: str) -> bytes:
    # Bound to its row: an embedding copied onto another session does not decrypt there.
    return b"proctor-embedding\0" + session_id.encode("utf-8")


def decode_key(text: str) -> bytes:
    key = base64.b64decode(text.strip(), validate=True)
    if len(key) != 32:
        raise ValueError("an embedding key is base64 of 32 bytes")
    return key


def new_embedding_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()
