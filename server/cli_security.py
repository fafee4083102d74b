"""``proctor keys ...`` and ``proctor purge``: access keys, the embedding key, retention.

proctor keys new                      a new proctor key and the hash to configure
proctor keys hash [KEY]               the hash of a key (read from stdin without KEY)
proctor keys rotate-embedding [--new-key B64]
proctor purge [--days N] [--session ID]...
"""

from __future__ import annotations

import argparse
import asyncio
import sys


def cmd_keys_new(_args: argparse.Namespace) -> int:
    from .security.secrets import hash_key, new_key

    key = new_key()
    print(f"key:  {key}\nhash: {hash_key(key)}")
    print(
        "Give the key to the proctor (header X-API-Key); put the hash in "
        "PROCTOR_API_KEYS_PROCTOR. The server never needs the key itself.",
        file=sys.stderr,
    )
    return 0


def cmd_keys_hash(args: argparse.Namespace) -> int:
    from .security.secrets import hash_key

    key = args.key if args.key is not None else sys.stdin.readline().rstrip("\r\n")
    if not key:
        print("error: no key given", file=sys.stderr)
        return 1
    print(hash_key(key))
    return 0


def cmd_keys_rotate_embedding(args: argparse.Namespace) -> int:
    from .config import get_settings
    from .security.setup import rotate_embedding_key
    from .store import open_store

    settings = get_settings()
    store = open_store(settings.sqlalchemy_url, settings.db_upgrade)
    try:
        done = rotate_embedding_key(settings, store, args.new_key)
    finally:
        store.close()
    print(f"{done['re_encrypted']} of {done['rows']} stored embeddings re-encrypted")
    if "new_key" in done:
        print(f"set PROCTOR_EMBEDDING_KEY={done['new_key']} before the next start")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from .config import get_settings
    from .service.retention import purge

    settings = get_settings()
    days = args.days if args.days is not None else settings.retention_days
    if not args.session and not days:
        print(
            "nothing to do: give --days N or --session ID (or set PROCTOR_RETENTION_DAYS)",
            file=sys.stderr,
        )
        return 1
    removed = asyncio.run(purge(settings, days=days, session_ids=args.session))
    print(f"purged {len(removed)} session(s)")
    return 0


def add_security_commands(sub) -> None:
    keys = sub.add_parser("keys", help="proctor keys (hashes) and the embedding key")
    ksub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    ksub.add_parser("new", help="print a new proctor key and its hash").set_defaults(
        func=cmd_keys_new
    )
    hashp = ksub.add_parser("hash", help="print the sha256: hash of a key for the setting")
    hashp.add_argument("key", nargs="?", default=None, help="the key (default: read stdin)")
    hashp.set_defaults(func=cmd_keys_hash)
    rot = ksub.add_parser(
        "rotate-embedding", help="re-encrypt every stored face embedding under a new key"
    )
    rot.add_argument("--new-key", default=None, help="base64 of 32 bytes (default: generated)")
    rot.set_defaults(func=cmd_keys_rotate_embedding)

    purge = sub.add_parser(
        "purge", help="delete ended sessions older than N days (or named ones), jobs and files"
    )
    purge.add_argument("--days", type=float, default=None, help="default PROCTOR_RETENTION_DAYS")
    purge.add_argument("--session", action="append", default=[], help="a session id (repeatable)")
    purge.set_defaults(func=cmd_purge)
