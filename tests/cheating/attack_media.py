"""Attack media built from real test media (tests/data, ../shared/data/coco-objects).

Every builder returns real pixels: frames of the test videos, portraits of tests/data
and objects cut out of licensed COCO photos, combined the way a cheating candidate
would (a photo on a phone held up to the camera, a printed photo in the hands, a still
frame replayed by a virtual camera, a phone at the ear).  Deterministic for a seed.
Used by tests/cheating/ and bench/cheating.py, bench/phone_recall.py.

Honesty note: the screen and print attacks are rendered here (a pixel grid with RGB
stripes, resampled by the "camera"; a print with a white border), moved by small
homographies as a hand would.  They are models of the real thing, not camera captures
of a real phone: docs/cheating.md says so beside every rate measured on them.
"""

from __future__ import annotations

import json

import cv2
import numpy as np

from tests.helpers import DATA, SHARED

COCO = SHARED / "data" / "coco-objects"  # licensed COCO photos, read in place (never copied)
HONEST_VIDEOS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4")


def video(name: str, step: int = 1, start: int = 0, count: int | None = None) -> list[np.ndarray]:
    """Frames ``start, start+step, ...`` of a tests/data video (decoded sequentially)."""
    cap = cv2.VideoCapture(str(DATA / name))
    out: list[np.ndarray] = []
    i = 0
    try:
        while count is None or len(out) < count:
            ok, frame = cap.read()
            if not ok:
                break
            if i >= start and (i - start) % step == 0:
                out.append(frame)
            i += 1
    finally:
        cap.release()
    return out


def image(name: str) -> np.ndarray:
    img = cv2.imread(str(DATA / name))
    assert img is not None, name
    return img


def jpeg(img: np.ndarray, quality: int = 85) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def background(width: int = 1280, height: int = 720, index: int = 40) -> np.ndarray:
    """A real room without a face: a frame of no_face.mp4 at webcam size."""
    frame = video("no_face.mp4", start=index, count=1)[0]
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)


def _hand_jitter(rng: np.random.Generator, t: int, amp: float) -> tuple[float, float, float, float]:
    """A hand's slow drift and tremor: (dx, dy, angle degrees, tilt) for frame t."""
    return (
        amp * (np.sin(0.7 * t) * 6 + rng.normal(0, 1.5)),
        amp * (np.cos(0.5 * t) * 4 + rng.normal(0, 1.5)),
        amp * (np.sin(0.3 * t) * 3 + rng.normal(0, 0.8)),
        amp * (np.sin(0.4 * t) * 0.06 + rng.normal(0, 0.01)),
    )


def _place(
    canvas: np.ndarray,
    picture: np.ndarray,
    center: tuple[float, float],
    height: float,
    jitter: tuple[float, float, float, float],
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Warp ``picture`` onto ``canvas`` as a flat object: scaled, rotated, tilted (homography)."""
    ph, pw = picture.shape[:2]
    dx, dy, angle, tilt = jitter
    s = height / ph
    w2, h2 = pw * s / 2, ph * s / 2
    # a tilt about the vertical axis: one side nearer the camera (bigger) than the other
    corners = np.array(
        [[-w2, -h2 * (1 - tilt)], [w2, -h2 * (1 + tilt)], [w2, h2 * (1 + tilt)],
         [-w2, h2 * (1 - tilt)]], np.float32)  # fmt: skip
    a = np.deg2rad(angle)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float32)
    dst = corners @ rot.T + np.array([center[0] + dx, center[1] + dy], np.float32)
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    h, w = canvas.shape[:2]
    warped = cv2.warpPerspective(picture, m, (w, h), flags=cv2.INTER_AREA)
    alpha = cv2.warpPerspective(
        mask if mask is not None else np.full((ph, pw), 255, np.uint8), m, (w, h)
    )
    a3 = (alpha.astype(np.float32) / 255.0)[..., None]
    return (canvas * (1 - a3) + warped * a3).astype(np.uint8)


def camera(img: np.ndarray, rng: np.random.Generator, quality: int = 85) -> np.ndarray:
    """What a webcam adds: sensor noise and JPEG."""
    noisy = img.astype(np.float32) + rng.normal(0, 2.0, img.shape)
    return jpeg(np.clip(noisy, 0, 255).astype(np.uint8), quality)


def screen(photo: np.ndarray, rows: int = 640, brightness: float = 1.15) -> np.ndarray:
    """``photo`` as a phone screen shows it: ``rows`` pixel rows, each pixel three RGB stripes
    with a dark gap (rendered at 3x), brighter and bluer than print, in a black bezel."""
    h, w = photo.shape[:2]
    cols = int(round(w * rows / h))
    px = cv2.resize(photo, (cols, rows), interpolation=cv2.INTER_AREA).astype(np.float32)
    px = np.clip(px * brightness + np.array([12, 0, -6], np.float32), 0, 255)
    big = np.repeat(np.repeat(px, 3, 0), 3, 1)
    stripes = np.zeros((3 * rows, 3 * cols, 3), np.float32)
    for c, ch in enumerate((2, 1, 0)):  # BGR image: R, G, B stripes left to right
        stripes[:, c::3, ch] = 1.0
    stripes[2::3, :, :] *= 0.35  # the dark row between pixel rows
    shown = big * (0.35 + 0.65 * stripes) * 1.4
    out = np.clip(shown, 0, 255).astype(np.uint8)
    bez = int(0.06 * out.shape[1])
    return cv2.copyMakeBorder(
        out, bez * 2, bez * 2, bez, bez, cv2.BORDER_CONSTANT, value=(18, 18, 20)
    )


def print_photo(photo: np.ndarray) -> np.ndarray:
    """``photo`` printed on paper: lower contrast, warmer, a white border."""
    p = photo.astype(np.float32) * 0.82 + 30
    p = np.clip(p + np.array([-6, 0, 6], np.float32), 0, 255).astype(np.uint8)
    b = int(0.06 * p.shape[1])
    return cv2.copyMakeBorder(p, b, b, b, b, cv2.BORDER_CONSTANT, value=(236, 238, 240))


def face_on_screen(photo: np.ndarray, n: int, seed: int = 0) -> list[np.ndarray]:
    """A face photo shown on a phone held up to the webcam, ``n`` frames with hand motion."""
    rng = np.random.default_rng(seed)
    shown = screen(photo)
    bg = background()
    return [
        camera(_place(bg, shown, (640, 380), 560, _hand_jitter(rng, t, 1.0)), rng) for t in range(n)
    ]


def printed_in_hands(photo: np.ndarray, n: int, seed: int = 0) -> list[np.ndarray]:
    """A printed face photo held in the hands in front of the webcam, ``n`` frames."""
    rng = np.random.default_rng(seed)
    printed = print_photo(photo)
    bg = background()
    return [
        camera(_place(bg, printed, (640, 370), 520, _hand_jitter(rng, t, 1.2)), rng)
        for t in range(n)
    ]


def still_replay(frame: np.ndarray, n: int, seed: int = 0) -> list[np.ndarray]:
    """One frame replayed by a virtual camera: re-encoded each time, at varying quality."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        noisy = frame.astype(np.float32) + rng.normal(0, 0.8, frame.shape)
        out.append(jpeg(np.clip(noisy, 0, 255).astype(np.uint8), int(rng.integers(70, 96))))
    return out


# --- objects cut from COCO photos -------------------------------------------------------


def coco_gt() -> dict:
    return json.loads((COCO / "gt.json").read_text())


def coco_objects(cls: str, min_side: int = 20) -> list[tuple[str, np.ndarray]]:
    """(file, crop) for every non-crowd ``cls`` box of the COCO photos at least ``min_side``."""
    out = []
    for name, entry in coco_gt().items():
        img = None
        for g in entry["gt"]:
            if g["cls"] != cls or g.get("iscrowd"):
                continue
            x, y, w, h = g["bbox"]
            if min(w, h) < min_side:
                continue
            if img is None:
                img = cv2.imread(str(COCO / name))
            crop = img[int(y) : int(y + h), int(x) : int(x + w)]
            if crop.size:
                out.append((name, crop))
    return out


def paste_object(
    frame: np.ndarray,
    obj: np.ndarray,
    face_box: tuple[float, float, float, float],
    where: str,
    rng: np.random.Generator,
) -> np.ndarray:
    """``obj`` placed relative to the face: ``ear`` (beside the face, at ear height, a phone's
    size against a head), ``hand`` (held in front of the chest), ``desk`` (bottom of the frame)."""
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = face_box
    fw, fh = x2 - x1, y2 - y1
    oh, ow = obj.shape[:2]
    if where == "ear":
        target_h = 0.75 * fh
        side = rng.choice([-1, 1])
        cx = (x1 - 0.15 * fw) if side < 0 else (x2 + 0.15 * fw)
        cy = y1 + 0.55 * fh
    elif where == "hand":
        # held up in front of the chest, or of the chin when the frame ends below the face
        target_h = 0.9 * fh
        cx = (x1 + x2) / 2 + rng.uniform(-0.6, 0.6) * fw
        cy = min(h - target_h / 2 - 2, y2 + 0.9 * fh)
    else:  # desk
        target_h = 0.6 * fh
        cx = rng.uniform(0.2, 0.8) * w
        cy = h - target_h / 2 - 4
    if where != "desk":  # a phone is held upright or tilted, whichever way it was photographed
        turns = int(rng.integers(0, 4)) if ow > oh else int(rng.integers(0, 2)) * 2
        obj = np.ascontiguousarray(np.rot90(obj, turns))
        oh, ow = obj.shape[:2]
    s = target_h / max(oh, ow) if where != "desk" else target_h / oh
    s = min(s, 0.45 * w / ow, 0.45 * h / oh)  # a wide book on the desk stays in the frame
    nw, nh = max(4, int(ow * s)), max(4, int(oh * s))
    small = cv2.resize(obj, (nw, nh), interpolation=cv2.INTER_AREA)
    x0 = int(np.clip(cx - nw / 2, 0, w - nw))
    y0 = int(np.clip(cy - nh / 2, 0, h - nh))
    out = frame.copy()
    out[y0 : y0 + nh, x0 : x0 + nw] = small
    return out
