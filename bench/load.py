"""Concurrent live sessions against a real ``proctor serve`` on loopback.

    python -m bench.load [--clients 8] [--duration 45] [--sweep 4,6,8,10,12] [--env PROCTOR_X=Y ...]

Each simulated client is one session (start, register-face, then frames) that sends
one real 720p JPEG frame per second for ``--duration`` seconds, the frames of its video
one second apart (``bench.common``); clients start staggered over the first second.  A
client sends its next frame at the next whole second, or at once when the previous
answer came late (a browser waits for the answer; such frames count as ``late``).

Reported per run: offered and achieved frames/s, latency p50/p95/p99/max as the client
sees it (request out to answer in), errors by HTTP status (or ``timeout``/``conn``),
the server's CPU (cores busy, from its CPU time over the run) and RSS (all its
processes).  ``--sweep`` runs each N in turn on the same server and reports the largest
N that kept p95 under 1 s with no error.  The load generator runs on the same machine
(a few % of one core); the server is started with the LLM disabled.

Loopback only, every loop bounded by ``--duration``.  Prints tables, writes JSON to
bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter

import httpx

from bench.common import Clip, load_clips, quiet_check, summary, table, write_result
from bench.server import ServerProcess
from bench.stages import one_second_order

TARGET_P95_MS = 1000.0
PERIOD_S = 1.0
# --audio: every client also sends a 1 s WAV chunk a second (docs/audio.md), beside its frames
AUDIO_BODIES: list[bytes] = []
AUDIO_ERRORS: Counter = Counter()


class Bodies:
    """JSON request bodies, encoded once per frame."""

    def __init__(self, clips: list[Clip]):
        self.clips = clips
        self.orders = [one_second_order(c) for c in clips]
        self._cache: dict[tuple[int, int], bytes] = {}

    def frame(self, clip: int, k: int) -> bytes:
        order = self.orders[clip]
        key = (clip, order[k % len(order)])
        if key not in self._cache:
            self._cache[key] = json.dumps({"frame": self.clips[clip].b64(key[1])}).encode()
        return self._cache[key]


async def run_client(
    j: int, n: int, url: str, bodies: Bodies, t_start: float, t_end: float, out: list
) -> str | None:
    clip = j % len(bodies.clips)
    offset = j * 7  # clients of the same video are not in lockstep
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(30.0)) as c:
        r = await c.post("/api/sessions/start", json={"job_data": {"candidateName": f"bench-{j}"}})
        r.raise_for_status()
        sid = r.json()["session_id"]
        r = await c.post(
            f"/api/sessions/{sid}/register-face", json={"face": bodies.clips[clip].b64(0)}
        )
        if r.status_code != 200:
            out.append(
                {"client": j, "status": f"register-{r.status_code}", "ms": None, "late": False}
            )
        first = t_start + j / max(1, n)  # staggered over the first second
        audio = asyncio.create_task(send_audio(c, sid, j, first, t_end)) if AUDIO_BODIES else None
        k = 0
        while True:
            due = first + k * PERIOD_S
            now = time.monotonic()
            if due >= t_end or now >= t_end:
                break
            late = now > due + 0.05
            if not late:
                await asyncio.sleep(due - now)
            t0 = time.perf_counter()
            try:
                r = await c.post(
                    f"/api/sessions/{sid}/frame",
                    content=bodies.frame(clip, offset + k),
                    headers={"content-type": "application/json"},
                )
                status = str(r.status_code)
            except httpx.TimeoutException:
                status = "timeout"
            except httpx.TransportError:
                status = "conn"
            out.append(
                {
                    "client": j,
                    "status": status,
                    "ms": (time.perf_counter() - t0) * 1000,
                    "late": late,
                    "at": t0,
                }
            )
            k += 1
        if audio is not None:
            await audio
        return sid


async def send_audio(c: httpx.AsyncClient, sid: str, j: int, first: float, t_end: float) -> None:
    """1 s chunks of speech, one a second, in order (their latency is not the frames')."""
    k = 0
    while (due := first + 0.5 + k * PERIOD_S) < t_end:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        body = AUDIO_BODIES[(j * 5 + k) % len(AUDIO_BODIES)]
        try:
            r = await c.post(
                f"/api/sessions/{sid}/audio",
                content=body,
                headers={"content-type": "application/json"},
            )
            AUDIO_ERRORS[str(r.status_code)] += 1
        except httpx.HTTPError as exc:
            AUDIO_ERRORS[type(exc).__name__] += 1
        k += 1


async def run_step(server: ServerProcess, bodies: Bodies, n: int, duration: float) -> dict:
    out: list[dict] = []
    t_start = time.monotonic() + 3.0  # time for every client to start its session and register
    t_end = t_start + duration
    rss = []

    async def sampler():
        while time.monotonic() < t_end:
            rss.append(server.rss_mb())
            await asyncio.sleep(1.0)

    cpu0 = None

    async def cpu_mark():
        nonlocal cpu0
        await asyncio.sleep(max(0.0, t_start - time.monotonic()))
        cpu0 = (server.cpu_times(), time.monotonic())

    tasks = [
        asyncio.create_task(run_client(j, n, server.url, bodies, t_start, t_end, out))
        for j in range(n)
    ]
    mark = asyncio.create_task(cpu_mark())
    samp = asyncio.create_task(sampler())
    sids = await asyncio.gather(*tasks, return_exceptions=True)
    await mark
    cpu1 = (server.cpu_times(), time.monotonic())
    await samp
    # end the sessions (not timed)
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
        for sid in sids:
            if isinstance(sid, str):
                await c.post(f"/api/sessions/{sid}/end")
    failures = [repr(s) for s in sids if isinstance(s, BaseException)]
    frames = [o for o in out if o.get("ms") is not None]
    ok = [o["ms"] for o in frames if o["status"] == "200"]
    errors = Counter(o["status"] for o in out if o["status"] != "200")
    if failures:
        errors["client-failed"] += len(failures)
    wall = cpu1[1] - cpu0[1]
    lat = summary([o["ms"] for o in frames])
    return {
        "clients": n,
        "duration_s": duration,
        "offered_fps": round(n / PERIOD_S, 2),
        "achieved_fps": round(len(ok) / duration, 2),
        "frames_sent": len(frames),
        "frames_ok": len(ok),
        "late": sum(o["late"] for o in frames),
        "latency_ms": lat,
        "latency_ok_ms": summary(ok),
        "errors": dict(errors),
        "client_failures": failures[:3],
        "cpu_cores_busy": round((cpu1[0] - cpu0[0]) / wall, 2) if wall > 0 else None,
        "rss_mb": {
            "start": round(rss[0], 1) if rss else None,
            "max": round(max(rss), 1) if rss else None,
            "end": round(rss[-1], 1) if rss else None,
        },
        "passed": bool(frames) and not errors and lat["p95"] <= TARGET_P95_MS,
    }


def row(r: dict) -> list:
    lat = r["latency_ms"]
    errs = ",".join(f"{k}:{v}" for k, v in sorted(r["errors"].items())) or "0"
    return [
        r["clients"],
        r["offered_fps"],
        r["achieved_fps"],
        lat["p50"],
        lat["p95"],
        lat["p99"],
        lat["max"],
        r["late"],
        errs,
        r["cpu_cores_busy"],
        r["rss_mb"]["max"],
        "yes" if r["passed"] else "no",
    ]


HEADERS = [
    "clients",
    "offered/s",
    "achieved/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "max ms",
    "late",
    "errors",
    "cpu cores",
    "rss MB",
    "p95<1s, 0 err",
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument(
        "--duration", type=float, default=45.0, help="seconds of frames per run (bounded)"
    )
    ap.add_argument("--sweep", default="", help="comma list of client counts, e.g. 4,6,8,10,12")
    ap.add_argument("--sweep-duration", type=float, default=30.0)
    ap.add_argument(
        "--env", action="append", default=[], help="PROCTOR_X=Y for the server (repeatable)"
    )
    ap.add_argument("--label", default=None)
    ap.add_argument("--audio", action="store_true", help="also send 1 s audio chunks a second")
    args = ap.parse_args(argv)
    if args.audio:
        AUDIO_BODIES.extend(audio_bodies())
    env = dict(e.split("=", 1) for e in args.env)
    quiet_check(0.5)
    clips = load_clips()
    bodies = Bodies(clips)
    result: dict = {"env": env, "runs": [], "sweep": []}
    with ServerProcess(env=env) as server:
        print(f"server ready on {server.url}; RSS {server.rss_mb():.0f} MB")
        result["rss_after_start_mb"] = round(server.rss_mb(), 1)
        if args.clients > 0:
            r = asyncio.run(run_step(server, bodies, args.clients, args.duration))
            result["runs"].append(r)
            print(f"\n{args.clients} clients at 1 frame/s for {args.duration:.0f} s:")
            print(table(HEADERS, [row(r)]))
        counts = [int(x) for x in args.sweep.split(",") if x.strip()]
        failed_in_row = 0
        if counts:
            print(f"\nsweep, {args.sweep_duration:.0f} s per step:")
            print(table(HEADERS, []), flush=True)
        for n in counts:
            r = asyncio.run(run_step(server, bodies, n, args.sweep_duration))
            result["sweep"].append(r)
            print(table(HEADERS, [row(r)]).splitlines()[-1], flush=True)
            failed_in_row = 0 if r["passed"] else failed_in_row + 1
            if failed_in_row >= 2:
                break
            time.sleep(3)
        if counts:
            passing = [r["clients"] for r in result["sweep"] if r["passed"]]
            result["max_clients"] = max(passing) if passing else 0
            print(
                f"\nlargest N with p95 < 1 s and no error ({args.sweep_duration:.0f} s each): "
                f"{result['max_clients']}"
            )
        result["rss_at_end_mb"] = round(server.rss_mb(), 1)
    if args.audio:
        result["audio_answers"] = dict(AUDIO_ERRORS)
        print(f"audio chunks answered: {dict(AUDIO_ERRORS)}")
    path = write_result("load", result, args.label)
    print(f"wrote {path}")
    return 0


def audio_bodies() -> list[bytes]:
    """The test speech (two voices taking turns) as 1 s base64 WAV request bodies."""
    import base64
    from pathlib import Path

    from server.audio.decode import encode_wav, read_wav_file

    wav = read_wav_file(Path(__file__).resolve().parents[1] / "tests/data/audio/two_turns.wav")
    return [
        json.dumps({"audio": base64.b64encode(encode_wav(wav[i : i + 16000])).decode()}).encode()
        for i in range(0, len(wav) - 16000, 16000)
    ]


if __name__ == "__main__":
    raise SystemExit(main())
