"""onnxruntime sessions built one way: providers and threads from settings."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnxruntime as ort

log = logging.getLogger(__name__)


class Session(Protocol):
    """The part of ``ort.InferenceSession`` the adapters use; ``BatchingSession`` has it too."""

    def get_inputs(self) -> list[Any]: ...

    def get_outputs(self) -> list[Any]: ...

    def get_modelmeta(self) -> Any: ...

    def run(
        self,
        output_names: Sequence[str] | None,
        input_feed: dict[str, Any],
        run_options: Any = None,
    ) -> list[np.ndarray]: ...


# Given a model (file, or the bytes of a graph prepared in memory), a session that batches
# the calls of many threads, or None when the graph cannot batch (``batching.Batcher``).
BatchFactory = Callable[[Path | bytes], Session | None]


def select_providers(requested: str, available: list[str] | None = None) -> list[str]:
    """Map the ``PROCTOR_PROVIDERS`` setting to an onnxruntime provider list.

    ``auto`` takes CUDA (then TensorRT is left out on purpose: engine builds are slow
    at start) when onnxruntime offers it, else CPU.  CPU is always last as fallback.
    """
    available = list(available if available is not None else ort.get_available_providers())
    names = {
        "cpu": "CPUExecutionProvider",
        "cuda": "CUDAExecutionProvider",
        "tensorrt": "TensorrtExecutionProvider",
        "rocm": "ROCMExecutionProvider",
        "coreml": "CoreMLExecutionProvider",
        "openvino": "OpenVINOExecutionProvider",
    }
    wanted: list[str] = []
    req = (requested or "auto").strip().lower()
    if req == "auto":
        if "CUDAExecutionProvider" in available:
            wanted.append("CUDAExecutionProvider")
    else:
        for item in req.split(","):
            item = item.strip()
            if not item:
                continue
            # short names (cuda) or onnxruntime's own names in any case (CUDAExecutionProvider)
            full = {p.lower(): p for p in [*names.values(), *available]}
            prov = names.get(item) or full.get(item, item)
            if prov in available and prov not in wanted:
                wanted.append(prov)
            elif prov not in available:
                log.warning("execution provider %s requested but not available; skipped", prov)
    # CPU last whatever the order asked for: it is the fallback for ops the others lack.
    return [p for p in wanted if p != "CPUExecutionProvider"] + ["CPUExecutionProvider"]


def make_session(
    path: Path | str | bytes, providers: list[str], threads: int = 1
) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning threads burn the other core while MediaPipe/OpenCV stages run.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    # No CPU arena: it kept the peak of every shape seen (OCR crops vary) for good; without
    # it the server held ~100 MB less after 300 frames, at no measured cost per call
    # (docs/performance.md).  Memory patterns stay on.
    opts.enable_cpu_mem_arena = False
    model = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(model, sess_options=opts, providers=providers)
