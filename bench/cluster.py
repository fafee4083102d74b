"""The cluster on loopback: the balancer's cost, failover after a kill, jobs after a worker kill.

    python -m bench.cluster [--clients 8] [--duration 30] [--database-url URL]

1. ``bench.load``'s clients (1 real 720p frame/s each) against one ``proctor serve`` on
   PostgreSQL (``PROCTOR_INFERENCE_WORKERS=2``), then through nginx (deploy/nginx) over three
   replicas of one inference worker each: the same cores, the same store, so the difference is
   the balancer and the process split.
2. Failover: the same clients through nginx; one replica gets SIGKILL mid-run.  Per session
   that was on it: seconds from the kill to its next answered frame; the requests that failed.
3. Jobs: 3 video jobs (every 8th frame of a 20 s video) on one ``proctor worker``; SIGKILL
   mid-job, a second worker starts; how many jobs finish and when.

A throw-away PostgreSQL (Debian's binaries) unless ``--database-url`` names an empty database
the bench may fill.  Loopback only, every loop bounded.  Prints tables, writes JSON to
bench/results/.  Run it on a quiet machine and quote medians of several runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

from bench.common import load_clips, quiet_check, summary, table, write_result
from bench.load import HEADERS, Bodies, row, run_step
from bench.server import REPO, ServerProcess, cpu_seconds, free_port, rss_mb

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
LEASE_S = 10


class ThrowawayPostgres:
    """initdb + pg_ctl on loopback in a temporary folder (as tests/conftest.py does)."""

    def __init__(self):
        if not PG_BIN:
            raise SystemExit(
                "no PostgreSQL binaries: apt-get install postgresql, or --database-url"
            )
        self.base = Path(tempfile.mkdtemp(prefix="proctor-bench-pg-"))
        self.port = free_port()
        self.run_as = ["su", "postgres", "-s", "/bin/sh", "-c"] if os.geteuid() == 0 else []
        if self.run_as:
            shutil.chown(self.base, "postgres")

    def sh(self, cmd: str) -> None:
        full = [*self.run_as, cmd] if self.run_as else ["/bin/sh", "-c", cmd]
        subprocess.run(full, check=True, capture_output=True, timeout=120)

    def __enter__(self) -> str:
        b, d = PG_BIN[-1], self.base / "data"
        self.sh(f"{b}/initdb -D {d} -A trust -U postgres >/dev/null")
        self.sh(
            f'{b}/pg_ctl -D {d} -l {d}/log -w -o "-p {self.port} -k {d} '
            f'-c listen_addresses=127.0.0.1 -c max_connections=300" start'
        )
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def __exit__(self, *exc) -> None:
        with_stop = f"{PG_BIN[-1]}/pg_ctl -D {self.base / 'data'} -m immediate stop"
        try:
            self.sh(with_stop)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


class Group:
    """Several processes measured as one (what ``run_step`` needs of a server)."""

    def __init__(self, url: str, servers: list[ServerProcess], extra: list[int]):
        self.url = url
        self.servers = servers
        self.extra = extra  # pids of nginx

    def _procs(self) -> list[psutil.Process]:
        out = [p for s in self.servers for p in s.processes()]
        for pid in self.extra:
            try:
                parent = psutil.Process(pid)
                out += [parent, *parent.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
        return out

    def rss_mb(self) -> float:
        return rss_mb(self._procs())

    def cpu_times(self) -> float:
        return cpu_seconds(self._procs())


def base_env(db_url: str, data: Path) -> dict[str, str]:
    return {
        "PROCTOR_DATABASE_URL": db_url,
        "PROCTOR_DATA_DIR": str(data),
        "PROCTOR_DB_UPGRADE": "never",
        "PROCTOR_MEDIA_ROOT": str(REPO / "tests" / "data"),
        "PROCTOR_JOB_LEASE_S": str(LEASE_S),
        "PROCTOR_VIDEO_JOBS_CONCURRENCY": "0",
    }


def start_all(servers: list[ServerProcess]) -> None:
    errors: list[BaseException] = []

    def one(s: ServerProcess) -> None:
        try:
            s.start(timeout=400)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(s,)) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        for s in servers:
            s.stop()
        raise errors[0]


def start_nginx(ports: list[int], workdir: Path) -> tuple[subprocess.Popen, str]:
    prefix = workdir / "nginx"
    prefix.mkdir()
    os.chmod(workdir, 0o755)
    os.chmod(prefix, 0o777)
    port = free_port()
    conf = (REPO / "deploy" / "nginx" / "nginx.conf").read_text()
    (prefix / "nginx.conf").write_text(conf.replace("listen 8080;", f"listen 127.0.0.1:{port};"))
    servers = "".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;\n" for p in ports)
    (prefix / "upstream.conf").write_text(
        f"upstream proctor_api {{\n    hash $proctor_key consistent;\n{servers}"
        "    keepalive 64;\n}\n"
    )
    proc = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(f"{url}/nginx-health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("nginx did not start")


def upgrade(db_url: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "server.cli", "db", "upgrade", "--database-url", db_url],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=120,
    )


# --- failover -----------------------------------------------------------------------------
async def failover_run(
    url: str, bodies: Bodies, n: int, duration: float, kill_at: float, kill
) -> dict:
    """n clients at 1 frame/s through nginx; ``kill()`` after ``kill_at`` s; per-frame records."""
    records: list[dict] = []
    t_start = time.monotonic() + 3.0
    t_end = t_start + duration
    killed: list[float] = []

    async def client(j: int) -> None:
        clip = j % len(bodies.clips)
        async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(30.0)) as c:
            r = await c.post("/api/sessions/start", json={"job_data": {}})
            sid = r.json()["session_id"]
            k = 0
            while True:
                due = t_start + j / n + k
                if due >= t_end:
                    break
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                t0 = time.monotonic()
                try:
                    r = await c.post(
                        f"/api/sessions/{sid}/frame",
                        content=bodies.frame(clip, j * 7 + k),
                        headers={"content-type": "application/json"},
                    )
                    status, upstream = str(r.status_code), r.headers.get("x-proctor-upstream", "")
                except httpx.HTTPError as exc:
                    status, upstream = type(exc).__name__, ""
                records.append(
                    dict(client=j, at=t0, done=time.monotonic(), status=status, up=upstream)
                )
                k += 1

    async def killer() -> None:
        await asyncio.sleep(max(0.0, t_start + kill_at - time.monotonic()))
        killed.append(time.monotonic())
        kill()

    await asyncio.gather(*(client(j) for j in range(n)), killer())
    return {"records": records, "killed_at": killed[0]}


def failover_figures(run: dict, dead_port: int) -> dict:
    t_kill = run["killed_at"]
    by_client: dict[int, list[dict]] = {}
    for r in sorted(run["records"], key=lambda r: r["at"]):
        by_client.setdefault(r["client"], []).append(r)
    waits, failed = [], 0
    moved = 0
    for recs in by_client.values():
        before = [r for r in recs if r["at"] < t_kill and r["status"] == "200"]
        if not before or not before[-1]["up"].endswith(f":{dead_port}"):
            continue
        moved += 1
        after = [r for r in recs if r["done"] >= t_kill]
        failed += sum(r["status"] != "200" for r in after)
        ok = [r for r in after if r["status"] == "200"]
        if ok:
            waits.append(ok[0]["done"] - t_kill)
    errors = [r["status"] for r in run["records"] if r["status"] != "200"]
    return {
        "sessions_on_killed_replica": moved,
        "ms_to_next_answer": summary([w * 1000 for w in waits]),
        "failed_requests_of_moved_sessions": failed,
        "failed_requests_all": len(errors),
        "error_kinds": sorted(set(errors)),
    }


# --- jobs after a worker kill -------------------------------------------------------------------
def jobs_after_worker_kill(url: str, env: dict, logs: Path, jobs: int = 3) -> dict:
    def worker(name: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "server.cli", "worker"],
            cwd=REPO,
            env={**os.environ, **env, "PROCTOR_LLM_ENABLED": "false"},
            stdout=(logs / f"{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )

    def ready(name: str, proc: subprocess.Popen) -> None:
        for _ in range(800):
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited; see {logs / name}.log")
            if b" ready: " in (logs / f"{name}.log").read_bytes():
                return
            time.sleep(0.5)
        raise RuntimeError(f"{name} not ready")

    first = worker("worker-1")
    ready("worker-1", first)
    with httpx.Client(base_url=url, timeout=60) as c:
        ids = []
        for _ in range(jobs):
            r = c.post(
                "/comprehensive-interview-analysis",
                json={"video_url": "WolfgangLanger_Pexels.mp4", "frame_interval": 8, "async": True},
            )
            ids.append(r.json()["job_id"])
        while True:  # the first job is under way
            j = c.get(f"/api/jobs/{ids[0]}").json()
            if j["state"] == "running" and j["progress"]["frames_done"] >= 5:
                break
            time.sleep(0.3)
        done_at_kill = j["progress"]["frames_done"]
        first.send_signal(signal.SIGKILL)
        first.wait()
        t_kill = time.monotonic()
        second = worker("worker-2")
        ready("worker-2", second)
        t_ready = time.monotonic() - t_kill
        taken = None
        finished: dict[str, float] = {}
        while time.monotonic() < t_kill + 900 and len(finished) < jobs:
            for job_id in ids:
                j = c.get(f"/api/jobs/{job_id}").json()
                if job_id == ids[0] and taken is None and j["attempts"] == 2:
                    taken = time.monotonic() - t_kill
                if j["state"] not in ("queued", "running") and job_id not in finished:
                    finished[job_id] = time.monotonic() - t_kill
                    if j["state"] != "done":
                        print(f"job {job_id}: {j['state']} {j['error']}")
            time.sleep(0.5)
        states = [c.get(f"/api/jobs/{i}").json()["state"] for i in ids]
    second.send_signal(signal.SIGTERM)
    second.wait(timeout=60)
    return {
        "jobs": jobs,
        "done": states.count("done"),
        "frames_of_killed_job_before_kill": done_at_kill,
        "second_worker_ready_s": round(t_ready, 1),
        "killed_job_taken_over_s": round(taken, 1) if taken is not None else None,
        "all_finished_s": round(max(finished.values(), default=0), 1),
        "lease_s": LEASE_S,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of frames per run")
    ap.add_argument("--database-url", default=None, help="an empty PostgreSQL database to use")
    ap.add_argument("--label", default=None)
    args = ap.parse_args(argv)
    if not Path(NGINX).is_file():
        raise SystemExit("no nginx: apt-get install nginx")
    quiet_check(0.5)
    bodies = Bodies(load_clips())
    result: dict = {"clients": args.clients, "duration_s": args.duration, "load": os.getloadavg()}
    work = Path(tempfile.mkdtemp(prefix="proctor-bench-cluster-"))
    pg = ThrowawayPostgres() if args.database_url is None else None
    db_url = pg.__enter__() if pg is not None else args.database_url
    try:
        upgrade(db_url)
        env = base_env(db_url, work / "data")

        single = ServerProcess(env={**env, "PROCTOR_INFERENCE_WORKERS": "2"})
        start_all([single])
        one = asyncio.run(run_step(single, bodies, args.clients, args.duration))
        single.stop()
        print(f"\none process, 2 inference workers, {args.clients} clients:")
        print(table(HEADERS, [row(one)]))

        replicas = [ServerProcess(env={**env, "PROCTOR_INFERENCE_WORKERS": "1"}) for _ in range(3)]
        start_all(replicas)
        nginx, url = start_nginx([s.port for s in replicas], work)
        try:
            group = Group(url, replicas, [nginx.pid])
            three = asyncio.run(run_step(group, bodies, args.clients, args.duration))
            print(f"\nnginx + 3 replicas of 1 inference worker, {args.clients} clients:")
            print(table(HEADERS, [row(three)]))

            victim = replicas[0]
            run = asyncio.run(
                failover_run(
                    url,
                    bodies,
                    args.clients,
                    args.duration,
                    args.duration / 2,
                    lambda: victim.proc.send_signal(signal.SIGKILL),
                )
            )
            fail = failover_figures(run, victim.port)
            print("\nfailover (SIGKILL of one replica mid-run):", fail)
            jobs = jobs_after_worker_kill(url, env, work)
            print("jobs after a worker kill:", jobs)
        finally:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(timeout=30)
            for s in replicas:
                s.stop()
        result.update(one_process=one, three_replicas=three, failover=fail, jobs=jobs)
    finally:
        if pg is not None:
            pg.__exit__(None, None, None)
        shutil.rmtree(work, ignore_errors=True)
    path = write_result("cluster", result, args.label)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
