"""Background jobs in the store (the ``jobs`` table): records and the SQL methods.

``JobStore`` is mixed into ``SqlSessionStore`` (it needs only ``self.engine``).  Every
state change is one conditional UPDATE, so two workers (or two replicas on PostgreSQL)
never both claim a job, and a job that finished cannot be marked interrupted later.
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
    )


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

    def claim_next_job(self, now: dt.datetime, kind: str = "video") -> JobRecord | None:
        """The oldest queued job, now ``running`` and owned by the caller; None when none is queued."""
        j = schema.jobs.c
        while True:
            with self.engine.begin() as c:
                row = c.execute(
                    sa.select(j.id)
                    .where(j.state == QUEUED, j.kind == kind)
                    .order_by(j.created_at, j.id)
                    .limit(1)
                ).first()
                if row is None:
                    return None
                res = c.execute(
                    schema.jobs.update()
                    .where(j.id == row.id, j.state == QUEUED)
                    .values(
                        state=RUNNING,
                        started_at=now,
                        updated_at=now,
                        finished_at=None,
                        error=None,
                        eta_seconds=None,
                        attempts=j.attempts + 1,
                    )
                )
            if res.rowcount == 1:
                return self.get_job(row.id)
            # another worker took it between the select and the update: look again

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
    ) -> None:
        j = schema.jobs.c
        with self.engine.begin() as c:
            c.execute(
                schema.jobs.update()
                .where(j.id == job_id, j.state == RUNNING)
                .values(
                    frames_done=frames_done,
                    frames_total=frames_total,
                    eta_seconds=eta_seconds,
                    updated_at=now,
                )
            )

    def finish_job(
        self, job_id: str, state: str, now: dt.datetime, error: str | None = None
    ) -> bool:
        """``running`` -> done | failed | interrupted; False if the job was not running."""
        j = schema.jobs.c
        values = dict(
            state=state, finished_at=now, updated_at=now, error=(error or None) and error[:1000]
        )
        if state == DONE:
            values["eta_seconds"] = 0.0
        with self.engine.begin() as c:
            res = c.execute(
                schema.jobs.update().where(j.id == job_id, j.state == RUNNING).values(**values)
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
                    state=QUEUED, updated_at=now, finished_at=None, eta_seconds=None, error=None
                )
            )
        return res.rowcount > 0

    def interrupt_running_jobs(self, now: dt.datetime, message: str) -> list[str]:
        """Jobs a previous process left ``running`` -> ``interrupted`` (at start-up)."""
        j = schema.jobs.c
        with self.engine.begin() as c:
            ids = [r.id for r in c.execute(sa.select(j.id).where(j.state == RUNNING)).all()]
            if ids:
                c.execute(
                    schema.jobs.update()
                    .where(j.id.in_(ids), j.state == RUNNING)
                    .values(
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
