"""Alembic revisions of the store (``proctor db upgrade``); see ``server/store/migrate.py``."""
