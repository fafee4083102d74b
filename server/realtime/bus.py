"""Pushes across replicas: PostgreSQL ``LISTEN``/``NOTIFY`` between the servers' hubs.

Several ``proctor serve`` processes behind one load balancer share their state in
PostgreSQL; without this, a dashboard connected to one of them would see only the
sessions whose frames reach that one.  Each hub publishes the service events it
raises (``pg_notify`` on the channel ``proctor_events``, a JSON message with the hub's
``origin``) and listens on the same channel: events from the other replicas enter its
own fan-out, its own come back and are dropped.  PostgreSQL delivers notifications in
commit order, so a room sees one replica's events in the order they were raised.

NOTIFY payloads are limited to 8,000 bytes: a larger event (a frame result with many
text regions, say) is left to its own replica, with a warning.  A lost connection is
retried every ``retry_s``; events raised while it is down reach the local clients only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable

from ..config import Settings

log = logging.getLogger(__name__)

CHANNEL = "proctor_events"
MAX_PAYLOAD = 7900  # PostgreSQL's limit is 8000 bytes

Deliver = Callable[[str, str, dict], None]


def on_loop(loop: asyncio.AbstractEventLoop, fn: Callable, *args) -> None:
    """Run ``fn(*args)`` on ``loop``: now when called on it, else scheduled from this thread."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:  # a worker thread
        running = None
    if running is loop:
        fn(*args)
    else:
        loop.call_soon_threadsafe(fn, *args)


def conninfo_from_url(url: str) -> str:
    """SQLAlchemy's ``postgresql+psycopg://...`` -> a libpq URL psycopg connects with."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.startswith("postgresql"):
        raise ValueError(f"not a PostgreSQL URL: {scheme}://...")
    return f"postgresql://{rest}"


def encode(origin: str, session_id: str, event: str, payload: dict) -> str | None:
    """The NOTIFY payload, or None when it is over PostgreSQL's limit."""
    text = json.dumps(
        {"o": origin, "s": session_id, "e": event, "p": payload}, separators=(",", ":"), default=str
    )
    return text if len(text.encode()) <= MAX_PAYLOAD else None


def decode(text: str) -> tuple[str, str, str, dict] | None:
    try:
        msg = json.loads(text)
        return str(msg["o"]), str(msg["s"]), str(msg["e"]), dict(msg["p"])
    except (ValueError, KeyError, TypeError):
        return None


def make_bus(settings: Settings) -> PgEventBus | None:
    """The cross-replica bus the settings ask for (``PROCTOR_PUSH_BUS``), or None."""
    if settings.push_bus == "off" or not settings.sqlalchemy_url.startswith("postgresql"):
        return None
    return PgEventBus(settings.sqlalchemy_url)


class PgEventBus:
    def __init__(self, url: str, retry_s: float = 2.0, origin: str | None = None):
        self.conninfo = conninfo_from_url(url)
        self.origin = origin or uuid.uuid4().hex
        self.retry_s = retry_s
        self.listening = asyncio.Event()  # set while the LISTEN connection is up
        self._deliver: Deliver | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outbox: asyncio.Queue | None = None
        self._tasks: list[asyncio.Task] = []

    async def start(self, deliver: Deliver) -> None:
        """``deliver(session_id, event, payload)`` is called on the loop for other replicas' events."""
        self._deliver = deliver
        self._loop = asyncio.get_running_loop()
        self._outbox = asyncio.Queue(maxsize=10_000)
        self._tasks = [
            asyncio.create_task(self._listen(), name="push-bus-listen"),
            asyncio.create_task(self._publish(), name="push-bus-publish"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # --- out ----------------------------------------------------------------------------
    def publish(self, session_id: str, event: str, payload: dict) -> None:
        """Queue one event for the other replicas; callable from any thread, never blocks."""
        if self._outbox is None or self._loop is None:
            return
        text = encode(self.origin, session_id, event, payload)
        if text is None:
            log.warning(
                "push event %s of session %s is over %d bytes: not sent to other replicas",
                event,
                session_id,
                MAX_PAYLOAD,
            )
            return
        on_loop(self._loop, self._enqueue, text)

    def _enqueue(self, text: str) -> None:
        assert self._outbox is not None  # publish() enqueues only once started
        try:
            self._outbox.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("push bus backlog full: an event was not sent to other replicas")

    async def _publish(self) -> None:
        import psycopg

        outbox = self._outbox
        assert outbox is not None  # start() makes it before this task
        pending: str | None = None
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True
                ) as conn:
                    while True:
                        pending = pending or await outbox.get()
                        await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, pending))
                        pending = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database away: keep the event, retry
                log.warning(
                    "push bus: publishing failed (%s); retrying in %.0f s", exc, self.retry_s
                )
                await asyncio.sleep(self.retry_s)

    # --- in -----------------------------------------------------------------------------
    async def _listen(self) -> None:
        import psycopg

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    async for note in conn.notifies():
                        msg = decode(note.payload)
                        if msg is None:
                            log.warning("push bus: unreadable message on %s", CHANNEL)
                            continue
                        origin, session_id, event, payload = msg
                        if origin != self.origin and self._deliver is not None:
                            self._deliver(session_id, event, payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "push bus: listening failed (%s); retrying in %.0f s", exc, self.retry_s
                )
            self.listening.clear()
            await asyncio.sleep(self.retry_s)
