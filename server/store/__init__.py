"""Persistence behind one interface: ``SessionStore``.  SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

from .jobs import JobRecord
from .migrate import SchemaNotCurrent
from .records import AlertRecord, FrameRecord, SessionRecord, StaleSession, VerificationRecord
from .sql import SqlSessionStore

SessionStore = SqlSessionStore


def open_store(url: str, upgrade: str = "auto") -> SessionStore:
    """``upgrade``: PROCTOR_DB_UPGRADE; raises ``SchemaNotCurrent`` for a schema it may not upgrade."""
    return SqlSessionStore(url, upgrade)


__all__ = [
    "AlertRecord",
    "FrameRecord",
    "JobRecord",
    "SchemaNotCurrent",
    "SessionRecord",
    "SessionStore",
    "StaleSession",
    "VerificationRecord",
    "open_store",
]
