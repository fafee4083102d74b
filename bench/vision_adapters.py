"""Latency of the face-landmark, emotion, body and hand adapters, and what their signals do
on the two expression videos of tests/data.

    python -m bench.vision_adapters [--runs 30] [--models-dir models]

- ms per call on a 1280x720 frame (a webcam-like frame of single_face.mp4 upscaled;
  for hands also frame 72 of the crying video, a hand at the mouth), one thread,
  median and 90th percentile after warm-up;
- per second of WolfgangLanger_Pexels.mp4 and single_face.mp4, every frame: the
  dominant emotion of the mean probabilities, mean and max CONFUSED, gaze on_camera
  (min / mean / max), eye openness, head yaw and pitch.

Faces come from OpenCV's YuNet wrapper on the manifest's YuNet file.  Prints tables
and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from server.config import Settings
from server.models.registry import ModelRegistry
from server.proctoring.observation import EMOTIONS, Face
from server.vision.body import HandTracker, PoseEstimator
from server.vision.emotion import EmotionClassifier
from server.vision.landmarks import FaceLandmarker

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
VIDEOS = ("WolfgangLanger_Pexels.mp4", "single_face.mp4")


def resolve(registry: ModelRegistry, role: str, family: str | None = None) -> Path:
    for spec in registry.all():
        if (
            spec.role == role
            and (family is None or spec.family == family)
            and registry.path(spec).exists()
        ):
            return registry.path(spec)
    raise SystemExit(f"no {role} model in {registry.models_dir}: run `make models`")


class Faces:
    def __init__(self, path: Path) -> None:
        self.det = cv2.FaceDetectorYN.create(str(path), "", (320, 320), 0.6, 0.3, 50)

    def __call__(self, img: np.ndarray) -> list[Face]:
        self.det.setInputSize((img.shape[1], img.shape[0]))
        _, found = self.det.detect(img)
        if found is None:
            return []
        faces = [
            Face(
                bbox=(float(d[0]), float(d[1]), float(d[0] + d[2]), float(d[1] + d[3])),
                score=float(d[14]),
                kps=np.asarray(d[4:14], np.float32).reshape(5, 2).copy(),
            )
            for d in found
        ]
        return sorted(faces, key=lambda f: -f.area)


def read_video(path: Path) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 24.0
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(frame)
    cap.release()
    return out, fps


def timed(fn, runs: int) -> dict:
    for _ in range(3):
        fn()
    ms = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1000)
    ms.sort()
    return {
        "median_ms": round(statistics.median(ms), 2),
        "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 2),
    }


def latency(models: dict, faces: Faces, runs: int) -> dict:
    frames, _ = read_video(DATA / "single_face.mp4")
    frame = cv2.resize(frames[40], (1280, 720), interpolation=cv2.INTER_LINEAR)
    face = faces(frame)[0]
    crying, _ = read_video(DATA / "WolfgangLanger_Pexels.mp4")
    hand_frame = cv2.resize(crying[72], (1280, 720), interpolation=cv2.INTER_LINEAR)
    if not models["hands"].detect(hand_frame):
        raise SystemExit("no hand found on frame 72 of the crying video")
    mesh = models["landmarks"].detect(frame, face)
    return {
        "face_landmarks (whole frame)": timed(lambda: models["landmarks"].detect(frame), runs),
        "face_landmarks (crop around face)": timed(
            lambda: models["landmarks"].detect(frame, face), runs
        ),
        "emotion (crop + FER + CONFUSED)": timed(
            lambda: models["emotion"].classify(frame, face, mesh.blendshapes), runs
        ),
        "body pose": timed(lambda: models["pose"].detect(frame), runs),
        "hands (none in view)": timed(lambda: models["hands"].detect(frame), runs),
        "hands (one at the mouth)": timed(lambda: models["hands"].detect(hand_frame), runs),
        "(reference) YuNet via OpenCV": timed(lambda: faces(frame), runs),
    }


def video_signals(models: dict, faces: Faces, name: str) -> list[dict]:
    frames, fps = read_video(DATA / name)
    per_second: dict[int, list] = {}
    for i, frame in enumerate(frames):
        found = faces(frame)
        if not found:
            continue
        mesh = models["landmarks"].detect(frame, found[0])
        probs = models["emotion"].classify(frame, found[0], mesh.blendshapes if mesh else None)
        per_second.setdefault(int(i / fps), []).append((probs, mesh))
    rows = []
    for sec, items in sorted(per_second.items()):
        mean = {k: float(np.mean([p[k] for p, _ in items])) for k in EMOTIONS}
        meshes = [m for _, m in items if m is not None and m.gaze is not None]
        on = [m.gaze.on_camera for m in meshes]
        rows.append(
            {
                "second": sec,
                "frames": len(items),
                "dominant": max(mean, key=mean.get),
                "p_dominant": round(max(mean.values()), 2),
                "second_emotion": sorted(mean, key=mean.get)[-2],
                "confused_mean": round(mean["CONFUSED"], 3),
                "confused_max": round(max(p["CONFUSED"] for p, _ in items), 3),
                "on_camera": [round(min(on), 2), round(float(np.mean(on)), 2), round(max(on), 2)]
                if on
                else None,
                "eye_openness": round(float(np.mean([m.gaze.eye_openness for m in meshes])), 2)
                if meshes
                else None,
                "yaw": round(float(np.mean([m.pose.yaw for m in meshes])), 1) if meshes else None,
                "pitch": round(float(np.mean([m.pose.pitch for m in meshes])), 1)
                if meshes
                else None,
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--models-dir", type=Path, default=Settings().models_dir)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    registry = ModelRegistry(args.models_dir)
    faces = Faces(resolve(registry, "face_detector", "yunet"))
    models = {
        "landmarks": FaceLandmarker(resolve(registry, "face_landmarker")),
        "emotion": EmotionClassifier(resolve(registry, "emotion")),
        "pose": PoseEstimator(resolve(registry, "pose_landmarker")),
        "hands": HandTracker(resolve(registry, "hand_landmarker")),
    }
    try:
        lat = latency(models, faces, args.runs)
        print("\n| adapter, 1280x720 frame, 1 thread | median ms | p90 ms |\n|---|---|---|")
        for k, v in lat.items():
            print(f"| {k} | {v['median_ms']} | {v['p90_ms']} |")
        videos = {}
        for name in VIDEOS:
            rows = videos[name] = video_signals(models, faces, name)
            print(
                f"\n{name}\n\n| s | dominant (p) | 2nd | CONFUSED mean / max | on_camera min / mean / max | eyes open | yaw | pitch |"
            )
            print("|---|---|---|---|---|---|---|---|")
            for r in rows:
                oc = "/".join(f"{v:.2f}" for v in r["on_camera"]) if r["on_camera"] else "-"
                print(
                    f"| {r['second']} | {r['dominant']} ({r['p_dominant']:.2f}) | {r['second_emotion']} | "
                    f"{r['confused_mean']:.2f} / {r['confused_max']:.2f} | {oc} | {r['eye_openness']} | {r['yaw']} | {r['pitch']} |"
                )
    finally:
        for m in models.values():
            m.close()
    out = REPO / "bench" / "results" / f"vision_adapters-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"latency": lat, "videos": videos}, indent=1))
    print(f"\nwrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
