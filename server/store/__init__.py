"""Persistence behind one interface: ``SessionStore``.  SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

from .jobs import JobRecord
from .records import AlertRecord, FrameRecord, SessionRecord, StaleSession, VerificationRecord
from .sql import SqlSessionStore

SessionStore = SqlSessionStore


def open_store(url: str) -> SessionStore:
    return SqlSessionStore(url)


__all__ = [
    "AlertRecord",
    "FrameRecord",
    "JobRecord",
    "SessionRecord",
    "SessionStore",
    "StaleSession",
    "VerificationRecord",
    "open_store",
]
