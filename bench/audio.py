"""Audio figures: VAD accuracy on the labelled mixes, voices found, voice_tone, CPU per second.

    .venv/bin/python bench/audio.py [--repeat 1]

Prints one table (tests/data/audio, labels.json).  CPU time is process time
(``time.process_time``), so other load on the machine inflates it less than wall time;
the figures in docs/audio.md are from a 2-core machine shared with other work.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.audio.analysis import AudioModels, LiveListener, analyse_recording  # noqa: E402
from server.audio.decode import read_wav_file  # noqa: E402
from server.audio.vad import CHUNK_S, speech_segments  # noqa: E402
from server.models.registry import ModelRegistry  # noqa: E402

AUDIO = ROOT / "tests" / "data" / "audio"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    reg = ModelRegistry(ROOT / "models")
    vad, spk = reg.resolve("voice_activity"), reg.resolve("speaker_embedder")
    models = AudioModels(reg.path(vad), reg.path(spk))
    labels = json.loads((AUDIO / "labels.json").read_text())
    rows = []
    tot_audio = tot_vad = tot_all = tot_live = 0.0
    for name, lab in labels.items():
        wav = read_wav_file(AUDIO / name)
        seconds = len(wav) / 16000
        t0 = time.process_time()
        for _ in range(args.repeat):
            probs = models.vad.probabilities(wav)
        vad_cpu = (time.process_time() - t0) / args.repeat
        centres = np.arange(len(probs)) * CHUNK_S + CHUNK_S / 2
        pred = np.zeros(len(probs), bool)
        for a, b in speech_segments(probs):
            pred |= (centres >= a) & (centres < b)
        truth = np.zeros(len(probs), bool)
        for s in lab["speech"]:
            truth |= (centres >= s["start"]) & (centres < s["end"])
        t0 = time.process_time()
        for _ in range(args.repeat):
            section = analyse_recording(wav, models).section("interview")
        all_cpu = (time.process_time() - t0) / args.repeat
        t0 = time.process_time()
        listener = LiveListener(models)
        for i in range(0, len(wav), 16000):
            listener.feed(wav[i : i + 16000])
        listener.finish()
        live = listener.findings().section("interview")
        live_cpu = time.process_time() - t0
        tot_audio += seconds
        tot_vad += vad_cpu
        tot_all += all_cpu
        tot_live += live_cpu
        rows.append(
            (
                name,
                seconds,
                float(np.mean(pred == truth)),
                len(lab["voices"]),
                section["voice_count"],
                live["voice_count"],
                section["voice_tone"],
                vad_cpu / seconds,
                all_cpu / seconds,
            )
        )
    print(
        f"{'file':28s} {'s':>5s} {'VAD acc':>7s} {'voices':>6s} {'found':>5s} {'live':>4s} "
        f"{'tone':>4s} {'VAD cpu/s':>9s} {'all cpu/s':>9s}"
    )
    for r in rows:
        tone = "-" if r[6] is None else str(r[6])
        print(
            f"{r[0]:28s} {r[1]:5.1f} {r[2]:7.3f} {r[3]:6d} {r[4]:5d} {r[5]:4d} {tone:>4s} "
            f"{r[7]:9.4f} {r[8]:9.4f}"
        )
    one = [r for r in rows if r[3] == 1 and r[1] > 10]
    two = [r for r in rows if r[3] == 2]
    speech_rows = [r for r in rows]
    print(
        f"\nVAD frame accuracy (mean of {len(speech_rows)} files): "
        f"{np.mean([r[2] for r in speech_rows]):.3f}"
    )
    print(
        f"second voice found (recording): {sum(r[4] >= 2 for r in two)}/{len(two)}; "
        f"live: {sum(r[5] >= 2 for r in two)}/{len(two)}"
    )
    print(
        f"false second voice on one-speaker recordings: {sum(r[4] >= 2 for r in one)}/{len(one)}; "
        f"live: {sum(r[5] >= 2 for r in one)}/{len(one)}"
    )
    print(
        f"CPU per second of audio: VAD {tot_vad / tot_audio * 1000:.1f} ms, "
        f"whole recording analysis {tot_all / tot_audio * 1000:.1f} ms, "
        f"live 1 s chunks {tot_live / tot_audio * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
