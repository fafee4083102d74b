"""What the server keeps on disk, and for how long: session removal, retention, staging files.

- ``remove_session``: a session with every row that names it (frames, alerts, verifications,
  video jobs) and the files its jobs own, as DELETE and the retention purge both need;
- ``purge``: ended sessions older than PROCTOR_RETENTION_DAYS (hourly in the server, and
  ``proctor purge``);
- ``sweep_staging``: at start, upload/download files in ``<data_dir>/video-jobs`` that no
  unfinished job names (left by a crash or a refused request) are removed;
- ``StagingQuota``: how many bytes a new upload or download may still take
  (PROCTOR_DISK_QUOTA_BYTES for the staging folder, PROCTOR_MIN_FREE_DISK_BYTES on the disk).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import shutil
from pathlib import Path

from ..config import Settings
from .errors import Conflict, ServiceError

log = logging.getLogger(__name__)

UNFINISHED = ("queued", "running", "interrupted")


class DiskFull(ServiceError):
    status = 507


def staging_path(settings: Settings) -> Path:
    path = Path(settings.data_dir) / "video-jobs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


def remove_session(store, settings: Settings, session_id: str) -> bool:
    """Delete ``session_id`` with its rows and owned job files (blocking); False if unknown."""
    folder = staging_path(settings)
    jobs = store.job_files(session_id)
    if any(state in ("queued", "running") for *_rest, state in jobs):
        raise Conflict("The session's video analysis is still running; delete it when it is done")
    for _job_id, path, owned, _state in jobs:
        # Only files this server made (uploads, downloads); never a file under the media root.
        if owned and path and _inside(Path(path), folder):
            Path(path).unlink(missing_ok=True)
    return store.delete_session(session_id)


async def purge(
    settings: Settings,
    *,
    days: float | None = None,
    session_ids: list[str] | tuple[str, ...] = (),
    store=None,
    now: dt.datetime | None = None,
) -> list[str]:
    """Remove the named sessions and the ended ones older than ``days``; returns their ids."""
    own = store is None
    if own:
        from ..store import open_store

        store = open_store(settings.sqlalchemy_url, settings.db_upgrade)
    try:
        ids = list(dict.fromkeys(session_ids))
        if days:
            now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
            cutoff = now - dt.timedelta(days=days)
            ids += [i for i in await asyncio.to_thread(store.ended_before, cutoff) if i not in ids]
        removed = []
        for sid in ids:
            if await asyncio.to_thread(remove_session, store, settings, sid):
                removed.append(sid)
        if removed:
            log.info("retention: purged %d session(s)", len(removed))
        return removed
    finally:
        if own:
            store.close()


async def purge_every(settings: Settings, store, every_s: float = 3600.0) -> None:
    """The server's retention loop (PROCTOR_RETENTION_DAYS > 0)."""
    while True:
        try:
            await purge(settings, days=settings.retention_days, store=store)
        except Exception:
            log.exception("retention purge failed")
        await asyncio.sleep(every_s)


def sweep_staging(store, settings: Settings) -> int:
    """Remove staging files no unfinished job names; returns how many went."""
    folder = staging_path(settings)
    keep = {Path(p).resolve() for p in store.unfinished_job_paths(UNFINISHED)}
    removed = 0
    for entry in folder.iterdir():
        if entry.is_file() and entry.resolve() not in keep:
            entry.unlink(missing_ok=True)
            removed += 1
    if removed:
        log.info("removed %d staging file(s) no job needs", removed)
    return removed


class StagingQuota:
    def __init__(self, settings: Settings):
        self.settings = settings

    def used(self) -> int:
        total = 0
        for entry in os.scandir(staging_path(self.settings)):
            try:
                total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
        return total

    def room(self) -> int:
        """Bytes a new upload/download may take now; ``DiskFull`` (507) when none."""
        s = self.settings
        free = shutil.disk_usage(staging_path(s)).free - s.min_free_disk_bytes
        room = min(s.disk_quota_bytes - self.used(), free)
        if room <= 0:
            raise DiskFull(
                "Not enough storage for another video now: wait for running jobs to finish "
                "(disk quota reached)"
            )
        return room
