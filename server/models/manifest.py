"""The models folder's ``manifest.json``: which file serves which role, with its licence and hash.

``scripts/download_models.py`` (``proctor models fetch``) writes it; the server only reads it.
Files an operator drops into the folder without a manifest entry are found by
``server.models.registry`` from their names and graph signatures.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

MANIFEST_NAME = "manifest.json"

# Roles a model file can serve. One file per role is active at a time.
ROLES = (
    "face_detector",
    "face_embedder",
    "face_landmarker",
    "pose_landmarker",
    "hand_landmarker",
    "emotion",
    "object_detector",
    "ocr_detector",
    "ocr_recognizer",
    "llm",
    "voice_activity",
    "speaker_embedder",
)


@dataclass(frozen=True)
class ModelSpec:
    name: str  # short id, e.g. "yunet", "sface", "yolov3-tiny"
    role: str  # one of ROLES
    file: str  # file name inside the models folder
    family: str  # decoder/adapter family: yunet, scrfd, sface, arcface, yolov3, yolox, yolov8, ...
    licence: str
    source: str  # "package==version" or "drop-in"
    sha256: str = ""
    size: int = 0
    # where a pinned digest comes from, when the package itself is not the authority
    provenance: str = ""

    def path(self, models_dir: Path) -> Path:
        return Path(models_dir) / self.file


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(models_dir: Path) -> list[ModelSpec]:
    path = Path(models_dir) / MANIFEST_NAME
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    known = set(ModelSpec.__dataclass_fields__)  # a newer manifest's extra keys are skipped
    return [
        ModelSpec(**{k: v for k, v in entry.items() if k in known})
        for entry in data.get("models", [])
    ]


def write_manifest(models_dir: Path, specs: list[ModelSpec]) -> Path:
    path = Path(models_dir) / MANIFEST_NAME
    payload = {"version": 1, "models": [asdict(s) for s in specs]}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(path)
    return path


def verify(models_dir: Path, specs: list[ModelSpec] | None = None) -> list[str]:
    """Return a list of problems (missing file, wrong hash); empty when all is well."""
    problems = []
    for spec in specs if specs is not None else read_manifest(models_dir):
        p = spec.path(models_dir)
        if not p.exists():
            problems.append(f"{spec.name}: missing file {spec.file}")
        elif spec.sha256 and sha256_of(p) != spec.sha256:
            problems.append(f"{spec.name}: sha256 mismatch for {spec.file}")
    return problems
