"""Prosody of speech: pitch, loudness, syllable rate and pauses (signal processing, no model).

Pitch is the normalised autocorrelation peak of 40 ms frames every 10 ms between 60
and 400 Hz; a frame is voiced when that peak is above 0.5 and the frame is no more than
30 dB below the loudest.  Syllables are counted as loudness peaks of voiced speech (3 dB prominence, 100 ms apart).
Pitch variability is the interquartile spread in semitones (/1.349, the standard
deviation of a normal spread), so a few octave errors do not make a flat voice lively.
The score built from these figures lives in ``server.proctoring.audio`` (model-free).
"""

from __future__ import annotations

import numpy as np

from ..proctoring.audio import Prosody

SAMPLE_RATE = 16_000
FRAME = 640  # 40 ms
HOP = 160  # 10 ms
F0_MIN, F0_MAX = 60.0, 400.0
VOICED_PEAK = 0.5


def _frames(wav: np.ndarray) -> np.ndarray:
    if len(wav) < FRAME:
        return np.zeros((0, FRAME), np.float32)
    n = 1 + (len(wav) - FRAME) // HOP
    return np.lib.stride_tricks.as_strided(
        wav, shape=(n, FRAME), strides=(wav.strides[0] * HOP, wav.strides[0]), writeable=False
    )


def pitch_track(wav: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(f0 in Hz or 0 when unvoiced, level in dB) for every 10 ms of ``wav``."""
    wav = np.ascontiguousarray(wav, dtype=np.float32)
    frames = _frames(wav)
    if not len(frames):
        return np.zeros(0), np.zeros(0)
    frames = frames - frames.mean(axis=1, keepdims=True)
    energy = (frames**2).sum(axis=1)
    level = 10 * np.log10(energy / FRAME + 1e-10)
    spec = np.fft.rfft(frames * np.hanning(FRAME), n=2 * FRAME, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :FRAME]
    ac = ac / np.maximum(ac[:, :1], 1e-10)
    lo, hi = int(SAMPLE_RATE / F0_MAX), int(SAMPLE_RATE / F0_MIN)
    # The Hann window tapers the autocorrelation; dividing by the window's own restores peaks.
    w_ac = np.correlate(np.hanning(FRAME), np.hanning(FRAME), "full")[FRAME - 1 :]
    ac = ac[:, lo:hi] / (w_ac[lo:hi] / w_ac[0])
    lag = ac.argmax(axis=1)
    peak = ac[np.arange(len(ac)), lag]
    voiced = (peak > VOICED_PEAK) & (level > level.max() - 30)
    f0 = np.where(voiced, SAMPLE_RATE / (lag + lo), 0.0)
    return f0, level


def syllable_count(f0: np.ndarray, level: np.ndarray) -> int:
    """Loudness peaks of voiced speech at least 3 dB above the dips beside them and 100 ms
    apart (syllable nuclei), on the level smoothed over 50 ms."""
    from scipy.signal import find_peaks

    if len(level) < 3:
        return 0
    smooth = np.convolve(level, np.ones(5) / 5, mode="same")
    floor = float(smooth.min())
    voiced_level = np.where(f0 > 0, smooth, floor)
    peaks, _ = find_peaks(voiced_level, prominence=3.0, distance=10)
    return int(len(peaks))


def measure(
    wav: np.ndarray, segments: list[tuple[float, float]], pauses: list[float] | None = None
) -> Prosody | None:
    """Prosody of the speech in ``segments`` (seconds) of a 16 kHz recording; None without speech.

    ``pauses``: the speaker's own pauses when the caller knows them better (another voice
    between two segments is a turn, not a pause); by default the gaps between segments.
    """
    f0s, levels, syllables, speech_s = [], [], 0, 0.0
    for start, end in segments:
        piece = wav[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
        f0, level = pitch_track(piece)
        if not len(f0):
            continue
        speech_s += end - start
        syllables += syllable_count(f0, level)
        f0s.append(f0[f0 > 0])
        levels.append(level[f0 > 0])
    if speech_s <= 0 or not f0s:
        return None
    f0 = np.concatenate(f0s)
    level = np.concatenate(levels)
    if pauses is None:
        pauses = [b[0] - a[1] for a, b in zip(segments, segments[1:], strict=False) if b[0] > a[1]]
    if len(f0) < 10:
        return Prosody(
            speech_s=speech_s,
            voiced_share=0.0,
            pitch_median_hz=None,
            pitch_std_st=None,
            pitch_range_st=None,
            loudness_std_db=None,
            syllables_per_s=syllables / speech_s,
            pauses=len(pauses),
            mean_pause_s=float(np.mean(pauses)) if pauses else None,
        )
    semitones = 12 * np.log2(f0 / np.median(f0))
    p10, p25, p75, p90 = np.percentile(semitones, [10, 25, 75, 90])
    return Prosody(
        speech_s=round(speech_s, 2),
        voiced_share=round(len(f0) / max(1, speech_s * 100), 3),
        pitch_median_hz=round(float(np.median(f0)), 1),
        # robust spread (interquartile range / 1.349): octave errors of the tracker do not count
        pitch_std_st=round(float((p75 - p25) / 1.349), 2),
        pitch_range_st=round(float(p90 - p10), 2),
        loudness_std_db=round(float(np.std(level)), 2),
        syllables_per_s=round(syllables / speech_s, 2),
        pauses=len(pauses),
        mean_pause_s=round(float(np.mean(pauses)), 2) if pauses else None,
    )
