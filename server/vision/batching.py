"""Batching across sessions for the GPU: many workers' single-frame calls, one batched run.

On a GPU a batch of 8 face crops costs about what one does, while each call pays the
launch and copy overheads.  With CUDA as the execution provider the server runs more
inference workers (one per live frame in flight) and the face detector and embedder,
which every frame needs, go through a ``BatchingSession``: a worker's ``run()`` queues
its request and blocks; one collector thread waits up to ``max_wait_ms`` for more
requests (or until ``max_batch`` rows), concatenates the inputs along the batch axis,
makes one onnxruntime call and hands every caller its rows.  While that call runs, the
next batch forms, so under load batches fill without waiting.

Only graphs with a free batch axis can be batched.  ``make_batch_dynamic`` frees it in
the default YuNet and SFace files (their graph inputs and outputs say batch 1 and
YuNet's heads reshape to ``[1, -1, C]``); ``batched_session`` then checks that a batch
of two gives the same rows as two single runs and falls back to the plain session if
not.  On the CPU this is off: there the two workers already keep both cores busy and
waiting for a batch would only add latency (``batching_enabled``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:
    from .roles import Batchable

log = logging.getLogger(__name__)

_STOP = object()


def batching_enabled(setting: bool, providers: list[str]) -> bool:
    """Batch across sessions only when the setting allows it and CUDA runs the models."""
    return bool(setting) and bool(providers) and providers[0] == "CUDAExecutionProvider"


class BatchingSession:
    """Thread-safe stand-in for ``ort.InferenceSession.run`` that batches concurrent calls.

    Every feed of one call must share its first (batch) dimension; calls whose other
    dimensions differ are run as separate batches.  ``calls`` counts the onnxruntime
    runs made, ``requests`` the calls served.
    """

    def __init__(self, session, max_batch: int = 8, max_wait_ms: float = 3.0):
        self.session = session
        self.max_batch = max(1, int(max_batch))
        self.max_wait_s = max(0.0, float(max_wait_ms)) / 1000.0
        self.output_names = [o.name for o in session.get_outputs()]
        self.calls = 0
        self.requests = 0
        self._queue: queue.Queue = queue.Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._collect, name="onnx-batcher", daemon=True)
        self._thread.start()

    # the parts of the InferenceSession interface the adapters use
    def get_inputs(self):
        return self.session.get_inputs()

    def get_outputs(self):
        return self.session.get_outputs()

    def get_modelmeta(self):
        return self.session.get_modelmeta()

    def run(self, output_names, input_feed: dict, run_options=None) -> list[np.ndarray]:
        if self._closed:
            raise RuntimeError("BatchingSession is closed")
        names = list(output_names) if output_names else list(self.output_names)
        feeds = {k: np.asarray(v) for k, v in input_feed.items()}
        rows = {v.shape[0] if v.ndim else -1 for v in feeds.values()}
        if len(rows) != 1 or -1 in rows:
            raise ValueError("every input of a batched call needs the same leading batch dimension")
        fut: Future = Future()
        self._queue.put((tuple(names), feeds, rows.pop(), fut))
        return fut.result()

    def close(self) -> None:
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout=5)

    # --- collector thread ------------------------------------------------------------
    def _collect(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            if item is _STOP:
                break
            batch, size = [item], item[2]
            deadline = time.monotonic() + self.max_wait_s
            while size < self.max_batch:
                left = deadline - time.monotonic()
                try:
                    nxt = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
                size += nxt[2]
            for group in _groups(batch):
                self._run(group)
        while True:  # fail whatever is still queued after close()
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                item[3].set_exception(RuntimeError("BatchingSession is closed"))

    def _run(self, group: list) -> None:
        names = list(group[0][0])
        futs = [g[3] for g in group]
        try:
            if len(group) == 1:
                outs = self.session.run(names, group[0][1])
                parts = [outs]
            else:
                feeds = {k: np.concatenate([g[1][k] for g in group], axis=0) for k in group[0][1]}
                outs = self.session.run(names, feeds)
                parts, start = [], 0
                for g in group:
                    parts.append([o[start : start + g[2]] for o in outs])
                    start += g[2]
            self.calls += 1
            self.requests += len(group)
        except BaseException as exc:  # every caller of the batch gets the error
            for f in futs:
                f.set_exception(exc)
            return
        for f, p in zip(futs, parts, strict=False):
            f.set_result(p)


def _groups(batch: list) -> list[list]:
    """Requests that can share one run: same outputs, same inputs, same non-batch shapes."""
    groups: dict[tuple, list] = {}
    for item in batch:
        names, feeds = item[0], item[1]
        key = (names, tuple(sorted((k, v.shape[1:], v.dtype.str) for k, v in feeds.items())))
        groups.setdefault(key, []).append(item)
    return list(groups.values())


# --- graphs with a free batch axis ---------------------------------------------------------
def make_batch_dynamic(model, name: str = "batch"):
    """A copy of ``model`` (onnx ModelProto) whose batch axis is free; None if it cannot be.

    Sets the first dimension of every graph input and output to the symbol ``name`` and
    rewrites constant ``Reshape`` targets that pin the batch to 1 (``[1, -1, C]``) to copy it
    (``[0, -1, C]``).  The result must still be checked by running it (``batched_session``).
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    init_names = {i.name for i in g.initializer}
    for v in list(g.input) + list(g.output):
        if v.name in init_names:
            continue
        dims = v.type.tensor_type.shape.dim
        if not dims:
            return None
        dims[0].ClearField("dim_value")
        dims[0].dim_param = name
    consumers: dict[str, list] = {}
    for node in g.node:
        for inp in node.input:
            consumers.setdefault(inp, []).append(node)
    consts = {n.output[0]: n for n in g.node if n.op_type == "Constant"}
    inits = {i.name: i for i in g.initializer}
    for node in g.node:
        if node.op_type != "Reshape" or len(node.input) < 2:
            continue
        if any(a.name == "allowzero" and a.i == 1 for a in node.attribute):
            return None  # there 0 means a real zero, not "copy the batch"
        shape_name = node.input[1]
        if any(n.op_type != "Reshape" for n in consumers.get(shape_name, [])):
            continue  # the constant is used elsewhere too: leave it
        if shape_name in inits:
            arr = numpy_helper.to_array(inits[shape_name])
            if arr.ndim == 1 and arr.size > 1 and arr[0] == 1:
                arr = arr.copy()
                arr[0] = 0
                inits[shape_name].CopyFrom(numpy_helper.from_array(arr, shape_name))
        elif shape_name in consts:
            attr = next((a for a in consts[shape_name].attribute if a.name == "value"), None)
            if attr is None:
                continue
            arr = numpy_helper.to_array(attr.t)
            if arr.ndim == 1 and arr.size > 1 and arr[0] == 1:
                arr = arr.copy()
                arr[0] = 0
                attr.t.CopyFrom(numpy_helper.from_array(arr, attr.t.name))
    # stale shape annotations of intermediate values would pin the batch again
    del g.value_info[:]
    return model


def _probe_feed(session, rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for inp in session.get_inputs():
        shape = [rows] + [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape[1:]]
        dtype = np.float32 if "float" in inp.type else np.int64
        feeds[inp.name] = (rng.random(shape) * 255).astype(dtype)
    return feeds


def batch_consistent(session, atol: float = 1e-3) -> bool:
    """Two rows run as one batch give what they give one at a time."""
    try:
        both = _probe_feed(session, 2)
        batched = session.run(None, both)
        for r in range(2):
            single = session.run(None, {k: v[r : r + 1] for k, v in both.items()})
            for a, b in zip(batched, single, strict=False):
                if a.shape[0] != 2 or not np.allclose(a[r : r + 1], b, atol=atol, rtol=1e-3):
                    return False
        return True
    except Exception:  # a graph that cannot batch fails here
        log.debug("batch check failed", exc_info=True)
        return False


def batched_session(
    path: Path | str | bytes,
    providers: list[str],
    threads: int = 1,
    max_batch: int = 8,
    max_wait_ms: float = 3.0,
) -> BatchingSession | None:
    """A ``BatchingSession`` over the model with its batch axis freed, or None if it cannot batch."""
    import onnx

    from .runtime import make_session

    model = onnx.load_from_string(path) if isinstance(path, bytes) else onnx.load(str(path))
    dynamic = make_batch_dynamic(model)
    if dynamic is None:
        return None
    try:
        session = make_session(dynamic.SerializeToString(), providers, threads)
    except Exception:
        log.warning(
            "%s: cannot build a batched session",
            path if not isinstance(path, bytes) else "model",
            exc_info=True,
        )
        return None
    if not batch_consistent(session):
        log.warning(
            "%s: batched output differs from single runs; not batching",
            path if not isinstance(path, bytes) else "model",
        )
        return None
    return BatchingSession(session, max_batch=max_batch, max_wait_ms=max_wait_ms)


A = TypeVar("A", bound="Batchable")


class Batcher:
    """Hands the adapters batched sessions (``adapter.batched(batcher)``) and keeps them.

    ``batch(adapter)`` is the adapter's batched copy, or the adapter itself when its
    model cannot batch; ``sessions`` are the ``BatchingSession`` objects made.
    """

    def __init__(self, providers: list[str], threads: int, max_batch: int, max_wait_ms: float):
        self.providers, self.threads = providers, threads
        self.max_batch, self.max_wait_ms = max_batch, max_wait_ms
        self.sessions: list[BatchingSession] = []

    def __call__(self, model: Path | bytes) -> BatchingSession | None:
        session = batched_session(
            model, self.providers, self.threads, self.max_batch, self.max_wait_ms
        )
        if session is not None:
            self.sessions.append(session)
        return session

    def batch(self, adapter: A, name: str) -> A:
        batched = adapter.batched(self)
        if batched is None:
            log.info("%s: cannot batch, frames run one at a time", name)
            return adapter
        log.info(
            "%s: batched across sessions (up to %d, wait %.1f ms)",
            name,
            self.max_batch,
            self.max_wait_ms,
        )
        return batched
