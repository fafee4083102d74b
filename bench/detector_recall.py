"""Object detector check on the 12 COCO photos of ../shared/data/coco-objects/.

    python -m bench.detector_recall [--conf 0.25] [--models-dir models] [--data DIR]

For every detector whose file is present (yolov3-tiny at 320 and 416, rectangular
and square letterbox; YOLOX-Nano; any yolov8*/yolo11* drop-in in the models folder):

- image-level recall per class (person, laptop, cell phone, book): of the images whose
  ground truth has the class, how many got at least one detection of it;
- image-level false alarms per class: images without the class where it was reported;
- person count: exact matches and mean absolute error against the ground truth;
- ms per call on a 1280x720 frame (each photo resized), one thread, median;
- person recall on the close-up portraits of tests/data (every photo there but
  page.png shows at least one person filling much of the frame, as a webcam does).

Prints a table and writes JSON to bench/results/. 10 of the 12 photos are COCO
train2017 images, which these models were trained on: the recall is optimistic.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2

from server.vision.objects import ObjectDetector

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CLASSES = ("person", "laptop", "cell phone", "book")
PORTRAITS = REPO / "tests" / "data"
NOT_PORTRAITS = {"page.png"}


def portraits() -> list[Path]:
    files = sorted(p for p in PORTRAITS.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    return [p for p in files if p.name not in NOT_PORTRAITS]


def portrait_recall(det: ObjectDetector, conf: float) -> dict:
    missed = []
    files = portraits()
    for path in files:
        found = det.detect(cv2.imread(str(path)), conf=conf)
        if not any(d.label == "person" for d in found):
            missed.append(path.name)
    return {"found": len(files) - len(missed), "of": len(files), "missed": missed}


def detectors(models_dir: Path) -> list[tuple[str, dict]]:
    out = []
    v3 = models_dir / "yolov3-tiny_int8.onnx"
    if v3.exists():
        for size in (320, 416):
            out.append((f"yolov3-tiny@{size}", dict(family="yolov3", path=v3, input_size=size)))
            out.append(
                (
                    f"yolov3-tiny@{size} square",
                    dict(family="yolov3", path=v3, input_size=size, pad_to_square=True),
                )
            )
    for yolox in [models_dir / "yolox_nano.onnx", SHARED / "models" / "yolox_nano.onnx"]:
        if yolox.exists():
            out.append(("YOLOX-Nano@416", dict(family="yolox", path=yolox)))
            break
    for p in sorted(models_dir.glob("yolo*.onnx")):
        if p.name.lower().startswith(("yolov8", "yolo11")):
            out.append((p.stem, dict(family="yolov8", path=p)))
    return out


def evaluate(det: ObjectDetector, data: Path, gt: dict, conf: float, repeats: int) -> dict:
    hits = {c: 0 for c in CLASSES}
    present = {c: 0 for c in CLASSES}
    false_alarms = {c: 0 for c in CLASSES}
    absent = {c: 0 for c in CLASSES}
    exact, abs_err, per_image, times = 0, [], {}, []
    for name, entry in sorted(gt.items()):
        image = cv2.imread(str(data / name))
        if image is None:
            raise SystemExit(f"cannot read {data / name}")
        found = det.detect(image, conf=conf)
        labels = [d.label for d in found]
        truth = [g["cls"] for g in entry["gt"] if not g.get("iscrowd")]
        for c in CLASSES:
            if c in truth:
                present[c] += 1
                hits[c] += c in labels
            else:
                absent[c] += 1
                false_alarms[c] += c in labels
        n_true, n_found = truth.count("person"), labels.count("person")
        exact += n_true == n_found
        abs_err.append(abs(n_true - n_found))
        per_image[name] = {
            "gt": {c: truth.count(c) for c in CLASSES},
            "found": {c: labels.count(c) for c in CLASSES},
        }
        frame = cv2.resize(image, (1280, 720))
        det.detect(frame, conf=conf)  # warm this shape
        for _ in range(repeats):
            t0 = time.perf_counter()
            det.detect(frame, conf=conf)
            times.append((time.perf_counter() - t0) * 1000)
    return {
        "recall": {c: [hits[c], present[c]] for c in CLASSES},
        "false_alarm_images": {c: [false_alarms[c], absent[c]] for c in CLASSES},
        "person_count_exact": [exact, len(gt)],
        "person_count_mae": round(statistics.mean(abs_err), 2),
        "ms_per_frame_1280x720": {
            "median": round(statistics.median(times), 1),
            "p90": round(sorted(times)[int(0.9 * (len(times) - 1))], 1),
        },
        "input_size": list(det.input_size),
        "per_image": per_image,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("--models-dir", type=Path, default=REPO / "models")
    ap.add_argument("--data", type=Path, default=SHARED / "data" / "coco-objects")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3, help="timed calls per photo")
    args = ap.parse_args(argv)

    gt_path = args.data / "gt.json"
    if not gt_path.exists():
        print(f"no ground truth at {gt_path}", file=sys.stderr)
        return 2
    gt = {k: v for k, v in json.loads(gt_path.read_text()).items()}
    found = detectors(args.models_dir)
    if not found:
        print(
            f"no detector files found in {args.models_dir} or {SHARED / 'models'}", file=sys.stderr
        )
        return 2

    results = {}
    for label, kwargs in found:
        det = ObjectDetector(providers=["CPUExecutionProvider"], threads=args.threads, **kwargs)
        results[label] = evaluate(det, args.data, gt, args.conf, args.repeats) | {
            "portraits_person": portrait_recall(det, args.conf),
            "file": str(kwargs["path"]),
        }

    head = (
        f"{'detector':<24}"
        + "".join(f"{c:>12}" for c in CLASSES)
        + f"{'persons=':>10}{'MAE':>6}{'ms 720p':>9}{'portraits':>11}"
    )
    print(
        f"image-level recall at conf >= {args.conf} ({len(gt)} COCO photos); false-alarm images in brackets;"
    )
    print(
        f"persons= exact person counts; portraits: person found in the {len(portraits())} close-ups of tests/data"
    )
    print(head)
    print("-" * len(head))
    for label, r in results.items():
        cells = ""
        for c in CLASSES:
            (hit, n), (fa, _) = r["recall"][c], r["false_alarm_images"][c]
            cells += f"{hit}/{n} ({fa})".rjust(12)
        exact = "{}/{}".format(*r["person_count_exact"])
        ms = r["ms_per_frame_1280x720"]["median"]
        pr = "{found}/{of}".format(**r["portraits_person"])
        print(f"{label:<24}{cells}{exact:>10}{r['person_count_mae']:>6}{ms:>9}{pr:>11}")

    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = out_dir / f"detector_recall-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "conf": args.conf,
                "threads": args.threads,
                "data": str(args.data),
                "results": results,
            },
            indent=2,
        )
    )
    print(f"\nwrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
