"""Push latency: a frame sent -> its result received, over Socket.IO, the plain websocket and REST.

    python -m bench.push_latency [--frames 30] [--warmup 3] [--url http://127.0.0.1:5001]

Starts `proctor serve` (the app users run: REST and Socket.IO on one port) on a free
loopback port with a throw-away data folder and the LLM off, unless --url names a running
server.  Each channel gets its own session with a registered face, so every frame runs the
whole pipeline including verification.  Frames are single_face.mp4 upscaled to 1280x720,
JPEG quality 80 (what the console's canvas sends).  The channels take turns frame by frame
(REST, Socket.IO, websocket, REST, ...), one frame in flight at a time, so they share the
same machine conditions.  Also timed: a round trip with no inference (a message of the
same size whose frame is not an image: carried, parsed, refused by the decoder), the
transport's own cost.

Prints median / p95 per channel and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import httpx
import numpy as np
import socketio
import websocket  # websocket-client

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO / "tests" / "data" / "single_face.mp4"
RESULTS = REPO / "bench" / "results"
HOST = "127.0.0.1"
WAIT = 60.0


def frames_720p() -> list[str]:
    cap = cv2.VideoCapture(str(VIDEO))
    out = []
    ok, frame = cap.read()
    while ok:
        big = cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_CUBIC)
        ok_enc, buf = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 80])
        assert ok_enc
        out.append("data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode())
        ok, frame = cap.read()
    cap.release()
    if not out:
        raise SystemExit(f"cannot decode {VIDEO}")
    return out


class Served:
    """`proctor serve` in a subprocess on a free loopback port."""

    def __init__(self):
        with socket.socket() as s:
            s.bind((HOST, 0))
            self.port = s.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"
        self.tmp = tempfile.TemporaryDirectory(prefix="proctor-push-bench-")
        env = {
            **os.environ,
            "PROCTOR_DATA_DIR": self.tmp.name,
            "PROCTOR_LLM_ENABLED": "false",
            "PROCTOR_SESSION_IDLE_TIMEOUT_S": "0",
        }
        self.log = open(Path(self.tmp.name) / "server.log", "wb")  # noqa: SIM115 (the server's log, open until stop())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--host", HOST, "--port", str(self.port)],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(
                    f"server exited: {(Path(self.tmp.name) / 'server.log').read_text()[-2000:]}"
                )
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise SystemExit("server not ready after 180 s")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
        self.tmp.cleanup()


class RestChannel:
    name = "REST POST /frame"

    def __init__(self, http: httpx.Client, session_id: str):
        self.http, self.sid = http, session_id

    def round_trip(self, frame: str | None) -> dict:
        r = self.http.post(f"/api/sessions/{self.sid}/frame", json={"frame": frame})
        return r.json()


class SocketIOChannel:
    name = "Socket.IO frame -> frame_result"

    def __init__(self, url: str, session_id: str):
        self.sid = session_id
        self.events: queue.Queue = queue.Queue()
        self.client = socketio.Client(reconnection=False)
        self.client.on("frame_result", lambda d: self.events.put(("frame_result", d)))
        self.client.on("error", lambda d: self.events.put(("error", d)))
        self.client.connect(url, transports=["websocket"], wait_timeout=WAIT)
        self.client.call("join_session", {"session_id": session_id}, timeout=WAIT)

    def round_trip(self, frame: str | None) -> dict:
        self.client.emit("frame", {"session_id": self.sid, "frame": frame})
        return self.events.get(timeout=WAIT)[1]

    def close(self):
        self.client.disconnect()


class WebSocketChannel:
    name = "WebSocket /ws/sessions/{id}"

    def __init__(self, url: str, session_id: str):
        self.ws = websocket.create_connection(
            url.replace("http://", "ws://") + f"/ws/sessions/{session_id}", timeout=WAIT
        )
        json.loads(self.ws.recv())  # joined

    def round_trip(self, frame: str | None) -> dict:
        self.ws.send(json.dumps({"type": "frame", "frame": frame}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg["type"] in ("frame_result", "error"):
                return msg

    def close(self):
        self.ws.close()


def stats(ms: list[float]) -> dict:
    a = np.asarray(ms, np.float64)
    return {
        "n": len(ms),
        "median_ms": round(float(np.median(a)), 1),
        "p95_ms": round(float(np.percentile(a, 95)), 1),
        "mean_ms": round(float(a.mean()), 1),
        "min_ms": round(float(a.min()), 1),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument(
        "--url", default=None, help="a running server (default: start `proctor serve` on loopback)"
    )
    args = ap.parse_args(argv)

    frames = frames_720p()
    not_an_image = "data:image/jpeg;base64," + "A" * (
        len(frames[0]) - len("data:image/jpeg;base64,")
    )
    served = None if args.url else Served()
    url = args.url or served.url
    channels = []
    try:
        with httpx.Client(base_url=url, timeout=WAIT) as http:
            sessions = []
            for _ in range(3):
                started = http.post(
                    "/api/sessions/start", json={"job_data": {"candidateName": "bench"}}
                ).json()
                sid = started["session_id"]
                reg = http.post(
                    f"/api/sessions/{sid}/register-face", json={"face": frames[0]}
                ).json()
                if not reg.get("success"):
                    raise SystemExit(f"register-face failed: {reg}")
                sessions.append(sid)
            channels = [
                RestChannel(http, sessions[0]),
                SocketIOChannel(url, sessions[1]),
                WebSocketChannel(url, sessions[2]),
            ]
            timings = {c.name: [] for c in channels}
            bare = {c.name: [] for c in channels}
            for i in range(args.warmup + args.frames):
                frame = frames[(i * 3) % len(frames)]
                for c in channels[i % 3 :] + channels[: i % 3]:  # rotate who goes first
                    t0 = time.perf_counter()
                    reply = c.round_trip(frame)
                    dt = (time.perf_counter() - t0) * 1000
                    if not reply.get("success"):
                        raise SystemExit(f"{c.name}: {reply}")
                    if i >= args.warmup:
                        timings[c.name].append(dt)
                    t0 = time.perf_counter()
                    reply = c.round_trip(not_an_image)
                    dt = (time.perf_counter() - t0) * 1000
                    assert str(reply.get("error", "")).startswith("Invalid frame image"), reply
                    if i >= args.warmup:
                        bare[c.name].append(dt)
            for sid in sessions:
                http.post(f"/api/sessions/{sid}/end")
    finally:
        for c in channels:
            if hasattr(c, "close"):
                c.close()
        if served is not None:
            served.stop()

    rows = {
        name: {"frame": stats(timings[name]), "no_inference": stats(bare[name])} for name in timings
    }
    rest = rows[RestChannel.name]["frame"]["median_ms"]
    print(
        f"\nframe sent -> result received, 1280x720 JPEG q80, {args.frames} frames per channel "
        f"(+{args.warmup} warm-up), load avg {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs\n"
    )
    print(f"| {'channel':32} | median ms | p95 ms | vs REST | no-inference median ms | p95 ms |")
    print(f"|{'-' * 34}|-----------|--------|---------|------------------------|--------|")
    for name, r in rows.items():
        f, b = r["frame"], r["no_inference"]
        print(
            f"| {name:32} | {f['median_ms']:9.1f} | {f['p95_ms']:6.1f} | {f['median_ms'] - rest:+7.1f} | "
            f"{b['median_ms']:22.1f} | {b['p95_ms']:6.1f} |"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"push_latency-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "bench": "push_latency",
                "when": stamp,
                "frames": args.frames,
                "warmup": args.warmup,
                "load_avg": os.getloadavg(),
                "cpus": os.cpu_count(),
                "channels": rows,
                "median_of_medians_ms": statistics.median(
                    r["frame"]["median_ms"] for r in rows.values()
                ),
            },
            indent=2,
        )
    )
    print(f"\nwrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
