"""Background jobs in the store (the ``jobs`` table): records and the SQL methods.

``JobStore`` is mixed into ``SqlSessionStore`` (it needs only ``self.engine``).  Every
state change is one conditional UPDATE, so two workers (or two replicas on PostgreSQL)
never both claim a job, and a job that finished cannot be marked interrupted later.

A running job has an ``owner`` (a replica or worker id) and a lease the owner renews
(``renew_lease``, progress writes renew it too).  Nobody touches a job under a live lease;
an expired one (its owner died) is taken over (``claim_*`` with ``take_over``) or, where
jobs are not taken over (SQLite's in-process runner), marked interrupted.  A job of the
0.1.0 release has no lease: it counts as expired once it made no progress for a lease.
Writes by an owner name it, so a worker that lost its lease cannot overwrite the new one's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from . import schema

QUEUED, RUNNING, DONE, FAILED, INTERRUPTED = "queued", "running", "done", "failed", "interrupted"
STATES = (QUEUED, RUNNING, DONE, FAILED, INTERRUPTED)
RESUMABLE = (FAILED, INTERRUPTED)


@dataclass
class JobRecord:
    id: str
    kind: str
    state: str
    source: str
    path: str
    owns_file: bool
    params: dict
    created_at: dt.datetime  # naive UTC
    updated_at: dt.datetime
    session_id: str | None = None
    frames_done: int = 0
    frames_total: int = 0
    eta_seconds: float | None = None
    error: str | None = None
    attempts: int = 0
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    owner: str | None = None
    heartbeat_at: dt.datetime | None = None
    lease_expires_at: dt.datetime | None = None


def _row_to_job(row) -> JobRecord:
    m = row._mapping
    return JobRecord(
        id=m["id"],
        kind=m["kind"],
        state=m["state"],
        source=m["source"],
        path=m["path"],
        owns_file=m["owns_file"],
        params=m["params"] or {},
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        session_id=m["session_id"],
        frames_done=m["frames_done"],
        frames_total=m["frames_total"],
        eta_seconds=m["eta_seconds"],
        error=m["error"],
        attempts=m["attempts"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        owner=m["owner"],
        heartbeat_at=m["heartbeat_at"],
        lease_expires_at=m["lease_expires_at"],
    )


def _lease_expired(now: dt.datetime, lease_s: float):
    """SQL: a running job whose owner stopped renewing (or a 0.1.0 job idle for a lease)."""
    j = schema.jobs.c
    return sa.and_(
        j.state == RUNNING,
        sa.or_(
            j.lease_expires_at < now,
            sa.and_(
                j.lease_expires_at.is_(None), j.updated_at < now - dt.timedelta(seconds=lease_s)
            ),
        ),
    )


def _mine(owner: str | None):
    j = schema.jobs.c
    return sa.true() if owner is None else j.owner == owner


class JobStore:
    engine: sa.engine.Engine

    def create_job(self, rec: JobRecord) -> None:
        with self.engine.begin() as c:
            c.execute(
                schema.jobs.insert().values(
                    id=rec.id,
                    kind=rec.kind,
                    state=rec.state,
                    source=rec.source[:2048],
                    path=rec.path,
                    owns_file=rec.owns_file,
                    params=rec.params,
                    session_id=rec.session_id,
                    frames_done=rec.frames_done,
                    frames_total=rec.frames_total,
                    eta_seconds=None,
                    error=None,
                    attempts=rec.attempts,
                    created_at=rec.created_at,
                    started_at=None,
                    finished_at=None,
                    updated_at=rec.updated_at,
                )
            )

    def get_job(self, job_id: str) -> JobRecord | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(schema.jobs).where(schema.jobs.c.id == job_id)).first()
        return _row_to_job(row) if row else None

    def list_jobs(self, limit: int = 100, state: str | None = None) -> list[JobRecord]:
        j = schema.jobs.c
        query = sa.select(schema.jobs).order_by(j.created_at.desc(), j.id).limit(limit)
        if state:
            query = query.where(j.state == state)
        with self.engine.connect() as c:
            return [_row_to_job(r) for r in c.execute(query).all()]

    def claim_next_job(
        self,
        now: dt.datetime,
        kind: str = "video",
        owner: str | None = None,
        lease_s: float = 30.0,
        take_over: bool = False,
    ) -> JobRecord | None:
        """The oldest queued job (with ``take_over``, or one whose lease expired), now ``running``
        and owned by ``owner`` for ``lease_s``; None when there is none."""
        j = schema.jobs.c
        claimable = self._claimable(now, lease_s, take_over)
        while True:
            with self.engine.connect() as c:
                row = c.execute(
                    sa.select(j.id)
                    .where(claimable, j.kind == kind)
                    .order_by(j.created_at, j.id)
                    .limit(1)
                ).first()
            if row is None:
                return None
            job = self._claim(row.id, claimable, now, owner, lease_s)
            if job is not None:
                return job
            # another worker took it between the select and the update: look again

    def claim_job(
        self, job_id: str, now: dt.datetime, owner: str, lease_s: float, take_over: bool = True
    ) -> JobRecord | None:
        """This job, if it is queued or (``take_over``) its lease expired; None otherwise."""
        return self._claim(job_id, self._claimable(now, lease_s, take_over), now, owner, lease_s)

    @staticmethod
    def _claimable(now: dt.datetime, lease_s: float, take_over: bool):
        j = schema.jobs.c
        return (
            sa.or_(j.state == QUEUED, _lease_expired(now, lease_s))
            if take_over
            else (j.state == QUEUED)
        )

    def _claim(self, job_id, claimable, now, owner, lease_s) -> JobRecord | None:
        j = schema.jobs.c
        with self.engine.begin() as c:
            res = c.execute(
                schema.jobs.update()
                .where(j.id == job_id, claimable)
                .values(
                    state=RUNNING,
                    started_at=now,
                    updated_at=now,
                    finished_at=None,
                    error=None,
                    eta_seconds=None,
                    attempts=j.attempts + 1,
                    owner=owner,
                    heartbeat_at=now,
                    lease_expires_at=now + dt.timedelta(seconds=lease_s),
                )
            )
        return self.get_job(job_id) if res.rowcount == 1 else None

    def renew_lease(self, job_id: str, owner: str, now: dt.datetime, lease_s: float) -> bool:
        """The owner's heartbeat; False when the job is no longer its own (taken over or ended)."""
        j = schema.jobs.c
        with self.engine.begin() as c:
            res = c.execute(
                schema.jobs.update()
                .where(j.id == job_id, j.owner == owner, j.state == RUNNING)
                .values(heartbeat_at=now, lease_expires_at=now + dt.timedelta(seconds=lease_s))
            )
        return res.rowcount == 1

    def release_job(self, job_id: str, owner: str, now: dt.datetime) -> bool:
        """``running`` -> ``queued`` by its owner (stopping, or a retry): another may take it now."""
        j = schema.jobs.c
        with self.engine.begin() as c:
            res = c.execute(
                schema.jobs.update()
                .where(j.id == job_id, j.owner == owner, j.state == RUNNING)
                .values(
                    state=QUEUED,
                    owner=None,
                    lease_expires_at=None,
                    eta_seconds=None,
                    updated_at=now,
                )
            )
        return res.rowcount == 1

    def expired_jobs(self, now: dt.datetime, lease_s: float, kind: str = "video") -> list[str]:
        """Running jobs whose owner stopped renewing its lease."""
        j = schema.jobs.c
        with self.engine.connect() as c:
            rows = c.execute(
                sa.select(j.id).where(_lease_expired(now, lease_s), j.kind == kind)
            ).all()
        return [r.id for r in rows]

    def queued_since(self, before: dt.datetime, kind: str = "video") -> list[str]:
        """Jobs queued (or requeued) before ``before`` and still waiting."""
        j = schema.jobs.c
        with self.engine.connect() as c:
            rows = c.execute(
                sa.select(j.id)
                .where(j.state == QUEUED, j.kind == kind, j.updated_at < before)
                .order_by(j.created_at)
            ).all()
        return [r.id for r in rows]

    def set_job_session(self, job_id: str, session_id: str, now: dt.datetime) -> None:
        with self.engine.begin() as c:
            c.execute(
                schema.jobs.update()
                .where(schema.jobs.c.id == job_id)
                .values(session_id=session_id, updated_at=now)
            )

    def job_progress(
        self,
        job_id: str,
        frames_done: int,
        frames_total: int,
        eta_seconds: float | None,
        now: dt.datetime,
        owner: str | None = None,
        lease_s: float | None = None,
    ) -> bool:
        """Progress of a running job (by its owner, renewing its lease); False when not its own."""
        j = schema.jobs.c
        values: dict = dict(
            frames_done=frames_done,
            frames_total=frames_total,
            eta_seconds=eta_seconds,
            updated_at=now,
        )
        if owner is not None and lease_s is not None:
            values.update(heartbeat_at=now, lease_expires_at=now + dt.timedelta(seconds=lease_s))
        with self.engine.begin() as c:
            res = c.execute(
                schema.jobs.update()
                .where(j.id == job_id, j.state == RUNNING, _mine(owner))
                .values(**values)
            )
        return res.rowcount == 1

    def finish_job(
        self,
        job_id: str,
        state: str,
        now: dt.datetime,
        error: str | None = None,
        owner: str | None = None,
    ) -> bool:
        """``running`` -> done | failed | interrupted (by ``owner`` when given); False if the job
        was not running (or not its own)."""
        j = schema.jobs.c
        values = dict(
            state=state,
            finished_at=now,
            updated_at=now,
            error=(error or None) and error[:1000],
            lease_expires_at=None,
        )
        if state == DONE:
            values["eta_seconds"] = 0.0
        with self.engine.begin() as c:
            res = c.execute(
                schema.jobs.update()
                .where(j.id == job_id, j.state == RUNNING, _mine(owner))
                .values(**values)
            )
        return res.rowcount > 0

    def requeue_job(
        self, job_id: str, now: dt.datetime, from_states: tuple[str, ...] = RESUMABLE
    ) -> bool:
        j = schema.jobs.c
        with self.engine.begin() as c:
            res = c.execute(
                schema.jobs.update()
                .where(j.id == job_id, j.state.in_(from_states))
                .values(
                    state=QUEUED,
                    updated_at=now,
                    finished_at=None,
                    eta_seconds=None,
                    error=None,
                    owner=None,
                    lease_expires_at=None,
                )
            )
        return res.rowcount > 0

    def interrupt_running_jobs(
        self, now: dt.datetime, message: str, lease_s: float = 30.0
    ) -> list[str]:
        """Running jobs whose owner died (lease expired) -> ``interrupted``.  A job under a live
        lease is another process's: a replica starting on a shared database leaves it alone."""
        j = schema.jobs.c
        expired = _lease_expired(now, lease_s)
        with self.engine.begin() as c:
            ids = [r.id for r in c.execute(sa.select(j.id).where(expired)).all()]
            if ids:
                c.execute(
                    schema.jobs.update()
                    .where(j.id.in_(ids), expired)
                    .values(
                        lease_expires_at=None,
                        state=INTERRUPTED,
                        finished_at=now,
                        updated_at=now,
                        eta_seconds=None,
                        error=message,
                    )
                )
        return ids

    def delete_job(self, job_id: str) -> bool:
        with self.engine.begin() as c:
            res = c.execute(schema.jobs.delete().where(schema.jobs.c.id == job_id))
        return res.rowcount > 0
