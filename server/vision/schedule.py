"""Which costly models run on which frame of a session (the frame schedule).

Every frame: face detection, embedding (continuous verification), face landmarks
(pose, gaze, blendshapes), emotion.  These drive the reference's per-frame fields and
the 3/5-frame alert triggers, so they cannot be skipped.

On a schedule, counted from the session's first frame (frame 1 always runs all):
- object detector: every ``PROCTOR_OBJECTS_EVERY`` frames (default 1, ~15-40 ms);
- OCR: every ``PROCTOR_OCR_EVERY`` frames (default 5) and on a scene change (~60-100 ms
  with the int8 detector); while the last run read no text and no part of the background
  has changed since (``ocr_quiet``), only every ``PROCTOR_OCR_IDLE_EVERY`` frames (20);
- body pose: every ``PROCTOR_POSE_EVERY`` frames (default 3, ~40 ms); posture holds the
  last measurement for 5 frames;
- hands: every ``PROCTOR_HANDS_EVERY`` frames (default 1) for the phone signals.
- object detector on crops near the face (phones at the ear, in the hands): on every
  ``PROCTOR_OBJECT_CROPS_EVERY`` frames (default 3; one square crop, ~1.5x a full-frame run);
- liveness screen/print cues: every frame of the first ``PROCTOR_LIVENESS_FRAMES``,
  then every ``PROCTOR_LIVENESS_EVERY`` (default 10); its motion cues run on every frame.

A scene change is a mean absolute difference above 12 grey levels between 64x36
thumbnails of this frame and the last one (someone sat down, the camera moved, a
sheet of paper was held up): then OCR runs even off schedule.  The last frame's face
(its box grown by 1.4) is left out of the comparison: a candidate who moves, talks
or laughs close to the camera is not a new scene.  Measured on the close-up expression
video at one frame per second, the whole-frame test called 87 of 200 frames a scene
change (OCR on ~45% of frames); without the face, none did, while a page held beside
the face scores 15-80 (docs/performance.md).  When the face fills the frame (less
than a quarter left), the whole thumbnail is compared.

Live sessions shift their OCR and pose frames by a phase taken from the session id
(``session_phase``): sessions started together (an exam, bench/load) would otherwise all
run OCR (~250 ms) in the same second, every 5th second, and queue behind each other.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import cv2
import numpy as np

from .pipeline import FramePlan

SCENE_CHANGE = 12.0
THUMB_W, THUMB_H = 64, 36
FACE_GROW = 1.4
MIN_BACKGROUND = 0.25


@dataclass(frozen=True)
class SceneThumb:
    """A frame's grey thumbnail and its primary face box (fractions of the frame), if any."""

    grey: np.ndarray
    face: tuple[float, float, float, float] | None = None


def thumbnail(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.resize(grey, (THUMB_W, THUMB_H), interpolation=cv2.INTER_AREA).astype(np.int16)


def face_fraction(face, width: int, height: int) -> tuple[float, float, float, float] | None:
    if face is None or width <= 0 or height <= 0:
        return None
    x1, y1, x2, y2 = face.bbox
    return (x1 / width, y1 / height, x2 / width, y2 / height)


def background_mask(
    face: tuple[float, float, float, float] | None, shape: tuple[int, int]
) -> np.ndarray | None:
    """True outside the grown face box; None when there is no face or too little is left."""
    if face is None:
        return None
    h, w = shape
    x1, y1, x2, y2 = face
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    hw, hh = (x2 - x1) * FACE_GROW / 2, (y2 - y1) * FACE_GROW / 2
    mask = np.ones(shape, bool)
    mask[
        max(0, int((cy - hh) * h)) : max(0, int(np.ceil((cy + hh) * h))),
        max(0, int((cx - hw) * w)) : max(0, int(np.ceil((cx + hw) * w))),
    ] = False
    return mask if mask.mean() >= MIN_BACKGROUND else None


def scene_changed(previous: SceneThumb | np.ndarray | None, current: np.ndarray) -> bool:
    if previous is None:
        return False
    face = previous.face if isinstance(previous, SceneThumb) else None
    grey = previous.grey if isinstance(previous, SceneThumb) else previous
    if grey.shape != current.shape:
        return False
    diff = np.abs(grey - current)
    mask = background_mask(face, diff.shape)
    return float((diff[mask] if mask is not None else diff).mean()) > SCENE_CHANGE


# OCR waits while nothing new can be read (``ocr_quiet``): the background compared in
# cells of 8x9 thumbnail pixels (1/32 of the frame), changed when one cell's mean grey
# difference exceeds CELL_CHANGE.  A page or a phone held up changes its cells by 40-150;
# sensor noise and a talking candidate (face left out) by under 5.
CELL_W, CELL_H = 8, 9
CELL_CHANGE = 30.0


def background_moved(since: SceneThumb | None, current: np.ndarray) -> bool:
    """Whether any part of the background differs from ``since`` (its face left out)."""
    if since is None or since.grey.shape != current.shape:
        return True
    diff = np.abs(since.grey - current).astype(np.float32)
    mask = background_mask(since.face, diff.shape)
    if mask is None:
        mask = np.ones(diff.shape, bool)
    rows, cols = diff.shape[0] // CELL_H, diff.shape[1] // CELL_W

    def cells(a: np.ndarray) -> np.ndarray:
        return a[: rows * CELL_H, : cols * CELL_W].reshape(rows, CELL_H, cols, CELL_W).sum((1, 3))

    total, count = cells(diff * mask), cells(mask.astype(np.float32))
    enough = count >= CELL_H * CELL_W / 2  # cells mostly covered by the face are skipped
    return bool(np.any(total[enough] / count[enough] > CELL_CHANGE))


@dataclass(frozen=True)
class TextWatch:
    """A session's last OCR run: its frame number, its scene, and whether it read text."""

    frame: int
    scene: SceneThumb
    found_text: bool


def ocr_quiet(watch: TextWatch | None, current: np.ndarray, frame_number: int, settings) -> bool:
    """Whether a scheduled OCR run can wait: the last run read no text, the background has
    not changed since, and it ran fewer than ``ocr_idle_every`` frames ago.  Reading the
    same background again gives the same answer; anything held up changes it."""
    idle = getattr(settings, "ocr_idle_every", 0)
    if watch is None or idle <= 0 or watch.found_text or frame_number - watch.frame >= idle:
        return False
    return not background_moved(watch.scene, current)


def _due(frame_number: int, every: int, phase: int = 0) -> bool:
    """Frame 1 runs everything; then every ``every`` frames, shifted by ``phase``."""
    if every <= 0:
        return False
    return frame_number == 1 or (frame_number - 1 + phase) % every == 0


def session_phase(session_id: str) -> int:
    """A stable per-session offset (same on every replica and after a restart)."""
    return zlib.crc32(session_id.encode())


def plan_frame(
    frame_number: int,
    settings,
    changed: bool = False,
    phase: int = 0,
    ocr_waits: bool = False,
) -> FramePlan:
    """``phase``: live sessions spread their OCR and pose frames (module docstring);
    ``ocr_waits``: the scheduled OCR run waits (``ocr_quiet`` above), a scene change not."""
    return FramePlan(
        objects=_due(frame_number, settings.objects_every),
        ocr=(_due(frame_number, settings.ocr_every, phase) and not ocr_waits)
        or (changed and settings.ocr_every > 0),
        pose=_due(frame_number, settings.pose_every, phase),
        hands=_due(frame_number, settings.hands_every),
        object_crops=_due(frame_number, settings.objects_every)
        and _due(frame_number, getattr(settings, "object_crops_every", 3)),
        liveness_full=frame_number <= getattr(settings, "liveness_frames", 8)
        or _due(frame_number, getattr(settings, "liveness_every", 10)),
    )
