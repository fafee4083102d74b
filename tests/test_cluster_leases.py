"""Job ownership without models: leases, heartbeats, take-over and the procrastinate delivery,
on SQLite and on a throw-away PostgreSQL (tests/conftest.py).  The whole cluster (replicas,
nginx, kill -9) is tests/test_cluster.py."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from server.store import JobRecord, open_store
from server.store import schema as tables

T0 = dt.datetime(2026, 12, 1, 12, 0, 0)
LEASE = 30.0


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        st = open_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    else:
        st = open_store(request.getfixturevalue("postgres_url"))
        with st.engine.begin() as c:
            c.execute(tables.jobs.delete())
    yield st
    st.close()


def queue_job(store, job_id: str = "j1", state: str = "queued", **extra) -> None:
    store.create_job(
        JobRecord(
            id=job_id,
            kind="video",
            state=state,
            source="a.mp4",
            path="/media/a.mp4",
            owns_file=False,
            params={"frame_interval": 10},
            created_at=T0,
            updated_at=extra.pop("updated_at", T0),
            **extra,
        )
    )


def test_a_leased_job_is_never_taken_and_an_expired_one_is(store):
    queue_job(store)
    job = store.claim_next_job(at(0), owner="A", lease_s=LEASE, take_over=True)
    assert job is not None and job.owner == "A" and job.lease_expires_at == at(LEASE)
    # B starting, at any time within A's lease, finds nothing to take
    assert store.claim_next_job(at(29), owner="B", lease_s=LEASE, take_over=True) is None
    assert store.claim_job("j1", at(29), "B", LEASE) is None
    assert store.interrupt_running_jobs(at(29), "stopped", LEASE) == []
    # A's heartbeat moves the lease on; B still cannot take it
    assert store.renew_lease("j1", "A", at(25), LEASE)
    assert store.claim_job("j1", at(40), "B", LEASE) is None
    assert store.expired_jobs(at(40), LEASE) == []
    # A stops beating (killed): after the lease, B takes it over and A's writes no longer land
    assert store.expired_jobs(at(56), LEASE) == ["j1"]
    taken = store.claim_job("j1", at(56), "B", LEASE)
    assert taken is not None and taken.owner == "B" and taken.attempts == 2
    assert not store.renew_lease("j1", "A", at(57), LEASE)
    assert not store.job_progress("j1", 3, 10, None, at(57), owner="A", lease_s=LEASE)
    assert not store.finish_job("j1", "done", at(57), owner="A")
    assert store.job_progress("j1", 4, 10, 1.0, at(58), owner="B", lease_s=LEASE)
    assert store.finish_job("j1", "done", at(60), owner="B")
    done = store.get_job("j1")
    assert done is not None and done.state == "done" and done.frames_done == 4


def test_sqlite_style_runner_interrupts_only_dead_owners_jobs(store):
    queue_job(store, "live")
    queue_job(store, "dead")
    assert store.claim_next_job(at(0), owner="A", lease_s=LEASE).id == "dead"  # oldest, then id
    assert store.claim_next_job(at(0), owner="B", lease_s=LEASE).id == "live"
    assert store.renew_lease("live", "B", at(20), LEASE)  # B is alive; A was killed
    # a replica starting at 40 s: only the job whose owner stopped beating is interrupted
    assert store.interrupt_running_jobs(at(40), "stopped", LEASE) == ["dead"]
    assert store.get_job("live").state == "running"
    assert store.get_job("dead").state == "interrupted"
    # without take_over, an expired job is not claimed either (it waits for a resume)
    assert store.claim_next_job(at(100), owner="C", lease_s=LEASE) is None


def test_a_job_of_the_previous_release_counts_as_expired_once_idle(store):
    queue_job(store, "old", state="running", updated_at=at(0))  # no owner, no lease
    assert store.expired_jobs(at(10), LEASE) == []  # it may still be making progress
    assert store.expired_jobs(at(31), LEASE) == ["old"]
    assert store.claim_job("old", at(31), "B", LEASE) is not None


def test_release_hands_the_job_to_the_next_claimer(store):
    queue_job(store)
    assert store.claim_next_job(at(0), owner="A", lease_s=LEASE) is not None
    assert not store.release_job("j1", "B", at(1))  # not B's to release
    assert store.release_job("j1", "A", at(1))
    job = store.claim_next_job(at(2), owner="B", lease_s=LEASE)
    assert job is not None and job.owner == "B"


def test_held_cancels_the_work_when_the_lease_is_taken_over(store):
    from server.service.queue import LeaseLost, held

    queue_job(store)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert store.claim_job("j1", now, "A", 0.6) is not None
    renewed: list[bool] = []

    async def run() -> None:
        async with held(store, "j1", "A", 0.6):
            await asyncio.sleep(0.5)  # two heartbeats keep it
            renewed.append(store.get_job("j1").lease_expires_at > now)
            with store.engine.begin() as c:  # another owner takes the job over
                c.execute(tables.jobs.update().values(owner="B"))
            await asyncio.sleep(30)  # cancelled at the next heartbeat, long before this

    with pytest.raises(LeaseLost):
        asyncio.run(asyncio.wait_for(run(), timeout=20))
    assert renewed == [True]


def test_procrastinate_sweeper_delivers_stranded_jobs(postgres_url):
    """A queued row without a delivery, and a running row whose owner died, are both
    delivered again; a job under a live lease is not."""
    from server.config import Settings
    from server.service.queue import ProcrastinateQueue

    store = open_store(postgres_url)
    with store.engine.begin() as c:
        c.execute(tables.jobs.delete())
        c.exec_driver_sql("DELETE FROM procrastinate_jobs")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    old = now - dt.timedelta(minutes=5)
    queue_job(store, "lost-delivery", updated_at=old)
    queue_job(store, "dead-owner", state="running", updated_at=old)
    queue_job(store, "alive")
    assert store.claim_job("alive", now, "A", 300) is not None
    settings = Settings(database_url=postgres_url, job_lease_s=30)
    delivered: list[str] = []

    async def run_one(job_id: str, attempts: int) -> None:
        delivered.append(job_id)

    async def go() -> int:
        queue = ProcrastinateQueue(settings, store, run_one, owner="test")
        await queue.open()
        try:
            made = await queue.sweep()
            again = await queue.sweep()  # a delivery already waiting is not doubled
            await queue.app.run_worker_async(
                queues=["video"], wait=False, install_signal_handlers=False
            )
            return made, again
        finally:
            await queue.close()

    try:
        assert asyncio.run(go()) == (2, 0)
        assert sorted(delivered) == ["dead-owner", "lost-delivery"]
    finally:
        store.close()


def test_procrastinate_retries_internal_errors_with_exponential_backoff():
    """PROCTOR_JOB_RETRIES=2, PROCTOR_JOB_RETRY_BACKOFF_S=3: waits of 3 s then 9 s, then no more."""
    import procrastinate

    from server.config import Settings
    from server.service.queue import ProcrastinateQueue

    settings = Settings(
        database_url="postgresql+psycopg://u@127.0.0.1:9/none", job_retries=2, job_retry_backoff_s=3
    )

    async def run_one(job_id: str, attempts: int) -> None:
        raise AssertionError("never run here")

    queue = ProcrastinateQueue(settings, None, run_one, owner="test")  # type: ignore[arg-type]
    strategy = queue.task.retry_strategy
    waits = []
    for attempts in range(3):
        job = procrastinate.jobs.Job(
            id=1, queue="video", lock=None, queueing_lock=None, task_name="t", attempts=attempts
        )
        before = dt.datetime.now(dt.UTC)
        decision = strategy.get_retry_decision(exception=RuntimeError("x"), job=job)
        after = dt.datetime.now(dt.UTC)
        if decision is None:
            waits.append(None)
            continue
        # retry_at = the decision's now + the wait: bracketed by the clock read either side
        low, high = decision.retry_at - after, decision.retry_at - before
        waits.append(next(w for w in (3, 9, 27) if low <= dt.timedelta(seconds=w) <= high))
    assert waits == [3, 9, None]
