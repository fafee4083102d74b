"""Pre-recorded video analysis: a video is a session (kind ``video``) whose frames come from a file.

    video_url / upload / CLI path -> local file -> probe -> session(kind=video)
        -> every Nth frame through ProctorService.frames.analyse_image (batch priority, video time)
        -> end_session (durations in video time, questions and the video in the facts) -> report

Where a ``video_url`` may point:
- a path or ``file://`` URL inside ``PROCTOR_MEDIA_ROOT``; the path is resolved (``..``
  and symlinks) before the check, so nothing outside the root is ever opened;
- an ``http(s)`` URL on a host in ``PROCTOR_ALLOWED_VIDEO_HOSTS``, downloaded by
  ``security.fetch`` (SSRF defences: it connects only to the address it checked, every
  redirect checked again, one deadline, a size cap; docs/security.md).
Everything else is refused with a 400 before any session or job exists.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from ..config import Settings
from ..proctoring.audio import no_audio_section, session_profile
from ..proctoring.report_sections import Report
from ..security.fetch import AllowList, FetchRefused, fetch_to_file, parse_url
from ..security.limits import check_object
from ..vision.pool import BATCH
from ..vision.video import FrameReader, VideoError, VideoInfo, probe
from .errors import ServiceError, SessionNotFound
from .proctor import ProctorService
from .retention import StagingQuota

log = logging.getLogger(__name__)

LLM_PROVIDERS = ("local", "openai", "anthropic")
MAX_FRAME_INTERVAL = 100_000
MAX_QUESTIONS = 1000
VIDEO_SUFFIXES = {
    ".mp4",
    ".m4v",
    ".mov",
    ".webm",
    ".mkv",
    ".avi",
    ".ts",
    ".mts",
    ".m2ts",
    ".mpg",
    ".mpeg",
    ".flv",
    ".ogv",
    ".wmv",
    ".3gp",
}


class VideoSourceError(ServiceError):
    """The request names no video this server may analyse (400)."""


# --- request parameters ---------------------------------------------------------------
@dataclass
class VideoParams:
    frame_interval: int
    job_data: dict = field(default_factory=dict)
    questions_total: int | None = None
    questions_answered: int | None = None
    llm_provider: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> VideoParams:
        known: dict[str, Any] = {
            k: raw.get(k)
            for k in (
                "frame_interval",
                "job_data",
                "questions_total",
                "questions_answered",
                "llm_provider",
            )
        }
        return cls(**known)


def parse_frame_interval(value, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise VideoSourceError("frame_interval must be a positive integer")
    try:
        number = float(value) if isinstance(value, str) else value
        interval = int(number)
    except (TypeError, ValueError, OverflowError):  # "inf", 1e400, "nan"
        raise VideoSourceError("frame_interval must be a positive integer") from None
    if interval != number or not 1 <= interval <= MAX_FRAME_INTERVAL:
        raise VideoSourceError(f"frame_interval must be an integer from 1 to {MAX_FRAME_INTERVAL}")
    return interval


def parse_params(raw: dict, settings: Settings) -> VideoParams:
    """The reference's request fields -> ``VideoParams`` (400 on a wrong type)."""
    interval = parse_frame_interval(raw.get("frame_interval"), settings.video_frame_interval)
    job = raw.get("jobData", raw.get("job_data"))
    if job is None:
        job = {}
    job = check_object(job, "jobData")  # bounded: kept with the session like job_data
    questions = raw.get("questionsWithAnswer")
    total = answered = None
    if questions is not None:
        if not isinstance(questions, list) or len(questions) > MAX_QUESTIONS:
            raise VideoSourceError(
                f"questionsWithAnswer must be a list of at most {MAX_QUESTIONS} objects"
            )
        if not all(isinstance(q, dict) for q in questions):
            raise VideoSourceError(
                "questionsWithAnswer items must be objects with question and answer"
            )
        total = len(questions)
        answered = sum(
            1 for q in questions if isinstance(q.get("answer"), str) and q["answer"].strip()
        )
    provider = raw.get("llm_provider")
    if provider in (None, ""):
        provider = None
    elif not isinstance(provider, str) or provider.strip().lower() not in LLM_PROVIDERS:
        raise VideoSourceError(f"llm_provider must be one of: {', '.join(LLM_PROVIDERS)}")
    else:
        provider = provider.strip().lower()
    return VideoParams(
        frame_interval=interval,
        job_data=job,
        questions_total=total,
        questions_answered=answered,
        llm_provider=provider,
    )


def truthy(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


# --- where the video is -------------------------------------------------------------------
def is_remote(video_url: str) -> bool:
    return urlsplit(video_url).scheme.lower() in ("http", "https")


def resolve_media_path(video_url: str, media_root: Path | None) -> tuple[Path, str]:
    """A path or ``file://`` URL -> (resolved file inside the media root, name relative to the root)."""
    raw = video_url.strip()
    parts = urlsplit(raw)
    if parts.scheme.lower() == "file":
        if parts.netloc not in ("", "localhost"):
            raise VideoSourceError("file:// URLs must name a local file (file:///path)")
        raw = unquote(parts.path)
    elif (
        parts.scheme and len(parts.scheme) > 1
    ):  # "c:" would be a drive letter, anything else a scheme
        raise VideoSourceError(
            f"Unsupported video_url scheme '{parts.scheme}': use a path, file:// or http(s)://"
        )
    if not raw or "\x00" in raw:
        raise VideoSourceError("video_url is empty or invalid")
    if media_root is None:
        raise VideoSourceError(
            "Local video paths are disabled on this server (PROCTOR_MEDIA_ROOT is not set)"
        )
    try:
        root = Path(media_root).resolve(strict=True)
    except OSError:
        raise VideoSourceError("The media root of this server does not exist") from None
    candidate = Path(raw)
    if not candidate.is_absolute():
        candidate = root / candidate
    try:
        resolved = candidate.resolve(strict=False)  # follows symlinks and folds ".."
    except (OSError, RuntimeError):
        raise VideoSourceError("video_url cannot be resolved") from None
    if not resolved.is_relative_to(root):
        raise VideoSourceError("video_url is outside the media root")
    if not resolved.is_file():
        raise VideoSourceError(f"Video file not found: {resolved.relative_to(root)}")
    return resolved, str(resolved.relative_to(root))


def video_allow_list(settings: Settings) -> AllowList:
    return AllowList.parse(settings.allowed_video_hosts, settings.allowed_video_networks)


def check_remote(url: str, settings: Settings) -> None:
    """Refuse, before any job exists, a URL the fetcher would refuse without connecting."""
    allow = video_allow_list(settings)
    if allow.empty:
        raise VideoSourceError(
            "Downloading videos is disabled on this server (PROCTOR_ALLOWED_VIDEO_HOSTS is empty)"
        )
    try:
        target = parse_url(url)
    except FetchRefused as exc:
        raise VideoSourceError(str(exc)) from None
    if not allow.allows(target):
        raise VideoSourceError(f"Video host '{target.host}' is not allowed")


def public_name(url: str) -> str:
    """A URL without credentials, query or fragment (pre-signed URLs carry secrets there)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def suffix_for(name: str) -> str:
    suffix = PurePosixPath(urlsplit(name).path).suffix.lower()
    return suffix if suffix in VIDEO_SUFFIXES else ".video"


def download(url: str, dest: Path, settings: Settings) -> None:
    """Fetch ``url`` into ``dest`` (blocking; run it in a thread).  Raises ``VideoSourceError``.

    security.fetch connects only to what it checked (see its docstring); the size cap is the
    smaller of PROCTOR_MAX_VIDEO_BYTES and the staging quota's room."""
    room = StagingQuota(settings).room()
    try:
        fetch_to_file(
            url,
            dest,
            video_allow_list(settings),
            max_bytes=min(settings.max_video_bytes, room),
            timeout_s=settings.video_download_timeout_s,
            total_timeout_s=settings.video_download_total_s,
        )
    except FetchRefused as exc:
        raise VideoSourceError(str(exc)) from None


def staging_dir(settings: Settings) -> Path:
    """Uploads and downloads live here until their job is done (kept for resume otherwise)."""
    path = settings.data_dir / "video-jobs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        log.warning("could not remove %s", path, exc_info=True)


async def probe_or_refuse(path: Path, settings: Settings) -> VideoInfo:
    try:
        return await asyncio.to_thread(probe, path, settings.max_image_pixels)
    except VideoError as exc:
        raise VideoSourceError(str(exc)) from None


# --- the analysis ------------------------------------------------------------------------
Progress = Callable[[int, int], Awaitable[None]]


class VideoAnalysis:
    """Runs a video file through the session use cases; used by the job queue and the CLI."""

    def __init__(self, service: ProctorService):
        self.service = service
        self.settings = service.settings

    async def run(
        self,
        path: Path,
        params: VideoParams,
        *,
        source: str,
        session_id: str | None = None,
        on_session: Callable[[str], Awaitable[None]] | None = None,
        on_progress: Progress | None = None,
    ) -> tuple[str, Report]:
        """Analyse ``path``; returns ``(session_id, report)``.

        With ``session_id`` of an unfinished video session (a resumed job) the analysis
        continues after the last frame that session stored, with its rule state.
        """
        info = await probe_or_refuse(path, self.settings)
        store = self.service.ctx.store
        interval = params.frame_interval
        session = await asyncio.to_thread(store.get_session, session_id) if session_id else None
        if (
            session is not None
            and session.kind == "video"
            and not session.is_active
            and session.report
        ):
            # finished before the job could be marked done
            return session.id, Report.from_stored(session.report)
        if session is None or session.kind != "video" or not session.is_active:
            session = await self.service.sessions.start(params.job_data, kind="video")
            if on_session is not None:
                await on_session(session.id)
        sid = session.id
        done = session.frames_received
        total = max(info.frames_to_analyse(interval), done)
        failures = 0
        # The audio track first: each frame's rules hear the speech since the previous frame.
        channel = self.service.ctx.audio
        profile = session_profile(session.job_data)
        heard, no_audio = await channel.analyse_file(path)
        heard_until = (done - 1) * interval / info.fps if done and info.fps > 0 else -1.0
        with FrameReader(path, interval, start=done * interval, fps=info.fps) as reader:
            while True:
                frame = await asyncio.to_thread(reader.next_frame)
                if frame is None:
                    break
                try:
                    await self.service.frames.analyse_image(
                        sid,
                        frame.image,
                        timestamp=frame.timestamp,
                        priority=BATCH,
                        audio=channel.video_frame_audio(
                            heard, heard_until, frame.timestamp, profile
                        ),
                    )
                except ServiceError as exc:
                    if exc.status != 500:
                        raise
                    failures += 1  # stored as a frame that could not be analysed; go on
                    if failures > max(5, total // 10):
                        raise VideoError(
                            f"Too many frames could not be analysed ({failures})"
                        ) from None
                heard_until = frame.timestamp
                done += 1
                total = max(total, done)
                if on_progress is not None:
                    await on_progress(done, total)
            frames_in_video = reader.frames_read
        if on_progress is not None:
            await on_progress(done, done)
        fps = info.fps
        if fps > 0:
            duration = frames_in_video / fps
        else:  # no rate in the container: the last frame's time
            duration = await asyncio.to_thread(frame_ts_end, store, sid)
        session = await asyncio.to_thread(store.get_session, sid)
        if session is None:  # deleted while its video was analysed
            raise SessionNotFound()
        metadata: dict[str, Any] = {
            "source": "video",
            "video": {
                "name": source,
                "container": info.container,
                "width": info.width,
                "height": info.height,
                "fps": round(fps, 3),
                "frames_in_video": frames_in_video,
                "duration_seconds": round(duration, 2),
                "frame_interval": interval,
                "frames_failed": failures,
            },
        }
        facts = {}
        if params.questions_total is not None:
            metadata["questions_total"] = params.questions_total
            metadata["questions_answered"] = params.questions_answered
            facts["questions_answered"] = params.questions_answered
        report = await self.service.sessions.end(
            sid,
            reason="video",
            end_time=session.start_time + dt.timedelta(seconds=duration),
            extra_facts=facts,
            metadata=metadata,
            requested_provider=params.llm_provider,
            audio=heard.section(profile) if heard else no_audio_section(no_audio or "", profile),
        )
        return sid, report


def frame_ts_end(store, session_id: str) -> float:
    frames = store.frames(session_id)
    return frames[-1].timestamp if frames else 0.0


def new_job_id() -> str:
    return str(uuid.uuid4())
