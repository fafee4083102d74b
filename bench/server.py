"""A real ``proctor serve`` subprocess on loopback, for the load and memory benchmarks.

Runs in a temporary data dir; the LLM is off unless asked for.  ``ServerProcess.sample()``
reads CPU and RSS of the server and all its children (psutil).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from bench.common import REPO

HOST = "127.0.0.1"  # loopback only: a benchmark never sends traffic anywhere else


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def rss_mb(procs: list[psutil.Process]) -> float:
    """Resident memory of these processes together, in MiB (a process gone meanwhile counts 0)."""
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total / 2**20


def cpu_seconds(procs: list[psutil.Process]) -> float:
    """User plus system CPU time of these processes together (a process gone counts 0)."""
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            t = p.cpu_times()
            total += t.user + t.system
    return total


class ServerProcess:
    def __init__(
        self, env: dict[str, str] | None = None, llm: bool = False, log: Path | None = None
    ):
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self._tmp = tempfile.TemporaryDirectory(prefix="proctor-bench-serve-")
        self.env = {
            **os.environ,
            "PROCTOR_DATA_DIR": self._tmp.name,
            "PROCTOR_LLM_ENABLED": "true" if llm else "false",
            "PROCTOR_SESSION_IDLE_TIMEOUT_S": "0",
            **(env or {}),
        }
        self.log_path = log or Path(self._tmp.name) / "server.log"
        self.proc: subprocess.Popen | None = None
        self.ps: psutil.Process | None = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 120.0) -> float:
        """Start and wait for /health; returns the seconds it took."""
        cmd = [
            sys.executable,
            "-m",
            "server.cli",
        ]  # the server package of this checkout (cwd first on sys.path)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (open while the server runs)
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [*cmd, "serve", "--host", HOST, "--port", str(self.port)],
            cwd=REPO,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.ps = psutil.Process(self.proc.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}; see {self.log_path}:\n"
                    + self.log_path.read_text(errors="replace")[-3000:]
                )
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"server not ready after {timeout:.0f} s; see {self.log_path}")

    def processes(self) -> list[psutil.Process]:
        if self.ps is None:
            return []
        try:
            return [self.ps, *self.ps.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def rss_mb(self) -> float:
        return rss_mb(self.processes())

    def cpu_times(self) -> float:
        return cpu_seconds(self.processes())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if getattr(self, "_log", None):
            self._log.close()
        self.proc = None
        self._tmp.cleanup()
