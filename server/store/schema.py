"""Tables of the store, in SQLAlchemy Core: the same schema on SQLite and PostgreSQL.

A change here comes with an Alembic revision in ``migrations/versions`` (on the head;
``proctor db revision -m ...`` writes one); tests/test_migrations.py checks they agree.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # active | ended
    sa.Column("start_time", sa.DateTime, nullable=False),  # naive UTC
    sa.Column("end_time", sa.DateTime, nullable=True),
    sa.Column("end_reason", sa.String(32), nullable=True),  # client | idle | video
    sa.Column("last_activity", sa.Float, nullable=False),  # epoch seconds
    sa.Column("job_data", sa.JSON, nullable=False),
    sa.Column("frames_received", sa.Integer, nullable=False, default=0),
    sa.Column("frames_analyzed", sa.Integer, nullable=False, default=0),
    sa.Column("alert_count", sa.Integer, nullable=False, default=0),
    # Registration: the embedding only, never the image.
    sa.Column("face_embedding", sa.LargeBinary, nullable=True),
    sa.Column("embedder", sa.String(64), nullable=True),
    sa.Column("registration", sa.JSON, nullable=True),
    sa.Column("document", sa.JSON, nullable=True),
    # Rule state (consecutive counters, baselines) so a restart resumes where it stopped.
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, default=0),
    sa.Column("report", sa.JSON, nullable=True),
    sa.Column("kind", sa.String(16), nullable=False, default="live"),  # live | video
)

frames = sa.Table(
    "frames",
    metadata,
    sa.Column(
        "session_id",
        sa.String(64),
        sa.ForeignKey("sessions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("frame_number", sa.Integer, primary_key=True),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("analyzed", sa.Boolean, nullable=False),
    sa.Column("result", sa.JSON, nullable=True),  # the contract's frame result
    sa.Column("signals", sa.JSON, nullable=True),  # extra per-frame measurements for reports
)

verifications = sa.Table(
    "verifications",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "session_id",
        sa.String(64),
        sa.ForeignKey("sessions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("frame_number", sa.Integer, nullable=True),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("verified", sa.Boolean, nullable=False),
    sa.Column("similarity", sa.Float, nullable=False),
    sa.Column("message", sa.String(200), nullable=False),
    sa.Column("threshold", sa.Float, nullable=False),
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "session_id",
        sa.String(64),
        sa.ForeignKey("sessions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("frame_number", sa.Integer, nullable=True),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("message", sa.String(300), nullable=False),
    sa.Column("extra", sa.JSON, nullable=False),
)

# Background analyses (pre-recorded videos). A job names its session once it has one;
# no foreign key, so deleting the session leaves the job's history readable.
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # video
    sa.Column(
        "state", sa.String(16), nullable=False, index=True
    ),  # queued | running | done | failed | interrupted
    sa.Column(
        "source", sa.String(2048), nullable=False
    ),  # what the client named (URL without query, file name)
    sa.Column("path", sa.String(4096), nullable=False),  # the local file analysed
    sa.Column(
        "owns_file", sa.Boolean, nullable=False
    ),  # an upload/download: removed when the job is done
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("session_id", sa.String(64), nullable=True),
    sa.Column("frames_done", sa.Integer, nullable=False, default=0),
    sa.Column("frames_total", sa.Integer, nullable=False, default=0),
    sa.Column("eta_seconds", sa.Float, nullable=True),
    sa.Column("error", sa.String(1000), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.DateTime, nullable=False, index=True),  # naive UTC
    sa.Column("started_at", sa.DateTime, nullable=True),
    sa.Column("finished_at", sa.DateTime, nullable=True),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    # Who runs it (a replica or worker id) and until when, renewed by its heartbeat: a live
    # owner's job is never taken; an expired lease is taken over (revision 0002).
    sa.Column("owner", sa.String(128), nullable=True),
    sa.Column("heartbeat_at", sa.DateTime, nullable=True),
    sa.Column("lease_expires_at", sa.DateTime, nullable=True),
)
