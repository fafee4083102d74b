"""Face detection + verification: proctor's production path against the classic dlib path.

    python -m bench.baseline [--frames 80]

Same process, same decoded 720p frames (``bench.common``), interleaved frame by frame:

- proctor: ``SharedModels`` face detector and embedder as the server loads them (YuNet
  on the frame shrunk to its 640x640 input, SFace on the aligned 112x112 crop of the
  largest face), plus the cosine match against the registration;
- dlib, as ``face_recognition`` 1.3 runs it by default: HOG frontal face detector with
  one upsample (``face_locations(img)``), the 5-point shape predictor and the ResNet
  128-d descriptor with one jitter (``face_encodings``), Euclidean distance 0.6.  Also
  the same with no upsampling (faster, misses faces under ~80 px).

dlib gets the image already in RGB (its conversion is not timed).  Each path registers
its own embedding from frame 0 of each video; the table also says on how many frames
each found a face and verified the person.  Needs the ``bench`` extra (``dlib-bin``,
``face-recognition-models``).  Prints a table and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from bench.common import load_clips, quiet_check, sample, summary, table, write_result
from server.config import Settings
from server.proctoring.verification import load_scale, match
from server.vision.decode import decode_image
from server.vision.pipeline import SharedModels

DLIB_TOLERANCE = 0.6  # face_recognition's compare_faces default


class DlibPath:
    def __init__(self, upsample: int):
        try:
            import dlib
            import face_recognition_models as frm
        except ImportError as exc:
            raise SystemExit(
                f"the dlib baseline needs the bench extra: pip install -e '.[bench]' ({exc})"
            ) from exc
        self.upsample = upsample
        self.detector = dlib.get_frontal_face_detector()
        self.shape = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        self.encoder = dlib.face_recognition_model_v1(frm.face_recognition_model_location())

    def __call__(self, rgb: np.ndarray) -> tuple[int, np.ndarray | None]:
        dets = self.detector(rgb, self.upsample)
        if len(dets) == 0:
            return 0, None
        best = max(dets, key=lambda d: d.width() * d.height())
        shape = self.shape(rgb, best)
        vec = np.asarray(self.encoder.compute_face_descriptor(rgb, shape, 1), np.float32)
        return len(dets), vec


class ProctorPath:
    def __init__(self, shared: SharedModels):
        self.detector, self.embedder = shared.face_detector, shared.face_embedder

    def __call__(self, bgr: np.ndarray) -> tuple[int, np.ndarray | None]:
        faces = self.detector.detect(bgr)
        if not faces:
            return 0, None
        best = max(faces, key=lambda f: f.area)
        return len(faces), self.embedder.embed(bgr, best)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=80)
    ap.add_argument("--label", default=None)
    args = ap.parse_args(argv)
    quiet_check(0.5)
    settings = Settings(llm_enabled=False)
    shared = SharedModels.load(settings)
    scale = load_scale(shared.specs["face_embedder"].family)
    paths = {
        "proctor (YuNet + SFace)": ProctorPath(shared),
        "dlib HOG upsample 1 + ResNet": DlibPath(1),
        "dlib HOG upsample 0 + ResNet": DlibPath(0),
    }
    clips = load_clips()

    def images(clip, i):
        bgr = decode_image(clip.b64(i), settings.max_image_pixels)
        return bgr, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    registered = {}
    for clip in clips:
        bgr, rgb = images(clip, 0)
        for name, fn in paths.items():
            registered[(name, clip.name)] = fn(bgr if name.startswith("proctor") else rgb)[1]
    for clip, i in sample(clips, 3):  # warm-up
        bgr, rgb = images(clip, i)
        for name, fn in paths.items():
            fn(bgr if name.startswith("proctor") else rgb)

    times = {name: [] for name in paths}
    found = {name: 0 for name in paths}
    verified = {name: 0 for name in paths}
    for clip, i in sample(clips, args.frames):
        bgr, rgb = images(clip, i)
        for name, fn in paths.items():
            t0 = time.perf_counter()
            n, vec = fn(bgr if name.startswith("proctor") else rgb)
            reg = registered[(name, clip.name)]
            if vec is not None and reg is not None:
                if name.startswith("proctor"):
                    ok = match(reg, vec, scale, settings.verification_threshold).verified
                else:
                    ok = float(np.linalg.norm(reg - vec)) <= DLIB_TOLERANCE
            else:
                ok = False
            times[name].append((time.perf_counter() - t0) * 1000)
            found[name] += n > 0
            verified[name] += ok

    stats = {name: summary(v) for name, v in times.items()}
    ours = stats["proctor (YuNet + SFace)"]["p50"]
    rows = []
    for name, s in stats.items():
        rows.append(
            [
                name,
                s["n"],
                s["p50"],
                s["p95"],
                s["mean"],
                f"{found[name]}/{s['n']}",
                f"{verified[name]}/{s['n']}",
                f"{s['p50'] / ours:.1f}x",
            ]
        )
    print(f"\nDetection + verification per 1280x720 frame, {args.frames} frames, one thread (ms):")
    print(
        table(
            ["path", "n", "p50", "p95", "mean", "face found", "verified", "vs proctor (p50)"], rows
        )
    )
    classic = stats["dlib HOG upsample 1 + ResNet"]["p50"]
    print(
        f"\nproctor is {classic / ours:.1f}x faster than the classic face_recognition path "
        f"({stats['dlib HOG upsample 0 + ResNet']['p50'] / ours:.1f}x against dlib without upsampling)"
    )
    path = write_result(
        "baseline",
        {
            "frames": args.frames,
            "stats": stats,
            "found": found,
            "verified": verified,
            "ratio_p50": round(classic / ours, 2),
            "ratio_p50_no_upsample": round(stats["dlib HOG upsample 0 + ResNet"]["p50"] / ours, 2),
        },
        args.label,
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
