"""The store of proctor 0.1.0, the first release (tables as its create_all made them).

A database made by that release has these tables and no ``alembic_version``;
``proctor db upgrade`` stamps it at this revision and continues from here.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_time", sa.DateTime, nullable=False),
        sa.Column("end_time", sa.DateTime, nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=True),
        sa.Column("last_activity", sa.Float, nullable=False),
        sa.Column("job_data", sa.JSON, nullable=False),
        sa.Column("frames_received", sa.Integer, nullable=False),
        sa.Column("frames_analyzed", sa.Integer, nullable=False),
        sa.Column("alert_count", sa.Integer, nullable=False),
        sa.Column("face_embedding", sa.LargeBinary, nullable=True),
        sa.Column("embedder", sa.String(64), nullable=True),
        sa.Column("registration", sa.JSON, nullable=True),
        sa.Column("document", sa.JSON, nullable=True),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("report", sa.JSON, nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
    )
    op.create_table(
        "frames",
        sa.Column(
            "session_id",
            sa.String(64),
            sa.ForeignKey("sessions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("frame_number", sa.Integer, primary_key=True),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("analyzed", sa.Boolean, nullable=False),
        sa.Column("result", sa.JSON, nullable=True),
        sa.Column("signals", sa.JSON, nullable=True),
    )
    op.create_table(
        "verifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "session_id",
            sa.String(64),
            sa.ForeignKey("sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("frame_number", sa.Integer, nullable=True),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("verified", sa.Boolean, nullable=False),
        sa.Column("similarity", sa.Float, nullable=False),
        sa.Column("message", sa.String(200), nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
    )
    op.create_index("ix_verifications_session_id", "verifications", ["session_id"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "session_id",
            sa.String(64),
            sa.ForeignKey("sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("frame_number", sa.Integer, nullable=True),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("message", sa.String(300), nullable=False),
        sa.Column("extra", sa.JSON, nullable=False),
    )
    op.create_index("ix_alerts_session_id", "alerts", ["session_id"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("source", sa.String(2048), nullable=False),
        sa.Column("path", sa.String(4096), nullable=False),
        sa.Column("owns_file", sa.Boolean, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("session_id", sa.String(64), nullable=True),
        sa.Column("frames_done", sa.Integer, nullable=False),
        sa.Column("frames_total", sa.Integer, nullable=False),
        sa.Column("eta_seconds", sa.Float, nullable=True),
        sa.Column("error", sa.String(1000), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=True),
        sa.Column("finished_at", sa.DateTime, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_jobs_state", "jobs", ["state"])
    op.create_index("ix_jobs_created_at", "jobs", ["created_at"])


def downgrade() -> None:
    for table in ("jobs", "alerts", "verifications", "frames", "sessions"):
        op.drop_table(table)
