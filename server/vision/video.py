"""Frames of a video file: ``probe`` (is it a video we can decode?) and ``FrameReader``.

A file must start like a video container before FFmpeg sees it: FFmpeg picks its
demuxer by content, and a text file named ``.mp4`` can be an HLS playlist that makes
it open other files or URLs.  Then the first frame must decode, so a truncated or
corrupt upload is refused up front instead of failing half-way through a job.

``FrameReader`` decodes in its own thread, a few frames ahead of the analysis, and
hands over every ``interval``-th frame with its video time.  Frames in between are only
grabbed (demuxed and decoded, never converted), and frame numbers come from counting
reads, not from seeking, so they are exact for every codec.
"""

from __future__ import annotations

import math
import queue
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

_ISO_BMFF_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"}


class VideoError(ValueError):
    """The file is not a video this server can analyse; the message is safe to show to a client."""


@dataclass(frozen=True)
class VideoInfo:
    fps: float  # frames per second from the container (0 when it does not say)
    frame_count: int  # from the container: an estimate (0 when unknown); reading gives the truth
    width: int
    height: int
    container: str

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 else 0.0

    def frames_to_analyse(self, interval: int) -> int:
        return math.ceil(self.frame_count / interval) if self.frame_count > 0 else 0


def sniff_container(head: bytes) -> str | None:
    """The container family from a file's first bytes, or None when it starts like no video."""
    if len(head) >= 12 and head[4:8] in _ISO_BMFF_BOXES:
        return "mp4/mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska/webm"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "mpeg-ts"
    if len(head) > 196 and head[4] == 0x47 and head[196] == 0x47:
        return "m2ts"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "mpeg-ps"
    if head.startswith(b"FLV"):
        return "flv"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "asf"
    return None


def _open(path: Path) -> cv2.VideoCapture:
    return cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)


def probe(path: Path, max_pixels: int = 40_000_000) -> VideoInfo:
    """Check that ``path`` is a decodable video and read its properties (raises ``VideoError``)."""
    path = Path(path)
    if not path.is_file():
        raise VideoError("Video file not found")
    with path.open("rb") as fh:
        head = fh.read(512)
    if not head:
        raise VideoError("Video file is empty")
    container = sniff_container(head)
    if container is None:
        raise VideoError(
            "File is not a video (no known video container: MP4/MOV, WebM/MKV, AVI, MPEG-TS, ...)"
        )
    cap = _open(path)
    try:
        if not cap.isOpened():
            raise VideoError(
                "Video cannot be opened: the file is corrupt, truncated or in an unsupported format"
            )
        width, height = (
            int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
        if width * height > max_pixels:
            raise VideoError(
                f"Video frames too large ({width}x{height}); at most {max_pixels} pixels"
            )
        ok, frame = cap.read()
        if not ok or frame is None or frame.size == 0:
            raise VideoError(
                "No frame of the video could be decoded: the file is corrupt or truncated"
            )
        height, width = frame.shape[:2]
        if width < 16 or height < 16:
            raise VideoError(f"Video frames too small ({width}x{height})")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not math.isfinite(fps) or fps <= 0 or fps > 1000:
            fps = 0.0
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        count = int(count) if math.isfinite(count) and count > 0 else 0
    finally:
        cap.release()
    return VideoInfo(fps=fps, frame_count=count, width=width, height=height, container=container)


@dataclass
class VideoFrame:
    index: int  # 0-based frame number in the file
    timestamp: float  # seconds of video time
    image: np.ndarray  # BGR


_END = object()


class FrameReader:
    """Every ``interval``-th frame from ``start`` on, decoded ahead in a thread.

    Use as a context manager; ``next_frame()`` blocks and returns None at the end.
    ``frames_read`` (after the end) is the number of frames the file really holds.
    """

    def __init__(self, path: Path, interval: int, start: int = 0, fps: float = 0.0, ahead: int = 3):
        if interval < 1:
            raise ValueError("interval must be >= 1")
        self.path = Path(path)
        self.interval = interval
        self.start = start
        self.fps = fps
        self.frames_read = 0
        self._queue: queue.Queue = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="video-reader", daemon=True)

    def __enter__(self) -> FrameReader:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        cap = _open(self.path)
        try:
            if not cap.isOpened():
                raise VideoError("Video cannot be opened")
            index = 0
            while not self._stop.is_set():
                if not cap.grab():
                    break
                if index >= self.start and (index - self.start) % self.interval == 0:
                    ok, image = cap.retrieve()
                    if ok and image is not None:
                        if self.fps > 0:
                            ts = index / self.fps
                        else:
                            ts = max(0.0, cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)
                        if not self._put(VideoFrame(index, ts, image)):
                            return
                index += 1
            self.frames_read = index
            self._put(_END)
        except Exception as exc:  # handed to the consumer
            self._put(exc)
        finally:
            cap.release()

    def next_frame(self) -> VideoFrame | None:
        item = self._queue.get()
        if item is _END:
            self._queue.put(_END)  # later calls see the end too
            return None
        if isinstance(item, Exception):
            raise item
        return item

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def close(self) -> None:
        self._stop.set()
        self._drain()  # unblock the reader if it waits on a full queue
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._drain()
        self._queue.put_nowait(_END)  # and a consumer still waiting in next_frame()
