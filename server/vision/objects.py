"""COCO object detection (person, cell phone, book, laptop, ...) on onnxruntime.

One small decoder per model family, chosen by ``ModelSpec.family`` and checked
against the graph's signature, so a mislabelled file fails at load with a clear
message instead of producing nonsense boxes:

- ``yolov3``: Darknet YOLO converted by ``server.models.darknet``: two (or more) raw
  heads ``N x A*(5+C) x H/s x W/s``; anchors, masks and class names in the model's
  metadata. RGB 0..1, letterboxed; dynamic input, so the letterbox is only padded to
  a multiple of 32 (a 16:9 frame at 320 runs as 320x192, not 320x320).
- ``yolox``: YOLOX export without in-graph decoding: one output ``1 x cells x (5+C)``
  over strides 8/16/32; BGR 0-255, padded bottom/right with 114 as YOLOX trains.
- ``yolov8``: Ultralytics export (also YOLO11): one output ``1 x (4+C) x cells``,
  cx cy w h in input pixels, class scores without objectness; RGB 0..1, centred
  letterbox with 114.

Boxes come back in pixels of the caller's image after class-wise NMS.
"""

from __future__ import annotations

import ast
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from ..proctoring.observation import ObjectDetection
from .runtime import make_session

log = logging.getLogger(__name__)

COCO80 = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

FAMILIES = ("yolov3", "yolox", "yolov8")

# Darknet's coco.names keeps the VOC-style spellings; rules match the COCO names.
DARKNET_ALIASES = {
    "aeroplane": "airplane",
    "motorbike": "motorcycle",
    "sofa": "couch",
    "pottedplant": "potted plant",
    "diningtable": "dining table",
    "tvmonitor": "tv",
}

# yolov3-tiny input side when the caller does not choose one (bench/detector_recall.py):
# on the COCO photos 320 and 416 find persons, laptops and phones in the same images
# (416 finds books in one more), but on close-up portraits, the webcam case, 416 misses
# the person (probably because a figure filling a 416 input outgrows the largest anchor, 344x319):
# a person in 14/14 portraits of tests/data at 320 against 6/14 at 416 (conf 0.25).
# 320 is also faster: ~20 vs ~33 ms per 1280x720 frame on one thread.
YOLOV3_DEFAULT_SIZE = 320
YOLOV8_DEFAULT_SIZE = 640


class ModelSignatureError(ValueError):
    """The ONNX graph does not have the signature of the family it was declared as."""


class _SpecLike(Protocol):
    family: str
    name: str


@dataclass(frozen=True)
class Letterbox:
    """How an image was placed on the network canvas: input = image * scale + pad."""

    scale: float
    pad_x: float
    pad_y: float

    def to_image(self, boxes: np.ndarray, width: int, height: int) -> np.ndarray:
        out = boxes.astype(np.float32).copy()
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.scale
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.scale
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
        return out


def letterbox(
    image: np.ndarray, size_hw: tuple[int, int], fill: int = 114, center: bool = True
) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping aspect ratio into ``size_hw`` and pad the rest with ``fill``."""
    h, w = image.shape[:2]
    th, tw = size_hw
    scale = min(th / h, tw / w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    resized = (
        cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nh, nw) != (h, w) else image
    )
    canvas = np.full((th, tw, image.shape[2]), fill, dtype=np.uint8)
    px, py = ((tw - nw) // 2, (th - nh) // 2) if center else (0, 0)
    canvas[py : py + nh, px : px + nw] = resized
    return canvas, Letterbox(scale, float(px), float(py))


def nms_classwise(
    boxes: np.ndarray,
    scores: np.ndarray,
    classes: np.ndarray,
    iou: float = 0.45,
    max_det: int = 100,
) -> np.ndarray:
    """Greedy NMS run per class (boxes of different classes never suppress each other)."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    # Shift each class to its own region of the plane so one pass handles all classes.
    offset = classes.astype(np.float32)[:, None] * (float(boxes.max() - boxes.min()) + 1.0)
    b = boxes + offset
    areas = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < max_det:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        xx1 = np.maximum(b[i, 0], b[rest, 0])
        yy1 = np.maximum(b[i, 1], b[rest, 1])
        xx2 = np.minimum(b[i, 2], b[rest, 2])
        yy2 = np.minimum(b[i, 3], b[rest, 3])
        inter = (xx2 - xx1).clip(0) * (yy2 - yy1).clip(0)
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[overlap <= iou]
    return np.array(keep, dtype=np.int64)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _static_hw(session) -> tuple[int, int] | None:
    shape = session.get_inputs()[0].shape
    if (
        len(shape) == 4
        and isinstance(shape[2], int)
        and isinstance(shape[3], int)
        and shape[2] > 0
        and shape[3] > 0
    ):
        return shape[2], shape[3]
    return None


def _cells(h: int, w: int, strides=(8, 16, 32)) -> int:
    return sum((h // s) * (w // s) for s in strides)


def classify_output_shapes(
    shapes: list[tuple[int, ...]], input_hw: tuple[int, int], num_classes: int = 80
) -> str | None:
    """Family implied by the output shapes of one run at ``input_hw``; None if unknown.

    yolov3: >= 2 outputs, each N x A*(5+C) x H/s x W/s.  yolox: one N x cells x (5+C).
    yolov8: one N x (4+C) x cells.  ``cells`` counts grid cells over strides 8/16/32.
    When both single-output readings fit (a 64x64 input has 84 cells, as many as a
    COCO yolov8 has channels), the one giving ``num_classes`` classes wins.
    """
    h, w = input_hw
    if len(shapes) >= 2 and all(len(s) == 4 for s in shapes):
        if all(s[2] and h % s[2] == 0 and w % s[3] == 0 and h // s[2] == w // s[3] for s in shapes):
            ch = shapes[0][1]
            if all(s[1] == ch for s in shapes) and any(
                ch % a == 0 and ch // a > 5 for a in (3, 2, 1)
            ):
                return "yolov3"
        return None
    if len(shapes) == 1 and len(shapes[0]) == 3:
        _, a, b = shapes[0]
        cells = _cells(h, w)
        fits = {"yolox": a == cells and b > 5, "yolov8": b == cells and a > 4}
        if fits["yolox"] and fits["yolov8"]:
            fits = {"yolox": b - 5 == num_classes, "yolov8": a - 4 == num_classes}
        matched = [f for f, ok in fits.items() if ok]
        return matched[0] if len(matched) == 1 else None
    return None


class _Decoder:
    """Family adapter: preprocessing and raw-output decoding for one graph."""

    family = ""
    fill = 114
    center = True
    default_size = 640

    def __init__(self, session, names: tuple[str, ...], input_size: int | None):
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.names = names
        static = _static_hw(session)
        self.rect = static is None  # graph takes any size: pad only to a multiple of 32
        if static is not None:
            if input_size is not None and (input_size, input_size) != static:
                log.warning(
                    "%s graph has a fixed %sx%s input; requested size %s ignored",
                    self.family,
                    *static,
                    input_size,
                )
            self.input_hw = static
        else:
            side = input_size or self.default_size
            if side % 32:
                raise ValueError(f"input size must be a multiple of 32, got {side}")
            self.input_hw = (side, side)

    def canvas_hw(self, h: int, w: int) -> tuple[int, int]:
        """Network input size for an ``h x w`` image: the configured square, or, when
        the graph accepts any size, its long side at the configured size and the short
        side only padded up to a multiple of 32 (the same recall on the bench, a 16:9 frame
        costs 60% of the square)."""
        th, tw = self.input_hw
        if not self.rect:
            return th, tw
        scale = min(th / h, tw / w)
        return (min(th, -(-round(h * scale) // 32) * 32), min(tw, -(-round(w * scale) // 32) * 32))

    def to_tensor(self, canvas: np.ndarray) -> np.ndarray:
        rgb = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB)
        return (rgb.transpose(2, 0, 1)[None].astype(np.float32)) * (1.0 / 255.0)

    def preprocess(self, image_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        h, w = image_bgr.shape[:2]
        canvas, lb = letterbox(image_bgr, self.canvas_hw(h, w), self.fill, self.center)
        return self.to_tensor(canvas), lb

    def decode(self, outputs: list[np.ndarray], input_hw: tuple[int, int], conf: float):
        """-> boxes (x1 y1 x2 y2, input pixels), scores, class ids: candidates above ``conf``."""
        raise NotImplementedError


class YoloV3Decoder(_Decoder):
    family = "yolov3"
    fill = 128  # Darknet letterboxes with 0.5 grey
    default_size = YOLOV3_DEFAULT_SIZE

    def __init__(self, session, names, input_size):
        meta = session.get_modelmeta().custom_metadata_map
        if "anchors" not in meta or "masks" not in meta:
            raise ModelSignatureError(
                "yolov3 graph has no anchors/masks metadata: convert it with server.models.darknet.convert_darknet"
            )
        anchors = np.array(json.loads(meta["anchors"]), dtype=np.float32)
        masks = json.loads(meta["masks"])
        if len(masks) != len(session.get_outputs()):
            raise ModelSignatureError(
                f"yolov3 metadata lists {len(masks)} heads, graph has {len(session.get_outputs())} outputs"
            )
        self.head_anchors = [anchors[m] for m in masks]  # per output, A x 2 in input pixels
        if "names" in meta:
            names = tuple(DARKNET_ALIASES.get(n, n) for n in json.loads(meta["names"]))
        super().__init__(session, names, input_size)

    def decode(self, outputs, input_hw, conf):
        ih, iw = input_hw
        all_boxes, all_scores, all_cls = [], [], []
        for out, anchors in zip(outputs, self.head_anchors, strict=False):
            _, ch, gh, gw = out.shape
            na = len(anchors)
            p = out[0].reshape(na, ch // na, gh, gw).transpose(0, 2, 3, 1)  # A x gh x gw x (5+C)
            obj = _sigmoid(p[..., 4])
            cand = obj > conf  # score = obj * cls <= obj: nothing below conf can pass
            if not cand.any():
                continue
            a_idx, gy, gx = np.nonzero(cand)
            q = p[cand]
            cls_prob = _sigmoid(q[:, 5:])
            cls_id = cls_prob.argmax(1)
            score = obj[cand] * cls_prob[np.arange(len(q)), cls_id]
            cx = (_sigmoid(q[:, 0]) + gx) * (iw / gw)
            cy = (_sigmoid(q[:, 1]) + gy) * (ih / gh)
            bw = np.exp(q[:, 2]) * anchors[a_idx, 0]
            bh = np.exp(q[:, 3]) * anchors[a_idx, 1]
            all_boxes.append(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1))
            all_scores.append(score)
            all_cls.append(cls_id)
        if not all_boxes:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
        scores, classes, boxes = (
            np.concatenate(all_scores),
            np.concatenate(all_cls),
            np.concatenate(all_boxes),
        )
        keep = scores > conf
        return boxes[keep], scores[keep], classes[keep]


class YoloxDecoder(_Decoder):
    family = "yolox"
    center = False  # YOLOX's preproc puts the image top-left
    default_size = 416
    strides = (8, 16, 32)

    def __init__(self, session, names, input_size):
        super().__init__(session, names, input_size)
        self._grid_cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def to_tensor(self, canvas):
        return canvas.transpose(2, 0, 1)[None].astype(np.float32)  # BGR, 0-255

    def _grid(self, hw):
        if hw not in self._grid_cache:
            grids, strides = [], []
            for s in self.strides:
                gh, gw = hw[0] // s, hw[1] // s
                yv, xv = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
                grids.append(np.stack([xv, yv], -1).reshape(-1, 2))
                strides.append(np.full((gh * gw, 1), s))
            self._grid_cache[hw] = (
                np.concatenate(grids).astype(np.float32),
                np.concatenate(strides).astype(np.float32),
            )
        return self._grid_cache[hw]

    def decode(self, outputs, input_hw, conf):
        p = outputs[0][0]  # cells x (5+C); objectness and classes already sigmoid (YOLOX head)
        grid, stride = self._grid(tuple(input_hw))
        obj = p[:, 4]
        cand = obj > conf
        q = p[cand]
        cls_id = q[:, 5:].argmax(1)
        score = q[:, 4] * q[np.arange(len(q)), 5 + cls_id]
        xy = (q[:, :2] + grid[cand]) * stride[cand]
        wh = np.exp(q[:, 2:4]) * stride[cand]
        boxes = np.concatenate([xy - wh / 2, xy + wh / 2], 1)
        keep = score > conf
        return boxes[keep], score[keep], cls_id[keep]


class YoloV8Decoder(_Decoder):
    family = "yolov8"
    default_size = YOLOV8_DEFAULT_SIZE

    def __init__(self, session, names, input_size):
        meta = session.get_modelmeta().custom_metadata_map
        if "names" in meta:  # Ultralytics stores "{0: 'person', 1: 'bicycle', ...}"
            try:
                parsed = ast.literal_eval(meta["names"])
                names = (
                    tuple(parsed[k] for k in sorted(parsed))
                    if isinstance(parsed, dict)
                    else tuple(parsed)
                )
            except (ValueError, SyntaxError):
                log.warning("yolov8 names metadata unreadable; using COCO-80")
        super().__init__(session, names, input_size)

    def decode(self, outputs, input_hw, conf):
        p = outputs[0][0]  # (4+C) x cells
        scores_all = p[4:]
        cls_id = scores_all.argmax(0)
        score = scores_all[cls_id, np.arange(p.shape[1])]
        keep = score > conf
        cx, cy, w, h = p[0, keep], p[1, keep], p[2, keep], p[3, keep]
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
        return boxes, score[keep], cls_id[keep]


DECODERS: dict[str, type[_Decoder]] = {
    "yolov3": YoloV3Decoder,
    "yolox": YoloxDecoder,
    "yolov8": YoloV8Decoder,
}


def probe_family(
    session, input_hw: tuple[int, int] | None = None, num_classes: int = 80
) -> tuple[str | None, list[tuple[int, ...]]]:
    """Run the graph once on a blank image and name the family its outputs imply.

    Shapes are read from a real run because exported graphs often leave output
    dimensions symbolic. Also serves as warm-up.
    """
    hw = _static_hw(session) or input_hw or (320, 320)
    inp = session.get_inputs()[0]
    if len(inp.shape) != 4 or (isinstance(inp.shape[1], int) and inp.shape[1] != 3):
        return None, []
    blank = np.zeros((1, 3, *hw), dtype=np.float32)
    shapes = [tuple(o.shape) for o in session.run(None, {inp.name: blank})]
    return classify_output_shapes(shapes, hw, num_classes), shapes


class ObjectDetector:
    """COCO detector over one ONNX file of a known family.

    ``detect(image_bgr, conf)`` -> ``ObjectDetection`` list, boxes in image pixels.
    """

    def __init__(
        self,
        family: str,
        path: Path | str,
        providers: list[str] | None = None,
        threads: int = 1,
        input_size: int | None = None,
        iou: float = 0.45,
        names: tuple[str, ...] = COCO80,
        pad_to_square: bool = False,
    ):
        family = (family or "").lower()
        if family not in DECODERS:
            raise ValueError(
                f"unknown object detector family {family!r}; supported: {', '.join(FAMILIES)}"
            )
        self.path = Path(path)
        self.session = make_session(self.path, providers or ["CPUExecutionProvider"], threads)
        probe_side = input_size or DECODERS[family].default_size
        seen, shapes = probe_family(self.session, (probe_side, probe_side), len(names))
        if seen != family:
            what = f"looks like {seen!r}" if seen else "matches no supported family"
            raise ModelSignatureError(
                f"{self.path.name}: declared family {family!r} but the graph {what} "
                f"(input {self.session.get_inputs()[0].shape}, outputs {shapes}); "
                f"yolov3: >=2 outputs N x A*(5+C) x H/s x W/s; yolox: 1 x cells x (5+C); yolov8: 1 x (4+C) x cells"
            )
        self.family = family
        self.decoder = DECODERS[family](self.session, tuple(names), input_size)
        if pad_to_square:
            self.decoder.rect = False
        self.names = self.decoder.names
        self.iou = iou

    @property
    def input_size(self) -> tuple[int, int]:
        return self.decoder.input_hw

    def detect(
        self, image_bgr: np.ndarray, conf: float = 0.25, max_det: int = 100
    ) -> list[ObjectDetection]:
        if image_bgr is None or image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
            raise ValueError("detect expects an HxWx3 BGR image")
        h, w = image_bgr.shape[:2]
        tensor, lb = self.decoder.preprocess(image_bgr)
        outputs = self.session.run(None, {self.decoder.input_name: tensor})
        boxes, scores, classes = self.decoder.decode(outputs, tensor.shape[2:], conf)
        if len(boxes) == 0:
            return []
        keep = nms_classwise(boxes, scores, classes, self.iou, max_det)
        boxes = lb.to_image(boxes[keep], w, h)
        result = []
        for box, score, cls in zip(boxes, scores[keep], classes[keep], strict=False):
            label = self.names[cls] if cls < len(self.names) else str(int(cls))
            x1, y1, x2, y2 = (float(v) for v in box)
            result.append(ObjectDetection(label, float(score), (x1, y1, x2, y2)))
        return result


def load_object_detector(
    spec: _SpecLike,
    path: Path | str,
    providers: list[str] | None = None,
    threads: int = 1,
    input_size: int | None = None,
) -> ObjectDetector:
    """Build the detector for a registry ``ModelSpec`` (routes by ``spec.family``)."""
    return ObjectDetector(spec.family, path, providers, threads, input_size=input_size)
