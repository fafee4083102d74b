"""Pushes across replicas (server/realtime/bus.py): PostgreSQL LISTEN/NOTIFY between hubs.

The message format and settings are checked without a database; the delivery between
two hubs (two replicas in one process, each with its own connections) runs on the
throw-away PostgreSQL cluster of tests/conftest.py.
"""

from __future__ import annotations

import asyncio

import pytest

from server.config import Settings
from server.realtime import make_bus
from server.realtime.bus import MAX_PAYLOAD, PgEventBus, conninfo_from_url, decode, encode
from server.realtime.hub import DASHBOARD, PushHub, session_room


def test_message_round_trip():
    text = encode("replica-a", "s1", "alert", {"type": "multiple_faces", "score": 0.5})
    assert decode(text) == ("replica-a", "s1", "alert", {"type": "multiple_faces", "score": 0.5})


def test_oversized_event_is_not_encoded():
    assert encode("a", "s1", "frame_result", {"text": "x" * MAX_PAYLOAD}) is None


def test_unreadable_message_is_none():
    assert decode("not json") is None
    assert decode('{"o": "a"}') is None


def test_conninfo_drops_the_sqlalchemy_driver():
    assert (
        conninfo_from_url("postgresql+psycopg://u:p@db:5432/proctor")
        == "postgresql://u:p@db:5432/proctor"
    )
    with pytest.raises(ValueError):
        conninfo_from_url("sqlite:///x.db")


def test_bus_only_with_a_postgresql_store(tmp_path):
    assert make_bus(Settings(data_dir=tmp_path)) is None  # SQLite: one process, nothing to share
    pg = "postgresql+psycopg://u@db/proctor"
    assert isinstance(make_bus(Settings(data_dir=tmp_path, database_url=pg)), PgEventBus)
    assert make_bus(Settings(data_dir=tmp_path, database_url=pg, push_bus="off")) is None


class FakeService:
    def __init__(self):
        self.listeners = []

    def subscribe(self, listener) -> None:
        self.listeners.append(listener)

    def unsubscribe(self, listener) -> None:
        self.listeners.remove(listener)


class Sink:
    def __init__(self):
        self.events: list[tuple[str, dict]] = []

    def deliver(self, event: str, data: dict) -> None:
        self.events.append((event, data))


async def wait_for(cond, timeout: float = 15.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def test_events_reach_the_other_replicas_clients_in_order(postgres_url):
    async def scenario():
        replicas = []
        for _ in range(2):
            hub, service, bus = PushHub(), FakeService(), PgEventBus(postgres_url, retry_s=0.5)
            await hub.start(service, bus)
            replicas.append((hub, service, bus))
        try:
            for _, _, bus in replicas:
                assert await wait_for(bus.listening.is_set), "LISTEN connection did not come up"
            (hub_a, service_a, _), (hub_b, _, _) = replicas
            dash_a, dash_b, room_b = Sink(), Sink(), Sink()
            hub_a.subscribe(DASHBOARD, dash_a)
            hub_b.subscribe(DASHBOARD, dash_b)
            hub_b.subscribe(session_room("s1"), room_b)

            for i in range(20):  # as the service raises them on replica A
                for listener in service_a.listeners:
                    listener("s1", "alert", {"type": "looking_away", "n": i})
            for listener in service_a.listeners:
                listener(
                    "s1",
                    "frame_result",
                    {"frame_number": 21, "face_count": 1, "metrics": {"eye_contact": 80}},
                )

            assert await wait_for(lambda: len(dash_b.events) == 21 and len(room_b.events) == 21)
            assert [d["alert"]["n"] for e, d in dash_b.events if e == "alert"] == list(range(20))
            assert (
                dash_b.events[-1][0] == "frame_summary" and dash_b.events[-1][1]["face_count"] == 1
            )
            assert (
                room_b.events[-1][0] == "frame_result"
                and room_b.events[-1][1]["result"]["frame_number"] == 21
            )
            await asyncio.sleep(0.5)  # A's own notifications come back too: they must be dropped
            assert len(dash_a.events) == 21
        finally:
            for hub, _, _ in replicas:
                await hub.stop()

    asyncio.run(scenario())
