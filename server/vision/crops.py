"""Object detection where a cheating candidate's phone or notes are: beside and below the face.

A tiny COCO detector sees a 1280x720 webcam frame at 320-416 pixels: a phone held at
the ear or in the hands is then 20-40 input pixels, where these models find almost
nothing (MODELS.md: 0-1 of 4 phones in COCO photos).  Run again on a crop around the
face, the same phone fills a good part of the input.  ``regions`` names the crops (one
around the head and shoulders; optionally one below it where hands hold a phone or a
sheet), each square, in frame pixels; ``detect_near_face`` runs the detector on them and returns
the detections in frame coordinates, merged with the full-frame ones (same label,
overlapping boxes: the higher score is kept).
"""

from __future__ import annotations

import numpy as np

from ..proctoring.observation import Face, ObjectDetection

# Side of each crop in face heights: the head-and-shoulders crop holds a phone at either
# ear; the lower one the hands in front of the chest or on the desk.  The product runs the
# head crop only: on the composites the low crop found no phone more for a second
# detector run (bench/phone_recall.py); full frame + persistence cover the hands.
HEAD_SIDE = 2.6
LOW_SIDE = 3.2
MIN_GAIN = 1.4  # skip a crop that would not enlarge objects by at least this vs the full frame


def regions(
    face: Face, width: int, height: int, input_side: int, low: bool = False
) -> list[tuple[int, int, int, int]]:
    """Square crops (x1, y1, x2, y2) near ``face``, clipped to the frame; those too big to
    magnify anything at the detector's ``input_side`` are left out."""
    x1, y1, x2, y2 = face.bbox
    fh = max(1.0, y2 - y1)
    cx = (x1 + x2) / 2
    full_scale = input_side / max(width, height)
    out = []
    places = [(HEAD_SIDE, (y1 + y2) / 2 + 0.2 * fh)]
    if low:
        places.append((LOW_SIDE, y2 + 1.1 * fh))
    for side_f, cy in places:
        side = min(side_f * fh, width, height)
        bx1 = int(np.clip(cx - side / 2, 0, width - side))
        by1 = int(np.clip(cy - side / 2, 0, height - side))
        box = (bx1, by1, int(bx1 + side), int(by1 + side))
        if input_side / side >= MIN_GAIN * full_scale:
            out.append(box)
    return out


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def merge(found: list[ObjectDetection], extra: list[ObjectDetection]) -> list[ObjectDetection]:
    out = list(found)
    for det in extra:
        same = [
            i for i, o in enumerate(out) if o.label == det.label and _iou(o.bbox, det.bbox) > 0.3
        ]
        if not same:
            out.append(det)
        elif all(det.confidence > out[i].confidence for i in same):
            for i in sorted(same, reverse=True):
                out.pop(i)
            out.append(det)
    return out


def detect_near_face(
    detector,
    image: np.ndarray,
    face: Face | None,
    conf: float = 0.25,
    labels: tuple[str, ...] = ("cell phone", "book", "laptop", "tv", "remote"),
) -> list[ObjectDetection]:
    """Detections of ``labels`` in the crops near ``face``, in frame pixels."""
    if face is None or detector is None:
        return []
    h, w = image.shape[:2]
    side = max(getattr(detector, "input_size", (320, 320)))
    out: list[ObjectDetection] = []
    for bx1, by1, bx2, by2 in regions(face, w, h, side):
        crop = image[by1:by2, bx1:bx2]
        if crop.size == 0:
            continue
        for det in detector.detect(crop, conf):
            if det.label not in labels:
                continue
            x1, y1, x2, y2 = det.bbox
            out = merge(
                out,
                [
                    ObjectDetection(
                        det.label, det.confidence, (x1 + bx1, y1 + by1, x2 + bx1, y2 + by1)
                    )
                ],
            )
    return out
