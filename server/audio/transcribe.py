"""Optional transcripts of a recording's speech: faster-whisper ``tiny.en`` on the CPU.

Off by default (``PROCTOR_TRANSCRIPTS``): what a candidate says is personal data, and
nothing in the report needs it.  When on, the speech spans the VAD and the voices found
are transcribed and each span gets its words: ``[{"start", "end", "speaker", "text"}]``.

- The model is a CTranslate2 folder (model.bin, config.json, tokenizer.json,
  vocabulary.txt) packed by ``proctor models fetch`` into one flat ``.tar``, so the
  manifest, ``verify`` and bundles treat it like any other file.  It is read into memory
  and handed to faster-whisper as ``files``: nothing is unpacked on disk and, since the
  tokenizer is among the files, faster-whisper never asks the Hugging Face hub.
- Whisper's encoder always reads 30 s windows, so spans are transcribed in groups of
  at most ~28 s (one encoder pass each) and silence between groups is skipped; each word
  goes to the span its middle falls in, so words Whisper invents in silence are dropped.
- Transcript text is never logged.
"""

from __future__ import annotations

import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..proctoring.audio import SpeechSpan, TranscriptLine

SAMPLE_RATE = 16_000
# The CTranslate2 Whisper folder, as packed by the fetch step (server/models/fetch.py).
MODEL_FILES = ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt")
GROUP_S = 28.0  # speech spans transcribed together: under Whisper's 30 s window
EDGE_S = 0.2  # audio kept around a group (Whisper clips a word cut at the very edge)
MIN_SPAN_S = 0.3  # shorter speech holds no word worth a transcript
WORD_SLACK_S = 0.3  # a word whose middle is this close to a span still belongs to it


class TranscriptModelError(RuntimeError):
    """The speech-to-text file is not a packed CTranslate2 Whisper model."""


def read_packed_model(path: Path) -> dict[str, bytes]:
    """The model folder's files from the packed ``.tar`` (plain files with the known names only)."""
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:") as tf:
            for info in tf:
                if info.name not in MODEL_FILES or not info.isfile():
                    raise TranscriptModelError(f"{path.name}: unexpected member {info.name!r}")
                packed = tf.extractfile(info)
                if packed is not None:
                    files[info.name] = packed.read()
    except tarfile.TarError as exc:
        raise TranscriptModelError(f"{path.name} is not a readable tar: {exc}") from exc
    missing = [n for n in MODEL_FILES if n not in files]
    if missing:
        raise TranscriptModelError(f"{path.name} lacks {', '.join(missing)}")
    return files


def speech_groups(spans: list[SpeechSpan], max_s: float = GROUP_S) -> list[tuple[float, float]]:
    """Consecutive spans joined while the group lasts at most ``max_s`` (a longer span alone)."""
    groups: list[list[float]] = []
    for s in sorted(spans, key=lambda s: s.start):
        if s.seconds < MIN_SPAN_S:
            continue
        if groups and s.end - groups[-1][0] <= max_s:
            groups[-1][1] = max(groups[-1][1], s.end)
        else:
            groups.append([s.start, s.end])
    return [(a, b) for a, b in groups]


@dataclass(frozen=True)
class Word:
    start: float  # recording seconds
    end: float
    text: str  # as Whisper spells it, with its leading space


def lines_from_words(spans: list[SpeechSpan], words: list[Word]) -> list[TranscriptLine]:
    """Each span's words (by the word's middle, ``WORD_SLACK_S`` of slack) as one line."""
    ordered = sorted(spans, key=lambda s: s.start)
    texts: list[list[str]] = [[] for _ in ordered]
    for w in words:
        mid = (w.start + w.end) / 2
        best, gap = None, WORD_SLACK_S
        for i, s in enumerate(ordered):
            d = 0.0 if s.start <= mid <= s.end else min(abs(mid - s.start), abs(mid - s.end))
            if d <= gap:
                best, gap = i, d
        if best is not None:
            texts[best].append(w.text)
    return [
        TranscriptLine(round(s.start, 2), round(s.end, 2), s.voice, text)
        for s, parts in zip(ordered, texts, strict=True)
        if (text := "".join(parts).strip())
    ]


class Transcriber:
    """faster-whisper on one CPU thread, int8; one transcription at a time."""

    def __init__(self, path: Path, threads: int = 1):
        from faster_whisper import WhisperModel  # heavy import, only when transcripts are on

        files = read_packed_model(Path(path))
        # ``files``: loaded from memory; the first argument is then only the model's label.
        self.model = WhisperModel(
            Path(path).stem,
            device="cpu",
            compute_type="int8",
            cpu_threads=threads,
            num_workers=1,
            files=files,
        )
        self.name = Path(path).stem
        self.lock = threading.Lock()

    def words(self, wav: np.ndarray, start: float, end: float) -> list[Word]:
        """The words heard between ``start`` and ``end`` (recording seconds)."""
        a = max(0, int((start - EDGE_S) * SAMPLE_RATE))
        b = min(len(wav), int((end + EDGE_S) * SAMPLE_RATE))
        offset = a / SAMPLE_RATE
        with self.lock:
            segments, _ = self.model.transcribe(
                np.ascontiguousarray(wav[a:b], np.float32),
                language="en",
                beam_size=5,
                vad_filter=False,  # the spans are already speech (Silero, analysis.py)
                condition_on_previous_text=False,  # one group's error does not carry on
                word_timestamps=True,
            )
            return [
                Word(offset + w.start, offset + w.end, w.word)
                for seg in segments
                for w in seg.words or ()
            ]

    def transcript(self, wav: np.ndarray, spans: list[SpeechSpan]) -> list[TranscriptLine]:
        """One line per speech span that held words, in time order."""
        words = [w for a, b in speech_groups(spans) for w in self.words(wav, a, b)]
        return lines_from_words(spans, words)
