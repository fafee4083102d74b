"""Text in frame: PP-OCRv6 detection + recognition on onnxruntime (models/PP-OCRv6_*)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from server.vision.ocr import TextDetector, combined_confidence
from tests.helpers import DATA

REPO = Path(__file__).resolve().parents[1]
DET = REPO / "models" / "PP-OCRv6_det_small_int8.onnx"
REC = REPO / "models" / "PP-OCRv6_rec_small.onnx"

pytestmark = pytest.mark.skipif(
    not (DET.exists() and REC.exists()),
    reason=f"PP-OCRv6 models not in {DET.parent}; run `proctor models fetch` (from the rapidocr==3.10.0 wheel)",
)

RULE = 0.8  # settings.text_confidence (80) as a 0-1 confidence


@pytest.fixture(scope="module")
def ocr():
    return TextDetector(DET, REC, threads=1)


def image(name: str) -> np.ndarray:
    img = cv2.imread(str(DATA / name))
    assert img is not None, name
    return img


def webcam_scene(with_page: bool) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A 1280x720 frame: a person filling the left of the frame, a printed page held
    up at the right (page.png at its own size, about a third of the frame wide)."""
    frame = np.full((720, 1280, 3), (70, 80, 90), np.uint8)
    person = image("person_a_2.jpg")
    person = cv2.resize(person, (int(person.shape[1] * 720 / person.shape[0]), 720))
    frame[:, 100 : 100 + person.shape[1]] = person
    page = image("page.png")
    x, y = 820, 380
    if with_page:
        frame[y : y + page.shape[0], x : x + page.shape[1]] = page
    return frame, (x, y, x + page.shape[1], y + page.shape[0])


def words(regions) -> set[str]:
    return {w.strip(".,:()").lower() for r in regions if r.text for w in r.text.split()}


def test_printed_page_is_read(ocr):
    regions = ocr.detect(image("page.png"))
    confident = [r for r in regions if r.confidence > RULE]
    assert len(confident) >= 2
    assert {"region-based", "segmentation"} <= words(confident)
    assert all(r.text for r in confident)
    h, w = image("page.png").shape[:2]
    for r in regions:
        x1, y1, x2, y2 = r.bbox
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h


def test_more_lines_are_read_when_asked(ocr):
    many = TextDetector(DET, REC, threads=1, max_recognise=10)
    found = words(many.detect(image("page.png")))
    assert {"markers", "background", "histogram", "unambiguously"} <= found


def test_page_held_up_in_a_webcam_frame(ocr):
    frame, (px1, py1, px2, py2) = webcam_scene(with_page=True)
    confident = [r for r in ocr.detect(frame) if r.confidence > RULE]
    assert confident, "the page must trigger the text rule"
    for r in confident:  # and only the page
        cx, cy = (r.bbox[0] + r.bbox[2]) / 2, (r.bbox[1] + r.bbox[3]) / 2
        assert px1 <= cx <= px2 and py1 <= cy <= py2
    assert "segmentation" in words(confident)


def test_same_frame_without_the_page_has_no_confident_text(ocr):
    frame, _ = webcam_scene(with_page=False)
    assert all(r.confidence < RULE for r in ocr.detect(frame))


@pytest.mark.parametrize(
    "name", ["person_a_2.jpg", "astronaut.png", "multi_face.jpg", "obama.jpg", "single_face.jpg"]
)
def test_faces_without_text_stay_below_the_rule(ocr, name):
    regions = ocr.detect(image(name))
    assert all(r.confidence < RULE for r in regions), [(r.confidence, r.text) for r in regions]


def test_detection_only(ocr):
    regions = ocr.detect(image("page.png"), recognise=False)
    assert len(regions) >= 5  # seven printed lines
    assert all(r.text is None and 0.5 <= r.confidence <= 1.0 for r in regions)


def test_detector_without_recogniser():
    det_only = TextDetector(DET, None, threads=1)
    regions = det_only.detect(image("page.png"))
    assert regions and all(r.text is None for r in regions)


def test_combined_confidence_discounts_short_reads():
    assert combined_confidence("", 0.9) == 0.0
    assert combined_confidence("***", 0.97) == 0.0
    assert combined_confidence("V", 0.9) == pytest.approx(0.45)
    assert combined_confidence("Region-based segmentation", 0.99) == pytest.approx(0.99, abs=1e-6)


def test_wrong_model_files_are_refused():
    with pytest.raises(ValueError, match="not a PP-OCR recogniser"):
        TextDetector(DET, DET)


def test_int8_detector_reads_the_rendered_check_page(ocr):
    # The page the fetch step compares the int8 and fp32 text maps on (models/quantize.py).
    from server.models.quantize import check_page

    many = TextDetector(DET, REC, threads=1, max_recognise=10)
    found = words(many.detect(check_page()))
    assert {"question", "experiment", "answer", "notes"} <= found
