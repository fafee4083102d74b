"""Property-based tests (hypothesis) of the decoders that read client bytes: base64, images and
the video probe.  Whatever arrives, each either returns its result or raises its own error
class (the API's 400), never anything else; valid input round-trips."""

from __future__ import annotations

import base64
import io

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from server.vision.decode import ImageError, b64_to_bytes, bytes_to_image, decode_image
from server.vision.video import VideoError, VideoInfo, probe
from tests.helpers import DATA

MAX_PIXELS = 4_000_000
SMALL = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _jpeg() -> bytes:
    img = cv2.imread(str(DATA / "single_face.jpg"))
    img = cv2.resize(img, (96, 96))
    return cv2.imencode(".jpg", img)[1].tobytes()


def _png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((32, 40, 3), 90, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


JPEG, PNG = _jpeg(), _png()
VIDEO_HEAD = (DATA / "single_face.mp4").read_bytes()[:65536]


# --- base64 ---------------------------------------------------------------------------------
@SMALL
@given(st.text(max_size=400))
def test_b64_any_text_is_bytes_or_image_error(text):
    try:
        out = b64_to_bytes(text)
    except ImageError:
        return
    assert isinstance(out, bytes) and out


@SMALL
@given(
    st.binary(min_size=1, max_size=300),
    st.sampled_from(["", "data:image/jpeg;base64,", "DATA:image/png;charset=x;base64,"]),
    st.booleans(),
    st.booleans(),
)
def test_b64_round_trip(raw, prefix, urlsafe, wrapped):
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    if wrapped:  # MIME-style line breaks and a stripped padding
        text = "\n".join(text[i : i + 76] for i in range(0, len(text), 76)).rstrip("=")
    assert b64_to_bytes(prefix + text) == raw


# --- images ---------------------------------------------------------------------------------
@SMALL
@given(st.binary(max_size=2000))
def test_any_bytes_are_an_image_or_image_error(raw):
    try:
        img = bytes_to_image(raw, MAX_PIXELS)
    except ImageError:
        return
    assert img.ndim == 3 and img.shape[2] == 3


@SMALL
@given(
    st.sampled_from([JPEG, PNG]),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    st.integers(1, 10_000),
)
def test_damaged_images_are_decoded_or_refused(good, flips, cut):
    raw = bytearray(good[: max(1, min(len(good), cut))])
    for pos, value in flips:
        raw[pos % len(raw)] = value
    try:
        img = bytes_to_image(bytes(raw), MAX_PIXELS)
    except ImageError:
        return
    assert img.ndim == 3


@pytest.mark.parametrize("good", [JPEG, PNG])
def test_valid_images_decode(good):
    img = decode_image(base64.b64encode(good).decode(), MAX_PIXELS)
    assert img.shape[2] == 3 and min(img.shape[:2]) >= 16


def test_decompression_bomb_is_refused_before_decoding():
    buf = io.BytesIO()
    Image.new("L", (10_000, 10_000)).save(buf, "PNG")  # small file, 100 M pixels
    with pytest.raises(ImageError, match="too large"):
        bytes_to_image(buf.getvalue(), MAX_PIXELS)


# --- video probe ----------------------------------------------------------------------------
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.binary(max_size=4000),
        st.tuples(
            st.integers(8, len(VIDEO_HEAD)),
            st.lists(st.tuples(st.integers(0, 65535), st.integers(0, 255)), max_size=16),
        ).map(lambda t: _damage(VIDEO_HEAD[: t[0]], t[1])),
    )
)
def test_probe_gives_info_or_video_error(tmp_path, raw):
    path = tmp_path / "upload.video"
    path.write_bytes(raw)
    try:
        info = probe(path, MAX_PIXELS)
    except VideoError:
        return
    assert isinstance(info, VideoInfo) and info.width >= 16 and info.height >= 16
    assert info.fps >= 0 and info.frame_count >= 0


def _damage(head: bytes, flips) -> bytes:
    raw = bytearray(head)
    for pos, value in flips:
        raw[pos % len(raw)] = value
    return bytes(raw)


def test_probe_reads_the_real_video(tmp_path):
    info = probe(DATA / "single_face.mp4", MAX_PIXELS)
    assert info.width >= 16 and info.fps > 0
