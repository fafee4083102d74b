"""Test media and model helpers shared by the vision adapter tests (not a test module)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from server.config import Settings
from server.models.registry import ModelRegistry
from server.proctoring.observation import Face
from tests.helpers import DATA

# Expression video, 472 frames at 24 fps: crying (frames 0-130, eyes mostly shut,
# hand at the mouth 60-220), looking up and around (140-230), laughing (240-471).
WOLFGANG = DATA / "WolfgangLanger_Pexels.mp4"
# 72 frames at 30 fps: neutral face for the first ~15 frames, then a smile.
SINGLE_FACE = DATA / "single_face.mp4"


def model_path(role: str) -> Path:
    registry = ModelRegistry(Settings().models_dir)
    spec = registry.resolve(role)
    assert spec is not None, f"no model for role {role} in {registry.models_dir}: run `make models`"
    return registry.path(spec)


def frames(path: Path, indices) -> dict[int, np.ndarray]:
    """Decode a video sequentially (exact frame numbers, no seeking) and keep ``indices``."""
    wanted = set(indices)
    cap = cv2.VideoCapture(str(path))
    out: dict[int, np.ndarray] = {}
    i = 0
    try:
        while wanted - out.keys():
            ok, frame = cap.read()
            if not ok:
                break
            if i in wanted:
                out[i] = frame
            i += 1
    finally:
        cap.release()
    assert set(out) == wanted, f"{path.name}: frames {sorted(wanted - set(out))} not decoded"
    return out


def yunet_path() -> Path:
    registry = ModelRegistry(Settings().models_dir)
    spec = next(
        (s for s in registry.all() if s.family == "yunet" and registry.path(s).exists()), None
    )
    assert spec is not None, f"no YuNet model in {registry.models_dir}: run `make models`"
    return registry.path(spec)


class YuNetFaces:
    """Faces with 5 points for the tests, from OpenCV's YuNet wrapper (the product uses server.vision.faces)."""

    def __init__(self) -> None:
        self._det = cv2.FaceDetectorYN.create(str(yunet_path()), "", (320, 320), 0.6, 0.3, 50)

    def __call__(self, img: np.ndarray) -> list[Face]:
        self._det.setInputSize((img.shape[1], img.shape[0]))
        _, found = self._det.detect(img)
        if found is None:
            return []
        faces = [
            Face(
                bbox=(float(d[0]), float(d[1]), float(d[0] + d[2]), float(d[1] + d[3])),
                score=float(d[14]),
                kps=np.asarray(d[4:14], dtype=np.float32).reshape(5, 2).copy(),
            )
            for d in found
        ]
        return sorted(faces, key=lambda f: -f.area)


def paste(
    img: np.ndarray, size: tuple[int, int], top_left: tuple[int, int], scale: float = 1.0
) -> np.ndarray:
    """``img`` (scaled) on a grey canvas of ``size`` (w, h) at ``top_left``."""
    if scale != 1.0:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((size[1], size[0], 3), 110, np.uint8)
    x, y = top_left
    h, w = img.shape[:2]
    canvas[y : y + h, x : x + w] = img[: size[1] - y, : size[0] - x]
    return canvas
