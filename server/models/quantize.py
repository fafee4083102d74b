"""int8 copies of fp32 ONNX models, made once while fetching (``server.models.fetch``).

Two detectors are fetched as static int8 (QDQ) graphs, which onnxruntime runs with
integer (VNNI/AMX where the CPU has them) kernels; figures on one core of this
project's machine (docs/performance.md):

- the PP-OCRv6 text detector, the costliest model of a frame: 219 -> 54 ms a call at
  640x384; it reads the same lines of a page as the fp32 one on the test media;
- yolov3-tiny (objects, and the crop near the face): 16.4 -> 8.6 ms at 320x192, its two
  output convolutions kept in fp32; phone alerts on the composites 35 of 42 sequences
  within 4 frames either way, no phone or book alert on the honest videos.

Static quantisation needs activation ranges. They were measured once, with
``scripts/calibrate_int8.py`` on frames of ``tests/data`` (MinMax over the frames as
the adapter feeds them), and are kept in ``server/models/calibration/<name>.json``: the
fetch step needs no test media and writes the same bytes on every machine.  The
manifest's ``provenance`` of such a file names its ranges by digest, so new ranges make
``proctor models fetch`` rebuild it.  After
quantising, the int8 graph is run beside the fp32 one on a rendered page and refused
when they disagree (``check_text_maps``, ``check_outputs``).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# Least agreement accepted between the fp32 and int8 text maps (IoU of pixels above
# the DB threshold) on the rendered check page; measured 0.91-0.95.
MIN_TEXT_MAP_IOU = 0.8
# yolov3-tiny's two output convolutions (darknet layers 15 and 22, as darknet.py names
# them): the boxes and class scores stay float.
YOLOV3_KEEP_FP32 = ("l015_convolutional", "l022_convolutional")


def _quant_options():
    from onnxruntime.quantization import QuantFormat, QuantType

    # Per-tensor scales: the PP-OCR graph is opset 11, where DequantizeLinear has no
    # axis (per-channel needs opset 13); measured no loss without it.
    return dict(
        quant_format=QuantFormat.QDQ,
        per_channel=False,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )


def _pre_process(src: Path, out: Path) -> None:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(str(src), str(out), skip_symbolic_shape=True)


def calibrate(
    src: Path,
    feeds: Iterable[dict[str, np.ndarray]],
    ranges_out: Path,
    keep_fp32: Sequence[str] = (),
) -> None:
    """Measure activation ranges of ``src`` over ``feeds`` and write them to ``ranges_out``
    (onnxruntime's calibration cache format).  Development time only."""
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(feeds)

        def get_next(self):
            return next(self.it, None)

    ranges_out = Path(ranges_out)
    ranges_out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="proctor-calib-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        _pre_process(Path(src), pre)
        quantize_static(
            pre,
            Path(tmp) / "int8.onnx",
            Reader(),
            calibration_cache_path=ranges_out,
            nodes_to_exclude=list(keep_fp32),
            **_quant_options(),
        )
    # Sorted keys: a re-run on the same frames gives the same file.
    data = json.loads(ranges_out.read_text())
    ranges_out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def quantize_int8(src: Path, out: Path, ranges: Path, keep_fp32: Sequence[str] = ()) -> None:
    """Write the static int8 (QDQ) graph of ``src`` to ``out`` with the stored ``ranges``;
    the nodes named in ``keep_fp32`` stay float (a detector's output convolutions)."""
    from onnxruntime.quantization import quantize_static

    if not Path(ranges).is_file():
        raise FileNotFoundError(f"no calibration ranges at {ranges}")
    with tempfile.TemporaryDirectory(prefix="proctor-quant-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        _pre_process(Path(src), pre)
        cache = Path(tmp) / "ranges.json"  # onnxruntime may rewrite a cache it is given
        shutil.copyfile(ranges, cache)
        quantize_static(
            pre,
            out,
            None,
            calibration_cache_path=cache,
            nodes_to_exclude=list(keep_fp32),
            **_quant_options(),
        )


def check_page() -> np.ndarray:
    """A 1280x720 BGR frame with printed lines of several sizes on a grey background."""
    import cv2

    frame = np.full((720, 1280, 3), (96, 104, 112), np.uint8)
    cv2.rectangle(frame, (700, 120), (1220, 640), (236, 236, 236), -1)
    lines = [
        ("Question 4: explain the result", 1.0),
        ("of the second experiment and", 0.9),
        ("name the three main factors.", 0.9),
        ("Answer key 1-A 2-C 3-B 4-D", 0.8),
        ("see notes on page 12", 0.7),
    ]
    y = 180
    for text, scale in lines:
        cv2.putText(frame, text, (720, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (20, 20, 20), 2)
        y += int(70 * scale) + 20
    cv2.putText(frame, "Exam 2026", (60, 660), cv2.FONT_HERSHEY_DUPLEX, 1.4, (250, 250, 250), 2)
    return frame


def _outputs(path: Path, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, feed)


def check_outputs(fp32: Path, int8: Path, feed: dict[str, np.ndarray], min_corr: float = 0.95):
    """Pearson correlation of the two graphs' outputs (all of them, flattened) on ``feed``;
    raises below ``min_corr``."""
    flat = [
        np.concatenate([o.ravel() for o in _outputs(path, feed)]).astype(np.float64)
        for path in (fp32, int8)
    ]
    corr = float(np.corrcoef(flat[0], flat[1])[0, 1])
    if not corr >= min_corr:
        raise ValueError(f"int8 outputs differ from fp32 (correlation {corr:.3f} < {min_corr})")
    return corr


def check_text_maps(fp32: Path, int8: Path, feed: dict[str, np.ndarray], thresh: float = 0.3):
    """IoU of the two graphs' text maps (pixels above ``thresh``); raises below the floor."""
    maps = [_outputs(path, feed)[0] > thresh for path in (fp32, int8)]
    inter, union = float((maps[0] & maps[1]).sum()), float((maps[0] | maps[1]).sum())
    if union == 0:
        raise ValueError("the check page gave no text in the fp32 detector")
    iou = inter / union
    if iou < MIN_TEXT_MAP_IOU:
        raise ValueError(f"int8 text map differs from fp32 (IoU {iou:.2f} < {MIN_TEXT_MAP_IOU})")
    return iou
