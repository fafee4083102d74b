"""What the benchmarks share: real 720p webcam-like frames, percentiles, tables, JSON results.

Frames: every frame of the two expression videos in tests/data (WolfgangLanger_Pexels.mp4,
472 frames; single_face.mp4, 72 frames; both 640x360), upscaled to 1280x720 and
JPEG-encoded at quality 80, as a browser's ``canvas.toDataURL('image/jpeg', 0.8)`` sends
them.  A 1 frame/s client steps through a video 24 frames (one second) at a time.
"""

from __future__ import annotations

import base64
import json
import math
import os
import platform
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
RESULTS = REPO / "bench" / "results"
VIDEOS = ("WolfgangLanger_Pexels.mp4", "single_face.mp4")
WIDTH, HEIGHT, QUALITY = 1280, 720, 80


@dataclass
class Clip:
    """One video as 720p JPEG frames (bytes) plus a registration frame of its person."""

    name: str
    jpegs: list[bytes]
    fps: float

    def b64(self, i: int) -> str:
        return (
            "data:image/jpeg;base64," + base64.b64encode(self.jpegs[i % len(self.jpegs)]).decode()
        )


def encode(image: np.ndarray, quality: int = QUALITY) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def load_clips() -> list[Clip]:
    clips = []
    for name in VIDEOS:
        cap = cv2.VideoCapture(str(DATA / name))
        fps = cap.get(cv2.CAP_PROP_FPS) or 24.0
        jpegs = []
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                big = cv2.resize(frame, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
                jpegs.append(encode(big))
        finally:
            cap.release()
        if not jpegs:
            raise SystemExit(f"cannot decode {DATA / name}")
        clips.append(Clip(name, jpegs, fps))
    return clips


def sample(clips: list[Clip], n: int) -> list[tuple[Clip, int]]:
    """``n`` (clip, frame index) pairs spread evenly over all frames of all clips."""
    pairs = [(c, i) for c in clips for i in range(len(c.jpegs))]
    if n >= len(pairs):
        return pairs
    step = len(pairs) / n
    return [pairs[int(k * step)] for k in range(n)]


def pct(values, q: float) -> float:
    """Percentile with linear interpolation (numpy's default); nan for no values."""
    values = [v for v in values if v is not None]
    if not values:
        return math.nan
    return float(np.percentile(np.asarray(values, np.float64), q))


def summary(values) -> dict:
    values = [v for v in values if v is not None]
    return {
        "n": len(values),
        "p50": round(pct(values, 50), 2),
        "p95": round(pct(values, 95), 2),
        "p99": round(pct(values, 99), 2),
        "mean": round(float(np.mean(values)), 2) if values else math.nan,
        "max": round(max(values), 2) if values else math.nan,
    }


def table(headers: list[str], rows: list[list]) -> str:
    cells = [[str(h) for h in headers]] + [
        ["" if v is None else (f"{v:.1f}" if isinstance(v, float) else str(v)) for v in row]
        for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r):
        return (
            "| "
            + " | ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=False))
            )
            + " |"
        )

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), sep, *(line(r) for r in cells[1:])])


def machine() -> dict:
    load = os.getloadavg()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=5,
            ).stdout.strip()
        )
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", False
    return {
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "load_avg_at_start": [round(x, 2) for x in load],
        "commit": commit + ("+dirty" if dirty else ""),
    }


def write_result(name: str, payload: dict, label: str | None = None) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{name}{'-' + label if label else ''}-{stamp}.json"
    payload = {"bench": name, "label": label, "when": stamp, "machine": machine(), **payload}
    path.write_text(json.dumps(payload, indent=2, default=float))
    return path


def quiet_check(max_load: float) -> None:
    """Warn when the machine is busy: figures taken then are not comparable."""
    one = os.getloadavg()[0]
    if one > max_load:
        print(
            f"warning: load average {one:.2f} > {max_load}: other work is running, figures will be noisy"
        )


class Stopwatch:
    def __init__(self):
        self.t0 = time.perf_counter()

    def ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000
