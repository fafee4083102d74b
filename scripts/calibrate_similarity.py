"""Calibrate the 0-100 similarity scale of the active face embedder.

Measures cosine similarity on genuine pairs (same person) and impostor pairs (different
people) from the photos in tests/data/ (identities listed in CALIBRATION_SET below),
including "document" variants (the face pasted small onto a card, JPEG-compressed and
rotated, as a webcam would see an ID), then writes:

- server/proctoring/calibration.json: per embedder family, the cosine threshold and
  the logistic width used by ``server.proctoring.verification.SimilarityScale``;
- docs/calibration-data.json: every pair with its cosine, so the choice can be checked.

Rule: the cosine threshold is the midpoint between the highest impostor cosine and
the lowest genuine cosine (the widest margin both ways), rounded to 0.01; the width is
chosen so that the highest impostor maps to at most 50 and the lowest genuine to at
least 90 where the gap allows (never sharper than 0.03).

    python scripts/calibrate_similarity.py            # uses the models folder's embedder
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.config import get_settings  # noqa: E402
from server.proctoring.verification import CALIBRATION_FILE, SimilarityScale  # noqa: E402
from server.vision.faces import detect_document_faces  # noqa: E402
from server.vision.pipeline import SharedModels  # noqa: E402

DATA = ROOT / "tests" / "data"
# file -> identity (see tests/data/CREDITS.md). impostor_1 is Barack Obama, as obama*.jpg.
CALIBRATION_SET = {
    "person_a_1.jpg": "macron",
    "person_a_2.jpg": "macron",
    "person_b_1.jpg": "ardern",
    "person_b_2.jpg": "ardern",
    "impostor_1.jpg": "obama",
    "obama.jpg": "obama",
    "obama2.jpg": "obama",
    "obama3.jpg": "obama",
    "impostor_2.jpg": "sunak",
    "biden.jpg": "biden",
    "grace_hopper.jpg": "hopper",
    "single_face.jpg": "feat_single",
    "astronaut.png": "collins",
}


def make_document(
    face_image: np.ndarray,
    rotation: int = 0,
    face_height: int = 110,
    quality: int = 55,
    seed: int = 0,
) -> np.ndarray:
    """A card-like image: the photo pasted small onto a pale card on a desk, JPEG-compressed, rotated."""
    rng = np.random.default_rng(seed)
    h, w = face_image.shape[:2]
    scale = face_height / h
    photo = cv2.resize(
        face_image, (max(1, int(w * scale)), face_height), interpolation=cv2.INTER_AREA
    )
    card = np.full((300, 480, 3), (235, 228, 215), np.uint8)
    cv2.rectangle(card, (0, 0), (479, 40), (120, 60, 20), -1)
    for i, y in enumerate(range(90, 260, 28)):
        cv2.line(card, (200, y), (200 + 200 - 20 * (i % 3), y), (80, 80, 80), 3)
    ph, pw = photo.shape[:2]
    card[70 : 70 + ph, 30 : 30 + pw] = photo
    desk = np.full((720, 1280, 3), (60, 70, 80), np.uint8)
    desk = (desk + rng.normal(0, 6, desk.shape)).clip(0, 255).astype(np.uint8)
    desk[200:500, 400:880] = card
    ok, buf = cv2.imencode(".jpg", desk, [cv2.IMWRITE_JPEG_QUALITY, quality])
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    codes = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
    return cv2.rotate(img, codes[rotation]) if rotation else img


def embed_photo(models: SharedModels, image: np.ndarray) -> np.ndarray | None:
    faces = models.face_detector.detect(image)
    if not faces:
        return None
    face = max(faces, key=lambda f: f.area)
    return models.face_embedder.embed(image, face)


def embed_document(models: SharedModels, image: np.ndarray) -> np.ndarray | None:
    rotated, faces, _ = detect_document_faces(models.face_detector, image)
    if not faces:
        return None
    face = max(faces, key=lambda f: f.score * math.sqrt(f.area))
    return models.face_embedder.embed(rotated, face)


def measure(models: SharedModels) -> dict:
    photos = {name: cv2.imread(str(DATA / name)) for name in CALIBRATION_SET}
    emb = {name: embed_photo(models, img) for name, img in photos.items()}
    docs = {}
    for i, name in enumerate(photos):
        rot = (0, 90, 180, 270)[i % 4]
        docs[name] = embed_document(models, make_document(photos[name], rotation=rot, seed=i))
    pairs = []
    for a, b in itertools.combinations(photos, 2):
        kind = "genuine" if CALIBRATION_SET[a] == CALIBRATION_SET[b] else "impostor"
        if emb[a] is not None and emb[b] is not None:
            pairs.append(
                {
                    "a": a,
                    "b": b,
                    "kind": kind,
                    "variant": "photo-photo",
                    "cosine": round(float(emb[a] @ emb[b]), 4),
                }
            )
        if docs[a] is not None and emb[b] is not None:
            pairs.append(
                {
                    "a": f"document({a})",
                    "b": b,
                    "kind": kind,
                    "variant": "document-photo",
                    "cosine": round(float(docs[a] @ emb[b]), 4),
                }
            )
    missing = [n for n in photos if emb[n] is None] + [
        f"document({n})" for n in photos if docs[n] is None
    ]
    return {"pairs": pairs, "undetected": missing}


def fit(pairs: list[dict]) -> dict:
    gen = [p["cosine"] for p in pairs if p["kind"] == "genuine"]
    imp = [p["cosine"] for p in pairs if p["kind"] == "impostor"]
    lo_gen, hi_imp = min(gen), max(imp)
    threshold = round((lo_gen + hi_imp) / 2, 2)
    # width w: logistic(centre, w) with 80 at threshold; want hi_imp -> <= 50 and lo_gen -> >= 90
    ln4 = math.log(4.0)
    candidates = []
    if threshold > hi_imp:
        candidates.append((threshold - hi_imp) / ln4)  # maps hi_imp to exactly 50
    if lo_gen > threshold:
        candidates.append((lo_gen - threshold) / (math.log(9.0) - ln4))  # maps lo_gen to exactly 90
    width = round(max(0.03, min(candidates) if candidates else 0.06), 3)
    return {
        "cos_threshold": threshold,
        "width": width,
        "genuine": {"n": len(gen), "min": round(lo_gen, 4), "max": round(max(gen), 4)},
        "impostor": {"n": len(imp), "min": round(min(imp), 4), "max": round(hi_imp, 4)},
        "separated": lo_gen > hi_imp,
    }


def main() -> int:
    settings = get_settings()
    models = SharedModels.load(settings)
    family = models.specs["face_embedder"].family
    data = measure(models)
    params = fit(data["pairs"])
    scale = SimilarityScale(family, params["cos_threshold"], params["width"])
    for key in ("genuine", "impostor"):
        r = params[key]
        print(
            f"{key:9s} n={r['n']:3d} cosine {r['min']:.3f} .. {r['max']:.3f}  "
            f"similarity {scale.to_percent(r['min']):5.1f} .. {scale.to_percent(r['max']):5.1f}"
        )
    print(
        f"threshold cosine {params['cos_threshold']} (similarity 80), width {params['width']}, "
        f"separated: {params['separated']}; undetected: {data['undetected'] or 'none'}"
    )

    existing = (
        json.loads(CALIBRATION_FILE.read_text()) if CALIBRATION_FILE.exists() else {"families": {}}
    )
    existing["families"][family] = {
        "cos_threshold": params["cos_threshold"],
        "width": params["width"],
        "model": models.specs["face_embedder"].file,
        "genuine": params["genuine"],
        "impostor": params["impostor"],
    }
    CALIBRATION_FILE.write_text(json.dumps(existing, indent=2) + "\n")
    out = ROOT / "docs" / "calibration-data.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {"family": family, "model": models.specs["face_embedder"].file, **params, **data},
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {CALIBRATION_FILE.relative_to(ROOT)} and {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
