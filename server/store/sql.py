"""``SessionStore`` on SQLAlchemy Core: SQLite (WAL) by default, PostgreSQL by URL.

Every write that belongs together happens in one transaction, so a ``kill -9`` leaves
either the whole frame (result, verification, alerts, counters, rule state) or none of
it.  A session row carries a ``version``; ``commit_frame`` only applies when the
version it read is still current, so two replicas writing the same session cannot
interleave their rule state silently (the loser gets ``StaleSession`` and retries).
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import migrate, schema
from .jobs import JobStore
from .records import AlertRecord, FrameRecord, SessionRecord, StaleSession, VerificationRecord

if TYPE_CHECKING:
    from ..security.secrets import EmbeddingCipher

log = logging.getLogger(__name__)


def _sqlite_pragmas(dbapi_conn, _record):
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes with WAL
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute(
        "PRAGMA secure_delete=ON"
    )  # a deleted session's bytes are zeroed, not left in free pages
    cur.close()


def create_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 5})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _row_to_session(row, cipher=None) -> SessionRecord:
    emb = None
    if row.face_embedding is not None:
        blob = row.face_embedding if cipher is None else cipher.decrypt(row.face_embedding, row.id)
        emb = np.frombuffer(blob, dtype=np.float32).copy()
    return SessionRecord(
        id=row.id,
        status=row.status,
        start_time=row.start_time,
        end_time=row.end_time,
        end_reason=row.end_reason,
        last_activity=row.last_activity,
        job_data=row.job_data or {},
        frames_received=row.frames_received,
        frames_analyzed=row.frames_analyzed,
        alert_count=row.alert_count,
        face_embedding=emb,
        embedder=row.embedder,
        registration=row.registration,
        document=row.document,
        state=row.state or {},
        version=row.version,
        report=row.report,
        kind=row.kind,
    )


class SqlSessionStore(JobStore):
    """The one store implementation; the URL picks the engine.  Job methods: ``JobStore``."""

    def __init__(self, url: str, upgrade: str = "auto"):
        """``upgrade``: PROCTOR_DB_UPGRADE (see ``migrate.prepare``); refuses a schema it may not upgrade."""
        self.url = url
        self.engine = create_engine(url)
        # AES-GCM for embeddings at rest (security.secrets.EmbeddingCipher), set by the runtime;
        # rows written before it (no version prefix) still read.
        self.embedding_cipher: EmbeddingCipher | None = None
        try:
            self.schema_revision = migrate.prepare(self.engine, upgrade).head
        except BaseException:
            self.engine.dispose()
            raise

    def schema_status(self) -> migrate.SchemaStatus:
        """Where the database's schema stands now (readiness: another release may have upgraded it)."""
        return migrate.status(self.engine)

    # --- sessions --------------------------------------------------------------------
    def create_session(self, rec: SessionRecord) -> None:
        with self.engine.begin() as c:
            c.execute(
                schema.sessions.insert().values(
                    id=rec.id,
                    status=rec.status,
                    start_time=rec.start_time,
                    end_time=None,
                    end_reason=None,
                    last_activity=rec.last_activity,
                    job_data=rec.job_data,
                    frames_received=0,
                    frames_analyzed=0,
                    alert_count=0,
                    state=rec.state or {},
                    version=0,
                    kind=rec.kind,
                )
            )

    def get_session(self, session_id: str) -> SessionRecord | None:
        with self.engine.connect() as c:
            row = c.execute(
                sa.select(schema.sessions).where(schema.sessions.c.id == session_id)
            ).first()
        return _row_to_session(row, self.embedding_cipher) if row else None

    def list_sessions(self) -> list[SessionRecord]:
        cols = [c for c in schema.sessions.c if c.name not in ("report", "face_embedding", "state")]
        with self.engine.connect() as c:
            rows = c.execute(sa.select(*cols).order_by(schema.sessions.c.start_time.desc())).all()
        out = []
        for row in rows:
            m = row._mapping
            out.append(
                SessionRecord(
                    id=m["id"],
                    status=m["status"],
                    start_time=m["start_time"],
                    end_time=m["end_time"],
                    end_reason=m["end_reason"],
                    last_activity=m["last_activity"],
                    job_data=m["job_data"] or {},
                    frames_received=m["frames_received"],
                    frames_analyzed=m["frames_analyzed"],
                    alert_count=m["alert_count"],
                    registration=m["registration"],
                    document=m["document"],
                    embedder=m["embedder"],
                    version=m["version"],
                    kind=m["kind"],
                )
            )
        return out

    def delete_session(self, session_id: str) -> bool:
        """Remove the session with its frames, alerts, verifications and video-job rows."""
        with self.engine.begin() as c:
            for table in (schema.alerts, schema.verifications, schema.frames, schema.jobs):
                c.execute(table.delete().where(table.c.session_id == session_id))
            res = c.execute(schema.sessions.delete().where(schema.sessions.c.id == session_id))
        self._forget_deleted()
        return res.rowcount > 0

    def _forget_deleted(self) -> None:
        """SQLite: fold the WAL into the file and truncate it, so no old page keeps deleted rows."""
        if self.engine.dialect.name != "sqlite":
            return
        try:
            with self.engine.connect() as c:
                c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        except sa.exc.SQLAlchemyError:
            log.warning("WAL checkpoint after a delete failed", exc_info=True)

    def ended_before(self, cutoff: dt.datetime) -> list[str]:
        """Ended sessions whose end is older than ``cutoff`` (retention)."""
        s = schema.sessions.c
        with self.engine.connect() as c:
            rows = c.execute(sa.select(s.id).where(s.status == "ended", s.end_time < cutoff))
            return [r.id for r in rows]

    def job_files(self, session_id: str) -> list[tuple[str, str, bool, str]]:
        """(job id, local path, owned, state) of the session's video jobs, for removal with it."""
        j = schema.jobs.c
        with self.engine.connect() as c:
            rows = c.execute(
                sa.select(j.id, j.path, j.owns_file, j.state).where(j.session_id == session_id)
            )
            return [(r.id, r.path, bool(r.owns_file), r.state) for r in rows]

    def unfinished_job_paths(self, states: tuple[str, ...]) -> list[str]:
        """Local files of jobs in ``states`` (the staging sweep keeps these)."""
        j = schema.jobs.c
        with self.engine.connect() as c:
            return [r.path for r in c.execute(sa.select(j.path).where(j.state.in_(states)))]

    def reseal_embeddings(self) -> tuple[int, int]:
        """Re-encrypt every stored embedding (the registration's, and the ID document's face
        kept in ``document["face_embedding"]``) with the cipher's current key; returns
        (embeddings re-written, embeddings)."""
        cipher = self.embedding_cipher
        s = schema.sessions.c
        changed = total = 0
        with self.engine.connect() as c:
            rows = c.execute(
                sa.select(s.id, s.face_embedding, s.document).where(
                    sa.or_(s.face_embedding.is_not(None), s.document.is_not(None))
                )
            ).all()
        for row in rows:
            values: dict = {}
            if row.face_embedding is not None:
                total += 1
                if cipher is not None and not cipher.current_key(row.face_embedding):
                    plain = cipher.decrypt(row.face_embedding, row.id)
                    values["face_embedding"] = cipher.encrypt(plain, row.id)
            doc = row.document if isinstance(row.document, dict) else {}
            text = doc.get("face_embedding")
            if isinstance(text, str) and text:
                total += 1
                blob = base64.b64decode(text)
                if cipher is not None and not cipher.current_key(blob):
                    sealed = cipher.encrypt(cipher.decrypt(blob, row.id), row.id)
                    values["document"] = {
                        **doc,
                        "face_embedding": base64.b64encode(sealed).decode(),
                    }
            if not values:
                continue
            with self.engine.begin() as c:
                c.execute(schema.sessions.update().where(s.id == row.id).values(**values))
            changed += len(values)
        return changed, total

    def _seal(self, session_id: str, embedding: np.ndarray) -> bytes:
        raw = np.asarray(embedding, np.float32).tobytes()
        cipher = self.embedding_cipher
        return raw if cipher is None else cipher.encrypt(raw, session_id)

    def touch(self, session_id: str, when: float) -> None:
        with self.engine.begin() as c:
            c.execute(
                schema.sessions.update()
                .where(schema.sessions.c.id == session_id)
                .values(last_activity=when)
            )

    def idle_sessions(self, older_than: float) -> list[str]:
        s = schema.sessions.c
        with self.engine.connect() as c:
            rows = c.execute(
                sa.select(s.id).where(
                    s.status == "active", s.kind == "live", s.last_activity < older_than
                )
            )
            return [r.id for r in rows]

    # --- identity ----------------------------------------------------------------------
    def save_registration(
        self, session_id: str, embedding: np.ndarray, embedder: str, info: dict, when: float
    ) -> bool:
        """Store the registration embedding unless one exists; False when already registered."""
        s = schema.sessions.c
        with self.engine.begin() as c:
            res = c.execute(
                schema.sessions.update()
                .where(s.id == session_id, s.face_embedding.is_(None))
                .values(
                    face_embedding=self._seal(session_id, embedding),
                    embedder=embedder,
                    registration=info,
                    last_activity=when,
                    version=s.version + 1,
                )
            )
        return res.rowcount > 0

    def save_document(
        self,
        session_id: str,
        document: dict,
        when: float,
        embedding: np.ndarray | None = None,
        embedder: str | None = None,
        registration: dict | None = None,
    ) -> bool:
        """Store the document result; register the live face too when given and none is registered.

        Returns True when the live face was registered by this call.
        """
        s = schema.sessions.c
        with self.engine.begin() as c:
            c.execute(
                schema.sessions.update()
                .where(s.id == session_id)
                .values(document=document, last_activity=when)
            )
            if embedding is None:
                return False
            res = c.execute(
                schema.sessions.update()
                .where(s.id == session_id, s.face_embedding.is_(None))
                .values(
                    face_embedding=self._seal(session_id, embedding),
                    embedder=embedder,
                    registration=registration,
                    version=s.version + 1,
                )
            )
            return res.rowcount > 0

    def save_identity(
        self,
        session_id: str,
        expected_version: int,
        when: float,
        *,
        state: dict | None = None,
        document: dict | None = None,
        document_face: np.ndarray | None = None,
        registration: dict | None = None,
        embedding: np.ndarray | None = None,
        embedder: str | None = None,
    ) -> bool:
        """One step of the identity chain (docs/cheating.md), written only if the session is
        still at ``expected_version``: the rule state, the document result (its face sealed
        like the registration's, under ``document["face_embedding"]``), and/or a registration
        that replaces any earlier one.  False when the session changed since it was read."""
        s = schema.sessions.c
        values: dict = {"last_activity": when, "version": s.version + 1}
        if state is not None:
            values["state"] = state
        if document is not None:
            document = dict(document)
            if document_face is not None:
                sealed = self._seal(session_id, document_face)
                document["face_embedding"] = base64.b64encode(sealed).decode()
            values["document"] = document
        if embedding is not None:
            values.update(
                face_embedding=self._seal(session_id, embedding),
                embedder=embedder,
                registration=registration,
            )
        with self.engine.begin() as c:
            res = c.execute(
                schema.sessions.update()
                .where(s.id == session_id, s.version == expected_version, s.status == "active")
                .values(**values)
            )
        return res.rowcount == 1

    def document_face(self, session: SessionRecord) -> np.ndarray | None:
        """The face of the session's ID document, as ``save_identity`` sealed it (None: none)."""
        text = (session.document or {}).get("face_embedding")
        if not text:
            return None
        try:
            blob = base64.b64decode(text)
            if self.embedding_cipher is not None:
                blob = self.embedding_cipher.decrypt(blob, session.id)
        except Exception:  # unreadable (another key, damaged): no document face to compare with
            log.warning("document face of session %s unreadable", session.id)
            return None
        return np.frombuffer(blob, dtype=np.float32).copy()

    # --- frames ------------------------------------------------------------------------
    def commit_frame(
        self,
        session_id: str,
        expected_version: int,
        frame: FrameRecord,
        verification: VerificationRecord | None,
        alerts: list[AlertRecord],
        state: dict,
        when: float,
    ) -> None:
        """Write one analysed (or failed) frame atomically, with the rule state it produced."""
        s = schema.sessions.c
        with self.engine.begin() as c:
            res = c.execute(
                schema.sessions.update()
                .where(s.id == session_id, s.version == expected_version, s.status == "active")
                .values(
                    version=s.version + 1,
                    state=state,
                    last_activity=when,
                    frames_received=s.frames_received + 1,
                    frames_analyzed=s.frames_analyzed + (1 if frame.analyzed else 0),
                    alert_count=s.alert_count + len(alerts),
                )
            )
            if res.rowcount != 1:
                raise StaleSession(session_id)
            c.execute(
                schema.frames.insert().values(
                    session_id=session_id,
                    frame_number=frame.frame_number,
                    timestamp=frame.timestamp,
                    analyzed=frame.analyzed,
                    result=frame.result,
                    signals=frame.signals,
                )
            )
            if verification is not None:
                c.execute(
                    schema.verifications.insert().values(
                        session_id=session_id, **verification.__dict__
                    )
                )
            if alerts:
                c.execute(
                    schema.alerts.insert(),
                    [
                        dict(
                            session_id=session_id,
                            frame_number=frame.frame_number,
                            timestamp=a.timestamp,
                            type=a.type,
                            severity=a.severity,
                            message=a.message,
                            extra=a.extra,
                        )
                        for a in alerts
                    ],
                )

    def frames(self, session_id: str) -> list[FrameRecord]:
        f = schema.frames.c
        with self.engine.connect() as c:
            rows = c.execute(
                sa.select(schema.frames).where(f.session_id == session_id).order_by(f.frame_number)
            ).all()
        return [
            FrameRecord(r.frame_number, r.timestamp, r.analyzed, r.result, r.signals) for r in rows
        ]

    def alerts(self, session_id: str) -> list[AlertRecord]:
        a = schema.alerts.c
        with self.engine.connect() as c:
            rows = c.execute(
                sa.select(schema.alerts).where(a.session_id == session_id).order_by(a.id)
            ).all()
        return [
            AlertRecord(r.type, r.severity, r.message, r.timestamp, r.extra or {}, r.frame_number)
            for r in rows
        ]

    def verifications(self, session_id: str) -> list[VerificationRecord]:
        v = schema.verifications.c
        with self.engine.connect() as c:
            rows = c.execute(
                sa.select(schema.verifications).where(v.session_id == session_id).order_by(v.id)
            ).all()
        return [
            VerificationRecord(
                r.frame_number, r.timestamp, r.verified, r.similarity, r.message, r.threshold
            )
            for r in rows
        ]

    # --- end -------------------------------------------------------------------------
    def end_session(
        self, session_id: str, end_time: dt.datetime, reason: str, report: dict
    ) -> bool:
        """Mark ended and store the report; False if it was already ended (first end wins)."""
        s = schema.sessions.c
        with self.engine.begin() as c:
            res = c.execute(
                schema.sessions.update()
                .where(s.id == session_id, s.status == "active")
                .values(
                    status="ended",
                    end_time=end_time,
                    end_reason=reason,
                    report=report,
                    version=s.version + 1,
                )
            )
        return res.rowcount > 0

    def update_report(self, session_id: str, report: dict) -> bool:
        """Replace an ended session's stored report (the summary finished after the end);
        False if the session is gone or not ended."""
        s = schema.sessions.c
        with self.engine.begin() as c:
            res = c.execute(
                schema.sessions.update()
                .where(s.id == session_id, s.status == "ended")
                .values(report=report, version=s.version + 1)
            )
        return res.rowcount > 0

    def count_active(self) -> int:
        s = schema.sessions.c
        with self.engine.connect() as c:
            return int(
                c.execute(sa.select(sa.func.count()).where(s.status == "active")).scalar_one()
            )

    def close(self) -> None:
        self.engine.dispose()
