"""Which model file serves each role: the manifest's defaults, overridden by drop-ins.

Drop-ins are files an operator copies into the models folder (no manifest entry
needed).  They win over the defaults because they are the heavier, better models:

- ``det_10g.onnx`` (InsightFace buffalo_l SCRFD)            -> face_detector, family ``scrfd``
- ``w600k_r50.onnx`` or any ONNX with an ArcFace signature   -> face_embedder, family ``arcface``
  (input Nx3x112x112, one output of 512 floats)
- ``yolov8*.onnx`` / ``yolo11*.onnx``                       -> object_detector, family ``yolov8``
- ``yolox*.onnx``                                          -> object_detector, family ``yolox``
- any ``*.gguf`` (choose with ``PROCTOR_LLM_MODEL``)        -> llm, family ``gguf``
"""

from __future__ import annotations

import logging
from pathlib import Path

from .manifest import ModelSpec, read_manifest

log = logging.getLogger(__name__)

DROPIN_LICENCES = {
    "scrfd": "InsightFace model pack: non-commercial research only",
    "arcface": "as supplied by the operator (InsightFace packs: non-commercial)",
    "yolov8": "as supplied by the operator (Ultralytics weights: AGPL-3.0)",
    "yolox": "Apache-2.0 (YOLOX)",
    "gguf": "as supplied by the operator",
}


def _onnx_signature(path: Path) -> tuple[list, list] | None:
    """Input and output shapes of an ONNX graph, read without building a session."""
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # unreadable file: not a drop-in we can use
        return None

    def dims(values):
        out = []
        for v in values:
            shape = [
                d.dim_value if d.HasField("dim_value") else d.dim_param
                for d in v.type.tensor_type.shape.dim
            ]
            out.append(shape)
        return out

    init = {i.name for i in model.graph.initializer}
    inputs = [v for v in model.graph.input if v.name not in init]
    return dims(inputs), dims(model.graph.output)


def is_arcface_signature(path: Path) -> bool:
    sig = _onnx_signature(path)
    if not sig:
        return False
    ins, outs = sig
    return (
        len(ins) == 1
        and len(ins[0]) == 4
        and ins[0][1:] == [3, 112, 112]
        and len(outs) == 1
        and len(outs[0]) >= 1  # an output without shape information is not evidence
        and outs[0][-1] == 512
    )


def discover_dropins(
    models_dir: Path, known_files: set[str], llm_model: str | None = None
) -> list[ModelSpec]:
    models_dir = Path(models_dir)
    found: list[ModelSpec] = []
    if not models_dir.is_dir():
        return found
    for path in sorted(models_dir.iterdir()):
        name = path.name
        # Hidden files include macOS "._name" companions copied along from a USB stick.
        if name in known_files or name.startswith(".") or not path.is_file():
            continue
        lower = name.lower()
        spec = None
        if lower == "det_10g.onnx" or (lower.startswith("scrfd") and lower.endswith(".onnx")):
            spec = ModelSpec(
                path.stem, "face_detector", name, "scrfd", DROPIN_LICENCES["scrfd"], "drop-in"
            )
        elif lower.startswith(("yolov8", "yolo11")) and lower.endswith(".onnx"):
            spec = ModelSpec(
                path.stem, "object_detector", name, "yolov8", DROPIN_LICENCES["yolov8"], "drop-in"
            )
        elif lower.startswith("yolox") and lower.endswith(".onnx"):
            spec = ModelSpec(
                path.stem, "object_detector", name, "yolox", DROPIN_LICENCES["yolox"], "drop-in"
            )
        elif lower.endswith(".gguf"):
            if llm_model and name != llm_model:
                continue
            spec = ModelSpec(path.stem, "llm", name, "gguf", DROPIN_LICENCES["gguf"], "drop-in")
        elif lower.endswith(".onnx") and is_arcface_signature(path):
            spec = ModelSpec(
                path.stem, "face_embedder", name, "arcface", DROPIN_LICENCES["arcface"], "drop-in"
            )
        if spec:
            found.append(spec)
    return found


class ModelRegistry:
    """Resolves a role to one ``ModelSpec``; drop-ins take precedence over manifest defaults."""

    def __init__(self, models_dir: Path, llm_model: str | None = None):
        self.models_dir = Path(models_dir)
        self.defaults = read_manifest(self.models_dir)
        known = {s.file for s in self.defaults}
        self.dropins = discover_dropins(self.models_dir, known, llm_model)
        if (
            llm_model
            and llm_model not in known
            and not any(s.file == llm_model for s in self.dropins)
        ):
            log.warning(
                "LLM model %s not found in %s; using the default", llm_model, self.models_dir
            )

    def resolve(self, role: str) -> ModelSpec | None:
        for spec in self.dropins:
            if spec.role == role and spec.path(self.models_dir).exists():
                return spec
        for spec in self.defaults:
            if spec.role == role and spec.path(self.models_dir).exists():
                return spec
        return None

    def path(self, spec: ModelSpec) -> Path:
        return spec.path(self.models_dir)

    def all(self) -> list[ModelSpec]:
        return self.dropins + self.defaults
