"""Face detection and identity embeddings: one small adapter per model family.

- ``YuNetDetector`` (default, MIT): YuNet 2023mar ONNX on onnxruntime, 640x640 input,
  decoded as OpenCV's ``FaceDetectorYN`` does (score = sqrt(cls * obj)).
- ``SFaceEmbedder`` (default, Apache-2.0): 128-d SFace on a 112x112 ArcFace-aligned RGB crop.
- ``InsightFaceDetector`` / ``InsightFaceEmbedder``: drop-in InsightFace files (SCRFD
  ``det_10g.onnx``, ArcFace ``w600k_r50.onnx`` or any ArcFace-signature ONNX) run through
  the ``insightface`` package's ``model_zoo``.

All return ``Face`` records (``server.proctoring.observation``) with pixel boxes, a 0-1
score and five keypoints (right eye, left eye, nose, right mouth corner, left mouth corner).
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from ..proctoring.observation import Face
from .runtime import BatchFactory, Session, make_session

log = logging.getLogger(__name__)

# InsightFace's 5-point template for a 112x112 aligned face.
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


def align_face(image_bgr: np.ndarray, kps: np.ndarray | None, size: int = 112) -> np.ndarray:
    """Similarity-warp a face so its five keypoints land on the ArcFace template."""
    if kps is None:
        raise ValueError("a face without its five keypoints cannot be aligned")
    dst = ARCFACE_TEMPLATE * (size / 112.0)
    matrix, _ = cv2.estimateAffinePartial2D(np.asarray(kps, np.float32), dst, method=cv2.LMEDS)
    if matrix is None:  # degenerate keypoints: fall back to an exact similarity from the eyes
        matrix = cv2.getAffineTransform(np.asarray(kps[:3], np.float32), dst[:3])
    return cv2.warpAffine(image_bgr, matrix, (size, size), borderValue=0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    order = scores.argsort()[::-1]
    keep: list[int] = []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order.size:
        i = int(order[0])
        keep.append(i)
        xx1 = np.maximum(boxes[i, 0], boxes[order[1:], 0])
        yy1 = np.maximum(boxes[i, 1], boxes[order[1:], 1])
        xx2 = np.minimum(boxes[i, 2], boxes[order[1:], 2])
        yy2 = np.minimum(boxes[i, 3], boxes[order[1:], 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        ratio = inter / (areas[i] + areas[order[1:]] - inter + 1e-9)
        order = order[1:][ratio <= iou]
    return keep


class YuNetDetector:
    """YuNet on onnxruntime. Thread-safe (onnxruntime sessions may be shared)."""

    family = "yunet"

    def __init__(
        self, path: Path, providers: list[str], threads: int = 1, score_threshold: float = 0.6
    ):
        self.path = Path(path)
        loadable = _loadable_onnx(path)
        self.input_h, self.input_w = _input_hw(loadable)
        # Height and width freed: a 16:9 frame runs at 640x384 instead of a 640x640
        # letterbox (about half the time, same boxes: the padding was zeros anyway).
        self.session: Session = make_session(_free_hw(loadable) or loadable, providers, threads)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.score_threshold = score_threshold
        self.strides = (8, 16, 32)

    def batched(self, batch: BatchFactory) -> YuNetDetector | None:
        # the batched graph keeps the file's fixed 640x640 input: frames are letterboxed
        return _with_session(self, batch(_loadable_onnx(self.path)))

    def detect(self, image_bgr: np.ndarray, score_threshold: float | None = None) -> list[Face]:
        """Detect faces on the whole image, shrunk to fit the 640x640 input (letterboxed)."""
        h, w = image_bgr.shape[:2]
        scale = min(self.input_w / w, self.input_h / h)
        nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
        ch, cw = self.input_h, self.input_w
        if not isinstance(
            self.session.get_inputs()[0].shape[2], int
        ):  # free: pad to the stride only
            ch, cw = min(ch, -(-nh // 32) * 32), min(cw, -(-nw // 32) * 32)
        canvas = np.zeros((ch, cw, 3), np.float32)
        canvas[:nh, :nw] = cv2.resize(
            image_bgr, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        )
        blob = canvas.transpose(2, 0, 1)[None]
        outs = dict(
            zip(
                self.output_names,
                self.session.run(self.output_names, {self.input_name: blob}),
                strict=False,
            )
        )
        return self._decode(
            outs,
            scale,
            w,
            h,
            self.score_threshold if score_threshold is None else score_threshold,
            cw,
        )

    def _decode(
        self, outs: dict, scale: float, w: int, h: int, threshold: float, input_w: int | None = None
    ) -> list[Face]:
        boxes, scores, kpss = [], [], []
        for s in self.strides:
            cols = (input_w or self.input_w) // s
            cls = outs[f"cls_{s}"].reshape(-1)
            obj = outs[f"obj_{s}"].reshape(-1)
            score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
            idx = np.nonzero(score >= threshold)[0]
            if idx.size == 0:
                continue
            c = (idx % cols).astype(np.float32)
            r = (idx // cols).astype(np.float32)
            bb = outs[f"bbox_{s}"].reshape(-1, 4)[idx]
            cx, cy = (c + bb[:, 0]) * s, (r + bb[:, 1]) * s
            bw, bh = np.exp(bb[:, 2]) * s, np.exp(bb[:, 3]) * s
            boxes.append(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1))
            kp = outs[f"kps_{s}"].reshape(-1, 10)[idx].reshape(-1, 5, 2)
            kp = np.stack([(kp[:, :, 0] + c[:, None]) * s, (kp[:, :, 1] + r[:, None]) * s], 2)
            kpss.append(kp)
            scores.append(score[idx])
        if not boxes:
            return []
        boxes_a = np.concatenate(boxes) / scale
        kps_a = np.concatenate(kpss) / scale
        scores_a = np.concatenate(scores)
        faces = []
        for i in nms(boxes_a, scores_a, 0.3):
            x1, y1, x2, y2 = boxes_a[i]
            box = (float(max(0, x1)), float(max(0, y1)), float(min(w, x2)), float(min(h, y2)))
            faces.append(Face(bbox=box, score=float(scores_a[i]), kps=kps_a[i].astype(np.float32)))
        return faces


class SFaceEmbedder:
    """SFace (128-d). Input: aligned 112x112 RGB, raw 0-255, NCHW; output L2-normalised."""

    family = "sface"
    dim = 128

    def __init__(self, path: Path, providers: list[str], threads: int = 1):
        self.path = Path(path)
        self.session: Session = make_session(_loadable_onnx(path), providers, threads)
        self.input_name = self.session.get_inputs()[0].name

    def batched(self, batch: BatchFactory) -> SFaceEmbedder | None:
        return _with_session(self, batch(_loadable_onnx(self.path)))

    def embed(self, image_bgr: np.ndarray, face: Face) -> np.ndarray:
        crop = align_face(image_bgr, face.kps)
        blob = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32).transpose(2, 0, 1)[None]
        vec = self.session.run(None, {self.input_name: blob})[0].reshape(-1).astype(np.float32)
        return vec / (np.linalg.norm(vec) + 1e-12)


_A = TypeVar("_A", YuNetDetector, SFaceEmbedder)


def _with_session(adapter: _A, session: Session | None) -> _A | None:
    """A copy of ``adapter`` running on ``session`` (None when there is none)."""
    if session is None:
        return None
    twin = copy.copy(adapter)
    twin.session = session
    return twin


def _input_hw(model: Path | bytes) -> tuple[int, int]:
    import onnx

    m = (
        onnx.load_from_string(model)
        if isinstance(model, bytes)
        else onnx.load(str(model), load_external_data=False)
    )
    dims = m.graph.input[0].type.tensor_type.shape.dim
    return (dims[2].dim_value or 640), (dims[3].dim_value or 640)


def _free_hw(model: Path | bytes) -> bytes | None:
    """The YuNet graph with free input height/width (its heads reshape to [1, -1, C] and its
    upsampling uses scales, so any multiple of 32 runs); None if it does not look like that."""
    import onnx

    m = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(str(model))
    if len(m.graph.input) != 1 or any(
        n.op_type == "Resize" and len(n.input) > 3 and n.input[3] for n in m.graph.node
    ):
        return None  # Resize by fixed sizes would break on another input size
    dims = m.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        return None
    dims[2].ClearField("dim_value")
    dims[2].dim_param = "height"
    dims[3].ClearField("dim_value")
    dims[3].dim_param = "width"
    for out in m.graph.output:
        odims = out.type.tensor_type.shape.dim
        if len(odims) == 3:  # [1, anchors, C]: the anchor count follows the input size
            odims[1].ClearField("dim_value")
            odims[1].dim_param = f"{out.name}_anchors"
    del m.graph.value_info[:]
    return m.SerializeToString()


def _loadable_onnx(path: Path) -> Path | bytes:
    """The OpenCV Zoo int8bq files need a one-time graph fix before onnxruntime runs them.

    ``proctor models fetch`` writes prepared files.  A raw file dropped in by hand is
    prepared here in memory (slower start, more memory: a warning says so).
    """
    import onnx

    from ..models.prepare import needs_preparation, prepare_in_memory

    model = onnx.load(str(path))
    if not needs_preparation(model):
        return Path(path)
    log.warning(
        "%s is not prepared for onnxruntime; preparing in memory (run `proctor models fetch`)", path
    )
    return prepare_in_memory(model)


class InsightFaceDetector:
    """Drop-in SCRFD (e.g. buffalo_l ``det_10g.onnx``) through ``insightface.model_zoo``."""

    family = "scrfd"

    def __init__(
        self, path: Path, providers: list[str], threads: int = 1, score_threshold: float = 0.5
    ):
        from insightface.model_zoo import model_zoo

        self.model = model_zoo.get_model(str(path), providers=providers)
        self.model.prepare(
            ctx_id=0 if "CUDAExecutionProvider" in providers else -1,
            input_size=(640, 640),
            det_thresh=score_threshold,
        )

    def batched(self, batch: BatchFactory) -> None:
        return None  # insightface runs the session it built: not swappable

    def detect(self, image_bgr: np.ndarray, score_threshold: float | None = None) -> list[Face]:
        if score_threshold is not None:
            self.model.det_thresh = score_threshold
        bboxes, kpss = self.model.detect(image_bgr, input_size=(640, 640))
        faces = []
        for i, b in enumerate(bboxes):
            kps = kpss[i].astype(np.float32) if kpss is not None else None
            box = (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
            faces.append(Face(bbox=box, score=float(b[4]), kps=kps))
        return faces


class InsightFaceEmbedder:
    """Drop-in ArcFace-signature ONNX (e.g. buffalo_l ``w600k_r50.onnx``) via ``insightface.model_zoo``."""

    family = "arcface"
    dim = 512

    def __init__(self, path: Path, providers: list[str], threads: int = 1):
        from insightface.model_zoo.arcface_onnx import ArcFaceONNX

        self.model = ArcFaceONNX(
            model_file=str(path), session=make_session(path, providers, threads)
        )
        self.model.prepare(ctx_id=-1)

    def batched(self, batch: BatchFactory) -> None:
        return None  # insightface runs the session it was given: not swappable

    def embed(self, image_bgr: np.ndarray, face: Face) -> np.ndarray:
        crop = align_face(image_bgr, face.kps)
        vec = self.model.get_feat(crop).reshape(-1).astype(np.float32)
        return vec / (np.linalg.norm(vec) + 1e-12)


# --- ID documents -----------------------------------------------------------------------

ROTATIONS = {
    0: None,
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}


def _upright(face: Face) -> bool:
    """Eyes above the mouth: the face is the right way up in this image."""
    if face.kps is None:
        return True
    eyes_y = (face.kps[0, 1] + face.kps[1, 1]) / 2
    mouth_y = (face.kps[3, 1] + face.kps[4, 1]) / 2
    return mouth_y > eyes_y


def detect_multiscale(
    detector, image_bgr: np.ndarray, tile: int = 640, threshold: float | None = None
) -> list[Face]:
    """Detect small faces too: the whole image, then overlapping full-resolution tiles.

    A face on an ID card photographed by a webcam can be 40 px tall; shrunk to fit
    640x640 it vanishes.  Tiles keep full resolution; duplicates are merged by NMS.
    """
    h, w = image_bgr.shape[:2]
    faces = list(detector.detect(image_bgr, threshold))
    if max(h, w) > tile * 1.25:
        step = tile * 3 // 4
        for y0 in range(0, max(1, h - tile // 4), step):
            for x0 in range(0, max(1, w - tile // 4), step):
                crop = image_bgr[y0 : y0 + tile, x0 : x0 + tile]
                for f in detector.detect(crop, threshold):
                    x1, y1, x2, y2 = f.bbox
                    kps = f.kps + np.array([x0, y0], np.float32) if f.kps is not None else None
                    faces.append(
                        Face(bbox=(x1 + x0, y1 + y0, x2 + x0, y2 + y0), score=f.score, kps=kps)
                    )
    if len(faces) < 2:
        return faces
    boxes = np.array([f.bbox for f in faces], np.float32)
    scores = np.array([f.score for f in faces], np.float32)
    return [faces[i] for i in nms(boxes, scores, 0.3)]


def detect_document_faces(detector, image_bgr: np.ndarray, threshold: float | None = None):
    """Find the face(s) on an ID document that may be rotated by 90, 180 or 270 degrees.

    Returns ``(rotated_image, faces, rotation)`` for the rotation whose best upright face
    scores highest; embeddings must be computed on ``rotated_image``.
    """
    best: tuple[np.ndarray, list[Face], int] = (image_bgr, [], 0)
    best_score = -1.0
    for angle, code in ROTATIONS.items():
        img = image_bgr if code is None else cv2.rotate(image_bgr, code)
        faces = [f for f in detect_multiscale(detector, img, threshold=threshold) if _upright(f)]
        top = max((f.score for f in faces), default=-1.0)
        if top > best_score + 1e-6:
            best, best_score = (img, faces, angle), top
        if angle == 0 and top >= 0.9:
            break  # an upright, clear face: no need to try the other rotations
    return best
