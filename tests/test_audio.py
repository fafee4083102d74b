"""The audio adapters on real (synthesised) speech: Silero VAD, the GE2E port, voices, prosody.

Media: tests/data/audio (espeak-ng voices a, b, c and mixes with known speech intervals,
``labels.json``; rebuilt by ``make_audio.py``).  Figures are in docs/audio.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from server.audio.decode import AudioInputError, audio_track, decode_wav, encode_wav, read_wav_file
from server.audio.speaker import cosine, mel_filters, partial_slices
from server.audio.vad import CHUNK_S, speech_segments
from server.models.registry import ModelRegistry
from tests.helpers import DATA

AUDIO = DATA / "audio"
LABELS = json.loads((AUDIO / "labels.json").read_text())
MODELS = Path(__file__).resolve().parents[1] / "models"


def _model(role: str) -> Path:
    spec = ModelRegistry(MODELS).resolve(role)
    if spec is None:
        pytest.skip(f"no {role} model in {MODELS} (run `proctor models fetch`)")
    return spec.path(MODELS)


@pytest.fixture(scope="module")
def models():
    from server.audio.analysis import AudioModels

    return AudioModels(_model("voice_activity"), _model("speaker_embedder"))


def wav(name: str) -> np.ndarray:
    return read_wav_file(AUDIO / name)


def truth_mask(name: str, n: int) -> np.ndarray:
    t = np.arange(n) * CHUNK_S + CHUNK_S / 2
    mask = np.zeros(n, bool)
    for s in LABELS[name]["speech"]:
        mask |= (t >= s["start"]) & (t < s["end"])
    return mask


def test_vad_finds_the_labelled_speech_and_nothing_in_music_or_noise(models):
    for name in LABELS:
        probs = models.vad.probabilities(wav(name))
        centres = np.arange(len(probs)) * CHUNK_S + CHUNK_S / 2
        pred = np.zeros(len(probs), bool)
        for a, b in speech_segments(probs):
            pred |= (centres >= a) & (centres < b)
        truth = truth_mask(name, len(probs))
        accuracy = float(np.mean(pred == truth))
        assert accuracy > 0.93, (name, accuracy)
    assert speech_segments(models.vad.probabilities(wav("no_speech.wav"))) == []


def test_vad_stream_in_chunks_equals_the_whole_recording(models):
    x = wav("one_speaker_a.wav")[: 16000 * 5]
    whole = models.vad.probabilities(x)
    stream = models.vad.stream()
    parts = [stream.feed(x[i : i + 7000]) for i in range(0, len(x), 7000)]
    parts.append(stream.feed(np.zeros(0, np.float32), final=True))
    assert np.allclose(np.concatenate(parts), whole, atol=1e-5)


def test_speaker_embeddings_tell_voices_apart(models):
    emb = {
        name: models.encoder.embed_utterance(wav(f"{name}.wav"))
        for name in ("a_1", "a_2", "b_1", "b_2", "c_1", "c_2")
    }
    for v in "abc":
        assert cosine(emb[f"{v}_1"], emb[f"{v}_2"]) > 0.85, v  # same voice, other words
    for x, y in (("a", "b"), ("a", "c"), ("b", "c")):
        for i in "12":
            for j in "12":
                assert cosine(emb[f"{x}_{i}"], emb[f"{y}_{j}"]) < 0.75, (x, y)
    e = emb["a_1"]
    assert e.shape == (256,) and abs(np.linalg.norm(e) - 1) < 1e-5 and e.min() >= 0  # ReLU + L2


def test_onnx_graph_equals_the_numpy_port(models):
    from server.audio.speaker import mel_spectrogram, normalize_volume

    x = normalize_volume(wav("two_turns.wav"))
    mels = np.stack([mel_spectrogram(x[i : i + 25600])[:160] for i in (8000, 88000, 150000)])
    onnx_out = models.encoder.embed_partials(mels)
    numpy_out = models.encoder.embed_partials_numpy(mels)
    assert models.encoder._session is not None
    assert np.abs(onnx_out - numpy_out).max() < 1e-4


def test_resemblyzer_preprocessing_parts():
    mel = mel_filters()
    assert mel.shape == (40, 201)
    assert np.all(mel.sum(axis=1) > 0)  # every band has weight (librosa warns otherwise)
    wav_slices, mel_slices = partial_slices(16000 * 3)  # 3 s: Resemblyzer gives 3 partials
    assert len(mel_slices) == 3 and mel_slices[0] == slice(0, 160)
    assert wav_slices[1].start == mel_slices[1].start * 160


@pytest.mark.parametrize(
    "name", ["one_speaker_a.wav", "one_speaker_b.wav", "one_speaker_c.wav", "one_speaker_music.wav"]
)
def test_one_speaker_is_one_voice(models, name):
    from server.audio.analysis import analyse_recording

    f = analyse_recording(wav(name), models)
    section = f.section("interview")
    assert section["voice_count"] == 1 and not section["multiple_voices"]
    assert section["other_voice_seconds"] == 0
    assert section["candidate_speaking_seconds"] > 8
    assert section["voice_tone"] is not None and 0 <= section["voice_tone"] <= 100


@pytest.mark.parametrize("name", ["two_turns.wav", "two_turns_same_gender.wav", "overlap.wav"])
def test_a_second_voice_is_found(models, name):
    from server.audio.analysis import analyse_recording

    f = analyse_recording(wav(name), models)
    section = f.section("interview")
    assert section["voice_count"] == 2 and section["multiple_voices"]
    assert section["other_voice_seconds"] > 1.0
    others = [v for v in section["voices"] if v["role"] == "other"]
    assert others[0]["similarity_to_candidate"] < 0.8
    if name != "overlap.wav":  # turns: the other voice's spans lie in its labelled turns
        labelled = [s for s in LABELS[name]["speech"] if s["voice"] != "a"]
        for seg in (s for s in section["segments"] if s["role"] == "other"):
            assert any(
                seg["start"] >= s["start"] - 0.3 and seg["end"] <= s["end"] + 0.3 for s in labelled
            )


def test_no_speech_gives_no_voice_and_no_tone(models):
    from server.audio.analysis import analyse_recording

    section = analyse_recording(wav("no_speech.wav"), models).section("exam")
    assert section["voice_count"] == 0 and section["speaking_seconds"] == 0
    assert section["voice_tone"] is None and "no speech" in section["voice_tone_reason"]


def test_live_listener_enrols_the_candidate_and_flags_the_other_voice(models):
    from server.audio.analysis import LiveListener

    for name, voices in (("one_speaker_a.wav", 1), ("two_turns.wav", 2)):
        x = wav(name)
        listener = LiveListener(models)
        spans = []
        for i in range(0, len(x), 16000):  # 1 s chunks, as the console sends them
            spans += listener.feed(x[i : i + 16000], timestamp=100.0 if i == 0 else None)
        spans += listener.finish()
        assert all(s.start >= 100.0 for s in spans)  # session time: the first chunk's timestamp
        section = listener.findings().section("interview")
        assert listener.enrolled is not None
        assert section["voice_count"] == voices, name
        assert section["candidate_voice"] == "enrolled"


def test_prosody_of_a_speaker(models):
    from server.audio.prosody import measure
    from server.proctoring.audio import voice_tone

    x = wav("one_speaker_b.wav")
    p = measure(x, [(s["start"], s["end"]) for s in LABELS["one_speaker_b.wav"]["speech"]])
    assert 180 < p.pitch_median_hz < 300  # voice b is a female voice (espeak f2, pitch 70)
    q = measure(
        wav("one_speaker_a.wav"),
        [(s["start"], s["end"]) for s in LABELS["one_speaker_a.wav"]["speech"]],
    )
    assert 70 < q.pitch_median_hz < 140  # voice a is a low male voice
    assert 2.5 < q.syllables_per_s < 6.5  # 150 words a minute
    assert q.pauses == 2 and 0.5 < q.mean_pause_s < 1.2
    monotone = measure(
        wav("monotone_a.wav"), [(s["start"], s["end"]) for s in LABELS["monotone_a.wav"]["speech"]]
    )
    assert monotone.pitch_std_st < 0.7 < q.pitch_std_st
    assert voice_tone(monotone)[0] < voice_tone(q)[0] - 10
    t = np.arange(16000 * 4) / 16000  # a steady tone: voiced, but no pitch movement at all
    flat = measure((0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32), [(0.0, 4.0)])
    assert flat.pitch_std_st < 0.2 and abs(flat.pitch_median_hz - 150) < 5


def test_wav_chunks_any_rate_mono_or_stereo():
    t = np.arange(44100) / 44100
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    stereo = np.stack([tone, tone], axis=1).reshape(-1)
    samples, seconds = decode_wav(encode_wav(stereo, 44100, channels=2), max_seconds=5)
    assert abs(seconds - 1.0) < 1e-6 and len(samples) == 16000
    assert abs(np.abs(samples).max() - 0.5) < 0.05
    for bad, why in (
        (b"not a wav at all" * 4, "not a WAV"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt " + b"\x00" * 40, "readable"),
    ):
        with pytest.raises(AudioInputError, match=why):
            decode_wav(bad, 5)
    with pytest.raises(AudioInputError, match="too long"):
        decode_wav(encode_wav(np.zeros(16000 * 6)), 5)
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1), w.setsampwidth(1), w.setframerate(16000)
        w.writeframes(b"\x80" * 16000)
    with pytest.raises(AudioInputError, match="16-bit"):
        decode_wav(buf.getvalue(), 5)


def test_audio_track_of_videos():
    x = audio_track(DATA / "single_face.mp4")
    assert x is not None and abs(len(x) / 16000 - 2.42) < 0.05
    with pytest.raises(AudioInputError):
        audio_track(AUDIO / "labels.json")


def test_espeak_still_gives_the_test_voices(models):
    """The committed media came from make_audio.py; espeak-ng must still give those voices."""
    import importlib.util
    import shutil

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (`make espeak` installs it)")
    spec = importlib.util.spec_from_file_location("make_audio", AUDIO / "make_audio.py")
    make_audio = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_audio)
    fresh = models.encoder.embed_utterance(make_audio.say("a", make_audio.LINES[1]))
    assert cosine(fresh, models.encoder.embed_utterance(wav("a_1.wav"))) > 0.95
    assert cosine(fresh, models.encoder.embed_utterance(wav("b_1.wav"))) < 0.75


def test_enrolment_leaves_out_a_window_of_another_voice(models):
    from server.audio.analysis import LiveListener, windows_of

    def embeds(name):
        x = wav(name)
        wins = windows_of([(0.3, len(x) / 16000 - 0.3)])
        return list(
            models.encoder.embed_windows([x[int(a * 16000) : int(b * 16000)] for a, b in wins])
        )

    candidate, other = embeds("a_1.wav"), embeds("b_1.wav")
    listener = LiveListener(models)
    listener.enrol_windows = candidate[:2] + other[:1] + candidate[2:4]
    dropped = listener._enrol()
    assert len(dropped) == 1 and dropped[0] is other[0]
    assert listener.enrolled is not None
    assert cosine(listener.enrolled, models.encoder.embed_utterance(wav("a_2.wav"))) > 0.85
