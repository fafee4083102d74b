"""The onnxruntime session both audio models run in (voice activity and speaker embedding)."""

from __future__ import annotations

from typing import Any


def cpu_session(model: str | bytes, threads: int) -> Any:
    """A CPU session of ``model`` (a file path or a serialized graph): ``threads`` for one run,
    one run at a time, no memory arena (chunks are small and the session lives long)."""
    import onnxruntime as ort  # imported when a model loads, as before

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.enable_cpu_mem_arena = False
    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
