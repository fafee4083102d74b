"""PostgreSQL only: the schema of procrastinate, the job queue that carries video jobs to
``proctor worker`` processes (retries with backoff, worker heartbeats).  SQLite: nothing.

The SQL is the one shipped by the pinned procrastinate (pyproject.toml); a later
procrastinate with schema changes comes with a revision that applies its migrations.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    from procrastinate.schema import SchemaManager

    exists = bind.exec_driver_sql("SELECT to_regclass('procrastinate_jobs')").scalar()
    if exists is None:
        # the DBAPI cursor: no parameter parsing of the '%' in procrastinate's SQL
        driver = bind.connection.driver_connection
        assert driver is not None  # a live psycopg connection inside the migration
        driver.cursor().execute(SchemaManager.get_schema())


def downgrade() -> None:
    raise NotImplementedError("procrastinate's schema is not removed; restore a backup instead")
