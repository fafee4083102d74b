"""Alembic environment: runs on the connection ``server.store.migrate`` hands in.

There is no alembic.ini: ``migrate.alembic_config`` builds the configuration, so the
revisions travel inside the installed package and ``proctor db upgrade`` needs no file.
"""

from __future__ import annotations

from alembic import context

from server.store import schema
from server.store.migrate import include_name

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `proctor db upgrade` (server.store.migrate)")
    context.configure(
        connection=connection,
        target_metadata=schema.metadata,
        include_name=include_name,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER on SQLite = copy the table
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run `proctor db upgrade`")
run()
