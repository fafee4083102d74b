"""The security parts a running server needs, from the settings: signer, cipher, origins.

Secrets live in ``<data_dir>/secrets/`` (mode 0700, files 0600) unless given in settings:
``token.key`` signs candidate tokens and tickets; ``embedding.key`` encrypts embeddings
(``embedding.key.next`` / ``.previous`` exist only around a rotation and are read as extra
decryption keys, so a rotation interrupted at any point leaves every row readable).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from ..config import Settings
from .origins import OriginPolicy
from .secrets import (
    EmbeddingCipher,
    KeyHashes,
    TokenSigner,
    decode_key,
    load_or_create_secret,
    new_embedding_key,
    secret_from_setting,
)

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def secrets_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "secrets"


def token_signer(settings: Settings) -> TokenSigner:
    return TokenSigner(
        secret_from_setting(settings.api_token_secret, secrets_dir(settings) / "token.key")
    )


def key_hashes(settings: Settings) -> KeyHashes:
    return KeyHashes(settings.api_keys_proctor.split(","))


def origin_policy(settings: Settings) -> OriginPolicy:
    return OriginPolicy.from_setting(settings.cors_origins, keys_enabled=bool(key_hashes(settings)))


def embedding_key_files(settings: Settings) -> tuple[Path, Path, Path]:
    base = secrets_dir(settings) / "embedding.key"
    return base, base.with_name("embedding.key.next"), base.with_name("embedding.key.previous")


def _read_key(path: Path) -> bytes | None:
    try:
        return decode_key(path.read_text())
    except FileNotFoundError:
        return None


def embedding_cipher(settings: Settings) -> EmbeddingCipher:
    """The cipher of embeddings at rest: the key setting or the key file (made on first start)."""
    current, nxt, previous = embedding_key_files(settings)
    if settings.embedding_key:
        keys = [decode_key(settings.embedding_key)]
    else:
        keys = [load_or_create_secret(current)]
    keys += [k for k in (_read_key(nxt), _read_key(previous)) if k and k not in keys]
    return EmbeddingCipher(keys)


def rotate_embedding_key(settings: Settings, store, new_key: str | None = None) -> dict:
    """Re-encrypt every stored embedding under a new key; returns what was done.

    Key file: the new key is written beside the old (``.next``) before any row changes,
    becomes ``embedding.key`` when every row is re-encrypted, and the old one is removed.
    Key setting: the rows move to ``new_key`` (or a generated one) and the caller puts it in
    PROCTOR_EMBEDDING_KEY.
    """
    current, nxt, previous = embedding_key_files(settings)
    fresh_text = new_key or new_embedding_key()
    fresh = decode_key(fresh_text)
    old = embedding_cipher(settings)
    if not settings.embedding_key:
        _write_private(nxt, fresh_text)
    store.embedding_cipher = EmbeddingCipher([fresh, *old.keys])
    changed, total = store.reseal_embeddings()
    out = {"rows": total, "re_encrypted": changed}
    if settings.embedding_key:
        out["new_key"] = fresh_text  # the operator sets PROCTOR_EMBEDDING_KEY to it
        return out
    # At every step both keys stay readable: old copied aside, new moved in, old dropped.
    _write_private(previous, current.read_text().strip())
    os.replace(nxt, current)
    previous.unlink(missing_ok=True)
    return out


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def is_loopback_host(host: str) -> bool:
    host = host.strip().strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_refusal(settings: Settings, host: str) -> str | None:
    """Why ``proctor serve`` must not start on ``host`` (None: it may)."""
    if is_loopback_host(host) or key_hashes(settings) or settings.open_mode:
        return None
    return (
        f"refusing to listen on {host} with no proctor key: anyone who can reach the port could "
        "read and delete every session. Set PROCTOR_API_KEYS_PROCTOR (`proctor keys new`), or "
        "PROCTOR_OPEN_MODE=true for a closed network where that is wanted (docs/security.md)."
    )
