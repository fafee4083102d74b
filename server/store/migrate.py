"""Schema versions of the store: Alembic revisions in ``migrations/versions``.

- ``status(engine)``: where a database stands (empty, the 0.1.0 release without a version
  table, behind, current, or ahead of this code).
- ``upgrade(engine)``: to the code's head; a 0.1.0 database is stamped ``0001`` first, so
  its rows are kept.  On PostgreSQL the whole upgrade is one transaction under an advisory
  lock, so replicas starting together upgrade once and never see half a schema.
- ``prepare(engine, policy)``: what opening the store does (``PROCTOR_DB_UPGRADE``):
  ``auto`` upgrades SQLite (the embedded default belongs to one process, and ``make run``
  must work in one command) and creates an empty PostgreSQL database, but refuses a
  PostgreSQL database with data behind the code (back it up, then ``proctor db upgrade``);
  ``always`` upgrades any database; ``never`` only checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
RELEASE_0_1_0 = "0001"  # the schema the first release made without a version table
LOCK_KEY = 0x70726F63  # "proc": the advisory lock of schema upgrades on PostgreSQL
UPGRADE_HINT = "back it up, then run `proctor db upgrade` (same PROCTOR_DATABASE_URL)"


class SchemaNotCurrent(RuntimeError):
    """The database is not at this code's schema and may not be upgraded here."""


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None  # the database's revision; None when it has none
    head: str  # this code's revision
    empty: bool  # no proctor tables at all
    legacy: bool  # tables of 0.1.0 without a version table

    @property
    def is_current(self) -> bool:
        return self.current == self.head

    @property
    def known(self) -> bool:
        """False when the database is at a revision this code does not have (newer code ran)."""
        return self.current is None or self.current in _revisions()

    def describe(self) -> str:
        if self.empty:
            return "empty (no proctor tables)"
        if self.legacy:
            return f"proctor 0.1.0 schema without a version (revision {RELEASE_0_1_0})"
        return f"revision {self.current}"


def include_name(name, type_, parent_names) -> bool:
    """Schema comparisons skip procrastinate's tables: its own schema, applied by revision 0003."""
    return not (type_ == "table" and bool(name) and name.startswith("procrastinate"))


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def _revisions() -> set[str]:
    return {s.revision for s in _script().walk_revisions()}


def code_head() -> str:
    heads = _script().get_heads()
    if len(heads) != 1:  # two helpers' revisions on the same parent: one must rebase on the other
        raise RuntimeError(f"the store's migrations have {len(heads)} heads: {heads}")
    return heads[0]


def _status(conn: sa.Connection) -> SchemaStatus:
    tables = set(sa.inspect(conn).get_table_names())
    current = MigrationContext.configure(conn).get_current_revision()
    legacy = current is None and "sessions" in tables
    empty = current is None and not legacy
    return SchemaStatus(current=current, head=code_head(), empty=empty, legacy=legacy)


def status(engine: sa.Engine) -> SchemaStatus:
    with engine.connect() as conn:
        return _status(conn)


def _lock(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":  # released at commit
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")


def upgrade(engine: sa.Engine, revision: str = "head") -> tuple[SchemaStatus, SchemaStatus]:
    """Upgrade to ``revision``; returns the status before and after."""
    with engine.begin() as conn:
        _lock(conn)
        before = _status(conn)  # read under the lock: another replica may just have upgraded
        if not before.known:
            raise SchemaNotCurrent(_ahead_message(before))
        config = alembic_config(conn)
        if before.legacy:
            command.stamp(config, RELEASE_0_1_0)
        command.upgrade(config, revision)
        after = _status(conn)
    return before, after


def _ahead_message(st: SchemaStatus) -> str:
    return (
        f"The database is at schema revision {st.current}, which this proctor (head {st.head}) "
        "does not know: a newer release upgraded it. Run that release, or restore a backup."
    )


def behind_message(st: SchemaStatus) -> str:
    return (
        f"The database schema is {st.describe()}, behind this proctor's schema (revision "
        f"{st.head}): {UPGRADE_HINT}."
    )


def prepare(engine: sa.Engine, policy: str = "auto") -> SchemaStatus:
    """Bring the schema to the code's head where ``policy`` allows; else raise ``SchemaNotCurrent``."""
    st = status(engine)
    if st.is_current:
        return st
    if not st.known:
        raise SchemaNotCurrent(_ahead_message(st))
    sqlite = engine.dialect.name == "sqlite"
    allowed = policy == "always" or (policy == "auto" and (sqlite or st.empty))
    if not allowed:
        raise SchemaNotCurrent(behind_message(st))
    return upgrade(engine)[1]


def new_revision(message: str) -> str:
    """Write an empty revision file on the head (for a developer's schema change)."""
    script = command.revision(alembic_config(), message=message, rev_id=_next_id())
    return script.path if script is not None and not isinstance(script, list) else ""


def _next_id() -> str:
    numbers = [int(r) for r in _revisions() if r.isdigit()]
    return f"{max(numbers, default=0) + 1:04d}"
