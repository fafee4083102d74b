"""Phone and book recall: full frame vs full frame + crops near the face, and honest false hits.

    .venv/bin/python -m bench.phone_recall [--detector FILE --family yolox] [--json out.json]

- COCO photos (../shared/data/coco-objects, read in place): image-level recall of
  "cell phone" and "book" (any detection >= --conf in an image that has one), full frame
  vs full frame + 2x2 tiles (scene photos have no interview face to crop around).
- Composites (tests/cheating/attack_media.py): frames of the honest face videos with a
  phone or a book cut from the COCO photos pasted at the ear, in the hand, on the desk;
  image-level recall full frame vs full frame + crops near the face (server.vision.crops).
- Honest frames: every frame of the honest videos, the same two ways; how many frames
  have a phone/book detection at several confidences (the false-hit rate).
- Alerts (``--alerts``): the whole frame pipeline on its schedule and the alert rules, on
  4-frame sequences with a phone pasted at the ear / in the hand / on the desk (does a
  "Cell Phone" suspicious_object alert fire, and on which frame), and on every frame of
  the honest videos as two sessions at one frame per second (every alert raised).
Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from server.config import Settings
from server.proctoring.alerts import AlertConfig
from server.proctoring.frame import analyse_observation
from server.vision.crops import detect_near_face, merge
from server.vision.liveness import frame_change
from server.vision.objects import ObjectDetector
from server.vision.pipeline import FramePipeline, SharedModels
from server.vision.schedule import plan_frame, thumbnail
from tests.cheating import attack_media as media

LABELS = ("cell phone", "book")
PLACES = {"cell phone": ("ear", "hand", "desk"), "book": ("hand", "desk")}


def tiles(image: np.ndarray) -> list[tuple[int, int, int, int]]:
    h, w = image.shape[:2]
    tw, th = int(w * 0.6), int(h * 0.6)
    return [(x, y, x + tw, y + th) for x in (0, w - tw) for y in (0, h - th)]


def detect_tiled(det, image, conf):
    found = det.detect(image, conf)
    for x1, y1, x2, y2 in tiles(image):
        for d in det.detect(image[y1:y2, x1:x2], conf):
            b = d.bbox
            found = merge(
                found,
                [type(d)(d.label, d.confidence, (b[0] + x1, b[1] + y1, b[2] + x1, b[3] + y1))],
            )

    return found


def best(dets, label) -> float:
    return max((d.confidence for d in dets if d.label == label), default=0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--detector", type=Path, help="an ONNX drop-in instead of the manifest's")
    ap.add_argument("--family", default="yolox")
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("--honest-step", type=int, default=2, help="every Nth frame of the videos")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--alerts", action="store_true", help="also the alert-level figures (minutes)")
    ap.add_argument("--alerts-only", action="store_true")
    ap.add_argument(
        "--min-side", type=int, default=60, help="smallest COCO phone box pasted (alert level)"
    )
    args = ap.parse_args()
    shared = SharedModels.load(Settings())
    det = shared.objects
    if args.detector:
        det = ObjectDetector(args.family, args.detector)
    faces = shared.face_detector
    name = args.detector.name if args.detector else shared.specs["object_detector"].file
    out: dict = {"detector": name, "conf": args.conf}
    rng = np.random.default_rng(0)

    if args.alerts_only:
        out["alerts"] = alert_level(shared, args.min_side)
        if args.json:
            args.json.write_text(json.dumps(out, indent=1))
        return
    # COCO photos
    gt = media.coco_gt()
    coco = {lab: {"full": 0, "tiled": 0, "images": 0} for lab in LABELS}
    for fname, entry in gt.items():
        img = cv2.imread(str(media.COCO / fname))
        full = det.detect(img, args.conf)
        tiled = detect_tiled(det, img, args.conf)
        for lab in LABELS:
            if any(g["cls"] == lab for g in entry["gt"]):
                coco[lab]["images"] += 1
                coco[lab]["full"] += best(full, lab) > 0
                coco[lab]["tiled"] += best(tiled, lab) > 0
    out["coco"] = coco

    # composites
    frames = media.video("single_face.mp4", step=12) + media.video(
        "WolfgangLanger_Pexels.mp4", step=48
    )
    comp = {}
    timing = {"full": [], "near_face": []}
    for lab in LABELS:
        objs = media.coco_objects(lab, min_side=25)
        for where in PLACES[lab]:
            hit_full = hit_near = n = 0
            for fi, frame in enumerate(frames):
                fs = faces.detect(frame)
                if not fs:
                    continue
                face = max(fs, key=lambda f: f.area)
                _, obj = objs[(fi + n) % len(objs)]
                img = media.paste_object(frame, obj, face.bbox, where, rng)
                t0 = time.perf_counter()
                full = det.detect(img, args.conf)
                t1 = time.perf_counter()
                near = merge(full, detect_near_face(det, img, face, args.conf))
                t2 = time.perf_counter()
                timing["full"].append(t1 - t0)
                timing["near_face"].append(t2 - t0)
                n += 1
                hit_full += best(full, lab) > 0
                hit_near += best(near, lab) > 0
            comp[f"{lab}@{where}"] = {"n": n, "full": hit_full, "near_face": hit_near}
    out["composites"] = comp

    # honest frames
    honest = {"frames": 0, "full": {}, "near_face": {}}
    levels = (0.25, 0.4, 0.5, 0.7)
    for vname in media.HONEST_VIDEOS:
        for frame in media.video(vname, step=args.honest_step):
            fs = faces.detect(frame)
            face = max(fs, key=lambda f: f.area) if fs else None
            full = det.detect(frame, 0.25)
            near = merge(full, detect_near_face(det, frame, face, 0.25))
            honest["frames"] += 1
            for mode, dets in (("full", full), ("near_face", near)):
                for lab in LABELS:
                    s = best(dets, lab)
                    for lv in levels:
                        key = f"{lab}>={lv}"
                        honest[mode][key] = honest[mode].get(key, 0) + (s >= lv)
    out["honest"] = honest
    out["ms_per_frame"] = {k: round(1000 * float(np.median(v)), 1) for k, v in timing.items() if v}

    print(f"detector {name}, conf {args.conf}")
    for lab, c in coco.items():
        print(f"COCO {lab}: full {c['full']}/{c['images']}, full+tiles {c['tiled']}/{c['images']}")
    for k, c in comp.items():
        print(f"composite {k}: full {c['full']}/{c['n']}, full+near-face {c['near_face']}/{c['n']}")
    print(f"honest frames: {honest['frames']}")
    for mode in ("full", "near_face"):
        print(f"  {mode}: " + ", ".join(f"{k} {v}" for k, v in honest[mode].items()))
    print(f"median ms per frame (detector only): {out['ms_per_frame']}")
    if args.alerts:
        out["alerts"] = alert_level(shared, args.min_side)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


def run_session(pipe, frames, settings, config) -> list[tuple[int, dict]]:
    """(frame number, alert) for every alert the rules raise over ``frames`` at 1 frame/s."""
    state: dict = {}
    raised = []
    previous = None
    for i, frame in enumerate(frames, 1):
        obs = pipe.analyse(frame, plan_frame(i, settings))
        thumb = thumbnail(frame)
        if obs.liveness is not None:  # as the service does (the still-picture cue)
            obs.liveness.frame_change = frame_change(previous, thumb)
        previous = thumb
        outcome = analyse_observation(obs, state, i, float(i), None, config)
        state = outcome.state
        raised += [(i, a.as_contract()) for a in outcome.alerts]
    return raised


def alert_level(shared, min_side: int) -> dict:
    settings = Settings()
    config = AlertConfig.from_settings(settings)
    pipe = FramePipeline(shared)
    objs = media.coco_objects("cell phone", min_side=min_side)
    print(f"phones pasted: {[(n, o.shape[:2]) for n, o in objs]}")
    seqs = {"ear": [], "hand": [], "desk": []}
    sources = [("single_face.mp4", 6), ("WolfgangLanger_Pexels.mp4", 24)]
    for vname, step in sources:
        allf = media.video(vname, step=step)
        for start in range(0, len(allf) - 3, 2):
            for where in seqs:
                seqs[where].append((vname, start, allf[start : start + 4]))
    result: dict = {}
    for where, items in seqs.items():
        caught, first = 0, []
        for k, (_vname, _start, frames) in enumerate(items):
            _, obj = objs[k % len(objs)]
            faces = [pipe.faces(f) for f in frames]
            if not all(faces):
                continue
            shown = [
                media.paste_object(f, obj, max(fs, key=lambda x: x.area).bbox, where,
                                   np.random.default_rng(k))
                for f, fs in zip(frames, faces, strict=True)
            ]  # fmt: skip
            hits = [
                i
                for i, a in run_session(pipe, shown, settings, config)
                if a["type"] == "suspicious_object" and a.get("object") == "Cell Phone"
            ]
            caught += bool(hits)
            if hits:
                first.append(hits[0])
        n = sum(1 for _, _, fr in items if all(pipe.faces(f) for f in fr))
        result[where] = {"sequences": n, "caught": caught, "first_frame": first}
        print(f"phone alert @{where}: {caught}/{n} sequences within 4 frames; "
              f"first alert on frame {sorted(first)}")  # fmt: skip
    honest = {}
    for vname in media.HONEST_VIDEOS:
        frames = media.video(vname)
        raised = run_session(pipe, frames, settings, config)
        honest[vname] = {"frames": len(frames), "alerts": [(i, a["type"]) for i, a in raised]}
        print(f"honest {vname}: {len(frames)} frames as a 1 frame/s session: alerts "
              f"{[(i, a['type'], a.get('object')) for i, a in raised]}")  # fmt: skip
    result["honest"] = honest
    pipe.close()
    return result


if __name__ == "__main__":
    main()
