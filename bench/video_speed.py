"""Pre-recorded video analysis speed, as a multiple of real time, on a 720p video.

    python -m bench.video_speed [--intervals 1 10 30] [--workers 1] [--repeat 1] [--llm]

The 720p clip is WolfgangLanger_Pexels.mp4 (640x360, 472 frames, 23.976 fps, 19.7 s)
upscaled to 1280x720 with cv2 into a temporary MP4.  Each run is the product's own code
path, in-process: ``VideoAnalysis.run`` over a fresh session on a throw-away SQLite store
(decode in the reader thread, frames through the inference pool at batch priority,
rules, per-frame commits, end-of-session report; the summary from the template unless
``--llm``).  Speed = video duration / wall time; > 1 is faster than real time.

Also measured: decoding alone (every frame grabbed, the analysed ones converted), so the
table shows how much of a run is the decoder.  Prints a table and writes JSON to
bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "tests" / "data" / "WolfgangLanger_Pexels.mp4"


def make_720p(dest: Path) -> tuple[int, float]:
    cap = cv2.VideoCapture(str(SOURCE))
    fps = cap.get(cv2.CAP_PROP_FPS)
    out = cv2.VideoWriter(str(dest), cv2.VideoWriter_fourcc(*"mp4v"), fps, (1280, 720))
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.write(cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_CUBIC))
        n += 1
    cap.release()
    out.release()
    return n, fps


def decode_only(path: Path, interval: int) -> float:
    from server.vision.video import FrameReader, probe

    info = probe(path)
    t0 = time.perf_counter()
    with FrameReader(path, interval, fps=info.fps) as reader:
        while reader.next_frame() is not None:
            pass
    return time.perf_counter() - t0


async def analyse(
    path: Path, intervals: list[int], workers: int, repeat: int, llm: bool, data_dir: Path
) -> list[dict]:
    from server.config import Settings
    from server.runtime import build_runtime
    from server.service.video import VideoAnalysis, VideoParams

    settings = Settings(
        data_dir=data_dir,
        database_url=None,
        llm_enabled=llm,
        inference_workers=workers,
        session_idle_timeout_s=0,
    )
    runtime = await build_runtime(settings)
    rows = []
    try:
        analysis = VideoAnalysis(runtime.service)
        # warm-up: first-use costs (OCR session, MediaPipe graphs) are not part of a long video
        await analysis.run(path, VideoParams(frame_interval=120), source="warm-up")
        for interval in intervals:
            for _ in range(repeat):
                t0 = time.perf_counter()
                _, report = await analysis.run(
                    path, VideoParams(frame_interval=interval), source=path.name
                )
                wall = time.perf_counter() - t0
                video = report["analysis_metadata"]["video"]
                frames = report["session_summary"]["frames_analyzed"]
                rows.append(
                    {
                        "frame_interval": interval,
                        "frames_analyzed": frames,
                        "video_s": video["duration_seconds"],
                        "wall_s": round(wall, 2),
                        "x_real_time": round(video["duration_seconds"] / wall, 2),
                        "ms_per_analysed_frame": round(1000 * wall / frames, 1),
                        "decode_only_s": round(
                            await asyncio.to_thread(decode_only, path, interval), 2
                        ),
                    }
                )
                print(
                    f"interval {interval:>3}: {frames:>3} frames in {wall:6.1f} s -> "
                    f"{rows[-1]['x_real_time']:5.2f}x real time"
                )
    finally:
        await runtime.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--intervals", type=int, nargs="+", default=[1, 10, 30])
    ap.add_argument(
        "--workers", type=int, default=1, help="inference workers (a job keeps one frame in flight)"
    )
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument(
        "--llm", action="store_true", help="write the summary with the local LLM (adds its time)"
    )
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="proctor-video-speed-"))
    try:
        clip = tmp / "wolfgang_720p.mp4"
        frames, fps = make_720p(clip)
        print(
            f"720p clip: {frames} frames at {fps:.3f} fps = {frames / fps:.1f} s ({clip.stat().st_size / 1e6:.1f} MB)"
        )
        rows = asyncio.run(
            analyse(clip, args.intervals, args.workers, args.repeat, args.llm, tmp / "data")
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    header = ("interval", "frames", "video s", "wall s", "x real time", "ms/frame", "decode-only s")
    keys = (
        "frame_interval",
        "frames_analyzed",
        "video_s",
        "wall_s",
        "x_real_time",
        "ms_per_analysed_frame",
        "decode_only_s",
    )
    print()
    print("  ".join(f"{h:>13}" for h in header))
    for r in rows:
        print("  ".join(f"{r[k]:>13}" for k in keys))
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "clip": {"source": SOURCE.name, "size": "1280x720", "frames": frames, "fps": round(fps, 3)},
        "workers": args.workers,
        "llm": args.llm,
        "rows": rows,
    }
    out = REPO / "bench" / "results" / f"video_speed-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
