"""Server memory: RSS after start (LLM loaded) and after 3,000 frames.

    python -m bench.memory [--frames 3000] [--sessions 3] [--no-llm]

Starts a real ``proctor serve`` on loopback (temporary data dir, the local LLM enabled as
in production), waits until its RSS is steady, then sends ``--frames`` real 720p frames
through ``--sessions`` sessions (each client sends its next frame when the previous
answer arrives: the server runs flat out), reading the RSS of all server processes at
checkpoints.  A reading at a checkpoint is the median of 5 samples 0.1 s apart while the
traffic goes on: one sample alone lands inside an OCR call a third of the time, whose
onnxruntime block (30 MB, mapped per call) is memory in flight, not memory held; the
highest sample of the whole run is reported beside.  Growth is given from "after start"
and from "after the first 100 frames" (first-use allocations of the inference libraries
happen on the first frames unless the server warms its models at start).  Finally the
sessions are ended (the report's LLM summary runs) and the RSS read again.

Prints a table and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx

from bench.common import load_clips, quiet_check, table, write_result
from bench.load import Bodies
from bench.server import ServerProcess


def steady_rss(server: ServerProcess, settle_s: float = 3.0, timeout_s: float = 60.0) -> float:
    """RSS once it has stopped growing (the LLM loads on its own thread after /health answers)."""
    deadline = time.monotonic() + timeout_s
    last, since = server.rss_mb(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = server.rss_mb()
        if abs(now - last) > 2.0:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= settle_s:
            break
    return server.rss_mb()


async def drive(
    server: ServerProcess, bodies: Bodies, total: int, sessions: int, checkpoints: list[int]
) -> dict:
    done = 0
    statuses: dict[str, int] = {}
    marks: dict[int, float] = {}
    samples: dict[int, list[float]] = {}
    peak = 0.0
    lock = asyncio.Lock()
    sids = []
    readings: list[asyncio.Task] = []
    stop = asyncio.Event()  # the frames go on until the last checkpoint's samples are read

    async def read_mark(n: int) -> None:
        samples[n] = []
        for _ in range(5):
            samples[n].append(server.rss_mb())
            await asyncio.sleep(0.1)
        marks[n] = statistics.median(samples[n])
        print(
            f"  {n} frames: RSS {marks[n]:.0f} MB (samples {min(samples[n]):.0f}-{max(samples[n]):.0f})",
            flush=True,
        )
        if n == checkpoints[-1]:
            stop.set()

    async def watch_peak() -> None:
        nonlocal peak
        while True:
            peak = max(peak, server.rss_mb())
            await asyncio.sleep(0.25)

    async def client(j: int):
        nonlocal done
        clip = j % len(bodies.clips)
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
            sid = (await c.post("/api/sessions/start", json={"job_data": {}})).json()["session_id"]
            sids.append(sid)
            await c.post(
                f"/api/sessions/{sid}/register-face", json={"face": bodies.clips[clip].b64(0)}
            )
            k = 0
            while True:
                async with lock:
                    if done >= total and (stop.is_set() or not checkpoints):
                        return
                    done += 1
                    n = done
                r = await c.post(
                    f"/api/sessions/{sid}/frame",
                    content=bodies.frame(clip, k * 3 + j),
                    headers={"content-type": "application/json"},
                )
                statuses[str(r.status_code)] = statuses.get(str(r.status_code), 0) + 1
                if r.status_code == 503:
                    await asyncio.sleep(float(r.headers.get("retry-after", "1")))
                k += 1
                if n in checkpoints:
                    readings.append(asyncio.create_task(read_mark(n)))

    t0 = time.perf_counter()
    watcher = asyncio.create_task(watch_peak())
    await asyncio.gather(*(client(j) for j in range(sessions)))
    elapsed = time.perf_counter() - t0
    await asyncio.gather(*readings)
    watcher.cancel()
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as c:
        for sid in sids:
            await c.post(f"/api/sessions/{sid}/end")
    return {
        "marks": marks,
        "samples": samples,
        "peak": peak,
        "statuses": statuses,
        "elapsed_s": round(elapsed, 1),
        "frames_sent": done,
        "fps": round(done / elapsed, 2) if elapsed else None,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--sessions", type=int, default=3)
    ap.add_argument("--no-llm", action="store_true", help="start the server with the LLM disabled")
    ap.add_argument(
        "--env", action="append", default=[], help="PROCTOR_X=Y for the server (repeatable)"
    )
    ap.add_argument("--label", default=None)
    args = ap.parse_args(argv)
    env = dict(e.split("=", 1) for e in args.env)
    quiet_check(0.5)
    bodies = Bodies(load_clips())
    checkpoints = sorted(
        {c for c in (100, 500, 1000, 1500, 2000, 2500, args.frames) if c <= args.frames}
    )
    with ServerProcess(env=env, llm=not args.no_llm) as server:
        start = steady_rss(server)
        print(
            f"server ready; RSS after start {start:.0f} MB ({len(server.processes())} process(es))"
        )
        res = asyncio.run(drive(server, bodies, args.frames, args.sessions, checkpoints))
        after_end = steady_rss(server, settle_s=2.0, timeout_s=20.0)
    marks = res["marks"]
    final = marks.get(args.frames, after_end)
    warm = marks.get(100, start)
    out = {
        "llm": not args.no_llm,
        "frames": args.frames,
        "sessions": args.sessions,
        "env": env,
        "rss_after_start_mb": round(start, 1),
        "rss_by_frames_mb": {k: round(v, 1) for k, v in sorted(marks.items())},
        "rss_samples_mb": {
            k: [round(v, 1) for v in vs] for k, vs in sorted(res["samples"].items())
        },
        "rss_highest_sample_mb": round(res["peak"], 1),
        "rss_after_reports_mb": round(after_end, 1),
        "growth_from_start_pct": round((final - start) / start * 100, 2),
        "growth_from_100_frames_pct": round((final - warm) / warm * 100, 2),
        "statuses": res["statuses"],
        "elapsed_s": res["elapsed_s"],
        "frames_per_s": res["fps"],
    }
    rows = [["after start" + (" (LLM loaded)" if out["llm"] else ""), round(start, 1), ""]]
    rows += [
        [f"after {k} frames", round(v, 1), f"{(v - start) / start * 100:+.1f}%"]
        for k, v in sorted(marks.items())
    ]
    rows.append(
        [
            "highest sample during the frames",
            round(res["peak"], 1),
            f"{(res['peak'] - start) / start * 100:+.1f}%",
        ]
    )
    rows.append(
        [
            "after ending the sessions (reports)",
            round(after_end, 1),
            f"{(after_end - start) / start * 100:+.1f}%",
        ]
    )
    print()
    print(table(["point", "RSS MB (all server processes)", "vs start"], rows))
    print(
        f"growth over {args.frames} frames: {out['growth_from_start_pct']:+.2f}% from start, "
        f"{out['growth_from_100_frames_pct']:+.2f}% from frame 100; {res['fps']} frames/s; statuses {res['statuses']}"
    )
    path = write_result("memory", out, args.label)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
