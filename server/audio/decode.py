"""Sound in: WAV chunks of the live channel, and the audio track of a video file (PyAV).

Everything comes out as 16 kHz mono float32 in [-1, 1], the rate both models use.
Errors raise ``AudioInputError`` with a message that is safe to show to a client.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000
MIN_RATE, MAX_RATE = 8_000, 192_000


class AudioInputError(ValueError):
    """The audio cannot be used; the message says why."""


def to_mono_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """(n,) or (n, channels) float samples at ``rate`` -> 16 kHz mono float32."""
    from scipy.signal import resample_poly

    x = np.asarray(samples, np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if rate != SAMPLE_RATE and len(x):
        g = int(np.gcd(int(rate), SAMPLE_RATE))
        x = resample_poly(x, SAMPLE_RATE // g, int(rate) // g).astype(np.float32)
    return np.clip(x, -1.0, 1.0)


def decode_wav(data: bytes, max_seconds: float) -> tuple[np.ndarray, float]:
    """A WAV file (16-bit PCM, any rate, mono or stereo) -> (16 kHz mono samples, seconds)."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioInputError("audio is not a WAV file (RIFF/WAVE header expected)")
    try:
        with wave.open(io.BytesIO(data)) as w:
            channels, width, rate, n = (
                w.getnchannels(),
                w.getsampwidth(),
                w.getframerate(),
                w.getnframes(),
            )
            if width != 2:
                raise AudioInputError(f"audio must be 16-bit PCM (got {8 * width}-bit samples)")
            if channels not in (1, 2):
                raise AudioInputError(f"audio must be mono or stereo (got {channels} channels)")
            if not MIN_RATE <= rate <= MAX_RATE:
                raise AudioInputError(
                    f"audio sample rate must be {MIN_RATE}-{MAX_RATE} Hz (got {rate})"
                )
            if n / rate > max_seconds:
                raise AudioInputError(
                    f"audio chunk too long ({n / rate:.1f} s; at most {max_seconds:g} s)"
                )
            raw = w.readframes(n)
    except AudioInputError:
        raise
    except (wave.Error, EOFError, ValueError) as exc:
        raise AudioInputError(f"audio is not a readable PCM WAV file ({exc})") from None
    frames = len(raw) // (2 * channels)
    if frames == 0:
        raise AudioInputError("audio chunk holds no samples")
    pcm = np.frombuffer(raw[: frames * 2 * channels], "<i2").astype(np.float32) / 32768.0
    pcm = pcm.reshape(frames, channels)
    return to_mono_16k(pcm, rate), frames / rate


def encode_wav(samples: np.ndarray, rate: int = SAMPLE_RATE, channels: int = 1) -> bytes:
    """16-bit PCM WAV bytes (tests, the console's format)."""
    pcm = np.clip(np.round(np.asarray(samples, np.float32) * 32767), -32768, 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def read_wav_file(path: Path) -> np.ndarray:
    return decode_wav(Path(path).read_bytes(), max_seconds=24 * 3600)[0]


def audio_track(path: Path, max_seconds: float = 4 * 3600) -> np.ndarray | None:
    """The first audio track of a media file as 16 kHz mono, or None when it has none."""
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise AudioInputError(f"media file cannot be opened ({type(exc).__name__})") from None
    with container:
        streams = [s for s in container.streams if s.type == "audio"]
        if not streams:
            return None
        stream = streams[0]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        parts: list[np.ndarray] = []
        total = 0
        limit = int(max_seconds * SAMPLE_RATE)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):  # type: ignore[arg-type]  # audio stream
                    parts.append(out.to_ndarray().reshape(-1))
                    total += parts[-1].size
                if total > limit:
                    break
            for out in resampler.resample(None):  # flush
                parts.append(out.to_ndarray().reshape(-1))
        except av.FFmpegError as exc:
            if not parts:
                raise AudioInputError(
                    f"audio track cannot be decoded ({type(exc).__name__})"
                ) from None
            # A damaged tail: keep what decoded, as the frame reader does.
    if not parts:
        return np.zeros(0, np.float32)
    return (np.concatenate(parts)[:limit].astype(np.float32) / 32768.0).astype(np.float32)
