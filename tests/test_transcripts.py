"""Optional transcripts (PROCTOR_TRANSCRIPTS, off by default): faster-whisper tiny.en on the
espeak-ng speech of tests/data/audio (the sentences are ``LINES`` in make_audio.py)."""

from __future__ import annotations

import asyncio
import importlib.util
import io
import re
import tarfile
from pathlib import Path

import pytest

from server.audio.transcribe import (
    TranscriptModelError,
    Word,
    lines_from_words,
    read_packed_model,
    speech_groups,
)
from server.models.registry import ModelRegistry
from server.proctoring.audio import AudioFindings, SpeechSpan, TranscriptLine
from tests.helpers import DATA

AUDIO = DATA / "audio"
MODELS = Path(__file__).resolve().parents[1] / "models"


def _spoken_lines() -> list[str]:
    spec = importlib.util.spec_from_file_location("make_audio", AUDIO / "make_audio.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.LINES


def words_of(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


# --- model-free ----------------------------------------------------------------------


def test_speech_groups_fit_whisper_windows_and_skip_blips():
    spans = [
        SpeechSpan(0.5, 4.0, 0),
        SpeechSpan(5.0, 9.0, 1),
        SpeechSpan(9.1, 9.2, None),  # too short to hold a word
        SpeechSpan(20.0, 29.0, 0),  # 28.5 s after the first start: a new group
        SpeechSpan(40.0, 80.0, 0),  # longer than a window: alone
    ]
    assert speech_groups(spans) == [(0.5, 9.0), (20.0, 29.0), (40.0, 80.0)]


def test_words_go_to_the_span_they_were_spoken_in():
    spans = [SpeechSpan(0.0, 2.0, 0), SpeechSpan(3.0, 5.0, 1), SpeechSpan(6.0, 6.5, None)]
    words = [
        Word(0.1, 0.5, " Hello"),
        Word(1.8, 2.2, " there."),  # middle 2.0: the first span
        Word(3.1, 3.4, " Say"),
        Word(4.9, 5.3, " yes."),  # middle 5.1: within the slack of the second
        Word(10.0, 10.5, " Thanks."),  # in silence: Whisper made it up
    ]
    assert lines_from_words(spans, words) == [
        TranscriptLine(0.0, 2.0, 0, "Hello there."),
        TranscriptLine(3.0, 5.0, 1, "Say yes."),
    ]


def test_section_has_a_transcript_only_when_transcripts_were_asked_for():
    findings = AudioFindings("video", 5.0, [SpeechSpan(0.0, 2.0, 0)])
    assert "transcript" not in findings.section("interview")
    findings.transcript = [TranscriptLine(0.0, 2.0, 1, "Hi.")]
    section = findings.section("interview")
    assert section["transcript"] == [{"start": 0.0, "end": 2.0, "speaker": "other", "text": "Hi."}]
    assert section["transcript_reason"] is None
    off = AudioFindings("video", 5.0, transcript_reason="no speech-to-text model")
    assert off.section("exam")["transcript"] == []


def test_a_packed_model_with_other_members_is_refused(tmp_path):
    path = tmp_path / "bad.tar"
    with tarfile.open(path, "w") as tf:
        data = b"{}"
        info = tarfile.TarInfo("../config.json")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    with pytest.raises(TranscriptModelError, match="unexpected member"):
        read_packed_model(path)
    (tmp_path / "junk.tar").write_bytes(b"not a tar")
    with pytest.raises(TranscriptModelError):
        read_packed_model(tmp_path / "junk.tar")


def test_transcripts_are_off_by_default_and_then_the_model_is_never_loaded(monkeypatch):
    from server.config import Settings
    from server.service import audio as service_audio

    def no_model(*_a, **_kw):
        raise AssertionError("the speech-to-text model must not load with transcripts off")

    monkeypatch.setattr(service_audio, "Transcriber", no_model)
    settings = Settings()
    assert settings.transcripts is False
    channel = service_audio.AudioChannel(settings)
    try:
        if channel.models() is None:
            pytest.skip(f"no audio models: {channel.unavailable}")
        findings, why = asyncio.run(channel.analyse_file(AUDIO / "a_1.wav"))
        assert why is None and findings is not None
        section = findings.section("interview")
        assert section["analyzed"] and "transcript" not in section
        assert channel._transcriber is None
    finally:
        channel.close()


# --- the real model ---------------------------------------------------------------------


def _model_path() -> Path:
    spec = ModelRegistry(MODELS).resolve("speech_to_text")
    if spec is None:
        pytest.skip(f"no speech_to_text model in {MODELS} (run `proctor models fetch`)")
    pytest.importorskip("faster_whisper", reason="faster-whisper is not installed")
    return spec.path(MODELS)


@pytest.fixture(scope="module")
def channel():
    from server.config import Settings
    from server.service.audio import AudioChannel

    _model_path()
    ch = AudioChannel(Settings(transcripts=True, models_dir=MODELS))
    if ch.models() is None:
        pytest.skip(f"no audio models: {ch.unavailable}")
    yield ch
    ch.close()


def test_one_sentence_is_transcribed_with_its_words(channel):
    findings, why = asyncio.run(channel.analyse_file(AUDIO / "a_1.wav"))
    assert why is None and findings is not None
    section = findings.section("interview")
    assert section["transcript_reason"] is None, section["transcript_reason"]
    assert section["models"]["speech_to_text"] == "whisper_tiny_en_ct2"
    lines = section["transcript"]
    assert len(lines) == 1 and lines[0]["speaker"] == "candidate"
    said = words_of(_spoken_lines()[1])  # "The hardest part of that project was the database..."
    heard = words_of(lines[0]["text"])
    assert len(said & heard) >= len(said) - 1, (said, heard)
    assert 0.0 <= lines[0]["start"] < lines[0]["end"] <= 4.3


def test_two_voices_each_get_their_own_words(channel):
    findings, _ = asyncio.run(channel.analyse_file(AUDIO / "two_turns.wav"))
    assert findings is not None
    lines = findings.section("interview")["transcript"]
    by: dict[str, set[str]] = {"candidate": set(), "other": set(), "unknown": set()}
    for line in lines:
        by[line["speaker"]] |= words_of(line["text"])
    spoken = _spoken_lines()
    # voice a (the candidate) says lines 0 and 3, voice b lines 4 and 7 (make_audio.py)
    assert {"career", "company", "split", "service"} <= by["candidate"], by
    assert {"memory", "load"} <= by["other"], by
    assert not words_of(spoken[7]) - {"i", "the", "is"} <= by["candidate"]


def test_no_speech_gives_an_empty_transcript(channel):
    findings, _ = asyncio.run(channel.analyse_file(AUDIO / "no_speech.wav"))
    assert findings is not None and findings.section("interview")["transcript"] == []


def test_the_packed_model_travels_in_a_bundle_and_loads_from_it(tmp_path):
    import shutil

    from server.audio.transcribe import Transcriber
    from server.models.fetch import bundle, install_bundle
    from server.models.manifest import read_manifest, write_manifest

    path = _model_path()
    spec = next(s for s in read_manifest(MODELS) if s.file == path.name)
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(path, source / path.name)
    write_manifest(source, [spec])
    installed = install_bundle(bundle(source, tmp_path / "models.tar.gz"), tmp_path / "target")
    assert [s.role for s in installed] == ["speech_to_text"]
    transcriber = Transcriber(tmp_path / "target" / path.name)
    assert not transcriber.model.model.is_multilingual  # tiny.en: English only
