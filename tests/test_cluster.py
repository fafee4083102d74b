"""The cluster on loopback: three `proctor serve` replicas and a `proctor worker` behind Debian's
nginx (deploy/nginx/nginx.conf), on a throw-away PostgreSQL (tests/conftest.py).

- Socket.IO through nginx (long-polling and websocket) stays on one replica per session;
- 8 sessions stream frames through nginx; one replica is killed with SIGKILL mid-session:
  its sessions continue through another replica, every acknowledged frame is kept, the rule
  state carries over (a no-face episode begun before the kill raises its alert on time), at
  most the request in flight fails and its retry succeeds;
- a dashboard connected to any replica sees every session;
- a video job: a second worker starting never takes the running job; the first worker is
  killed mid-job, the second takes it over after the lease and finishes it from the last
  stored frame.

Real models, real images and video (tests/data).  Each process loads the models (~10-20 s);
four of them run at once.  Figures (failover, take-over) are printed, never asserted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.helpers import data_url, free_port

ROOT = Path(__file__).resolve().parents[1]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
LEASE_S = 6  # short, so a take-over happens within the test
START_S = 300  # four processes load their models at once on shared cores

pytestmark = pytest.mark.cluster

FACE, FACE2, PAGE = "obama2.jpg", "obama3.jpg", "page.png"
# frames 5-7 are a no-face episode: its alert comes with frame 7 (3 in a row)
SEQUENCE = [FACE, PAGE, PAGE, FACE, PAGE, PAGE, PAGE, PAGE, FACE2, FACE, PAGE, FACE]
KILL_AFTER = 6  # the replica dies when the watched session has 6 frames acknowledged


class Proc:
    """A proctor process with its log in a file (read when it fails)."""

    def __init__(self, name: str, args: list[str], env: dict, logs: Path):
        self.name = name
        self.log_path = logs / f"{name}.log"
        self.log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "server.cli", *args],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill9(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=30)
        self.log.close()


class Cluster:
    def __init__(self, db_url: str, base: Path):
        self.db_url = db_url
        self.base = base
        self.logs = base / "logs"
        self.logs.mkdir()
        self.env = dict(
            os.environ,
            PROCTOR_DATABASE_URL=db_url,
            PROCTOR_DATA_DIR=str(base / "data"),  # one host: the staging folder is shared
            PROCTOR_DB_UPGRADE="never",  # `proctor db upgrade` ran first, as on a site
            PROCTOR_LLM_ENABLED="false",
            PROCTOR_SESSION_IDLE_TIMEOUT_S="0",
            PROCTOR_INFERENCE_WORKERS="1",
            PROCTOR_MEDIA_ROOT=str(ROOT / "tests" / "data"),
            PROCTOR_JOB_LEASE_S=str(LEASE_S),
            PROCTOR_JOB_RETRY_BACKOFF_S="1",
            PYTHONUNBUFFERED="1",
        )
        self.replicas: list[tuple[Proc, int]] = []
        self.workers: list[Proc] = []
        self.nginx: subprocess.Popen | None = None
        self.port = 0

    def upgrade(self) -> None:
        r = subprocess.run(
            [sys.executable, "-m", "server.cli", "db", "upgrade"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr

    def add_replica(self) -> tuple[Proc, int]:
        port = free_port()
        env = dict(self.env, PROCTOR_VIDEO_JOBS_CONCURRENCY="0")
        args = ["serve", "--host", "127.0.0.1", "--port", str(port)]
        replica = (Proc(f"api-{len(self.replicas) + 1}", args, env, self.logs), port)
        self.replicas.append(replica)
        return replica

    def add_worker(self) -> Proc:
        worker = Proc(f"worker-{len(self.workers) + 1}", ["worker"], self.env, self.logs)
        self.workers.append(worker)
        return worker

    def wait_ready(self, proc: Proc, port: int | None = None) -> None:
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                pytest.fail(f"{proc.name} exited {proc.popen.returncode}:\n{proc.text()[-3000:]}")
            if port is None:
                if re.search(r"worker \S+ ready", proc.text()):
                    return
            else:
                try:
                    r = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=3)
                    if r.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.5)
        pytest.fail(f"{proc.name} not ready in {START_S} s:\n{proc.text()[-3000:]}")

    def start_nginx(self) -> None:
        prefix = self.base / "nginx"
        prefix.mkdir()
        os.chmod(self.base, 0o755)  # nginx's workers (nobody) create their temp folders here
        os.chmod(prefix, 0o777)
        self.port = free_port()
        conf = (ROOT / "deploy" / "nginx" / "nginx.conf").read_text()
        conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{self.port};")
        (prefix / "nginx.conf").write_text(conf)
        servers = "".join(
            f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;\n"
            for _, port in self.replicas
        )
        (prefix / "upstream.conf").write_text(
            "upstream proctor_api {\n    hash $proctor_key consistent;\n"
            f"{servers}    keepalive 16;\n}}\n"
        )
        self.nginx = subprocess.Popen(
            [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=(self.logs / "nginx.log").open("wb"),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/nginx-health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        pytest.fail(f"nginx did not start: {(self.logs / 'nginx.log').read_text()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def replica_of(self, upstream: str) -> tuple[Proc, int]:
        port = int(upstream.split(",")[-1].strip().rsplit(":", 1)[1])
        return next(r for r in self.replicas if r[1] == port)

    def close(self) -> None:
        if self.nginx is not None:
            self.nginx.send_signal(signal.SIGQUIT)
            try:
                self.nginx.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
        for proc, _ in self.replicas:
            proc.stop()
        for proc in self.workers:
            proc.stop()


@pytest.fixture(scope="module")
def cluster(postgres_url):
    if not Path(NGINX).is_file():
        pytest.skip("no nginx (apt-get install nginx; `make test` installs it when missing)")
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    name = f"cluster_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    base = Path(tempfile.mkdtemp(prefix="proctor-cluster-"))
    cl = Cluster(postgres_url.rsplit("/", 1)[0] + f"/{name}", base)
    try:
        cl.upgrade()
        started = [cl.add_replica() for _ in range(3)]
        worker = cl.add_worker()
        for proc, port in started:
            cl.wait_ready(proc, port)
        cl.wait_ready(worker)
        cl.start_nginx()
        yield cl
    finally:
        cl.close()
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()
        shutil.rmtree(base, ignore_errors=True)


class Dashboard(threading.Thread):
    """/ws/dashboard of one replica, straight to its port (not through nginx)."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        import websocket

        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}/ws/dashboard", timeout=30)
        self.sessions: set[str] = set()
        self.started: set[str] = set()

    def run(self) -> None:
        import websocket

        self.ws.settimeout(1.0)
        while True:
            try:
                msg = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                continue
            except Exception:
                return
            if msg.get("type") == "frame_summary":
                self.sessions.add(msg["session_id"])
            elif msg.get("type") == "session_started":
                self.started.add(msg["session_id"])

    def close(self) -> None:
        self.ws.close()


def test_socketio_through_nginx_stays_on_one_replica(cluster):
    """Engine.IO's long-polling is many HTTP requests on one server-side session: with
    ``?session_id=`` nginx keeps them on one replica (else most would hit another: 400)."""
    import socketio

    face = data_url(FACE)
    with httpx.Client(base_url=cluster.url, timeout=60) as c:
        sids = [c.post("/api/sessions/start", json={}).json()["session_id"] for _ in range(4)]
    for transports in (["polling"], ["polling", "websocket"]):
        for sid in sids:
            sio = socketio.Client(reconnection=False)
            sio.connect(
                f"{cluster.url}?session_id={sid}",
                socketio_path="socket.io",
                transports=transports,
                wait_timeout=30,
            )
            try:
                assert sio.call("join_session", {"session_id": sid}, timeout=60)["success"]
                for _ in range(2):
                    ack = sio.call("frame", {"session_id": sid, "frame": face}, timeout=120)
                    assert ack["success"] is True and ack["result"]["face_detected"], ack
            finally:
                sio.disconnect()
    with httpx.Client(base_url=cluster.url, timeout=60) as c:
        for sid in sids:
            m = c.get(f"/api/sessions/{sid}/metrics").json()["metrics"]
            assert m["total_frames_received"] == 4
            c.post(f"/api/sessions/{sid}/end")


def test_sessions_survive_a_replica_kill_and_every_dashboard_sees_all(cluster):
    images = {name: data_url(name) for name in set(SEQUENCE)}
    dashboards = [Dashboard(port) for _, port in cluster.replicas]
    for d in dashboards:
        d.start()
    time.sleep(1.0)  # subscribed before the first session starts
    with httpx.Client(base_url=cluster.url, timeout=60) as c:
        sids = [
            c.post("/api/sessions/start", json={"job_data": {"candidateName": f"C{i}"}}).json()[
                "session_id"
            ]
            for i in range(8)
        ]
    acked = {sid: 0 for sid in sids}
    results: dict[str, dict[int, list[str]]] = {sid: {} for sid in sids}
    served_by: dict[str, list[str]] = {sid: [] for sid in sids}
    failed: dict[str, int] = {sid: 0 for sid in sids}
    watched = sids[0]
    killed = threading.Event()
    resumed_at: dict[str, float] = {}
    kill_time = [0.0]
    errors: list[str] = []

    def stream(sid: str) -> None:
        with httpx.Client(base_url=cluster.url, timeout=120) as c:
            for number, name in enumerate(SEQUENCE, start=1):
                if sid != watched and number == KILL_AFTER + 1:
                    killed.wait(timeout=300)  # every session has an episode open at the kill
                for _attempt in range(5):
                    try:
                        r = c.post(f"/api/sessions/{sid}/frame", json={"frame": images[name]})
                    except httpx.HTTPError:
                        r = None
                    if r is not None and r.status_code == 200:
                        res = r.json()["result"]
                        results[sid][res["frame_number"]] = [a["type"] for a in res["alerts"]]
                        served_by[sid].append(r.headers.get("x-proctor-upstream", ""))
                        if killed.is_set() and sid not in resumed_at:
                            resumed_at[sid] = time.monotonic()
                        break
                    if r is not None and r.status_code == 503 and "busy" in r.text.lower():
                        time.sleep(0.5)  # back-pressure, not a failure
                        continue
                    failed[sid] += 1
                    # the dead replica may have stored the frame before dying: count, not resend
                    m = c.get(f"/api/sessions/{sid}/metrics").json()["metrics"]
                    if m["total_frames_received"] == acked[sid] + 1:
                        break
                else:
                    errors.append(f"{sid}: frame {number} never stored")
                    return
                acked[sid] += 1
                if sid == watched and number == KILL_AFTER:
                    proc, _ = cluster.replica_of(served_by[sid][-1])
                    proc.kill9()
                    kill_time[0] = time.monotonic()
                    killed.set()

    threads = [threading.Thread(target=stream, args=(sid,)) for sid in sids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    assert killed.is_set()
    dead_port = next(p for proc, p in cluster.replicas if proc.popen.poll() is not None)

    with httpx.Client(base_url=cluster.url, timeout=60) as c:
        for sid in sids:
            metrics = c.get(f"/api/sessions/{sid}/metrics").json()["metrics"]
            # every acknowledged frame is kept, none twice
            assert metrics["total_frames_received"] == acked[sid] == len(SEQUENCE), sid
            assert failed[sid] <= 1, (sid, failed[sid])  # at most the request in flight
        # the same frames give the same alerts in every session, killed replica or not: the
        # rule state (the open no-face episode) moved with the session
        for sid in sids:
            assert "no_face_detected" in results[sid].get(7, ["no_face_detected"]), (
                sid,
                results[sid],
            )
        alert_types = {
            sid: [a["type"] for a in c.get(f"/api/sessions/{sid}/alerts").json()["alerts"]]
            for sid in sids
        }
        assert len({tuple(v) for v in alert_types.values()}) == 1, alert_types
        assert "no_face_detected" in alert_types[watched]
    # the watched session was on the dead replica, then on a live one
    assert served_by[watched][0].endswith(f":{dead_port}")
    assert not served_by[watched][-1].endswith(f":{dead_port}")
    # every live replica lists, and its dashboard saw, every session
    for (proc, port), dashboard in zip(cluster.replicas, dashboards, strict=True):
        dashboard.close()
        if proc.popen.poll() is not None:
            continue
        listed = httpx.get(f"http://127.0.0.1:{port}/api/sessions", timeout=30).json()["sessions"]
        assert set(sids) <= {s["session_id"] for s in listed}
        assert set(sids) <= dashboard.sessions, (port, set(sids) - dashboard.sessions)
        assert set(sids) <= dashboard.started
    moved = [sid for sid in sids if any(u.endswith(f":{dead_port}") for u in served_by[sid])]
    waits = [resumed_at[s] - kill_time[0] for s in moved if s in resumed_at]
    print(
        f"\ncluster failover: {len(moved)} of 8 sessions were on the killed replica; first frame "
        f"after the kill served {min(waits, default=0):.2f}-{max(waits, default=0):.2f} s later; "
        f"failed requests {sum(failed.values())} (all retried)"
    )


def job_state(c: httpx.Client, job_id: str) -> dict:
    return c.get(f"/api/jobs/{job_id}").json()


def owner_pid(job: dict) -> int | None:
    owner = job.get("owner") or ""
    m = re.search(r":(\d+):[0-9a-f]+$", owner)
    return int(m.group(1)) if m else None


def test_a_killed_worker_job_is_finished_by_another_and_a_starting_one_takes_nothing(cluster):
    first = cluster.workers[0]
    with httpx.Client(base_url=cluster.url, timeout=60) as c:
        r = c.post(
            "/comprehensive-interview-analysis",
            # every 2nd frame of the 20 s video (236): long enough to start a worker and kill one mid-job
            json={"video_url": "WolfgangLanger_Pexels.mp4", "frame_interval": 2, "async": True},
        )
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        deadline = time.monotonic() + 300
        job = job_state(c, job_id)
        while time.monotonic() < deadline:
            job = job_state(c, job_id)
            if job["state"] == "running" and job["progress"]["frames_done"] >= 2:
                break
            assert job["state"] in ("queued", "running"), job
            time.sleep(0.3)
        assert owner_pid(job) == first.popen.pid, job
        # a second worker starting while the job runs: it must not take or interrupt it
        second = cluster.add_worker()
        cluster.wait_ready(second)
        time.sleep(LEASE_S)  # past a lease and a sweep of the newcomer
        job = job_state(c, job_id)
        if job["state"] == "done":
            pytest.fail("the video finished before the kill; use a longer one")
        assert job["state"] == "running" and owner_pid(job) == first.popen.pid, job
        assert job["attempts"] == 1
        done_at_kill = job["progress"]["frames_done"]
        first.kill9()
        killed = time.monotonic()
        taken = None
        while time.monotonic() < killed + 300:
            job = job_state(c, job_id)
            if taken is None and owner_pid(job) == second.popen.pid:
                taken = time.monotonic() - killed
            if job["state"] not in ("queued", "running"):
                break
            time.sleep(0.5)
        finished = time.monotonic() - killed
        assert job["state"] == "done", (job, second.text()[-3000:])
        assert owner_pid(job) == second.popen.pid and job["attempts"] == 2
        total = job["progress"]["frames_total"]
        report = c.get(f"/api/jobs/{job_id}").json()["report"]
        assert report["session_summary"]["frames_analyzed"] == total
        # the frames stored before the kill were kept, not analysed again
        timeline = c.get(f"/api/sessions/{job['session_id']}/timeline").json()
        assert [f["frame_number"] for f in timeline["frames"]] == list(range(1, total + 1))
    print(
        f"\nworker kill: job {job_id} had {done_at_kill}/{total} frames; taken over "
        f"{taken or 0:.1f} s after the kill (lease {LEASE_S} s), done {finished:.1f} s after it; "
        "1 of 1 jobs finished"
    )
