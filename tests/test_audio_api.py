"""Audio through the API, with the real models: videos with an audio track (espeak-ng speech
muxed onto single_face.mp4's frames), the live audio channel (REST and Socket.IO), the
alerts, the profiles and the refusals.  docs/audio.md describes what is checked."""

from __future__ import annotations

import base64
import io
import wave
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from server.audio.decode import encode_wav, read_wav_file
from tests.helpers import DATA, image_b64

AUDIO = DATA / "audio"
FPS = 10


def face_frames() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(DATA / "single_face.mp4"))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames[::3]  # 30 -> 10 fps


def mux(
    path: Path, speech: Path | None, seconds: float | None = None, face_until: float = 1e9
) -> None:
    """single_face.mp4's frames, looped back and forth at 10 fps (an empty grey room after
    ``face_until`` seconds), with ``speech`` as AAC."""
    import av

    faces = face_frames()
    loop = faces + faces[::-1]
    wav = read_wav_file(speech) if speech else None
    seconds = seconds or len(wav) / 16000
    with av.open(str(path), "w") as out:
        vs = out.add_stream("mpeg4", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = faces[0].shape[1], faces[0].shape[0], "yuv420p"
        aus = out.add_stream("aac", rate=16000, layout="mono") if wav is not None else None
        for i in range(int(seconds * FPS)):
            image = loop[i % len(loop)] if i < face_until * FPS else np.full_like(faces[0], 118)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if aus is not None:
            pcm = np.clip(np.round(wav * 32767), -32768, 32767).astype(np.int16)
            step = 1024
            for k, i in enumerate(range(0, len(pcm), step)):
                block = pcm[i : i + step].reshape(1, -1)
                af = av.AudioFrame.from_ndarray(block, format="s16", layout="mono")
                af.sample_rate, af.pts, af.time_base = 16000, k * step, Fraction(1, 16000)
                for packet in aus.encode(af):
                    out.mux(packet)
            for packet in aus.encode():
                out.mux(packet)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("audio-media")
    mux(root / "one_speaker.mp4", AUDIO / "one_speaker_a.wav")
    mux(root / "two_speakers.mp4", AUDIO / "two_turns.wav")
    mux(root / "silent_film.mp4", None, seconds=3.0)
    mux(root / "talks_away.mp4", AUDIO / "one_speaker_a.wav", face_until=3.0)
    return root


@pytest.fixture(scope="module")
def aclient(tmp_path_factory, media):
    from server.config import Settings
    from server.main import create_app

    settings = Settings(
        data_dir=tmp_path_factory.mktemp("audio-data"),
        media_root=media,
        llm_enabled=False,
        session_idle_timeout_s=0,
        inference_workers=1,
    )
    with TestClient(create_app(settings)) as c:
        if c.app.state.service.ctx.audio.models() is None:
            pytest.skip("no audio models (run `proctor models fetch`)")
        yield c


def analyse(client, name: str, **body) -> dict:
    r = client.post(
        "/comprehensive-interview-analysis",
        json={"video_url": name, "frame_interval": FPS, **body},
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_one_speaker_video(aclient):
    out = analyse(aclient, "one_speaker.mp4")
    report = out["report"]
    audio = report["audio_analysis"]
    assert audio["analyzed"] and audio["source"] == "video" and audio["profile"] == "interview"
    assert audio["voice_count"] == 1 and not audio["multiple_voices"]
    assert abs(audio["audio_seconds"] - 14.5) < 0.2
    assert 9 < audio["candidate_speaking_seconds"] < 13.5
    assert report["behavioral_analysis"]["voice_tone"] == audio["voice_tone"]
    assert 0 <= audio["voice_tone"] <= 100
    types = {a["type"] for a in report["alert_history"]}
    assert not types & {"multiple_voices", "speech_while_away", "speech_detected"}


def test_two_speaker_video_raises_multiple_voices_at_the_second_voice(aclient):
    out = analyse(aclient, "two_speakers.mp4")
    report = out["report"]
    audio = report["audio_analysis"]
    assert audio["voice_count"] == 2 and audio["multiple_voices"]
    other = [s for s in audio["segments"] if s["role"] == "other"]
    assert other and other[0]["start"] > 4.5  # voice b's first turn starts at 5.1 s
    alerts = [a for a in report["alert_history"] if a["type"] == "multiple_voices"]
    assert alerts and alerts[0]["severity"] == "critical"
    assert 5 <= alerts[0]["timestamp"] <= 9.5 and alerts[0]["other_voice_seconds"] > 0
    listed = aclient.get(f"/api/sessions/{out['session_id']}/alerts").json()
    assert "multiple_voices" in {a["type"] for a in listed["alerts"]}
    page = aclient.get(f"/api/sessions/{out['session_id']}/report?format=html").text
    assert 'data-chart="speech"' in page and "Another voice" in page and "voices 2" in page
    pdf = aclient.get(f"/api/sessions/{out['session_id']}/report?format=pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_speech_with_nobody_in_view_raises_speech_while_away(aclient):
    report = analyse(aclient, "talks_away.mp4")["report"]
    away = [a for a in report["alert_history"] if a["type"] == "speech_while_away"]
    assert away and away[0]["severity"] == "warning"
    assert away[0]["timestamp"] >= 3.0 and away[0]["speech_seconds"] > 0  # after the face left
    assert "no_face_detected" in {a["type"] for a in report["alert_history"]}
    assert report["audio_analysis"]["voice_count"] == 1


def test_exam_profile_flags_speech(aclient):
    out = analyse(aclient, "one_speaker.mp4", jobData={"profile": "exam"})
    report = out["report"]
    assert report["audio_analysis"]["profile"] == "exam"
    assert "speech_detected" in {a["type"] for a in report["alert_history"]}
    r = aclient.post("/api/sessions/start", json={"job_data": {"profile": "quiz"}})
    assert r.status_code == 400 and "profile" in r.json()["error"]


def test_video_without_audio_says_why(aclient):
    report = analyse(aclient, "silent_film.mp4")["report"]
    audio = report["audio_analysis"]
    assert audio["analyzed"] is False and audio["reason"] == "the video has no audio track"
    assert report["behavioral_analysis"]["voice_tone"] is None


def chunks(name: str, seconds: float = 1.0):
    x = read_wav_file(AUDIO / name)
    step = int(16000 * seconds)
    for i in range(0, len(x), step):
        yield i / 16000, base64.b64encode(encode_wav(x[i : i + step])).decode()


def test_live_audio_enrols_the_candidate_and_raises_multiple_voices(aclient):
    sid = aclient.post("/api/sessions/start", json={}).json()["session_id"]
    answers = []
    for t, chunk in chunks("two_turns.wav"):
        r = aclient.post(f"/api/sessions/{sid}/audio", json={"audio": chunk, "timestamp": t})
        assert r.status_code == 200, r.text
        answers.append(r.json())
    assert answers[-1]["heard_seconds"] == pytest.approx(17.0, abs=0.01)
    assert answers[-1]["candidate_enrolled"]
    roles = {s["role"] for a in answers for s in a["segments"]}
    assert {"candidate", "other"} <= roles
    frame = aclient.post(f"/api/sessions/{sid}/frame", json={"frame": image_b64("single_face.jpg")})
    assert frame.status_code == 200
    assert "multiple_voices" in {a["type"] for a in frame.json()["result"]["alerts"]}
    report = aclient.post(f"/api/sessions/{sid}/end").json()["report"]
    audio = report["audio_analysis"]
    assert audio["source"] == "live" and audio["candidate_voice"] == "enrolled"
    assert audio["voice_count"] == 2
    assert report["behavioral_analysis"]["voice_tone"] == audio["voice_tone"]


def test_live_session_without_audio(aclient):
    sid = aclient.post("/api/sessions/start", json={}).json()["session_id"]
    report = aclient.post(f"/api/sessions/{sid}/end").json()["report"]
    assert report["audio_analysis"]["analyzed"] is False
    assert report["audio_analysis"]["reason"] == "the session sent no audio"
    assert report["behavioral_analysis"]["voice_tone"] is None


def _wav8() -> str:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(16000)
        w.writeframes(b"\x80" * 8000)
    return base64.b64encode(buf.getvalue()).decode()


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({}, 400, "No audio"),
        ({"audio": "%%% not base64 %%%"}, 400, "base64"),
        ({"audio": base64.b64encode(b"hello, this is not a wav file at all").decode()}, 400, "WAV"),
        ({"audio": "_wav8_"}, 400, "16-bit"),
        ({"audio": "_long_"}, 413, "too large"),
        ({"audio": "_6s_"}, 400, "too long"),
        ({"audio": "_ok_", "timestamp": "soon"}, 400, "timestamp"),
        ({"audio": 42}, 400, "No audio"),
    ],
)
def test_bad_audio_is_refused(aclient, body, status, words):
    sid = aclient.post("/api/sessions/start", json={}).json()["session_id"]
    samples = {
        "_wav8_": _wav8(),
        "_long_": base64.b64encode(encode_wav(np.zeros(48000 * 2 * 12), 48000, 2)).decode(),
        "_6s_": base64.b64encode(encode_wav(np.zeros(16000 * 6))).decode(),
        "_ok_": base64.b64encode(encode_wav(np.zeros(16000))).decode(),
    }
    body = {k: samples.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    r = aclient.post(f"/api/sessions/{sid}/audio", json=body)
    assert r.status_code == status, r.text
    assert r.json()["success"] is False and words in r.json()["error"]


def test_audio_for_unknown_or_ended_sessions(aclient):
    ok = base64.b64encode(encode_wav(np.zeros(16000))).decode()
    r = aclient.post("/api/sessions/nope/audio", json={"audio": ok})
    assert r.status_code == 404 and r.json()["success"] is False
    sid = aclient.post("/api/sessions/start", json={}).json()["session_id"]
    aclient.post(f"/api/sessions/{sid}/end")
    r = aclient.post(f"/api/sessions/{sid}/audio", json={"audio": ok})
    assert r.status_code >= 400 and r.json()["success"] is False


def test_socketio_audio_event_answers_like_rest(tmp_path):
    import socketio

    from tests.live_server import LiveServer

    server = LiveServer(tmp_path / "data").start()
    sio = socketio.Client(reconnection=False)
    try:
        with server.client() as http:
            sid = http.post("/api/sessions/start", json={}).json()["session_id"]
        sio.connect(server.url, socketio_path="socket.io", wait_timeout=60)
        acks = [
            sio.call("audio", {"session_id": sid, "audio": chunk, "timestamp": t}, timeout=60)
            for t, chunk in list(chunks("one_speaker_a.wav"))[:6]
        ]
        assert all(a["success"] for a in acks), acks
        assert acks[-1]["heard_seconds"] == pytest.approx(6.0, abs=0.01)
        assert acks[-1]["candidate_enrolled"]
        bad = sio.call("audio", {"session_id": sid, "audio": "bm90IGEgd2F2"}, timeout=60)
        assert bad["success"] is False and bad["status"] == 400 and bad["event"] == "audio"
        ok = chunks("one_speaker_a.wav").__next__()[1]
        missing = sio.call("audio", {"session_id": "no-such-session", "audio": ok}, timeout=60)
        assert missing["success"] is False and missing["status"] == 404
    finally:
        if sio.connected:
            sio.disconnect()
        server.stop()
