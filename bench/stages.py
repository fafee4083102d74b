"""Per-stage and per-frame latency of the frame pipeline on real 720p frames, one session.

    python -m bench.stages [--frames 240] [--label before] [--parts stages,production,all]

Part ``stages``: each stage on its own, every model on every frame (one ``FramePipeline``
on this thread): base64 + JPEG decode, face detection, embedding, landmarks, emotion,
objects, OCR, posture, hands, rules (``match`` + ``analyse_observation``), store write
(``SqlSessionStore.commit_frame`` on a temporary SQLite file).

Parts ``production`` and ``all``: the whole frame use case as the API runs it
(``ProctorService.frames.analyse_frame``: decode, schedule, inference pool with one worker,
verification, rules, store), timed from the base64 string in to the result dict out,
on two registered sessions fed one video second per frame (timestamps 1 s apart, as a
1 frame/s client).  ``production`` uses the settings in force (the production schedule;
``PROCTOR_*`` variables apply), ``all`` runs every model on every frame.

Frames: see ``bench.common``.  Prints tables and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.common import Clip, load_clips, quiet_check, sample, summary, table, write_result
from server import allocator
from server.config import Settings
from server.proctoring.alerts import AlertConfig
from server.proctoring.frame import analyse_observation
from server.proctoring.verification import load_scale, match
from server.store import FrameRecord, SessionRecord, VerificationRecord, open_store
from server.vision.decode import decode_image
from server.vision.pipeline import FULL_PLAN, FramePipeline, SharedModels

STAGES = (
    "decode",
    "face_detection",
    "embedding",
    "landmarks",
    "emotion",
    "objects",
    "ocr",
    "pose",
    "hands",
    "rules",
    "store_write",
)
WARMUP = 3


def alert_config(s: Settings) -> AlertConfig:
    return AlertConfig.from_settings(s)


def one_second_order(clip: Clip, fps: float = 1.0) -> list[int]:
    """Frame indices as a client at ``fps`` frames/s would send them: at 1 fps 0, 24, 48, ... then 1, 25, ..."""
    step = max(1, round(clip.fps / fps))
    return [i for off in range(step) for i in range(off, len(clip.jpegs), step)]


# --- part 1: each stage on its own --------------------------------------------------------
def bench_stages(
    settings: Settings, shared: SharedModels, clips: list[Clip], n: int, tmp: Path
) -> dict:
    pipeline = FramePipeline(shared)
    store = open_store(f"sqlite:///{tmp / 'stages.db'}")
    scale = load_scale(shared.specs["face_embedder"].family)
    config = alert_config(settings)
    registered, sessions = {}, {}
    try:
        for clip in clips:
            image = decode_image(clip.b64(0), settings.max_image_pixels)
            faces = pipeline.faces(image)
            registered[clip.name] = pipeline.embed(image, faces[0]) if faces else None
            rec = SessionRecord(
                id=f"bench-{clip.name}",
                status="active",
                start_time=_now(),
                last_activity=time.time(),
            )
            store.create_session(rec)
            sessions[clip.name] = {"id": rec.id, "version": 0, "state": {}, "frame": 0}
        for clip, i in sample(clips, WARMUP):
            pipeline.analyse(decode_image(clip.b64(i), settings.max_image_pixels), FULL_PLAN)

        times: dict[str, list[float]] = {k: [] for k in STAGES}
        totals = []
        for clip, i in sample(clips, n):
            b64 = clip.b64(i)
            t0 = time.perf_counter()
            image = decode_image(b64, settings.max_image_pixels)
            times["decode"].append((time.perf_counter() - t0) * 1000)
            obs = pipeline.analyse(image, FULL_PLAN)
            for k, v in obs.timings_ms.items():
                times.setdefault(k, []).append(v)

            s = sessions[clip.name]
            s["frame"] += 1
            ts = float(s["frame"])
            t0 = time.perf_counter()
            fm = None
            primary = obs.primary_face
            if (
                registered[clip.name] is not None
                and primary is not None
                and primary.embedding is not None
            ):
                fm = match(
                    registered[clip.name], primary.embedding, scale, settings.verification_threshold
                )
            out = analyse_observation(obs, s["state"], s["frame"], ts, fm, config)
            times["rules"].append((time.perf_counter() - t0) * 1000)

            ver = (
                None
                if fm is None
                else VerificationRecord(
                    s["frame"], ts, fm.verified, fm.similarity, fm.message, fm.threshold
                )
            )
            t0 = time.perf_counter()
            store.commit_frame(
                s["id"],
                s["version"],
                FrameRecord(
                    s["frame"], ts, True, out.frame.as_contract(), out.frame.stored_detail()
                ),
                ver,
                out.alerts,
                out.state,
                time.time(),
            )
            times["store_write"].append((time.perf_counter() - t0) * 1000)
            s["version"] += 1
            s["state"] = out.state
            totals.append(
                sum(times[k][-1] for k in ("decode", "rules", "store_write"))
                + sum(obs.timings_ms.values())
            )
    finally:
        pipeline.close()
        store.close()
    out = {k: summary(v) for k, v in times.items()}
    out["sum_of_stages"] = summary(totals)
    out.update(decode_1080p(clips, settings))
    return out


def decode_1080p(clips: list[Clip], settings: Settings, n: int = 60) -> dict:
    """A 1920x1080 webcam frame: decoded at full size, and as the server decodes it (frame_max_width)."""
    import base64

    import cv2

    from bench.common import encode

    full, reduced = [], []
    for clip, i in sample(clips, n):
        img = cv2.resize(
            decode_image(clip.b64(i), settings.max_image_pixels),
            (1920, 1080),
            interpolation=cv2.INTER_CUBIC,
        )
        b64 = base64.b64encode(encode(img)).decode()
        t0 = time.perf_counter()
        decode_image(b64, settings.max_image_pixels)
        full.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        decode_image(b64, settings.max_image_pixels, getattr(settings, "frame_max_width", None))
        reduced.append((time.perf_counter() - t0) * 1000)
    return {"decode_1080p_full": summary(full), "decode_1080p_served": summary(reduced)}


def _now():
    import datetime as dt

    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# --- part 2: the whole frame use case --------------------------------------------------------
async def _service_run(
    settings: Settings, shared: SharedModels, clips: list[Clip], n: int, fps: float
) -> dict:
    from server.runtime import build_runtime

    # the loaded models, one inference worker, no LLM (the settings turn it off)
    runtime = await build_runtime(
        settings.model_copy(update={"inference_workers": 1}), models=shared
    )
    service = runtime.service
    # What each stage costs per frame on average under this schedule (a stage that did
    # not run on a frame counts 0 there): where a frame's CPU goes in production.
    stage_ms: dict[str, float] = {}
    counted = [0]
    analyse = FramePipeline.analyse

    def timed(self, image, plan):
        obs = analyse(self, image, plan)
        counted[0] += 1
        for k, v in obs.timings_ms.items():
            stage_ms[k] = stage_ms.get(k, 0.0) + v
        return obs

    FramePipeline.analyse = timed  # type: ignore[method-assign]
    try:
        warm = await service.sessions.start({})
        for k in range(WARMUP):
            await service.frames.analyse_frame(warm.id, clips[0].b64(k * 24), timestamp=float(k))
        stage_ms.clear()  # the warm-up frames do not count
        counted[0] = 0
        total = sum(len(c.jpegs) for c in clips)
        latencies, per_clip = [], {}
        for clip in clips:
            count = max(1, round(n * len(clip.jpegs) / total))
            rec = await service.sessions.start({"candidateName": clip.name})
            await service.identity.register_face(rec.id, clip.b64(0))
            order = one_second_order(clip, fps)
            lat = []
            for k in range(count):
                b64 = clip.b64(order[k % len(order)])
                t0 = time.perf_counter()
                await service.frames.analyse_frame(rec.id, b64, timestamp=(k + 1) / fps)
                lat.append((time.perf_counter() - t0) * 1000)
            per_clip[clip.name] = summary(lat)
            latencies += lat
        per_frame = {k: round(v / max(1, counted[0]), 1) for k, v in stage_ms.items()}
        return {"frame": summary(latencies), "per_clip": per_clip, "stage_mean_ms": per_frame}
    finally:
        FramePipeline.analyse = analyse  # type: ignore[method-assign]
        await runtime.close()


def bench_service(
    base: Settings,
    shared: SharedModels,
    clips: list[Clip],
    n: int,
    tmp: Path,
    every_model: bool,
    fps: float = 1.0,
) -> dict:
    over = (
        {
            "objects_every": 1,
            "ocr_every": 1,
            "ocr_idle_every": 0,
            "pose_every": 1,
            "hands_every": 1,
            "object_crops_every": 1,
            "verify_reuse_s": 0.0,
        }
        if every_model
        else {}
    )
    name = "all" if every_model else "production"
    settings = base.model_copy(
        update={"data_dir": tmp / name, "database_url": f"sqlite:///{tmp / (name + '.db')}", **over}
    )
    return asyncio.run(_service_run(settings, shared, clips, n, fps))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--frames",
        type=int,
        default=240,
        help="frames per part (at least 200 for the issue's table)",
    )
    ap.add_argument("--parts", default="stages,production,all")
    ap.add_argument("--label", default=None, help="tag for the JSON file name (e.g. before, after)")
    ap.add_argument(
        "--fps",
        type=float,
        default=1.0,
        help="frame rate the whole-frame parts simulate (timestamps)",
    )
    args = ap.parse_args(argv)
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    quiet_check(0.5)

    settings = Settings(llm_enabled=False, session_idle_timeout_s=0)
    tuned = allocator.tune(
        settings.malloc_mmap_threshold_mb, settings.malloc_trim_threshold_mb
    )  # as the server
    t0 = time.perf_counter()
    shared = SharedModels.load(settings)
    print(
        f"models loaded in {time.perf_counter() - t0:.1f} s; providers {shared.providers}; "
        f"intra_op_threads {settings.intra_op_threads}"
    )
    clips = load_clips()
    result: dict = {
        "frames": args.frames,
        "fps": args.fps,
        "settings": {
            k: getattr(settings, k)
            for k in (
                "intra_op_threads",
                "ocr_every",
                "objects_every",
                "pose_every",
                "hands_every",
                "providers",
            )
        },
        "malloc": tuned,
    }
    with tempfile.TemporaryDirectory(prefix="proctor-bench-") as tmpdir:
        tmp = Path(tmpdir)
        if "stages" in parts:
            st = bench_stages(settings, shared, clips, args.frames, tmp)
            result["stages"] = st
            print(f"\nPer stage, every model on every frame, {args.frames} frames 1280x720 (ms):")
            print(
                table(
                    ["stage", "n", "p50", "p95", "mean"],
                    [[k, v["n"], v["p50"], v["p95"], v["mean"]] for k, v in st.items()],
                )
            )
        rows = []
        for part, every in (("production", False), ("all", True)):
            if part in parts:
                res = bench_service(settings, shared, clips, args.frames, tmp, every, args.fps)
                result[part] = res
                f = res["frame"]
                rows.append([part, f["n"], f["p50"], f["p95"], f["p99"], f["mean"], f["max"]])
        if rows:
            print(
                f"\nWhole frame (service.frames.analyse_frame, one session at a time, 1 worker, {args.fps:g} frame/s), ms:"
            )
            print(table(["schedule", "n", "p50", "p95", "p99", "mean", "max"], rows))
            means = {p: result[p]["stage_mean_ms"] for p in ("production", "all") if p in result}
            names = sorted({k for m in means.values() for k in m})
            print("\nMean ms a frame by stage (a stage that did not run on a frame counts 0):")
            print(
                table(
                    ["stage", *means],
                    [[k, *(m.get(k, 0.0) for m in means.values())] for k in names]
                    + [["sum", *(round(sum(m.values()), 1) for m in means.values())]],
                )
            )
    path = write_result("stages", result, args.label)
    print(f"\nwrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
