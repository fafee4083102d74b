"""The hot-path optimisations keep the contract: embedding reuse, warm-up, reduced decode.

- Embedding reuse (``PROCTOR_VERIFY_REUSE_S``): within the window after a verified frame,
  a frame with the same single face barely moved reuses that embedding: every frame
  still carries ``face_verification``; a second face, a moved face, a mismatch or the
  end of the window makes the next frame compute its own.
- Warm-up: every model of a worker runs once at start; nothing of it leaks into results.
- Frames wider than ``PROCTOR_FRAME_MAX_WIDTH`` are decoded at reduced size.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import pytest

from server.proctoring.frame import FrameResult
from server.vision.decode import bytes_to_image, decode_image
from server.vision.pipeline import REUSE_MIN_IOU, FramePlan, VerifiedFace, box_iou
from tests.helpers import data_url, image
from tests.vision_media import SINGLE_FACE, frames


@pytest.fixture(scope="module")
def face_frames() -> list[np.ndarray]:
    got = frames(SINGLE_FACE, range(0, 8))
    return [cv2.resize(got[i], (1280, 720), interpolation=cv2.INTER_CUBIC) for i in sorted(got)]


class EmbedCounter:
    def __init__(self, embedder):
        self.embedder, self.calls = embedder, 0

    def embed(self, image, face):
        self.calls += 1
        return self.embedder.embed(image, face)


@pytest.fixture
def counted(client, monkeypatch) -> EmbedCounter:
    models = client.app.state.runtime.models
    counter = EmbedCounter(models.face_embedder)
    monkeypatch.setattr(models, "face_embedder", counter)
    return counter


def frame_at(client, sid: str, image: np.ndarray, ts: float) -> FrameResult:
    service = client.app.state.service
    return client.portal.call(
        functools.partial(service.frames.analyse_frame, sid, data_url(image, 85), timestamp=ts)
    )


def registered_session(client, image) -> str:
    sid = client.post("/api/sessions/start", json={}).json()["session_id"]
    r = client.post(f"/api/sessions/{sid}/register-face", json={"face": data_url(image, 85)})
    assert r.status_code == 200, r.text
    return sid


def test_box_iou():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 5)) == pytest.approx(0.5)
    assert box_iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


def test_reuse_within_the_window_only(client, counted, face_frames):
    sid = registered_session(client, face_frames[0])
    base = counted.calls
    results = []
    for k, ts in enumerate((10.0, 10.4, 10.9, 11.3, 12.0)):
        results.append(frame_at(client, sid, face_frames[k + 1], ts))
    # 10.0 computes; 10.4 and 10.9 reuse it (<= 1 s); 11.3 is past the window: computes; 12.0 reuses that
    assert counted.calls - base == 2
    for r in results:
        fv = r.face_verification
        assert fv is not None and fv.verified is True
    assert results[1].face_verification.similarity == results[0].face_verification.similarity
    assert results[4].face_verification.similarity == results[3].face_verification.similarity


def test_no_reuse_across_a_face_count_change(client, counted, face_frames):
    sid = registered_session(client, face_frames[0])
    two = image("multi_face.jpg")
    base = counted.calls
    frame_at(client, sid, face_frames[1], 20.0)  # computes, verified
    r = frame_at(client, sid, two, 20.1)  # several faces: computes and forgets
    assert r.face_count > 1
    frame_at(client, sid, face_frames[2], 20.2)  # back to one face: computes again
    assert counted.calls - base == 3


def test_no_reuse_when_the_face_moved(client, counted, face_frames):
    sid = registered_session(client, face_frames[0])
    moved = np.zeros_like(face_frames[1])
    moved[:, :-400] = face_frames[1][:, 400:]  # the same face, 400 px to the left
    base = counted.calls
    frame_at(client, sid, face_frames[1], 30.0)
    frame_at(client, sid, moved, 30.2)
    assert counted.calls - base == 2


def test_no_reuse_after_a_mismatch(client, counted, face_frames):
    sid = registered_session(client, image("obama.jpg"))
    base = counted.calls
    a = frame_at(client, sid, face_frames[1], 40.0)
    b = frame_at(client, sid, face_frames[2], 40.2)
    assert a.face_verification.verified is False and b.face_verification.verified is False
    assert counted.calls - base == 2


def test_reuse_off_with_zero_window(client, counted, face_frames, monkeypatch):
    monkeypatch.setattr(client.app.state.service.settings, "verify_reuse_s", 0.0)
    sid = registered_session(client, face_frames[0])
    base = counted.calls
    for k in range(3):
        frame_at(client, sid, face_frames[k + 1], 50.0 + 0.1 * k)
    assert counted.calls - base == 3


def test_pipeline_reuse_needs_the_same_frame_size_and_box(client, face_frames):
    from server.vision.pipeline import FramePipeline

    pipeline = FramePipeline(client.app.state.runtime.models)
    try:
        image = face_frames[1]
        obs = pipeline.analyse(image, FramePlan(landmarks=False, emotion=False, objects=False))
        face = obs.primary_face
        stand_in = VerifiedFace(face.bbox, np.ones(128, np.float32) / np.sqrt(128), (1280, 720))
        again = pipeline.analyse(
            image, FramePlan(landmarks=False, emotion=False, objects=False, reuse=stand_in)
        )
        assert (
            again.primary_face.embedding is stand_in.embedding
            and "embedding" not in again.timings_ms
        )
        other_size = VerifiedFace(face.bbox, stand_in.embedding, (640, 360))
        third = pipeline.analyse(
            image, FramePlan(landmarks=False, emotion=False, objects=False, reuse=other_size)
        )
        assert (
            third.primary_face.embedding is not stand_in.embedding
            and "embedding" in third.timings_ms
        )
        x1, y1, x2, y2 = face.bbox
        shifted = (x1 + (x2 - x1) * 0.3, y1, x2 + (x2 - x1) * 0.3, y2)
        assert box_iou(face.bbox, shifted) < REUSE_MIN_IOU
        fourth = pipeline.analyse(
            image,
            FramePlan(
                landmarks=False,
                emotion=False,
                objects=False,
                reuse=VerifiedFace(shifted, stand_in.embedding, (1280, 720)),
            ),
        )
        assert fourth.primary_face.embedding is not stand_in.embedding
    finally:
        pipeline.close()


def test_warm_up_runs_every_model_and_changes_nothing(client, face_frames):
    from server.vision.pipeline import FULL_PLAN, FramePipeline

    shared = client.app.state.runtime.models
    cold, warm = FramePipeline(shared), FramePipeline(shared)
    try:
        assert warm.warm_up() > 0
        a = cold.analyse(face_frames[3], FULL_PLAN)
        b = warm.analyse(face_frames[3], FULL_PLAN)
    finally:
        cold.close()
        warm.close()
    assert a.face_count == b.face_count == 1
    np.testing.assert_allclose(a.primary_face.embedding, b.primary_face.embedding, atol=1e-5)
    assert a.emotions.keys() == b.emotions.keys()
    assert max(abs(a.emotions[k] - b.emotions[k]) for k in a.emotions) < 1e-4


# --- reduced decode --------------------------------------------------------------------------
def jpeg(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return buf.tobytes()


def test_wide_frames_decode_at_half_size(face_frames):
    big = cv2.resize(face_frames[0], (1920, 1080), interpolation=cv2.INTER_CUBIC)
    raw = jpeg(big)
    assert bytes_to_image(raw, 40_000_000).shape == (1080, 1920, 3)  # default: full size
    assert bytes_to_image(raw, 40_000_000, max_width=1600).shape == (540, 960, 3)
    assert bytes_to_image(jpeg(face_frames[0]), 40_000_000, max_width=1600).shape == (720, 1280, 3)
    huge = cv2.resize(face_frames[0], (3840, 2160))
    assert bytes_to_image(jpeg(huge), 40_000_000, max_width=1600).shape == (540, 960, 3)  # quarter
    png = cv2.imencode(".png", big)[1].tobytes()
    assert bytes_to_image(png, 40_000_000, max_width=1600).shape == (540, 960, 3)
    assert decode_image(data_url(big), 40_000_000, max_width=1600).shape == (540, 960, 3)


def test_a_reduced_frame_gives_the_same_answer(client, face_frames):
    """A 1080p frame decoded at 960x540 still finds and verifies the face."""
    big = cv2.resize(face_frames[2], (1920, 1080), interpolation=cv2.INTER_CUBIC)
    sid = registered_session(client, face_frames[0])
    r = client.post(f"/api/sessions/{sid}/frame", json={"frame": data_url(big, 85)})
    assert r.status_code == 200, r.text
    body = r.json()
    result = body.get("result", body)
    assert result["face_count"] == 1
    assert result["face_verification"]["verified"] is True


# --- scene change without the face ---------------------------------------------------------------
def test_a_moving_face_is_not_a_scene_change_but_a_page_is(client):
    from server.vision.schedule import SceneThumb, face_fraction, scene_changed, thumbnail
    from tests.vision_media import WOLFGANG

    detector = client.app.state.runtime.models.face_detector
    picked = frames(WOLFGANG, range(0, 472, 24))  # one frame per second of the expression video
    shots = [
        cv2.resize(picked[i], (1280, 720), interpolation=cv2.INTER_CUBIC) for i in sorted(picked)
    ]
    whole = masked = 0
    prev = None
    for img in shots:
        t = thumbnail(img)
        faces = detector.detect(img)
        face = max(faces, key=lambda f: f.area) if faces else None
        if prev is not None:
            whole += scene_changed(prev.grey, t)
            masked += scene_changed(prev, t)
        prev = SceneThumb(t, face_fraction(face, img.shape[1], img.shape[0]))
    assert whole >= 5  # the whole-frame test calls a crying/laughing close-up a new scene
    assert masked <= 1

    page = image("page.png")
    img = shots[3]
    h, w = img.shape[:2]
    held = img.copy()
    ph, pw = int(h * 0.5), int(w * 0.3)
    held[h - ph :, :pw] = cv2.resize(page, (pw, ph))  # a page held up beside the face
    faces = detector.detect(img)
    before = SceneThumb(thumbnail(img), face_fraction(max(faces, key=lambda f: f.area), w, h))
    assert scene_changed(before, thumbnail(held))
    assert not scene_changed(before, thumbnail(img))


def test_a_face_filling_the_frame_falls_back_to_the_whole_thumbnail():
    from server.vision.schedule import SceneThumb, background_mask, scene_changed

    grey = np.zeros((36, 64), np.int16)
    assert background_mask((0.05, 0.05, 0.95, 0.95), grey.shape) is None
    assert scene_changed(SceneThumb(grey, (0.05, 0.05, 0.95, 0.95)), grey + 40)
    assert not scene_changed(SceneThumb(grey, (0.4, 0.4, 0.6, 0.6)), grey + 5)
    assert not scene_changed(None, grey)
    assert not scene_changed(grey[:18], grey)  # another size: no comparison


def test_live_sessions_spread_their_ocr_and_pose_frames():
    from server.config import Settings
    from server.vision.schedule import plan_frame, session_phase

    settings = Settings()
    ids = [f"session-{i}" for i in range(40)]
    assert session_phase("abc") == session_phase("abc")  # the same on every replica
    for sid in ids:
        plans = [plan_frame(n, settings, phase=session_phase(sid)) for n in range(1, 32)]
        assert plans[0].ocr and plans[0].pose  # frame 1 still runs everything
        ocr = [n for n, p in enumerate(plans, 1) if p.ocr and n > 1]
        assert all(b - a == settings.ocr_every for a, b in zip(ocr, ocr[1:], strict=False))
        assert ocr[0] <= 1 + settings.ocr_every
        # phones and liveness keep their schedule
        assert [p.object_crops for p in plans] == [
            plan_frame(n, settings).object_crops for n in range(1, 32)
        ]
    # without a phase (videos) the schedule is the one counted from frame 1
    assert [n for n in range(1, 17) if plan_frame(n, settings).ocr] == [1, 6, 11, 16]
    # forty sessions started together: OCR on frame 6 for about a fifth of them, not all
    on_6 = sum(plan_frame(6, settings, phase=session_phase(s)).ocr for s in ids)
    assert 0 < on_6 < len(ids) // 2


def test_ocr_waits_on_an_unchanged_background_but_not_for_a_small_note(client):
    """The cell test behind ``ocr_quiet``: a talking close-up leaves the background alone,
    a small note that the whole-background mean misses still counts as a change."""
    from server.vision.schedule import (
        SceneThumb,
        background_moved,
        face_fraction,
        scene_changed,
        thumbnail,
    )
    from tests.vision_media import WOLFGANG

    detector = client.app.state.runtime.models.face_detector
    picked = frames(WOLFGANG, range(240, 472, 24))  # laughing: the head moves, the room not
    shots = [cv2.resize(picked[i], (1280, 720)) for i in sorted(picked)]
    faces = detector.detect(shots[0])
    first = SceneThumb(
        thumbnail(shots[0]), face_fraction(max(faces, key=lambda f: f.area), 1280, 720)
    )
    moved = [background_moved(first, thumbnail(img)) for img in shots[1:]]
    assert sum(moved) <= 2, moved

    note = cv2.resize(image("page.png"), (160, 120))  # a note 1/8 of the width on the desk
    held = shots[0].copy()
    held[600:720, 1100:1260] = note
    assert background_moved(first, thumbnail(held))
    assert not scene_changed(first, thumbnail(held))  # too small for the frame-to-frame test


def test_ocr_quiet_only_after_a_run_that_read_nothing():
    from server.config import Settings
    from server.vision.schedule import SceneThumb, TextWatch, ocr_quiet, plan_frame

    s = Settings(ocr_every=5, ocr_idle_every=20)
    grey = np.full((36, 64), 100, np.int16)
    empty = TextWatch(6, SceneThumb(grey, (0.4, 0.3, 0.6, 0.7)), found_text=False)
    assert ocr_quiet(empty, grey + 2, 11, s)  # same background, nothing read: wait
    assert not ocr_quiet(empty, grey + 2, 26, s)  # but not past ocr_idle_every
    assert not ocr_quiet(TextWatch(6, empty.scene, found_text=True), grey, 11, s)
    corner = grey.copy()
    corner[27:36, 56:64] += 60  # one cell of the background changed
    assert not ocr_quiet(empty, corner, 11, s)
    assert not ocr_quiet(None, grey, 11, s)
    assert not ocr_quiet(empty, grey, 11, Settings(ocr_every=5, ocr_idle_every=0))
    assert plan_frame(11, s, ocr_waits=False).ocr and not plan_frame(11, s, ocr_waits=True).ocr
    assert plan_frame(11, s, changed=True, ocr_waits=True).ocr  # a scene change still reads
