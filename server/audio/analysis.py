"""Audio of a session -> ``AudioFindings``: speech (Silero VAD), voices (GE2E + clustering), prosody.

Two entry points share the models:
- ``analyse_recording`` for a whole recording (a video's audio track): every speech
  segment is cut into 1.6 s windows (0.8 s hop), each window is embedded, the windows are
  clustered, and the voice with most speech is the candidate (or the enrolled voice).
- ``LiveListener`` for a live session's chunks, in order: the candidate's voice is
  enrolled from their first seconds of speech; each later window is the candidate's
  or another voice by its cosine to the enrolled voice.
A voice must hold ``min_voice_windows`` windows to count, so one odd window (a cough,
a chair) never makes a second voice.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..proctoring.audio import AudioFindings, SpeechSpan, merge_spans
from . import prosody
from .speaker import SpeakerEncoder, cosine
from .vad import CHUNK_S, SAMPLE_RATE, SileroVad, VadRules, speech_segments
from .voices import centroid, cluster_voices

WINDOW_S = 1.6  # one GE2E partial utterance
HOP_S = 0.8
MIN_WINDOW_S = 0.8  # shorter speech is counted as speech but not given a voice


@dataclass(frozen=True)
class VoiceRules:
    same_voice: float = 0.70  # cosine (average linkage / to the enrolled voice) for "same voice"
    min_voice_windows: int = 2
    enrol_s: float = 4.0  # live: seconds of speech the candidate's voice is enrolled from


class AudioModels:
    """Silero VAD + GE2E encoder; thread-safe (onnxruntime runs are, the encoder is pure)."""

    def __init__(self, vad_path: Path, encoder_path: Path, names: dict[str, str] | None = None):
        self.vad = SileroVad(vad_path)
        self.encoder = SpeakerEncoder.load(encoder_path)
        self.names = names or {"vad": Path(vad_path).name, "speaker": Path(encoder_path).name}


def windows_of(segments: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """1.6 s windows with 0.8 s hop inside each segment; a segment's last window ends on it."""
    out = []
    for start, end in segments:
        if end - start < MIN_WINDOW_S:
            continue
        t = start
        while True:
            w_end = min(end, t + WINDOW_S)
            if end - t > WINDOW_S and end - (t + HOP_S) < MIN_WINDOW_S:
                w_end = end  # fold a short tail into this window rather than lose it
            out.append((t, w_end))
            if w_end >= end:
                break
            t += HOP_S
    return out


def _cut(wav: np.ndarray, start: float, end: float) -> np.ndarray:
    return wav[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]


def spans_from_windows(segments, windows, labels) -> list[SpeechSpan]:
    """Speech spans with a voice: each part of a segment takes the label of the window
    centred nearest to it; segments without a window keep ``voice=None``."""
    spans: list[SpeechSpan] = []
    for start, end in segments:
        inside = [
            (w, lab)
            for w, lab in zip(windows, labels, strict=True)
            if w[0] >= start - 1e-6 and w[1] <= end + 1e-6
        ]
        if not inside:
            spans.append(SpeechSpan(start, end, None))
            continue
        cuts = (
            [start]
            + [(a[0][1] + b[0][0]) / 2 for a, b in zip(inside, inside[1:], strict=False)]
            + [end]
        )
        for (_, lab), a, b in zip(inside, cuts, cuts[1:], strict=False):
            spans.append(SpeechSpan(round(a, 3), round(b, 3), None if lab < 0 else int(lab)))
    return merge_spans(spans)


def analyse_recording(
    wav: np.ndarray,
    models: AudioModels,
    rules: VoiceRules = VoiceRules(),
    enrolled: np.ndarray | None = None,
    source: str = "video",
) -> AudioFindings:
    """The findings of one 16 kHz mono recording."""
    wav = np.asarray(wav, np.float32)
    segments = speech_segments(models.vad.probabilities(wav), VadRules())
    windows = windows_of(segments)
    embeddings = models.encoder.embed_windows([_cut(wav, a, b) for a, b in windows])
    labels = cluster_voices(embeddings, rules.same_voice) if len(windows) else np.zeros(0, int)
    # Voices with too few windows stay unattributed (-1); the others are ranked by speech time.
    counts = np.bincount(labels) if len(labels) else np.zeros(0, int)
    kept = [v for v in range(len(counts)) if counts[v] >= rules.min_voice_windows]
    centroids = {v: centroid(embeddings[labels == v]) for v in kept}
    raw = spans_from_windows(segments, windows, np.array([v if v in kept else -1 for v in labels]))
    seconds = {v: sum(s.seconds for s in raw if s.voice == v) for v in kept}
    candidate: int | None
    if enrolled is not None and kept:
        candidate = max(kept, key=lambda v: cosine(centroids[v], enrolled))
        if cosine(centroids[candidate], enrolled) < rules.same_voice:
            candidate = None  # the enrolled candidate never spoke here
    else:
        candidate = max(kept, key=lambda v: seconds[v]) if kept else None
    order = ([candidate] if candidate is not None else []) + sorted(
        (v for v in kept if v != candidate), key=lambda v: -seconds[v]
    )
    renumber = {v: i + (0 if candidate is not None else 1) for i, v in enumerate(order)}
    spans = [
        SpeechSpan(s.start, s.end, None if s.voice is None else renumber[s.voice]) for s in raw
    ]
    spans = merge_spans(bridge_unknown(spans))
    similarity = {}
    if candidate is not None:
        for v in kept:
            if v != candidate:
                similarity[renumber[v]] = round(cosine(centroids[v], centroids[candidate]), 3)
    cand_segments = [(s.start, s.end) for s in spans if s.voice == 0]
    return AudioFindings(
        source=source,
        duration_s=len(wav) / SAMPLE_RATE,
        spans=spans,
        voice_similarity=similarity,
        prosody=prosody.measure(wav, cand_segments, own_pauses(spans)) if cand_segments else None,
        candidate_enrolled=enrolled is not None,
        models=dict(models.names),
    )


def bridge_unknown(spans: list[SpeechSpan], gap: float = 1.0) -> list[SpeechSpan]:
    """A span too short to judge, within ``gap`` of the same voice on both sides, is that voice."""
    out = [SpeechSpan(s.start, s.end, s.voice) for s in sorted(spans, key=lambda s: s.start)]
    for i in range(1, len(out) - 1):
        before, here, after = out[i - 1], out[i], out[i + 1]
        if (
            here.voice is None
            and before.voice is not None
            and before.voice == after.voice
            and here.start - before.end <= gap
            and after.start - here.end <= gap
        ):
            here.voice = before.voice
    return out


def own_pauses(spans: list[SpeechSpan]) -> list[float]:
    """Gaps between two candidate spans with nobody else speaking in between."""
    ordered = sorted(spans, key=lambda s: s.start)
    return [
        b.start - a.end
        for a, b in zip(ordered, ordered[1:], strict=False)
        if a.voice == 0 and b.voice == 0 and b.start > a.end
    ]


class LiveListener:
    """One live session's audio, fed chunk by chunk in order (``feed`` under the caller's lock).

    Keeps the VAD state across chunks, the open speech segment's audio, the enrolled voice,
    and the spans so far (session seconds).  Frames read ``speech_between`` (VAD speech,
    at once) and ``other_total_s`` (other voices, once a segment or 8 s of it is judged).
    """

    MAX_SEGMENT_S = 8.0  # long speech is judged every 8 s, not only when it ends
    MAX_GAP_S = 30.0  # a pause in the chunks is heard as silence up to this long

    def __init__(self, models: AudioModels, rules: VoiceRules = VoiceRules()):
        self.models, self.rules = models, rules
        self.stream = models.vad.stream()
        self.lock = threading.Lock()  # feed/finish/findings of one listener never overlap
        self.heard_s = 0.0  # audio seconds fed so far
        self.origin: float | None = None  # session time of the first sample
        self.probs: list[float] = []  # speech probability per 32 ms, read by ``speech_between``
        self.spans: list[SpeechSpan] = []
        self.enrol_windows: list[np.ndarray] = []
        self.enrolled: np.ndarray | None = None
        self.others: list[np.ndarray] = []  # embeddings judged not the candidate
        self.other_run = 0  # consecutive windows of another voice
        self.other_total_s = 0.0  # seconds of other voices judged so far (only grows)
        self._audio = np.zeros(0, np.float32)  # recent samples (the open segment's at least)
        self._audio_start = 0.0  # recording seconds of self._audio[0]
        self._done_until = 0.0  # recording seconds already turned into spans
        self._tone_audio: list[np.ndarray] = []
        self._tone_segments: list[tuple[float, float]] = []
        self._tone_offset = 0.0

    def feed(self, wav: np.ndarray, timestamp: float | None = None) -> list[SpeechSpan]:
        """Add 16 kHz samples that start at session time ``timestamp`` (None: right after the
        previous chunk); returns the spans completed by this chunk (session seconds)."""
        with self.lock:
            if self.origin is None:
                self.origin = float(timestamp) if timestamp is not None else 0.0
            elif timestamp is not None:
                gap = float(timestamp) - (self.origin + self.heard_s)
                if gap > 0.1:  # the client paused: silence, so the clock stays the session's
                    self._hear(np.zeros(int(min(gap, self.MAX_GAP_S) * SAMPLE_RATE), np.float32))
            self._hear(np.asarray(wav, np.float32))
            return self._settle(final=False)

    def _hear(self, wav: np.ndarray) -> None:
        self.probs.extend(self.stream.feed(wav).tolist())
        self._audio = np.concatenate([self._audio, wav])
        self.heard_s += len(wav) / SAMPLE_RATE

    def finish(self) -> list[SpeechSpan]:
        with self.lock:
            self.probs.extend(self.stream.feed(np.zeros(0, np.float32), final=True).tolist())
            return self._settle(final=True)

    def speech_between(self, start: float, end: float, threshold: float = 0.5) -> float:
        """Seconds of speech (any voice) heard between two session times; lock-free, for frames."""
        if self.origin is None or end <= start:
            return 0.0
        n = len(self.probs)
        i = max(0, int((start - self.origin) / CHUNK_S))
        j = min(n, int(np.ceil((end - self.origin) / CHUNK_S)))
        if j <= i:
            return 0.0
        return float(sum(1 for p in self.probs[i:j] if p >= threshold) * CHUNK_S)

    def _settle(self, final: bool) -> list[SpeechSpan]:
        first = int(self._done_until / CHUNK_S)  # earlier audio is settled for good
        segments = speech_segments(
            np.array(self.probs[first:], np.float32), VadRules(), offset_s=first * CHUNK_S
        )
        heard = len(self.probs) * CHUNK_S
        # A segment is closed when it ends before the last 0.2 s heard (more silence may follow).
        closed = [
            (a, b) for a, b in segments if b > self._done_until and (final or b < heard - 0.2)
        ]
        open_seg = None if final else next((g for g in segments if g[1] >= heard - 0.2), None)
        if open_seg and open_seg[1] - max(open_seg[0], self._done_until) >= self.MAX_SEGMENT_S:
            closed.append(open_seg)
        new: list[SpeechSpan] = []
        for a, b in closed:
            a = max(a, self._done_until)
            if b - a <= 0:
                continue
            new.extend(self._judge(a, b))
            self._done_until = b
        # Keep the audio still to be judged: from the open segment's start, or the last second.
        keep_from = heard - 1.0 if open_seg is None else max(open_seg[0], self._done_until)
        drop = int((keep_from - self._audio_start) * SAMPLE_RATE)
        if drop > 0:
            self._audio = self._audio[drop:]
            self._audio_start += drop / SAMPLE_RATE
        origin = self.origin or 0.0
        shifted = [
            SpeechSpan(round(s.start + origin, 3), round(s.end + origin, 3), s.voice) for s in new
        ]
        self.spans.extend(shifted)
        self.other_total_s += sum(s.seconds for s in shifted if s.voice not in (None, 0))
        return shifted

    def _segment_audio(self, a: float, b: float) -> np.ndarray:
        i = int((a - self._audio_start) * SAMPLE_RATE)
        j = int((b - self._audio_start) * SAMPLE_RATE)
        return self._audio[max(0, i) : max(0, j)]

    def _judge(self, a: float, b: float) -> list[SpeechSpan]:
        wins = windows_of([(a, b)])
        if not wins:
            return [SpeechSpan(a, b, None if self.enrolled is not None else 0)]
        embeds = self.models.encoder.embed_windows([self._segment_audio(x, y) for x, y in wins])
        labels: list[int] = []
        pending: list[int] = []  # this call's enrolment windows, until the voice is enrolled
        for k, ((x, y), e) in enumerate(zip(wins, embeds, strict=True)):
            if self.enrolled is None:
                self.enrol_windows.append(e)
                pending.append(k)
                labels.append(0)
                if len(self.enrol_windows) * HOP_S + (WINDOW_S - HOP_S) >= self.rules.enrol_s:
                    dropped = self._enrol()
                    # windows left out of the enrolment are judged against it, in order
                    for m in pending:
                        if any(embeds[m] is d for d in dropped):
                            labels[m] = self._judge_window(embeds[m])
                        else:
                            self._tone(*wins[m])
                    pending = []
                continue
            labels.append(self._judge_window(e))
            if labels[-1] == 0:
                self._tone(x, y)
        for m in pending:  # still enrolling: these count as the candidate's for now
            self._tone(*wins[m])
        if 1 in labels:  # the run is confirmed: its first windows were that voice too
            labels = [1 if lab == -1 else lab for lab in labels]
        return spans_from_windows([(a, b)], wins, np.array(labels))

    def _enrol(self) -> list[np.ndarray]:
        """The candidate's voice from the enrolment windows that agree with the others
        (a window where someone else speaks over the candidate does not count); returns
        the windows left out.  Too few agreeing windows: enrolment goes on."""
        stack = np.stack(self.enrol_windows)
        total = stack.sum(axis=0)
        kept: list[np.ndarray] = []
        dropped: list[np.ndarray] = []
        for w in self.enrol_windows:
            rest = total - w  # leave-one-out centroid
            (kept if cosine(w, rest) >= self.rules.same_voice else dropped).append(w)
        if len(kept) * HOP_S + (WINDOW_S - HOP_S) >= self.rules.enrol_s or len(kept) >= 6:
            self.enrolled = centroid(np.stack(kept))
            self.enrol_windows = kept
            return dropped
        self.enrol_windows = kept
        return []

    def _judge_window(self, e: np.ndarray) -> int:
        """0: the candidate; 1: another voice (a run of them); -1: one odd window so far."""
        assert self.enrolled is not None
        if cosine(e, self.enrolled) >= self.rules.same_voice:
            self.other_run = 0
            return 0
        self.other_run += 1
        self.others.append(e)
        # One odd window is not a voice: it counts once a run reaches the minimum.
        return 1 if self.other_run >= self.rules.min_voice_windows else -1

    def _tone(self, a: float, b: float) -> None:
        if sum(y - x for x, y in self._tone_segments) > 120:
            return  # two minutes of the candidate's voice is plenty for prosody
        piece = self._segment_audio(a, b)
        self._tone_segments.append(
            (self._tone_offset, self._tone_offset + len(piece) / SAMPLE_RATE)
        )
        self._tone_offset += len(piece) / SAMPLE_RATE + 0.5
        self._tone_audio.append(np.concatenate([piece, np.zeros(SAMPLE_RATE // 2, np.float32)]))

    def findings(self) -> AudioFindings:
        with self.lock:
            return self._findings()

    def _findings(self) -> AudioFindings:
        tone = None
        if self._tone_audio:
            tone = prosody.measure(np.concatenate(self._tone_audio), self._tone_segments)
            if tone is not None:  # the gaps were inserted here, so pauses come from the real spans
                gaps = own_pauses(self.spans)
                tone = type(tone)(
                    **{
                        **tone.__dict__,
                        "pauses": len(gaps),
                        "mean_pause_s": round(float(np.mean(gaps)), 2) if gaps else None,
                    }
                )
        similarity = {}
        if self.enrolled is not None and self.others:
            similarity[1] = round(cosine(centroid(np.stack(self.others)), self.enrolled), 3)
        return AudioFindings(
            source="live",
            duration_s=self.heard_s,
            spans=merge_spans(self.spans),
            voice_similarity=similarity,
            prosody=tone,
            candidate_enrolled=self.enrolled is not None,
            models=dict(self.models.names),
        )
