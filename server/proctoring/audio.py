"""What the candidate's audio says, model-free: voices, speaking time, voice tone, profile.

The audio adapters (``server.audio``) turn sound into speech spans with a voice label
and into ``Prosody`` figures; this module turns those into the report's
``audio_analysis`` section and ``behavioral_analysis.voice_tone``, and into the per-frame
audio facts (``FrameAudio``) that the alert rules read (``alerts.py``).

voice_tone (0-100, docs/metrics.md): how lively and fluent the candidate's voice is, the
mean of four parts weighted 35/25/20/20:
- pitch variability: standard deviation of pitch in semitones; 0 at 0.5 st (monotone),
  100 from 2 to 6 st, falling to 50 at 10 st (erratic);
- loudness variability: standard deviation of voiced-frame level; 0 at 1 dB, 100 from 3
  to 9 dB, 50 at 15 dB;
- pace: syllables per second of speech; 100 from 2.5 to 5.5, 0 at 1 and at 8;
- pauses between the candidate's own speech segments: 100 up to 0.8 s on average, 0 at 3 s.
A part that cannot be measured drops out and the weights of the others are rescaled.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

PROFILES = ("interview", "exam")
DEFAULT_PROFILE = "interview"
MIN_TONE_SPEECH_S = 3.0  # less candidate speech than this gives no voice_tone


def session_profile(job_data: dict | None) -> str:
    """``job_data.profile``: ``interview`` (talking is normal) or ``exam`` (any speech is flagged)."""
    value = (job_data or {}).get("profile")
    if isinstance(value, str) and value.strip().lower() in PROFILES:
        return value.strip().lower()
    return DEFAULT_PROFILE


def invalid_profile(job_data: dict | None) -> str | None:
    """An error message when ``job_data.profile`` is given but is not a known profile."""
    value = (job_data or {}).get("profile")
    if value is None or (isinstance(value, str) and value.strip().lower() in PROFILES):
        return None
    return f"job_data.profile must be one of: {', '.join(PROFILES)}"


@dataclass(frozen=True)
class Prosody:
    speech_s: float
    voiced_share: float
    pitch_median_hz: float | None
    pitch_std_st: float | None
    pitch_range_st: float | None
    loudness_std_db: float | None
    syllables_per_s: float | None
    pauses: int
    mean_pause_s: float | None


def _trapezoid(
    x: float, zero_lo: float, full_lo: float, full_hi: float, zero_hi: float, floor_hi: float = 0.0
) -> float:
    """100 between full_lo and full_hi, linear to 0 at zero_lo and to ``floor_hi`` at zero_hi."""
    if x <= zero_lo:
        return 0.0
    if x < full_lo:
        return 100.0 * (x - zero_lo) / (full_lo - zero_lo)
    if x <= full_hi:
        return 100.0
    if x >= zero_hi:
        return floor_hi
    return 100.0 - (100.0 - floor_hi) * (x - full_hi) / (zero_hi - full_hi)


def tone_parts(p: Prosody) -> dict[str, float | None]:
    return {
        "pitch_variability": None
        if p.pitch_std_st is None
        else _trapezoid(p.pitch_std_st, 0.5, 2.0, 6.0, 10.0, 50.0),
        "loudness_variability": None
        if p.loudness_std_db is None
        else _trapezoid(p.loudness_std_db, 1.0, 3.0, 9.0, 15.0, 50.0),
        "pace": None
        if p.syllables_per_s is None
        else _trapezoid(p.syllables_per_s, 1.0, 2.5, 5.5, 8.0),
        "pauses": None
        if p.mean_pause_s is None
        else _trapezoid(-p.mean_pause_s, -3.0, -0.8, 0.0, 1.0),
    }


TONE_WEIGHTS = {"pitch_variability": 0.35, "loudness_variability": 0.25, "pace": 0.2, "pauses": 0.2}


def voice_tone(p: Prosody | None) -> tuple[int | None, str | None]:
    """(score 0-100, None) or (None, why there is no score)."""
    if p is None or p.speech_s <= 0:
        return None, "no speech from the candidate"
    if p.speech_s < MIN_TONE_SPEECH_S:
        return None, f"less than {MIN_TONE_SPEECH_S:g} s of the candidate's speech"
    parts = {k: v for k, v in tone_parts(p).items() if v is not None}
    if not parts:
        return None, "the candidate's speech had no measurable pitch"
    weight = sum(TONE_WEIGHTS[k] for k in parts)
    return round(sum(TONE_WEIGHTS[k] * v for k, v in parts.items()) / weight), None


@dataclass
class SpeechSpan:
    """Speech from ``start`` to ``end`` (session seconds) by one voice (0 = the candidate)."""

    start: float
    end: float
    voice: int | None  # None: too short to tell whose voice it is

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass(frozen=True)
class TranscriptLine:
    """What was said in one speech span (optional transcripts, ``PROCTOR_TRANSCRIPTS``)."""

    start: float
    end: float
    voice: int | None
    text: str


@dataclass
class FrameAudio:
    """The audio between the previous analysed frame and this one, for the alert rules."""

    speech_s: float = 0.0  # any voice
    other_voice_s: float = 0.0  # a voice that is not the candidate's
    exam: bool = False  # the session's profile is ``exam``


def frame_audio(
    spans: list[SpeechSpan], start: float, end: float, exam: bool = False
) -> FrameAudio:
    """Sum the speech of ``spans`` inside [start, end)."""
    speech = other = 0.0
    for s in spans:
        overlap = min(s.end, end) - max(s.start, start)
        if overlap > 0:
            speech += overlap
            if s.voice not in (None, 0):
                other += overlap
    return FrameAudio(round(speech, 3), round(other, 3), exam)


def merge_spans(spans: list[SpeechSpan], gap: float = 0.05) -> list[SpeechSpan]:
    """Join touching spans of the same voice (windows of one segment -> one span)."""
    out: list[SpeechSpan] = []
    for s in sorted(spans, key=lambda s: s.start):
        if out and out[-1].voice == s.voice and s.start <= out[-1].end + gap:
            out[-1].end = max(out[-1].end, s.end)
        else:
            out.append(SpeechSpan(s.start, s.end, s.voice))
    return out


@dataclass
class AudioFindings:
    """Everything the audio of one session showed; ``section()`` is the report's view."""

    source: str  # "video" | "live"
    duration_s: float  # audio heard (seconds)
    spans: list[SpeechSpan] = field(default_factory=list)
    voice_similarity: dict[int, float] = field(default_factory=dict)  # voice -> cosine to voice 0
    prosody: Prosody | None = None
    candidate_enrolled: bool = False  # voice 0 is the live-enrolled voice (not "who spoke most")
    models: dict[str, str] = field(default_factory=dict)
    # None: transcripts are off, so the section has no ``transcript`` key at all
    transcript: list[TranscriptLine] | None = None
    transcript_reason: str | None = None  # transcripts on but not made: why

    def voices(self) -> list[dict]:
        totals: dict[int, float] = {}
        counts: dict[int, int] = {}
        for s in self.spans:
            if s.voice is not None:
                totals[s.voice] = totals.get(s.voice, 0.0) + s.seconds
                counts[s.voice] = counts.get(s.voice, 0) + 1
        return [
            {
                "voice": v,
                "role": "candidate" if v == 0 else "other",
                "speaking_seconds": round(totals[v], 2),
                "segments": counts[v],
                "similarity_to_candidate": None if v == 0 else self.voice_similarity.get(v),
            }
            for v in sorted(totals)
        ]

    def section(self, profile: str) -> dict:
        speech = sum(s.seconds for s in self.spans)
        candidate = sum(s.seconds for s in self.spans if s.voice == 0)
        other = sum(s.seconds for s in self.spans if s.voice not in (None, 0))
        tone, reason = voice_tone(self.prosody)
        voices = self.voices()
        return {
            "analyzed": True,
            "source": self.source,
            "profile": profile,
            "audio_seconds": round(self.duration_s, 2),
            "speaking_seconds": round(speech, 2),
            "speaking_ratio": round(speech / self.duration_s, 3) if self.duration_s > 0 else 0.0,
            "candidate_speaking_seconds": round(candidate, 2),
            "other_voice_seconds": round(other, 2),
            "voice_count": len(voices),
            "multiple_voices": any(v["role"] == "other" for v in voices),
            "candidate_voice": "enrolled" if self.candidate_enrolled else "most speech",
            "voices": voices,
            "segments": [
                {
                    "start": round(s.start, 2),
                    "end": round(s.end, 2),
                    "voice": s.voice,
                    "role": _role(s.voice),
                }
                for s in self.spans
            ],
            "voice_tone": tone,
            "voice_tone_reason": reason,
            "prosody": asdict(self.prosody) if self.prosody else None,
            "models": self.models,
        } | self.transcript_section()

    def transcript_section(self) -> dict:
        """``transcript`` (and why it is empty) only when transcripts were asked for."""
        if self.transcript is None and self.transcript_reason is None:
            return {}
        lines = [
            {"start": t.start, "end": t.end, "speaker": _role(t.voice), "text": t.text}
            for t in self.transcript or []
        ]
        return {"transcript": lines, "transcript_reason": self.transcript_reason}


def _role(voice: int | None) -> str:
    return "unknown" if voice is None else ("candidate" if voice == 0 else "other")


def no_audio_section(reason: str, profile: str) -> dict:
    """The section when nothing was heard: the report says why."""
    return {
        "analyzed": False,
        "reason": reason,
        "profile": profile,
        "voice_tone": None,
        "voice_tone_reason": reason,
    }
