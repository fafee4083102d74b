"""Text in the frame: PP-OCR detection (DB) and recognition (CTC) on onnxruntime.

The models are PaddleOCR's PP-OCRv6 small det/rec ONNX files (shipped in the
``rapidocr==3.10.0`` wheel); the few pre/post-processing steps are written here so
the server needs neither rapidocr nor pyclipper/shapely.

Confidence of a ``TextRegion`` (what the ``text_confidence`` rule compares against):

- detection decides *whether* a box is text: DB probability map above 0.3, box kept
  when the mean probability inside it (PaddleOCR's ``box_score_fast``) is >= 0.5.
  That score says little more: printed lines score 0.5-0.8 (lower the smaller the
  text), and a flag's stars scored 0.82;
- recognition decides *how sure*: for a read box, ``confidence = rec * (1 - 0.5**n)``
  where ``rec`` is the mean CTC probability of the decoded characters (PaddleOCR's
  line score) and ``n`` the number of letters/digits read. Printed lines give
  0.95-1.0; faces, cuffs and flags give a lone glyph or symbols (0-0.6). Measured on
  the test photos, nothing without text reached 0.8.
- a box that was not read has ``text=None``: with ``recognise=False`` its confidence is
  the detection score; when it was left out by ``max_recognise`` it is the detection
  score capped at the best read box's confidence, so "any region above 0.8" means the
  same as "any read region above 0.8".

Cost per 1280x720 frame, one thread: detection at ``limit_side=640`` ~55 ms with the int8
detector ``proctor models fetch`` writes (``server/models/quantize.py``; 215-265 ms for the
fp32 graph on the CI machine, ~70 ms on the one the figures below were taken on); each box
read ~25 ms (up to 320 px wide at height 48) to ~65 ms (800 px, the cap). A page held
up to the camera (3 lines read): ~155 ms; a frame without text: 70-100 ms.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..proctoring.observation import TextRegion
from .runtime import make_session

log = logging.getLogger(__name__)

# PaddleOCR det preprocessing (NormalizeImage): ImageNet mean/std applied to the
# BGR-ordered image scaled to 0..1, as PaddleOCR's inference configs do. (rapidocr
# uses 0.5/0.5; on a page in a 1280x720 frame that found 4 of 7 lines, this 7.)
DET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
DET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
REC_HEIGHT = 48
REC_MIN_WIDTH = 320  # PaddleOCR pads every line to at least 48x320 (ratio 6.67), as it trains


def det_input(image_bgr: np.ndarray, limit_side: int = 640) -> np.ndarray:
    """The detector's input: longest side at most ``limit_side``, both sides multiples of
    32, normalised, NCHW (also what the int8 detector was calibrated on)."""
    h, w = image_bgr.shape[:2]
    ratio = min(1.0, limit_side / max(h, w))
    rh = max(32, int(round(h * ratio / 32)) * 32)
    rw = max(32, int(round(w * ratio / 32)) * 32)
    img = cv2.resize(image_bgr, (rw, rh)) if (rh, rw) != (h, w) else image_bgr
    x = (img.astype(np.float32) * (1.0 / 255.0) - DET_MEAN) / DET_STD
    return x.transpose(2, 0, 1)[None]


@dataclass
class _Box:
    quad: np.ndarray  # 4x2 float32, clockwise from top-left, image pixels
    score: float

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        x1, y1 = self.quad.min(0)
        x2, y2 = self.quad.max(0)
        return float(x1), float(y1), float(x2), float(y2)


def _order_quad(pts: np.ndarray) -> np.ndarray:
    """Order 4 points top-left, top-right, bottom-right, bottom-left."""
    xs = pts[np.argsort(pts[:, 0], kind="stable")]
    left, right = xs[:2], xs[2:]
    tl, bl = left[np.argsort(left[:, 1], kind="stable")]
    tr, br = right[np.argsort(right[:, 1], kind="stable")]
    return np.array([tl, tr, br, bl], dtype=np.float32)


def _box_score(prob: np.ndarray, quad: np.ndarray) -> float:
    """Mean probability inside ``quad`` (map pixels)."""
    h, w = prob.shape
    x1 = int(np.clip(np.floor(quad[:, 0].min()), 0, w - 1))
    x2 = int(np.clip(np.ceil(quad[:, 0].max()), 0, w - 1))
    y1 = int(np.clip(np.floor(quad[:, 1].min()), 0, h - 1))
    y2 = int(np.clip(np.ceil(quad[:, 1].max()), 0, h - 1))
    mask = np.zeros((y2 - y1 + 1, x2 - x1 + 1), dtype=np.uint8)
    cv2.fillPoly(mask, [(quad - [x1, y1]).round().astype(np.int32)], 1)
    return float(cv2.mean(prob[y1 : y2 + 1, x1 : x2 + 1], mask)[0])


def _unclip_rect(rect, ratio: float):
    """Grow a min-area rectangle by DB's unclip distance ``area * ratio / perimeter``.

    PaddleOCR offsets the polygon with pyclipper (round joins) and takes the min-area
    rectangle of the result; for a rectangle that is the rectangle grown by the
    distance on every side, which is what this returns.
    """
    (cx, cy), (rw, rh), angle = rect
    area, perimeter = rw * rh, 2 * (rw + rh)
    if perimeter <= 0:
        return rect
    d = area * ratio / perimeter
    return (cx, cy), (rw + 2 * d, rh + 2 * d), angle


class TextDetector:
    """PP-OCR text detection, with recognition of the most confident boxes.

    ``detect(image_bgr, recognise=True)`` -> ``TextRegion`` list (bbox in image pixels),
    most confident first.
    """

    def __init__(
        self,
        det_path: Path | str,
        rec_path: Path | str | None = None,
        providers: list[str] | None = None,
        threads: int = 1,
        limit_side: int = 640,
        thresh: float = 0.3,
        box_thresh: float = 0.5,
        unclip_ratio: float = 1.6,
        max_candidates: int = 300,
        max_recognise: int = 3,
        max_rec_width: int = 800,
    ):
        providers = providers or ["CPUExecutionProvider"]
        self.det = make_session(det_path, providers, threads)
        det_in = self.det.get_inputs()[0]
        if len(det_in.shape) != 4 or det_in.shape[1] != 3 or len(self.det.get_outputs()) != 1:
            raise ValueError(
                f"{Path(det_path).name}: not a PP-OCR DB detector (input {det_in.shape})"
            )
        self.det_input = det_in.name
        self.limit_side = max(32, int(limit_side) // 32 * 32)
        self.thresh, self.box_thresh, self.unclip_ratio = thresh, box_thresh, unclip_ratio
        self.max_candidates, self.max_recognise = max_candidates, max_recognise
        self.max_rec_width = max(REC_MIN_WIDTH, int(max_rec_width))

        self.rec = None
        self.charset: list[str] = []
        if rec_path is not None:
            self.rec = make_session(rec_path, providers, threads)
            rec_in = self.rec.get_inputs()[0]
            if len(rec_in.shape) != 4 or rec_in.shape[2] != REC_HEIGHT:
                raise ValueError(
                    f"{Path(rec_path).name}: not a PP-OCR recogniser (input {rec_in.shape})"
                )
            self.rec_input = rec_in.name
            meta = self.rec.get_modelmeta().custom_metadata_map
            if "character" not in meta:
                raise ValueError(
                    f"{Path(rec_path).name}: no 'character' dictionary in the ONNX metadata"
                )
            # CTC classes: blank, the dictionary in order, then a space.
            # split on "\n" only: str.splitlines would also split on other separators.
            self.charset = ["", *meta["character"].split("\n"), " "]
            n_out = self.rec.get_outputs()[0].shape[-1]
            if isinstance(n_out, int) and n_out != len(self.charset):
                raise ValueError(
                    f"recogniser has {n_out} classes but its dictionary gives {len(self.charset)}"
                )

    # ---------------------------------------------------------------- detection
    def _det_input(self, image_bgr: np.ndarray) -> np.ndarray:
        return det_input(image_bgr, self.limit_side)

    def _boxes(self, prob: np.ndarray, width: int, height: int) -> list[_Box]:
        mh, mw = prob.shape
        bitmap = cv2.dilate((prob > self.thresh).astype(np.uint8), np.ones((2, 2), np.uint8))
        contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        sx, sy = width / mw, height / mh
        boxes: list[_Box] = []
        for contour in contours[: self.max_candidates]:
            rect = cv2.minAreaRect(contour)
            if min(rect[1]) < 3:
                continue
            score = _box_score(prob, cv2.boxPoints(rect))
            if score < self.box_thresh:
                continue
            grown = _unclip_rect(rect, self.unclip_ratio)
            if min(grown[1]) < 5:
                continue
            quad = cv2.boxPoints(grown) * np.array([sx, sy], dtype=np.float32)
            quad[:, 0] = quad[:, 0].clip(0, width - 1)
            quad[:, 1] = quad[:, 1].clip(0, height - 1)
            quad = _order_quad(quad.round())
            if np.linalg.norm(quad[0] - quad[1]) <= 3 or np.linalg.norm(quad[0] - quad[3]) <= 3:
                continue
            boxes.append(_Box(quad, score))
        boxes.sort(key=lambda b: -b.score)
        return boxes

    # -------------------------------------------------------------- recognition
    @staticmethod
    def _crop(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
        w = int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
        h = int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
        dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
        m = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
        crop = cv2.warpPerspective(
            image, m, (w, h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
        )
        if h >= 1.5 * w:  # vertical line: read it turned
            crop = np.rot90(crop)
        return crop

    def _recognise_one(self, crop: np.ndarray) -> tuple[str, float]:
        """CTC greedy decode of one line crop -> (text, mean probability of its characters)."""
        h, w = crop.shape[:2]
        natural = int(math.ceil(REC_HEIGHT * w / max(1, h)))
        if natural > self.max_rec_width:  # very long line: read its first part, do not squeeze it
            crop = crop[:, : max(1, int(w * self.max_rec_width / natural))]
        rw = max(REC_HEIGHT // 2, min(self.max_rec_width, natural))
        width = max(rw, REC_MIN_WIDTH)
        img = cv2.resize(crop, (rw, REC_HEIGHT)).astype(np.float32)
        x = np.zeros(
            (1, 3, REC_HEIGHT, width), dtype=np.float32
        )  # zero = mid grey after normalising
        x[0, :, :, :rw] = ((img * (1.0 / 255.0) - 0.5) / 0.5).transpose(2, 0, 1)
        assert self.rec is not None  # detect() reads only with a recogniser
        probs = self.rec.run(None, {self.rec_input: x})[0][0]  # T x classes, softmaxed
        seq, best = probs.argmax(1), probs.max(1)
        keep = np.ones(len(seq), dtype=bool)
        keep[1:] = seq[1:] != seq[:-1]  # collapse repeats
        keep &= seq != 0  # drop blanks
        text = "".join(self.charset[i] for i in seq[keep] if i < len(self.charset))
        return text, (float(best[keep].mean()) if keep.any() else 0.0)

    @staticmethod
    def _rec_priority(box: _Box) -> float:
        """Which boxes to read first: confident and line-shaped (square blobs are
        mostly faces, buttons and textures; a word or a line is at least 2:1)."""
        w = float(np.linalg.norm(box.quad[0] - box.quad[1]))
        h = float(np.linalg.norm(box.quad[0] - box.quad[3]))
        aspect = max(w, h) / max(1.0, min(w, h))
        return box.score * min(1.0, aspect / 2.0)

    # ------------------------------------------------------------------ public
    def detect(self, image_bgr: np.ndarray, recognise: bool = True) -> list[TextRegion]:
        """Text regions, most confident first (see the module docstring for ``confidence``).

        With ``recognise`` (and a recogniser), the ``max_recognise`` most line-like
        confident boxes are read; they carry ``text`` and the combined confidence.
        Other boxes keep ``text=None`` (confidence: see the module docstring).
        """
        if image_bgr is None or image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
            raise ValueError("detect expects an HxWx3 BGR image")
        h, w = image_bgr.shape[:2]
        prob = self.det.run(None, {self.det_input: self._det_input(image_bgr)})[0][0, 0]
        boxes = self._boxes(prob, w, h)
        regions = [TextRegion(confidence=b.score, bbox=b.bbox) for b in boxes]
        if recognise and self.rec is not None and boxes:
            order = sorted(range(len(boxes)), key=lambda i: -self._rec_priority(boxes[i]))
            read, unread = order[: self.max_recognise], order[self.max_recognise :]
            for i in read:
                text, rec_score = self._recognise_one(self._crop(image_bgr, boxes[i].quad))
                regions[i].text = text
                regions[i].confidence = combined_confidence(text, rec_score)
            best = max(regions[i].confidence for i in read)
            for i in unread:
                regions[i].confidence = min(regions[i].confidence, best)
            regions.sort(key=lambda r: -r.confidence)
        return regions


def combined_confidence(text: str, rec_score: float) -> float:
    """Confidence that a detected box holds readable text: the recogniser's mean
    character probability, discounted for very short reads (``1 - 0.5**n`` for ``n``
    letters/digits: one glyph 0.5, two 0.75, three 0.875, five 0.97). Lone glyphs and
    symbol runs are what false detections on faces, clothes and flags read as."""
    n = sum(ch.isalnum() for ch in text)
    return float(rec_score) * (1.0 - 0.5**n)
