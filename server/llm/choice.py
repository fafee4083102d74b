"""Which GGUF writes the summaries: the largest default that fits in memory, checked at start.

An operator's choice (``PROCTOR_LLM_MODEL``) or a drop-in GGUF wins as it always has. Among
the manifest's defaults the largest model is taken when the memory available now (the
kernel's ``MemAvailable``, capped by a cgroup limit) holds its file plus
``llm_memory_margin_mb``; otherwise the next smaller one (SmolLM2-135M).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..models.manifest import ModelSpec
from ..models.registry import ModelRegistry

log = logging.getLogger(__name__)


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available_memory_bytes() -> int | None:
    """Memory a new model could use now: MemAvailable, or less under a cgroup v2 limit."""
    available = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    limit = _read_int("/sys/fs/cgroup/memory.max")  # "max" (no limit) reads as None
    used = _read_int("/sys/fs/cgroup/memory.current")
    if limit is not None and used is not None:
        headroom = max(0, limit - used)
        available = headroom if available is None else min(available, headroom)
    return available


def choose_llm(
    registry: ModelRegistry,
    margin_mb: float,
    llm_model: str | None = None,
    available: int | None = None,
) -> tuple[ModelSpec | None, str]:
    """The summary model's spec and why it was chosen (for the start-up log).
    ``llm_model``: PROCTOR_LLM_MODEL, a file name in the models folder."""
    resolved = registry.resolve("llm")
    if resolved is None:
        return None, "no GGUF in the models folder"
    if llm_model:
        named = [
            s
            for s in registry.all()
            if s.role == "llm" and s.file == llm_model and s.path(registry.models_dir).is_file()
        ]
        if named:
            return named[0], "PROCTOR_LLM_MODEL"
    if resolved.source == "drop-in":
        return resolved, "chosen by the operator"
    defaults = [
        s for s in registry.defaults if s.role == "llm" and s.path(registry.models_dir).is_file()
    ]
    defaults.sort(key=lambda s: -(s.size or s.path(registry.models_dir).stat().st_size))
    available = available_memory_bytes() if available is None else available
    if available is None:
        return defaults[0], "memory unknown: the largest default"
    for spec in defaults:
        size = spec.size or spec.path(registry.models_dir).stat().st_size
        if size + margin_mb * 2**20 <= available:
            return spec, f"{available / 2**30:.1f} GiB available"
    smallest = defaults[-1]
    return smallest, f"only {available / 2**30:.1f} GiB available: the smallest default"
