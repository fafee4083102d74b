"""Liveness on honest video and on presentation attacks built from real media.

    .venv/bin/python -m bench.cheating [--frames 8] [--json out.json]

Honest: windows of ``--frames`` frames from each face video of tests/data at several
spacings (1/3 s to 1 s between frames) and offsets.  Attacks (tests/cheating/attack_media.py):
every portrait of tests/data shown on a phone screen held up to the camera, printed and
held in the hands, and single frames of the honest videos replayed as a still with
re-encoding noise.  Each sequence runs through the real models (face detector, face
mesh) and the production liveness tracker; the script prints the false-reject rate
(honest windows failed) and the catch rate per attack, with the signals beside.
Prints figures, asserts nothing (tests/cheating/ asserts).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from server.config import Settings
from server.proctoring.liveness import LivenessTracker, single_image_liveness
from server.vision.liveness import frame_change
from server.vision.pipeline import FramePipeline, FramePlan, SharedModels
from server.vision.schedule import thumbnail
from tests.cheating import attack_media as media

PORTRAITS = (
    "obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "person_a_1.jpg", "person_a_2.jpg",
    "person_b_1.jpg", "person_b_2.jpg", "impostor_1.jpg", "impostor_2.jpg", "grace_hopper.jpg",
    "astronaut.png", "single_face.jpg",
)  # fmt: skip
PLAN = FramePlan(embed=False, emotion=False, objects=False)


def honest_windows(frames: int) -> list[tuple[str, list]]:
    out = []
    for name, steps in (("single_face.mp4", (3, 6, 9)), ("WolfgangLanger_Pexels.mp4", (8, 12, 24))):
        allf = media.video(name)
        for step in steps:
            span = step * frames
            for start in range(0, max(1, len(allf) - span + 1), max(span // 2, 1)):
                seq = allf[start : start + span : step]
                if len(seq) == frames:
                    out.append((f"{name}@{start}/{step}", seq))
    return out


def attacks(frames: int) -> dict[str, list[tuple[str, list]]]:
    screen = [
        (p, media.face_on_screen(media.image(p), frames, seed=i)) for i, p in enumerate(PORTRAITS)
    ]
    printed = [
        (p, media.printed_in_hands(media.image(p), frames, seed=i)) for i, p in enumerate(PORTRAITS)
    ]
    still = []
    for name in media.HONEST_VIDEOS:
        allf = media.video(name)
        for k, idx in enumerate(range(0, len(allf), max(1, len(allf) // 5))):
            still.append((f"{name}#{idx}", media.still_replay(allf[idx], frames, seed=k)))
    return {"screen": screen, "print": printed, "still": still}


def run(pipe: FramePipeline, seq: list, settings: Settings) -> tuple[dict, dict | None]:
    tracker = LivenessTracker(
        {},
        frames=settings.liveness_frames,
        threshold=settings.liveness_threshold,
        still_frames=settings.liveness_still_frames,
    )
    first = None
    result = None
    previous = None
    for frame in seq:
        obs = pipe.analyse(frame, PLAN)
        thumb = thumbnail(frame)
        if obs.liveness is not None:  # as the service does: the change since the last frame
            obs.liveness.frame_change = frame_change(previous, thumb)
        previous = thumb
        if first is None and obs.liveness is not None:
            first = single_image_liveness(obs.liveness, settings.liveness_image_min).as_dict()
        result = tracker.update(obs.liveness if obs.face_count else None)
    attack = tracker.attack()
    out = result.as_dict() if result else {"score": None, "passed": None, "signals": {}}
    out["attack"] = attack
    return out, first


def cost(pipe: FramePipeline, settings: Settings, n: int = 40) -> None:
    """Median ms of the new per-frame stages on 720p frames (one thread), and their share of
    the whole frame on the default schedule."""
    import cv2
    import numpy as np

    from server.vision.schedule import plan_frame

    frames = [
        cv2.resize(f, (1280, 720), interpolation=cv2.INTER_CUBIC)
        for f in media.video("WolfgangLanger_Pexels.mp4", step=max(1, 472 // n))[:n]
    ]
    t: dict[str, list[float]] = {}
    totals = []
    for i, frame in enumerate(frames, 1):
        obs = pipe.analyse(frame, plan_frame(i, settings))
        full = "liveness_full" if plan_frame(i, settings).liveness_full else "liveness_light"
        for key, ms in obs.timings_ms.items():
            t.setdefault(full if key == "liveness" else key, []).append(ms)
        totals.append(sum(obs.timings_ms.values()))
    med = {k: round(float(np.median(v)), 1) for k, v in t.items()}
    added = sum(t.get("liveness_full", [])) + sum(t.get("liveness_light", []))
    added += sum(t.get("object_crops", []))
    print(f"median ms per stage on {len(frames)} 720p frames (default schedule): {med}")
    print(f"new stages: {added / len(frames):.1f} ms per frame on average, "
          f"{100 * added / sum(totals):.0f}% of the frame's model time "
          f"({sum(totals) / len(frames):.0f} ms)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--cost", action="store_true", help="only the per-frame cost of the new stages")
    args = ap.parse_args()
    settings = Settings(liveness_frames=args.frames)
    shared = SharedModels.load(settings)
    pipe = FramePipeline(shared)
    if args.cost:
        cost(pipe, Settings())
        pipe.close()
        return
    report: dict = {"frames": args.frames, "honest": [], "attacks": {}}
    t0 = time.perf_counter()
    n_frames = 0
    for name, seq in honest_windows(args.frames):
        res, first = run(pipe, seq, settings)
        n_frames += len(seq)
        report["honest"].append({"name": name, **res, "single_image": first})
    for kind, seqs in attacks(args.frames).items():
        rows = report["attacks"][kind] = []
        for name, seq in seqs:
            res, first = run(pipe, seq, settings)
            n_frames += len(seq)
            rows.append({"name": name, **res, "single_image": first})
    elapsed = time.perf_counter() - t0
    honest = report["honest"]
    rejected = [h for h in honest if h["attack"]]
    print(f"honest windows: {len(honest)}, false rejects: {len(rejected)} "
          f"({100 * len(rejected) / max(1, len(honest)):.1f}%)")  # fmt: skip
    for h in honest:
        print(f"  {h['name']:40s} score {h['score']:5.1f} attack {h['attack']} {h['signals']}")
    for kind, rows in report["attacks"].items():
        caught = [r for r in rows if r["attack"]]
        print(f"{kind}: {len(caught)}/{len(rows)} caught")
        for r in rows:
            si = r["single_image"] or {}
            print(f"  {r['name']:40s} score {r['score']} attack {r['attack']} "
                  f"single {si.get('score')} {r['signals']}")  # fmt: skip
    print(f"{n_frames} frames in {elapsed:.1f} s (face detection + mesh + cues, one thread)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    pipe.close()


if __name__ == "__main__":
    main()
