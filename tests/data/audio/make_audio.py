"""Writes the audio test media of this folder (run: python tests/data/audio/make_audio.py).

Speech is synthesised by Debian's espeak-ng (GPL-3.0 program; its output is ours to
use) with three voices; mixes are built here so their speech intervals are known
exactly (``labels.json``: seconds, from each utterance's voiced span).  Noise and the
"music" are synthetic tones and seeded noise.  16 kHz mono 16-bit PCM, a few seconds each.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

HERE = Path(__file__).resolve().parent
RATE = 16_000

# name -> espeak-ng voice, pitch (0-99), words per minute
VOICES = {
    "a": ("en-us+m3", 40, 150),  # the candidate: a low male voice
    "b": ("en+f2", 70, 160),  # a female voice
    "c": ("en+Andy", 50, 150),  # a second male voice
}
LINES = [
    "I started my career as a software developer in a small company.",
    "The hardest part of that project was the database migration.",
    "We measured the latency every day and fixed the slowest queries first.",
    "I would split the service into smaller parts and test each one.",
    "My team lead taught me to write the tests before the code.",
    "Yes, I have used Python and Go in production for five years.",
    "The answer is to cache the results and invalidate them on write.",
    "I think the main risk is running out of memory under load.",
]


def say(voice: str, text: str, flat: bool = False) -> np.ndarray:
    name, pitch, speed = VOICES[voice]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "say.wav"
        if flat:  # SSML: the narrowest pitch range espeak-ng has (a monotone reader)
            text = f'<speak><prosody range="x-low">{text}</prosody></speak>'
        subprocess.run(
            [
                "espeak-ng",
                *(["-m"] if flat else []),
                "-v",
                name,
                "-p",
                str(pitch),
                "-s",
                str(speed),
                "-w",
                str(out),
                text,
            ],
            check=True,
            capture_output=True,
        )
        with wave.open(str(out)) as w:
            rate = w.getframerate()
            pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768
    g = np.gcd(rate, RATE)
    wav = resample_poly(pcm, RATE // g, rate // g).astype(np.float32)
    voiced = np.flatnonzero(np.abs(wav) > 0.01)  # espeak pads each utterance with silence
    return wav[voiced[0] : voiced[-1] + 1]


def noise(seconds: float, level: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * RATE)) * level).astype(
        np.float32
    )


def music(seconds: float, level: float) -> np.ndarray:
    """A chord progression of harmonic tones with a beat: music-like, not speech."""
    t = np.arange(int(seconds * RATE)) / RATE
    out = np.zeros_like(t)
    chords = [
        (220.0, 277.2, 329.6),
        (196.0, 246.9, 293.7),
        (174.6, 220.0, 261.6),
        (196.0, 246.9, 311.1),
    ]
    for i, chord in enumerate(chords * int(np.ceil(seconds / 4))):
        seg = (t >= i) & (t < i + 1)
        for f in chord:
            for h in (1, 2, 3):
                out[seg] += np.sin(2 * np.pi * f * h * t[seg]) / h
    beat = 0.6 + 0.4 * (np.mod(t, 0.5) < 0.1)
    return (out / np.max(np.abs(out)) * level * beat).astype(np.float32)


class Mix:
    def __init__(self, seconds: float, floor: float = 0.002, seed: int = 0):
        self.wav = noise(seconds, floor, seed)
        self.speech: list[dict] = []

    def put(self, voice: str, line: int, at: float, gain: float = 0.5) -> float:
        utt = say(voice, LINES[line]) * gain / 0.5
        start = int(at * RATE)
        end = min(len(self.wav), start + len(utt))
        self.wav[start:end] += utt[: end - start]
        self.speech.append({"voice": voice, "start": round(at, 3), "end": round(end / RATE, 3)})
        return end / RATE

    def turns(self, plan: list[tuple[str, int]], start: float = 0.5, gap: float = 0.8) -> None:
        at = start
        for voice, line in plan:
            at = self.put(voice, line, at) + gap


def write(name: str, wav: np.ndarray) -> None:
    pcm = np.clip(np.round(wav * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(HERE / name), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())


def main() -> None:
    labels: dict[str, dict] = {}

    def keep(name: str, mix: Mix, note: str) -> None:
        write(name, mix.wav)
        voices = sorted({s["voice"] for s in mix.speech})
        labels[name] = {
            "note": note,
            "voices": voices,
            "speech": mix.speech,
            "duration": round(len(mix.wav) / RATE, 3),
        }

    for voice in VOICES:  # single utterances for embedding checks
        for k in (1, 2):
            m = Mix(len(say(voice, LINES[k])) / RATE + 0.6, seed=k)
            m.put(voice, k, 0.3)
            keep(f"{voice}_{k}.wav", m, f"voice {voice}, one sentence")
    m = Mix(14.5, seed=3)
    m.turns([("a", 0), ("a", 3), ("a", 5)])
    keep("one_speaker_a.wav", m, "the candidate alone, four answers with pauses")
    m = Mix(14.5, seed=4)
    m.turns([("b", 0), ("b", 3), ("b", 5)])
    keep("one_speaker_b.wav", m, "voice b alone")
    m = Mix(14.5, seed=5)
    m.turns([("c", 0), ("c", 3), ("c", 5)])
    keep("one_speaker_c.wav", m, "voice c alone")
    m = Mix(17.0, seed=6)
    m.turns([("a", 0), ("b", 4), ("a", 3), ("b", 7)])
    keep("two_turns.wav", m, "candidate a and a second voice b taking turns")
    m = Mix(18.0, seed=7)
    m.turns([("a", 0), ("c", 4), ("a", 3), ("c", 7)])
    keep("two_turns_same_gender.wav", m, "candidate a and a second male voice c taking turns")
    m = Mix(12.0, seed=8)
    m.turns([("a", 0), ("a", 3)], gap=0.3)
    m.put("b", 4, 2.5, gain=0.35)
    keep("overlap.wav", m, "candidate a talking, voice b speaking over him at a lower level")
    m = Mix(8.0, seed=9)
    m.wav += music(8.0, 0.15)
    m.wav[int(4.5 * RATE) : int(6.5 * RATE)] += noise(2.0, 0.05, 10)
    keep(
        "no_speech.wav", m, "silence with a hum floor, music-like chords and a burst of white noise"
    )
    m = Mix(14.5, seed=11)
    m.wav += music(14.5, 0.05)
    m.turns([("a", 0), ("a", 3), ("a", 5)])
    keep("one_speaker_music.wav", m, "the candidate over background music")
    m = Mix(10.0, seed=12)
    at = 0.5
    for line in (1, 2):
        utt = say("a", LINES[line], flat=True)
        m.wav[int(at * RATE) : int(at * RATE) + len(utt)] += utt
        m.speech.append({"voice": "a", "start": at, "end": round(at + len(utt) / RATE, 3)})
        at += len(utt) / RATE + 0.8
    keep("monotone_a.wav", m, "voice a reading in a monotone (SSML x-low pitch range)")
    (HERE / "labels.json").write_text(json.dumps(labels, indent=1) + "\n")


if __name__ == "__main__":
    main()
