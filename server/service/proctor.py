"""``ProctorService``: the use cases over one shared context; api, realtime and video jobs hold it.

service.identity   register-face, verify-document              (identity.py)
service.frames     analyse a frame or a decoded video frame     (frames.py)
service.sessions   start, end + report, delete, idle clean-up   (lifecycle.py)
service.reads      status, metrics, alerts, timeline, report    (reads.py)
"""

from __future__ import annotations

from ..config import Settings
from .audio import Listening
from .context import Listener, ServiceContext
from .frames import Frames
from .identity import Identity
from .lifecycle import SessionLifecycle
from .reads import Reads


class ProctorService:
    def __init__(self, ctx: ServiceContext):
        self.ctx = ctx
        self.identity = Identity(self.ctx)
        self.frames = Frames(self.ctx)
        self.sessions = SessionLifecycle(self.ctx)
        self.reads = Reads(self.ctx)
        self.listening = Listening(self.ctx)

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    def subscribe(self, listener: Listener) -> None:
        """``listener(session_id, event, payload)`` after every change (the push hub)."""
        self.ctx.listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self.ctx.listeners:
            self.ctx.listeners.remove(listener)
