"""A real proctor server on loopback for the push and browser tests (not a test module).

``LiveServer`` runs uvicorn with the app `proctor serve` runs (``create_asgi``: REST,
pages, plain websockets and Socket.IO on one port) in a thread, on a free 127.0.0.1
port, with its own data folder and no LLM.  Nothing it serves leaves loopback.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import uvicorn

from server.config import Settings
from server.main import create_asgi
from tests.helpers import free_port


class LiveServer:
    def __init__(self, data_dir: Path, **overrides):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = Settings(
            data_dir=data_dir,
            llm_enabled=False,
            inference_workers=1,
            host="127.0.0.1",
            port=self.port,
            **overrides,
        )
        config = uvicorn.Config(
            create_asgi(self.settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, name=f"proctor-{self.port}", daemon=True
        )

    def start(self, wait_s: float = 180.0) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not self.thread.is_alive():
                raise RuntimeError("the server thread exited during start-up (see the log above)")
            if self.server.started:
                return self
            time.sleep(0.1)
        raise RuntimeError(f"the server did not start in {wait_s:.0f} s")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)
