"""Model-free audio logic: voice_tone, profiles, segments, windows, clustering, audio alert rules."""

from __future__ import annotations

import numpy as np
import pytest

from server.audio.analysis import bridge_unknown, own_pauses, spans_from_windows, windows_of
from server.audio.vad import CHUNK_S, speech_segments
from server.audio.voices import cluster_voices
from server.proctoring.alerts import AlertConfig, AlertEngine, FrameSignals
from server.proctoring.audio import (
    AudioFindings,
    FrameAudio,
    Prosody,
    SpeechSpan,
    frame_audio,
    invalid_profile,
    merge_spans,
    no_audio_section,
    session_profile,
    voice_tone,
)


def prosody(**kw) -> Prosody:
    base = dict(
        speech_s=20.0,
        voiced_share=0.6,
        pitch_median_hz=120.0,
        pitch_std_st=3.0,
        pitch_range_st=6.0,
        loudness_std_db=5.0,
        syllables_per_s=4.0,
        pauses=3,
        mean_pause_s=0.6,
    )
    return Prosody(**{**base, **kw})


def test_voice_tone_rewards_a_lively_fluent_voice_and_says_why_when_absent():
    assert voice_tone(prosody()) == (100, None)
    monotone, _ = voice_tone(prosody(pitch_std_st=0.5, loudness_std_db=1.0))
    assert monotone == 40  # only pace and pauses (40% of the weight) are good
    halting, _ = voice_tone(prosody(syllables_per_s=1.5, mean_pause_s=2.5))
    assert 60 < halting < 75
    assert voice_tone(None) == (None, "no speech from the candidate")
    score, reason = voice_tone(prosody(speech_s=2.0))
    assert score is None and "less than 3 s" in reason
    # an unmeasured part drops out and the others are rescaled
    assert voice_tone(prosody(mean_pause_s=None, pauses=0)) == (100, None)


def test_profile_from_job_data():
    assert session_profile({}) == "interview" and session_profile(None) == "interview"
    assert session_profile({"profile": " Exam "}) == "exam"
    assert invalid_profile({"profile": "quiz"}) and invalid_profile({"profile": 3})
    assert invalid_profile({"profile": "exam"}) is None and invalid_profile({}) is None


def test_speech_segments_follow_silero_rules():
    probs = np.zeros(100)
    probs[10:40] = 0.9  # 0.96 s of speech
    probs[42:44] = 0.9  # after a 64 ms dip (< 100 ms): the same segment
    probs[60:63] = 0.9  # 96 ms: shorter than 250 ms, dropped
    segs = speech_segments(probs)
    assert len(segs) == 1
    a, b = segs[0]
    assert abs(a - (10 * CHUNK_S - 0.03)) < 1e-3 and abs(b - (44 * CHUNK_S + 0.03)) < 1e-3
    assert speech_segments(np.full(50, 0.4)) == []
    assert speech_segments(np.full(50, 0.9), offset_s=10.0)[0][0] == 10.0


def test_windows_cover_each_segment():
    wins = windows_of([(0.0, 4.0), (5.0, 5.5), (6.0, 7.0)])
    assert wins[0] == (0.0, 1.6) and wins[-1] == (6.0, 7.0)
    assert all(b - a <= 1.6 + 0.8 + 1e-9 for a, b in wins)
    assert not any(a >= 5.0 and b <= 5.5 for a, b in wins)  # 0.5 s: too short for a voice
    assert max(b for a, b in wins if b <= 4.0) == 4.0  # the segment's end is covered


def test_spans_take_the_label_of_their_windows():
    segs = [(0.0, 3.2), (4.0, 4.4)]
    wins = windows_of(segs)
    labels = np.array([0, 0, 1][: len(wins)])
    spans = spans_from_windows(segs, wins, labels)
    assert spans[0].voice == 0 and spans[0].start == 0.0
    assert spans[-1] == SpeechSpan(4.0, 4.4, None)
    assert any(s.voice == 1 for s in spans)


def test_clustering_separates_two_groups_and_keeps_one():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=256), rng.normal(size=256)
    group_a = [a + 0.3 * rng.normal(size=256) for _ in range(5)]
    group_b = [b + 0.3 * rng.normal(size=256) for _ in range(3)]
    labels = cluster_voices(np.array(group_a + group_b), 0.7)
    assert list(labels) == [0] * 5 + [1] * 3  # the larger group is 0
    assert set(cluster_voices(np.array(group_a), 0.7)) == {0}
    assert len(cluster_voices(np.zeros((0, 256)), 0.7)) == 0


def test_frame_audio_and_pauses():
    spans = [
        SpeechSpan(0.0, 2.0, 0),
        SpeechSpan(2.5, 3.0, 1),
        SpeechSpan(3.5, 4.0, 0),
        SpeechSpan(5.0, 6.0, 0),
    ]
    fa = frame_audio(spans, 1.0, 3.0, exam=True)
    assert fa == FrameAudio(speech_s=1.5, other_voice_s=0.5, exam=True)
    assert own_pauses(spans) == [1.0]  # 2.0->3.5 holds another voice: a turn, not a pause
    assert merge_spans([SpeechSpan(0, 1, 0), SpeechSpan(1.0, 2, 0)]) == [SpeechSpan(0, 2, 0)]


def test_section_figures():
    f = AudioFindings(
        "video",
        20.0,
        [SpeechSpan(0, 6, 0), SpeechSpan(7, 9, 1), SpeechSpan(9.5, 9.8, None)],
        {1: 0.61},
        prosody(),
    )
    s = f.section("interview")
    assert s["speaking_seconds"] == 8.3 and s["speaking_ratio"] == 0.415
    assert s["voice_count"] == 2 and s["multiple_voices"] and s["other_voice_seconds"] == 2
    assert s["voices"][1]["similarity_to_candidate"] == 0.61
    assert [seg["role"] for seg in s["segments"]] == ["candidate", "other", "unknown"]
    assert s["voice_tone"] == 100 and s["profile"] == "interview"
    off = no_audio_section("the video has no audio track", "exam")
    assert off["analyzed"] is False and off["voice_tone"] is None and off["reason"]


def _run(frames: list[dict], config: AlertConfig | None = None) -> list[str]:
    engine = AlertEngine(config or AlertConfig())
    out = []
    for i, kw in enumerate(frames, 1):
        out += [
            a.type
            for a in engine.evaluate(FrameSignals(timestamp=float(i), **{"face_count": 1, **kw}))
        ]
    return out


def test_audio_rules():
    other = FrameAudio(speech_s=1.0, other_voice_s=0.8)
    mine = FrameAudio(speech_s=1.0)
    assert _run([{"audio": other}]) == ["multiple_voices"]
    assert _run([{"audio": mine}] * 5) == []  # interview: talking is normal
    assert _run([{"audio": FrameAudio(1.0, 0.0, exam=True)}]) == ["speech_detected"]
    assert _run([{"audio": FrameAudio(0.0, 0.0, exam=True)}] * 3) == []
    away = [{"audio": mine, "looking_away": True}] * 2
    assert _run(away) == ["speech_while_away"]
    assert "speech_while_away" in _run([{"audio": mine, "face_count": 0}] * 2)
    # frames without audio neither advance nor clear the audio rules
    assert _run(
        [{"audio": mine, "looking_away": True}, {}, {"audio": mine, "looking_away": True}]
    ) == ["speech_while_away"]
    assert _run([{"audio": other}], AlertConfig(multiple_voices_frames=2)) == []


@pytest.mark.parametrize("frames", [1, 3])
def test_multiple_voices_rearms_after_quiet_frames(frames):
    other = {"audio": FrameAudio(1.0, 1.0)}
    quiet = {"audio": FrameAudio(0.0, 0.0)}
    seq = [other] + [quiet] * frames + [other]
    fired = _run(seq).count("multiple_voices")
    assert fired == (2 if frames >= 2 else 1)


def test_short_speech_between_one_voice_is_that_voice():
    spans = [
        SpeechSpan(0, 4, 0),
        SpeechSpan(4.5, 5.0, None),
        SpeechSpan(5.5, 9, 0),
        SpeechSpan(9.2, 9.5, None),
        SpeechSpan(10.0, 12, 1),
        SpeechSpan(14, 14.3, None),
    ]
    voices = [s.voice for s in bridge_unknown(spans)]
    assert voices == [0, 0, 0, None, 1, None]  # between two voices or at the end: unknown


def test_exam_profile_makes_the_gaze_rule_stricter():
    away = [{"looking_away": True}] * 2
    assert _run(away) == []  # interview: 5 frames (the reference's trigger)
    assert _run([{**f, "exam": True} for f in away]) == ["looking_away"]


def test_audio_off_answers_503_and_reports_say_why():
    import asyncio
    import datetime as dt
    from types import SimpleNamespace

    from server.config import Settings
    from server.service.audio import AudioChannel
    from server.service.errors import ServiceError

    channel = AudioChannel(Settings(audio_enabled=False))
    assert channel.models() is None and channel.unavailable == "audio is disabled"
    session = SimpleNamespace(id="s1", start_time=dt.datetime(2026, 1, 1), job_data={})
    with pytest.raises(ServiceError) as err:
        asyncio.run(channel.hear(session, "UklGRg==", None))
    assert err.value.status == 503 and "disabled" in err.value.message
    assert err.value.extra == {"audio_unavailable": True}  # the console stops; a busy 503 not
    section = asyncio.run(channel.live_section(session))
    assert section["analyzed"] is False and section["reason"] == "audio is disabled"
    assert channel.frame_audio(session, 3.0) is None  # no audio: the audio rules hold still
    channel.close()


def test_voice_tone_is_a_fact_the_summary_may_state():
    from dataclasses import replace

    from server.llm.samples import SAMPLES
    from server.llm.template import template_summary
    from server.llm.validate import validate_summary

    facts = replace(SAMPLES["strong"], voice_tone=42)  # the weakest signal of this session
    text = template_summary(facts)
    assert "voice tone (42) was the weakest" in text
    assert validate_summary(text, facts) == []
    wrong = text.replace("voice tone (42) was the weakest", "voice tone was 97")
    assert "gives voice tone as 97 but it was 42" in validate_summary(wrong, facts)
    assert "voice tone" not in template_summary(SAMPLES["strong"])  # no audio: not mentioned
