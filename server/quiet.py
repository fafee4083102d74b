"""Keep a command's terminal for its own output: native libraries' log lines go to a file.

MediaPipe (glog/absl), LiteRT ("Created TensorFlow Lite XNNPACK delegate") and other
native code write straight to file descriptor 2, below Python's logging, so no logger
level can hold them back. ``native_logs_to_file`` points descriptor 2 at a log file for
the duration and gives Python's ``sys.stderr`` a stream on the real terminal, so a
progress bar and error messages written through ``sys.stderr`` still show. Python
log records go where their handler's stream points: handlers made earlier hold the old
stream (descriptor 2, now the file).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def native_logs_to_file(enabled: bool = True, prefix: str = "proctor-") -> Iterator[Path | None]:
    """Yields the log file's path (``None`` when not enabled: nothing changes)."""
    if not enabled:
        yield None
        return
    sys.stderr.flush()
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".log")
    saved = os.dup(2)
    terminal = os.fdopen(os.dup(saved), "w", buffering=1, encoding="utf-8", errors="replace")
    old_stderr = sys.stderr
    try:
        os.dup2(fd, 2)
        os.environ.setdefault("GLOG_minloglevel", "2")  # libraries that read it at start
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        sys.stderr = terminal
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield Path(name)
    finally:
        sys.stderr = old_stderr
        terminal.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)
        terminal.close()
