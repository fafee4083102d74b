"""CPU of the optional transcripts (faster-whisper tiny.en): seconds of CPU per second of audio.

    .venv/bin/python bench/transcripts.py

Joins every file of tests/data/audio into one recording, finds its speech spans as a
video's audio analysis does, then transcribes them once (the model loaded and warmed
first).  CPU is process time; the figure in docs/audio.md is from a shared 2-core machine.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.audio.analysis import analyse_recording  # noqa: E402
from server.audio.decode import read_wav_file  # noqa: E402
from server.config import Settings  # noqa: E402
from server.service.audio import AudioChannel  # noqa: E402

AUDIO = ROOT / "tests" / "data" / "audio"


def main() -> int:
    channel = AudioChannel(Settings(transcripts=True))
    models, transcriber = channel.models(), channel.transcriber()
    if models is None or transcriber is None:
        print("no audio or speech-to-text model (run `proctor models fetch`)")
        return 1
    names = list(json.loads((AUDIO / "labels.json").read_text()))
    first = read_wav_file(AUDIO / names[0])
    transcriber.transcript(first, analyse_recording(first, models).spans)  # warm up
    wav = np.concatenate([read_wav_file(AUDIO / n) for n in names])
    spans = analyse_recording(wav, models).spans
    audio_s, speech_s = len(wav) / 16_000, sum(s.seconds for s in spans)
    cpu, wall = time.process_time(), time.time()
    lines = transcriber.transcript(wav, spans)
    cpu, wall = time.process_time() - cpu, time.time() - wall
    print(f"{len(names)} files joined: {audio_s:.1f} s of audio, {speech_s:.1f} s of speech")
    print(f"{len(lines)} transcript lines; CPU {cpu:.2f} s, wall {wall:.2f} s")
    print(
        f"{cpu / audio_s * 1000:.0f} ms CPU per s of audio, {cpu / speech_s * 1000:.0f} per s of speech"
    )
    channel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
