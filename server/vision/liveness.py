"""Cheap image cues of a presentation attack (a photo, a screen, a replayed still).

No registry package ships a usable anti-spoofing model (``../shared/MODELS.md``), so
passive liveness is built from cheap measurements (~1 ms per frame for the motion cues,
10-25 ms for the spectrum and edges, which run on a schedule); ``server.proctoring.liveness`` turns them, over several frames,
into a score:

- ``moire``: a face re-captured from a screen carries the screen's pixel grid, which
  the camera resamples into periodic patterns: sharp, isolated peaks in the high
  frequencies of the face crop's spectrum.  Measured as how far the strongest
  high-frequency peaks stand above the median of that band (0 smooth skin .. 1).
- ``glare``: share of the face box that is blown out and colourless (a glossy print or
  a screen's reflection); skin highlights are small and tinted.
- ``bezel``: long straight edges framing the face on two or more sides (a phone, a
  tablet, a monitor or a print's border) inside 3x the face box.
- ``frame_change`` (set by the caller, which keeps the previous frame's thumbnail):
  frame-to-frame, a replayed still changes only by re-encoding noise, a live person by more.
- ``points``: a fixed subset of the face mesh's landmarks (frame-normalised x, y) for
  the 3-D consistency test (a flat picture moves by a homography, a head does not).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..proctoring.liveness import LivenessCues
from ..proctoring.observation import Face, FaceMesh

WINDOW = 256  # largest spectrum window (native pixels)
MOIRE_LOW, MOIRE_HIGH = (
    16.0,
    28.0,
)  # peak/median ratio -> 0 .. 1: honest video reached 15 (docs/cheating.md)
# Face-mesh landmarks spread over the face at different depths: nose tip and bridge,
# eye corners, mouth corners, chin, cheeks, brows, forehead and jaw line.  A planar
# picture keeps them on one homography; a head turning or talking does not.
POINTS = (1, 4, 6, 10, 33, 61, 133, 152, 159, 145, 168, 197, 234, 263, 291, 362, 386, 374,
          454, 13, 14, 70, 300, 105, 334, 172, 397, 58, 288, 50, 280)  # fmt: skip


def _box(face: Face, grow: float, w: int, h: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = face.bbox
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    hw, hh = (x2 - x1) * grow / 2, (y2 - y1) * grow / 2
    return (
        int(max(0, cx - hw)),
        int(max(0, cy - hh)),
        int(min(w, cx + hw)),
        int(min(h, cy + hh)),
    )


def moire_score(grey: np.ndarray, face: Face) -> float | None:
    """0..1: isolated high-frequency spectral peaks in the middle of the face (screens).

    Read at native resolution on a window aligned to the 16-pixel grid, with the spectral
    lines of 8/16-pixel periods left out: JPEG and H.264 blocks put their energy exactly
    there, and on an honest webcam frame they are the strongest periodic pattern.
    None when the face is too small to tell (under ~110 px).
    """
    h, w = grey.shape[:2]
    x1, y1, x2, y2 = face.bbox
    side = int(min(x2 - x1, y2 - y1) * 1.3) // 16 * 16
    side = min(side, WINDOW)
    if side < 64:
        return None
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + 0.05 * (y2 - y1)
    x0 = int(np.clip(cx - side / 2, 0, w - side)) // 16 * 16
    y0 = int(np.clip(cy - side / 2, 0, h - side)) // 16 * 16
    crop = grey[y0 : y0 + side, x0 : x0 + side].astype(np.float32)
    if crop.shape != (side, side):
        return None
    crop -= crop.mean()
    crop *= np.outer(np.hanning(side), np.hanning(side)).astype(np.float32)
    mag = np.abs(np.fft.fftshift(np.fft.fft2(crop)))
    f = np.arange(side) - side // 2
    fy, fx = np.meshgrid(f, f, indexing="ij")
    r = np.hypot(fx, fy) / (side / 2)
    step = side // 16  # bins of the 16-pixel period and its harmonics (8, 16/3, 4, ...)
    on_grid = (np.abs(fx) % step <= 1) | (np.abs(fx) % step >= step - 1)
    on_grid |= (np.abs(fy) % step <= 1) | (np.abs(fy) % step >= step - 1)
    band = mag[(r > 0.35) & (r < 0.95) & ~on_grid]
    if band.size < 64:
        return None
    ratio = float(np.sort(band)[-8:].mean()) / (float(np.median(band)) + 1e-6)
    return float(np.clip((ratio - MOIRE_LOW) / (MOIRE_HIGH - MOIRE_LOW), 0.0, 1.0))


def glare_score(bgr_face: np.ndarray) -> float:
    if bgr_face.size == 0:
        return 0.0
    hsv = cv2.cvtColor(bgr_face, cv2.COLOR_BGR2HSV)
    blown = (hsv[..., 2] >= 245) & (hsv[..., 1] <= 40)
    # a few percent of specular skin is normal; a glossy sheet or a screen reflects in patches
    return float(np.clip((blown.mean() - 0.03) / 0.12, 0.0, 1.0))


def bezel_score(image: np.ndarray, face: Face) -> float:
    """0..1: straight edges framing the face on 0-4 sides (2 sides = 0.5)."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = _box(face, 3.0, w, h)
    region = image[y1:y2, x1:x2]
    if region.size == 0:
        return 0.0
    scale = 320.0 / max(region.shape[:2])
    small = cv2.resize(region, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    edges = cv2.Canny(grey, 60, 160)
    fx1, fy1, fx2, fy2 = ((np.array(face.bbox) - [x1, y1, x1, y1]) * scale).tolist()
    fw, fh = fx2 - fx1, fy2 - fy1
    lines = cv2.HoughLinesP(
        edges, 1, np.pi / 180, 40, minLineLength=int(0.9 * min(fw, fh)), maxLineGap=6
    )
    if lines is None:
        return 0.0
    sides = set()
    for lx1, ly1, lx2, ly2 in np.asarray(lines).reshape(-1, 4):
        dx, dy = abs(lx2 - lx1), abs(ly2 - ly1)
        if dy <= 0.15 * dx:  # horizontal, spanning the face's columns
            y = (ly1 + ly2) / 2
            if min(lx1, lx2) < fx1 + 0.3 * fw and max(lx1, lx2) > fx2 - 0.3 * fw:
                if y < fy1 - 0.05 * fh:
                    sides.add("top")
                elif y > fy2 + 0.05 * fh:
                    sides.add("bottom")
        elif dx <= 0.15 * dy:  # vertical, spanning the face's rows
            x = (lx1 + lx2) / 2
            if min(ly1, ly2) < fy1 + 0.3 * fh and max(ly1, ly2) > fy2 - 0.3 * fh:
                if x < fx1 - 0.05 * fw:
                    sides.add("left")
                elif x > fx2 + 0.05 * fw:
                    sides.add("right")
    return len(sides) / 4.0


def frame_change(previous: np.ndarray | None, current: np.ndarray) -> float | None:
    """Largest grey-level change between two frame thumbnails (``schedule.thumbnail``, 64x36).

    Area averaging over 20x20-pixel cells cancels sensor and re-encoding noise: a still
    picture replayed changes no cell by more than 2 levels, a live person (even sitting
    still, at 30 frames/s) moves some cell by 4 or more.
    """
    if previous is None or previous.shape != current.shape:
        return None
    return float(np.abs(previous.astype(np.int16) - current.astype(np.int16)).max())


def mesh_points(mesh: FaceMesh | None) -> list[list[float]] | None:
    if mesh is None or mesh.landmarks is None or len(mesh.landmarks) <= max(POINTS):
        return None
    pts = np.asarray(mesh.landmarks)[list(POINTS), :2]
    return np.round(pts, 5).tolist()


def liveness_cues(
    image: np.ndarray, face: Face | None, mesh: FaceMesh | None, *, full: bool = True
) -> LivenessCues | None:
    """The cues of one frame for its primary face; ``full=False`` skips the spectrum and edges
    (the per-frame motion cues stay; the costlier appearance cues run on a schedule)."""
    if face is None:
        return None
    h, w = image.shape[:2]
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    cues = LivenessCues(points=mesh_points(mesh))
    if mesh is not None:
        bs = mesh.blendshapes
        cues.blink = max(bs.get("eyeBlinkLeft", 0.0), bs.get("eyeBlinkRight", 0.0))
        cues.expression = [
            round(bs.get(k, 0.0), 3)
            for k in ("jawOpen", "mouthSmileLeft", "mouthSmileRight", "browInnerUp",
                      "mouthPucker", "browDownLeft", "mouthFunnel", "cheekSquintLeft")
        ]  # fmt: skip
    if full:
        x1, y1, x2, y2 = _box(face, 1.0, w, h)
        m = moire_score(grey, face)
        cues.moire = None if m is None else round(m, 3)
        cues.glare = round(glare_score(image[y1:y2, x1:x2]), 3)
        cues.bezel = round(bezel_score(image, face), 3)
    return cues
