"""Body adapters: MediaPipe ``PoseLandmarker`` -> ``BodyPose`` and ``HandLandmarker`` -> ``Hand``.

Angles are measured in pixels (x scaled by the frame width, y by its height), so a
level shoulder line reads 0 on any aspect ratio.  Signs follow ``HeadPose.roll``:
positive is clockwise in the image.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from mediapipe.tasks.python import vision

from server.proctoring.observation import BodyPose, Hand

from .mediapipe_task import MediaPipeTask, base_options

NOSE, LEFT_SHOULDER, RIGHT_SHOULDER = 0, 11, 12
# Wrist and the four finger bases: their mean is the palm centre, which stays put
# whether the fingers are spread, curled or holding something.
PALM = (0, 5, 9, 13, 17)


class PoseEstimator(MediaPipeTask):
    """MediaPipe PoseLandmarker (IMAGE mode): shoulders and neck line of the most prominent person."""

    def __init__(self, path: str | Path, *, min_confidence: float = 0.5) -> None:
        options = vision.PoseLandmarkerOptions(
            base_options=base_options(path),
            running_mode=vision.RunningMode.IMAGE,
            num_poses=1,
            min_pose_detection_confidence=min_confidence,
            min_pose_presence_confidence=min_confidence,
            output_segmentation_masks=False,
        )
        super().__init__(vision.PoseLandmarker.create_from_options(options))

    def detect(self, image_bgr: np.ndarray) -> BodyPose | None:
        """Shoulder tilt, neck lean, shoulder width and shoulder visibility; None without a person."""
        h, w = image_bgr.shape[:2]
        result = self._run(image_bgr)
        if not result.pose_landmarks:
            return None
        lms = result.pose_landmarks[0]
        return body_pose_from_landmarks(
            np.array([(p.x, p.y) for p in lms], dtype=np.float64),
            np.array(
                [p.visibility if p.visibility is not None else 0.0 for p in lms], dtype=np.float64
            ),
            w,
            h,
        )


def body_pose_from_landmarks(
    xy: np.ndarray, visibility: np.ndarray, width: int, height: int
) -> BodyPose:
    """``BodyPose`` from the 33 normalised pose landmarks (x, y) and their visibility.

    * shoulder_tilt_deg: + when the shoulder line turns clockwise in the image (the
      image-right shoulder, the candidate's left, is lower);
    * lean_deg: neck line (shoulder midpoint -> nose) against vertical, + when the nose
      is to the image right of the shoulders (head and trunk lean clockwise);
    * shoulder_width: shoulder distance / frame width.
    """
    scale = np.array([width, height], dtype=np.float64)
    left, right, nose = xy[LEFT_SHOULDER] * scale, xy[RIGHT_SHOULDER] * scale, xy[NOSE] * scale
    # Image-left to image-right, whichever shoulder is which (a candidate may face away).
    a, b = (right, left) if right[0] <= left[0] else (left, right)
    tilt = math.degrees(math.atan2(b[1] - a[1], b[0] - a[0]))  # y grows downward: + = clockwise
    mid = (left + right) / 2.0
    up = mid - nose  # nose above the shoulders: up[1] > 0
    lean = math.degrees(math.atan2(nose[0] - mid[0], up[1])) if abs(up[1]) + abs(up[0]) > 0 else 0.0
    return BodyPose(
        shoulder_tilt_deg=tilt,
        lean_deg=lean,
        shoulder_width=float(np.linalg.norm(left - right) / width),
        visibility=float((visibility[LEFT_SHOULDER] + visibility[RIGHT_SHOULDER]) / 2.0),
    )


class HandTracker(MediaPipeTask):
    """MediaPipe HandLandmarker (IMAGE mode): up to ``num_hands`` hands, normalised to the frame."""

    def __init__(
        self, path: str | Path, *, num_hands: int = 2, min_confidence: float = 0.5
    ) -> None:
        options = vision.HandLandmarkerOptions(
            base_options=base_options(path),
            running_mode=vision.RunningMode.IMAGE,
            num_hands=num_hands,
            min_hand_detection_confidence=min_confidence,
            min_hand_presence_confidence=min_confidence,
        )
        super().__init__(vision.HandLandmarker.create_from_options(options))

    def detect(self, image_bgr: np.ndarray) -> list[Hand]:
        """Hands, most confident first; empty when none.

        ``center`` is the palm centre (wrist and finger bases), ``bbox`` spans all 21
        landmarks, both clipped to the frame.  ``handedness`` is MediaPipe's label
        ("Left"/"Right") as it reports it, ``score`` its handedness confidence.
        """
        result = self._run(image_bgr)
        hands = []
        for lms, cats in zip(result.hand_landmarks, result.handedness, strict=False):
            raw = np.array([(p.x, p.y) for p in lms], dtype=np.float64)
            # Centre from the unclipped points: a wrist below the frame edge still
            # places the palm correctly; then clip what is reported.
            cx, cy = np.clip(raw[list(PALM)].mean(axis=0), 0.0, 1.0)
            xy = np.clip(raw, 0.0, 1.0)
            best = max(cats, key=lambda c: c.score or 0.0) if cats else None
            hands.append(
                Hand(
                    handedness=(best.category_name or "") if best else "",
                    center=(float(cx), float(cy)),
                    bbox=(
                        float(xy[:, 0].min()),
                        float(xy[:, 1].min()),
                        float(xy[:, 0].max()),
                        float(xy[:, 1].max()),
                    ),
                    score=float(best.score) if best and best.score is not None else 0.0,
                )
            )
        hands.sort(key=lambda hnd: -hnd.score)
        return hands
