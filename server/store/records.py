"""Plain records the store reads and writes; the service and the domain use these."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from ..proctoring.alerts import Alert as AlertRecord  # noqa: F401  (stored as is)


class StaleSession(Exception):
    """The session changed since it was read (another writer, or it ended)."""


@dataclass
class SessionRecord:
    id: str
    status: str  # active | ended
    start_time: dt.datetime  # naive UTC
    last_activity: float
    job_data: dict = field(default_factory=dict)
    end_time: dt.datetime | None = None
    end_reason: str | None = None
    frames_received: int = 0
    frames_analyzed: int = 0
    alert_count: int = 0
    face_embedding: np.ndarray | None = None
    embedder: str | None = None
    registration: dict | None = None
    document: dict | None = None
    state: dict = field(default_factory=dict)
    version: int = 0
    report: dict | None = None
    kind: str = "live"

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @property
    def face_registered(self) -> bool:
        return self.registration is not None


@dataclass
class FrameRecord:
    frame_number: int
    timestamp: float
    analyzed: bool
    result: dict | None
    signals: dict | None = None


@dataclass
class VerificationRecord:
    frame_number: int | None
    timestamp: float
    verified: bool
    similarity: float
    message: str
    threshold: float
