"""Base64 / bytes -> BGR image, refusing anything that is not a sane image.

Checks happen before the expensive step: the header is read (Pillow, lazily) to get
the pixel count, so a decompression bomb (a tiny PNG that claims 50k x 50k pixels) is
refused without allocating it.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings

import cv2
import numpy as np
from PIL import Image

_DATA_URL = re.compile(r"^data:(?P<mime>[\w/+.-]+)?(;[\w=.-]+)*;base64,", re.IGNORECASE)


class ImageError(ValueError):
    """The payload is not a usable image; the message is safe to show to the client."""


def b64_to_bytes(data: str) -> bytes:
    if not isinstance(data, str) or not data.strip():
        raise ImageError("Image data is empty")
    text = _DATA_URL.sub("", data.strip(), count=1)
    text = re.sub(r"\s+", "", text)
    text += "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(
            text, altchars=b"-_" if ("-" in text or "_" in text) else None, validate=True
        )
    except (binascii.Error, ValueError):
        raise ImageError("Invalid base64 image data") from None
    if not raw:
        raise ImageError("Image data is empty")
    return raw


# JPEG decodes straight to 1/2, 1/4 or 1/8 size (DCT scaling: faster than full size, and
# no resize after); other formats are decoded and shrunk by OpenCV.
_REDUCED = (
    (2, cv2.IMREAD_REDUCED_COLOR_2),
    (4, cv2.IMREAD_REDUCED_COLOR_4),
    (8, cv2.IMREAD_REDUCED_COLOR_8),
)


def bytes_to_image(raw: bytes, max_pixels: int, max_width: int | None = None) -> np.ndarray:
    """Decode to BGR; an image wider than ``max_width`` comes out at 1/2, 1/4 or 1/8 size,
    the smallest reduction that fits (None: always full size)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as probe:
                width, height = probe.size
                fmt = probe.format
    except Image.DecompressionBombError:
        raise ImageError("Image too large") from None
    except Image.DecompressionBombWarning:
        raise ImageError("Image too large") from None
    except Exception:
        raise ImageError("Data is not a valid image (JPEG, PNG, WebP or BMP expected)") from None
    if width * height > max_pixels:
        raise ImageError(f"Image too large ({width}x{height}); at most {max_pixels} pixels")
    if width < 16 or height < 16:
        raise ImageError(f"Image too small ({width}x{height})")
    if fmt not in {"JPEG", "PNG", "WEBP", "BMP", "MPO", "TIFF"}:
        raise ImageError(f"Unsupported image format {fmt}")
    flag = cv2.IMREAD_COLOR
    if max_width and width > max_width:
        flag = next((f for k, f in _REDUCED if width / k <= max_width), _REDUCED[-1][1])
    image = cv2.imdecode(np.frombuffer(raw, np.uint8), flag)
    if image is None:
        raise ImageError("Data is not a valid image (JPEG, PNG, WebP or BMP expected)")
    return image


def decode_image(data: str, max_pixels: int, max_width: int | None = None) -> np.ndarray:
    return bytes_to_image(b64_to_bytes(data), max_pixels, max_width)


def encode_jpeg_b64(image: np.ndarray, quality: int = 90) -> str:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ImageError("could not encode image")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode()
