"""Voice activity: Silero VAD (ONNX) over 16 kHz audio, 32 ms at a time.

The graph takes 512 new samples with the 64 samples before them prepended (576), a
recurrent state (2, batch, 128) and the rate; it returns the speech probability of those
32 ms and the next state.  ``VadStream`` keeps state and context between calls so a live
session's chunks, fed in order, give the same probabilities as the whole recording.
``speech_segments`` turns probabilities into segments with Silero's own rules
(hysteresis, minimum speech and silence, padding).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .sessions import cpu_session

SAMPLE_RATE = 16_000
CHUNK = 512  # samples per probability (32 ms)
CONTEXT = 64
CHUNK_S = CHUNK / SAMPLE_RATE


class SileroVad:
    """One onnxruntime session shared by every stream (a run holds no state of its own)."""

    def __init__(self, path: Path, threads: int = 1):
        self.session = cpu_session(str(path), threads)
        names = [i.name for i in self.session.get_inputs()]
        if names != ["input", "state", "sr"]:
            raise ValueError(f"{Path(path).name} is not a Silero VAD graph (inputs {names})")
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)

    def stream(self) -> VadStream:
        return VadStream(self)

    def probabilities(self, wav: np.ndarray) -> np.ndarray:
        """Speech probability of every 32 ms of ``wav`` (a trailing partial chunk is zero-padded)."""
        return self.stream().feed(wav, final=True)

    def _run(self, x: np.ndarray, state: np.ndarray) -> tuple[float, np.ndarray]:
        out, state = self.session.run(None, {"input": x, "state": state, "sr": self._sr})
        return float(out[0, 0]), state


class VadStream:
    """Probabilities for consecutive pieces of one recording, in order."""

    def __init__(self, vad: SileroVad):
        self.vad = vad
        self.state = np.zeros((2, 1, 128), np.float32)
        self.context = np.zeros(CONTEXT, np.float32)
        self.pending = np.zeros(0, np.float32)  # samples short of a whole chunk

    def feed(self, wav: np.ndarray, final: bool = False) -> np.ndarray:
        data = np.concatenate([self.pending, np.asarray(wav, np.float32)])
        n = len(data) // CHUNK
        if final and len(data) % CHUNK:
            data = np.pad(data, (0, CHUNK - len(data) % CHUNK))
            n += 1
        self.pending = data[n * CHUNK :]
        probs = np.empty(n, np.float32)
        x = np.empty((1, CONTEXT + CHUNK), np.float32)
        for i in range(n):
            x[0, :CONTEXT] = self.context
            x[0, CONTEXT:] = data[i * CHUNK : (i + 1) * CHUNK]
            probs[i], self.state = self.vad._run(x, self.state)
            self.context = x[0, -CONTEXT:].copy()
        return probs


@dataclass(frozen=True)
class VadRules:
    """Silero's ``get_speech_timestamps`` defaults."""

    threshold: float = 0.5
    neg_threshold: float | None = None  # default: threshold - 0.15
    min_speech_s: float = 0.25
    min_silence_s: float = 0.1
    pad_s: float = 0.03


def speech_segments(
    probs: np.ndarray, rules: VadRules = VadRules(), offset_s: float = 0.0
) -> list[tuple[float, float]]:
    """(start, end) seconds of speech from per-chunk probabilities (model-free)."""
    neg = (
        rules.neg_threshold
        if rules.neg_threshold is not None
        else max(rules.threshold - 0.15, 0.01)
    )
    segments: list[list[float]] = []
    start: float | None = None
    silence_since: float | None = None
    for i, p in enumerate(probs):
        t = i * CHUNK_S
        if p >= rules.threshold:
            silence_since = None
            if start is None:
                start = t
        elif start is not None and p < neg:
            if silence_since is None:
                silence_since = t
            if t + CHUNK_S - silence_since >= rules.min_silence_s:
                if silence_since - start >= rules.min_speech_s:
                    segments.append([start, silence_since])
                start, silence_since = None, None
    end_all = len(probs) * CHUNK_S
    if start is not None and end_all - start >= rules.min_speech_s:
        segments.append([start, silence_since if silence_since is not None else end_all])
    out: list[tuple[float, float]] = []
    for s, e in segments:  # pad, without overlapping the neighbours
        s, e = max(0.0, s - rules.pad_s), min(end_all, e + rules.pad_s)
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return [(round(s + offset_s, 3), round(e + offset_s, 3)) for s, e in out]
