"""Liveness and readiness, for a balancer or Kubernetes probes (``/health/live``, ``/health/ready``).

Live: the process answers (its event loop turns).  Ready: it can serve a frame now — the
models are loaded and warmed (the runtime exists only after the warm-up), the database
answers within ``DB_TIMEOUT_S``, and its schema is this code's revision (after another
release upgraded it, this replica must stop taking traffic, not fail request by request).
"""

from __future__ import annotations

import asyncio
import time

DB_TIMEOUT_S = 3.0


async def readiness(runtime) -> tuple[bool, dict]:
    """``(ready, checks)``; ``runtime`` is None while the server is still starting."""
    checks: dict = {"models": runtime is not None}
    if runtime is None:
        return False, {**checks, "reason": "starting: models not loaded yet"}
    started = time.perf_counter()
    try:
        st = await asyncio.wait_for(
            asyncio.to_thread(runtime.store.schema_status), timeout=DB_TIMEOUT_S
        )
    except Exception as exc:  # unreachable, timed out, refused: not ready, never a 500
        checks.update(database=False, reason=f"database: {type(exc).__name__}")
        return False, checks
    checks.update(
        database=True,
        database_ms=round((time.perf_counter() - started) * 1000, 1),
        schema=st.current,
        schema_expected=st.head,
    )
    if not st.is_current:
        checks["reason"] = f"schema {st.describe()}, this code needs revision {st.head}"
        return False, checks
    return True, checks
