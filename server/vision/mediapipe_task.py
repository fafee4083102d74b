"""One base for the MediaPipe task wrappers (``landmarks``, ``body``): run, close, ``with``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import cv2
import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions


class MediaPipeTask:
    """A MediaPipe task in IMAGE mode, run on BGR frames.

    Not thread-safe: a MediaPipe task object holds one graph; create one instance per
    worker thread and ``close()`` it (or use it as a context manager) when done.
    """

    def __init__(self, task: Any) -> None:
        self._task = task

    def _run(self, image_bgr: np.ndarray) -> Any:
        """The task's raw result on a BGR image; RuntimeError once closed."""
        if self._task is None:
            raise RuntimeError(f"{type(self).__name__} is closed")
        return self._task.detect(to_mp_image(image_bgr))

    def close(self) -> None:
        if self._task is not None:
            self._task.close()
            self._task = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def base_options(path: str | Path) -> BaseOptions:
    return BaseOptions(model_asset_path=str(path))


def to_mp_image(image_bgr: np.ndarray) -> mp.Image:
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
        raise ValueError("expected an HxWx3 uint8 BGR image")
    rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
