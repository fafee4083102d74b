"""A store that is busy or unreachable is a 503 with Retry-After, never a 500.

SQLite answers "database is locked" when a writer holds it past the busy timeout, the
connection pool times out under load, a PostgreSQL connection drops: all transient, so
the client is told to retry.  Anything else from the store (an integrity error) stays a
bug and a 500.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from .errors import Busy

# Transient by nature: locks, pool exhaustion, lost connections.
TRANSIENT = (
    sa_exc.OperationalError,
    sa_exc.TimeoutError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
)
RETRY_AFTER_S = 2


class StoreUnavailable(Busy):
    def __init__(self):
        super().__init__("The session store is busy; retry shortly", retry_after=RETRY_AFTER_S)


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT)
