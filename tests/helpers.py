"""What the tests share: the media folder, images and data URLs from it, a free port (not a test module).

Imported one way everywhere: ``from tests.helpers import ...`` (pytest puts the checkout
on ``sys.path``: ``pythonpath`` in pyproject.toml).  Harnesses with a narrower use stay
beside it and are imported the same way: ``tests.vision_media`` (video frames, model
paths for the adapter tests), ``tests.live_server`` (a real server on loopback),
``tests.report_session`` (one scripted session for the report tests).
"""

from __future__ import annotations

import base64
import importlib.util
import socket
import subprocess
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

DATA = Path(__file__).resolve().parent / "data"  # test media, credited in data/CREDITS.md
SHARED = Path(__file__).resolve().parents[2] / "shared"  # assets beside the checkout, if any

# Debian's chromium for the browser tests (`make browser` installs it), run offline: no
# sandbox (root in a container), no GPU, and none of its own calls home.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def needs_llama(model: Path) -> pytest.MarkDecorator:
    """Skip unless llama-cpp-python is installed and the GGUF ``model`` is fetched."""
    return pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None or not model.is_file(),
        reason=f"needs llama-cpp-python (make venv) and {model.name} (make models)",
    )


def playwright_or_skip():
    """playwright's sync API for a browser test module, which is skipped whole when playwright
    or Debian's chromium is missing."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
    )
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
            " (apt-get install -y chromium)",
            allow_module_level=True,
        )
    return sync_api


def launch_with_fake_media(playwright, *args: str):
    """Headless Debian chromium whose pages get a fake camera and microphone without a
    permission prompt; ``args`` name what they play (``--use-file-for-fake-...``)."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            *args,
        ],
    )


def image(name: str) -> np.ndarray:
    """A BGR image from tests/data."""
    img = cv2.imread(str(DATA / name))
    assert img is not None, f"cannot read {DATA / name}"
    return img


def data_url(source: str | Path | np.ndarray, quality: int = 90) -> str:
    """A base64 JPEG data URL, as a browser sends it, from a tests/data file name, a path
    or a BGR image (encoded at ``quality``)."""
    if isinstance(source, np.ndarray):
        ok, buf = cv2.imencode(".jpg", source, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        raw = buf.tobytes()
    else:
        path = Path(source)
        raw = (path if path.is_absolute() else DATA / path).read_bytes()
    return "data:image/jpeg;base64," + base64.b64encode(raw).decode()


def image_b64(name: str) -> str:
    """A tests/data file as plain base64 (no data URL prefix)."""
    return base64.b64encode((DATA / name).read_bytes()).decode()


def blank_b64(width: int = 640, height: int = 360, value: int = 128) -> str:
    """A flat grey JPEG data URL: no face, no text, no objects."""
    return data_url(np.full((height, width, 3), value, np.uint8))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(
    proc: subprocess.Popen, port: int, wait_s: float = 180.0, log: Path | None = None
) -> subprocess.Popen:
    """``proc`` once the server it runs answers ``/health`` on ``port``; the test fails when it
    exits first (with the end of ``log``) or never answers."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text()[-3000:] if log is not None else ""
            pytest.fail(f"server exited with {proc.returncode}: {tail}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    pytest.fail("server did not start")
