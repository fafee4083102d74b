"""Audio use cases: live audio chunks, the audio track of a video, the report's audio section.

Audio never waits behind frames and frames never wait behind audio: chunks run on one
thread of their own (``audio`` executor), in order per session (a lock each), while the
frame path only reads what the listener has published (``frame_audio``: lock-free).
The models (Silero VAD, the GE2E encoder) load once, on first use; without them, or with
``PROCTOR_AUDIO_ENABLED=0``, the channel answers 503 and reports say why there is no audio.
With ``PROCTOR_TRANSCRIPTS=1`` (off by default) a video's speech is also transcribed into the
report's ``audio_analysis.transcript`` (never into the summary's facts, never logged).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..audio.analysis import AudioModels, LiveListener, VoiceRules, analyse_recording
from ..audio.decode import AudioInputError, audio_track, decode_wav
from ..audio.transcribe import Transcriber
from ..config import Settings
from ..models.registry import ModelRegistry
from ..proctoring.audio import (
    AudioFindings,
    FrameAudio,
    frame_audio,
    no_audio_section,
    session_profile,
)
from .errors import ServiceError

log = logging.getLogger(__name__)


class AudioChannel:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.rules = VoiceRules(
            same_voice=settings.audio_same_voice,
            min_voice_windows=settings.audio_min_voice_windows,
            enrol_s=settings.audio_enrol_seconds,
        )
        self._models: AudioModels | None = None
        self.unavailable: str | None = None if settings.audio_enabled else "audio is disabled"
        self._loaded = False
        self.listeners: dict[str, LiveListener] = {}
        self.frame_marks: dict[str, tuple[float, float]] = {}  # session -> (time, other voice s)
        self.locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="audio")
        # Optional transcripts (PROCTOR_TRANSCRIPTS): the model loads on the first video
        self._transcriber: Transcriber | None = None
        self.transcripts_unavailable: str | None = None
        self._transcriber_lock = threading.Lock()

    # --- models -------------------------------------------------------------------------
    def models(self) -> AudioModels | None:
        if not self._loaded and self.unavailable is None:
            self._loaded = True
            registry = ModelRegistry(self.settings.models_dir)
            vad, speaker = registry.resolve("voice_activity"), registry.resolve("speaker_embedder")
            if vad is None or speaker is None:
                self.unavailable = "no audio models (run `proctor models fetch`)"
            else:
                try:
                    self._models = AudioModels(
                        registry.path(vad),
                        registry.path(speaker),
                        {"vad": vad.name, "speaker": speaker.name},
                    )
                except Exception as exc:  # noqa: BLE001 - the server runs on without audio
                    log.exception("audio models could not be loaded")
                    self.unavailable = f"audio models could not be loaded ({type(exc).__name__})"
        return self._models

    async def _loaded_models(self) -> AudioModels | None:
        """The models, loaded on the audio thread the first time (never on the event loop)."""
        if self._loaded or self.unavailable is not None:
            return self._models
        return await self._run(self.models)

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    # --- live ---------------------------------------------------------------------------
    async def hear(self, session, audio, timestamp) -> dict:
        """One base64 WAV chunk of a live session (``session`` is active); the answer's body."""
        if not isinstance(audio, str) or not audio.strip():
            raise ServiceError("No audio data provided")
        if timestamp is not None and (
            isinstance(timestamp, bool)
            or not isinstance(timestamp, int | float)
            or not 0 <= timestamp < 7 * 24 * 3600
        ):
            raise ServiceError("timestamp must be a number of seconds into the session")
        limit = self.settings.audio_max_chunk_seconds
        # 16-bit stereo at 48 kHz for the longest chunk, in base64, plus a header's worth
        if len(audio) > int(limit * 48_000 * 4 * 4 / 3) + 4096:
            raise ServiceError(f"audio chunk too large (at most {limit:g} s)", status=413)
        models = await self._loaded_models()
        if models is None:
            raise ServiceError(  # for good, unlike a busy 503: clients stop sending
                f"Audio is not available on this server: {self.unavailable}",
                status=503,
                audio_unavailable=True,
            )
        raw = audio.strip()
        if raw.startswith("data:"):
            raw = raw.split(",", 1)[-1]
        raw = "".join(raw.split())  # some encoders wrap base64 in lines
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise ServiceError("audio is not valid base64") from None
        try:
            samples, seconds = decode_wav(data, limit)
        except AudioInputError as exc:
            raise ServiceError(str(exc)) from None
        async with self.locks[session.id]:
            listener = self.listeners.get(session.id)
            if listener is None:
                listener = self.listeners[session.id] = LiveListener(models, self.rules)
            if timestamp is None and listener.origin is None:
                # the first chunk without a time ended now; later ones follow it without a gap
                # (arrival times jitter: only a client's timestamps may say there was a pause)
                timestamp = max(0.0, (time.time() - _start_epoch(session)) - seconds)
            at = None if timestamp is None else float(timestamp)
            spans = await self._run(listener.feed, samples, at)
        return {
            "success": True,
            "session_id": session.id,
            "received_seconds": round(seconds, 3),
            "heard_seconds": round(listener.heard_s, 3),
            "candidate_enrolled": listener.enrolled is not None,
            "segments": [{"start": s.start, "end": s.end, "role": _role(s.voice)} for s in spans],
        }

    def frame_audio(self, session, ts: float) -> FrameAudio | None:
        """What the rules hear on a live frame at ``ts``: speech since the previous frame and
        other voices judged since then.  None when the session sends no audio."""
        listener = self.listeners.get(session.id)
        if listener is None:
            return None
        since, other_seen = self.frame_marks.get(session.id, (listener.origin or 0.0, 0.0))
        other_now = listener.other_total_s
        self.frame_marks[session.id] = (ts, other_now)
        return FrameAudio(
            speech_s=round(listener.speech_between(since, ts), 3),
            other_voice_s=round(other_now - other_seen, 3),
            exam=session_profile(session.job_data) == "exam",
        )

    async def live_section(self, session) -> dict:
        """The report's section of a live session (ends its listener)."""
        profile = session_profile(session.job_data)
        listener = self.listeners.pop(session.id, None)
        self.frame_marks.pop(session.id, None)
        self.locks.pop(session.id, None)
        if listener is None:
            why = self.unavailable or "the session sent no audio"
            return no_audio_section(why, profile)
        await self._run(listener.finish)
        findings = await self._run(listener.findings)
        return findings.section(profile)

    def forget(self, session_id: str) -> None:
        self.listeners.pop(session_id, None)
        self.frame_marks.pop(session_id, None)
        self.locks.pop(session_id, None)

    # --- recorded videos ----------------------------------------------------------------
    async def analyse_file(self, path: Path) -> tuple[AudioFindings | None, str | None]:
        """(findings, None) for a file with an audio track, else (None, why not)."""
        models = await self._loaded_models()
        if models is None:
            return None, self.unavailable
        try:
            # a video's track runs on a thread of its own: live chunks never queue behind it
            wav = await asyncio.to_thread(audio_track, path)
        except AudioInputError as exc:
            return None, str(exc)
        if wav is None:
            return None, "the video has no audio track"
        if len(wav) < 16_000 * 0.5:
            return None, "the audio track is shorter than half a second"
        findings = await asyncio.to_thread(
            analyse_recording, wav, models, self.rules, None, "video"
        )
        if self.settings.transcripts:
            await asyncio.to_thread(self._transcribe, wav, findings)
        return findings, None

    def transcriber(self) -> Transcriber | None:
        """The speech-to-text model, loaded once (only ever asked for with transcripts on)."""
        with self._transcriber_lock:
            if self._transcriber is None and self.transcripts_unavailable is None:
                registry = ModelRegistry(self.settings.models_dir)
                spec = registry.resolve("speech_to_text")
                if spec is None:
                    self.transcripts_unavailable = (
                        "no speech-to-text model (run `proctor models fetch`)"
                    )
                else:
                    try:
                        self._transcriber = Transcriber(registry.path(spec))
                    except Exception as exc:  # noqa: BLE001 - the report says why, audio goes on
                        log.exception("the speech-to-text model could not be loaded")
                        self.transcripts_unavailable = (
                            f"the speech-to-text model could not be loaded ({type(exc).__name__})"
                        )
            return self._transcriber

    def _transcribe(self, wav, findings: AudioFindings) -> None:
        """``findings.transcript`` from the speech spans; never logs what was said."""
        transcriber = self.transcriber()
        if transcriber is None:
            findings.transcript_reason = self.transcripts_unavailable
            return
        try:
            findings.transcript = transcriber.transcript(wav, findings.spans)
            findings.models["speech_to_text"] = transcriber.name
        except Exception as exc:  # noqa: BLE001 - a failed transcript never fails the video
            log.warning("transcription failed (%s)", type(exc).__name__)
            findings.transcript_reason = f"transcription failed ({type(exc).__name__})"

    @staticmethod
    def video_frame_audio(findings: AudioFindings | None, start: float, end: float, profile: str):
        if findings is None:
            return None
        return frame_audio(findings.spans, start, end, exam=profile == "exam")

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def _start_epoch(session) -> float:
    import datetime as dt

    return session.start_time.replace(tzinfo=dt.UTC).timestamp()


def _role(voice: int | None) -> str:
    return "unknown" if voice is None else ("candidate" if voice == 0 else "other")


def apply_audio(report: dict, section: dict) -> None:
    """The audio section into a contract report: ``audio_analysis`` (additive) and
    ``behavioral_analysis.voice_tone`` (the score, or null when there is none)."""
    report["audio_analysis"] = section
    behaviour = report.get("behavioral_analysis")
    if isinstance(behaviour, dict):
        behaviour["voice_tone"] = section.get("voice_tone")


class Listening:
    """The live audio use case over the shared context (``service.listening.hear``)."""

    def __init__(self, ctx):
        self.ctx = ctx

    async def hear(self, session_id: str, audio, timestamp=None) -> dict:
        session = await self.ctx.session(session_id, active=True)
        return await self.ctx.audio.hear(session, audio, timestamp)
