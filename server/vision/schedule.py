"""Which costly models run on which frame of a session (the frame schedule).

Every frame: face detection, embedding (continuous verification), face landmarks
(pose, gaze, blendshapes), emotion.  These drive the reference's per-frame fields and
the 3/5-frame alert triggers, so they cannot be skipped.

On a schedule, counted from the session's first frame (frame 1 always runs all):
- object detector: every ``PROCTOR_OBJECTS_EVERY`` frames (default 1, ~15-40 ms);
- OCR: every ``PROCTOR_OCR_EVERY`` frames (default 5) and on a scene change (~180-320 ms);
- body pose: every ``PROCTOR_POSE_EVERY`` frames (default 3, ~40 ms); posture holds the
  last measurement for 5 frames;
- hands: every ``PROCTOR_HANDS_EVERY`` frames (default 1) for the phone signals.

A scene change is a mean absolute difference above 12 grey levels between 32x18
thumbnails of this frame and the last one (someone sat down, the camera moved, a
sheet of paper was held up): then OCR runs even off schedule.
"""
from __future__ import annotations

import cv2
import numpy as np

from .pipeline import FramePlan

SCENE_CHANGE = 12.0


def thumbnail(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.resize(grey, (32, 18), interpolation=cv2.INTER_AREA).astype(np.int16)


def scene_changed(previous: np.ndarray | None, current: np.ndarray) -> bool:
    if previous is None or previous.shape != current.shape:
        return False
    return float(np.abs(previous - current).mean()) > SCENE_CHANGE


def _due(frame_number: int, every: int) -> bool:
    return every > 0 and (frame_number - 1) % every == 0


def plan_frame(frame_number: int, settings, changed: bool = False) -> FramePlan:
    return FramePlan(
        objects=_due(frame_number, settings.objects_every),
        ocr=_due(frame_number, settings.ocr_every) or (changed and settings.ocr_every > 0),
        pose=_due(frame_number, settings.pose_every),
        hands=_due(frame_number, settings.hands_every),
    )
