"""A bounded pool of inference threads, each owning one ``FramePipeline``.

Work runs off the event loop.  The pool admits at most ``workers + max_queue`` jobs;
beyond that ``submit`` raises ``PoolBusy`` at once, which the API turns into a 503 with
``Retry-After`` rather than letting latency grow without bound.  Jobs may carry a
priority (live frames 0, video analysis 10): a worker always takes the most urgent.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from .pipeline import FramePipeline, SharedModels

log = logging.getLogger(__name__)

LIVE = 0
BATCH = 10


class PoolBusy(RuntimeError):
    pass


class InferencePool:
    def __init__(self, shared: SharedModels, workers: int, max_queue: int, warm: bool = True):
        self.shared = shared
        self.warm = warm  # run every model once per worker before the pool takes work
        self.max_pending = workers + max_queue
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._seq = itertools.count()
        self._pending = 0
        self._lock = threading.Lock()
        self._ready = threading.Barrier(workers + 1)
        self._threads = [
            threading.Thread(target=self._run, name=f"inference-{i}", daemon=True)
            for i in range(workers)
        ]
        for t in self._threads:
            t.start()
        self._ready.wait()  # every worker has built (and warmed) its pipeline

    @property
    def pending(self) -> int:
        return self._pending

    def _run(self) -> None:
        pipeline = FramePipeline(self.shared)
        try:
            if self.warm:
                log.debug(
                    "%s warmed in %.2f s", threading.current_thread().name, pipeline.warm_up()
                )
            self._ready.wait()
            while True:
                _prio, _seq, item = self._queue.get()
                if item is None:
                    break
                fn, fut = item
                if not fut.set_running_or_notify_cancel():
                    self._done()
                    continue
                try:
                    fut.set_result(fn(pipeline))
                except BaseException as exc:  # handed to the awaiting caller
                    fut.set_exception(exc)
                finally:
                    self._done()
        finally:
            pipeline.close()

    def _done(self) -> None:
        with self._lock:
            self._pending -= 1

    def submit(
        self, fn: Callable[[FramePipeline], Any], priority: int = LIVE, block: bool = False
    ) -> Future:
        with self._lock:
            if not block and priority == LIVE and self._pending >= self.max_pending:
                raise PoolBusy("Server busy: too many frames waiting for analysis")
            self._pending += 1
        fut: Future = Future()
        self._queue.put((priority, next(self._seq), (fn, fut)))
        return fut

    async def run(self, fn: Callable[[FramePipeline], Any], priority: int = LIVE) -> Any:
        return await asyncio.wrap_future(self.submit(fn, priority))

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put((1 << 30, next(self._seq), None))
        for t in self._threads:
            t.join(timeout=10)
