"""The alert catalogue: every type complete, every rule's type catalogued, every reader in step."""

from __future__ import annotations

import re
import string
from dataclasses import fields, replace

import pytest

from scripts.alerts_table import documented, section
from server.config import Settings
from server.llm.facts import ALERT_SEVERITY
from server.llm.samples import SAMPLES
from server.llm.template import ALERT_PHRASES, template_summary
from server.llm.validate import ALERT_MENTIONS
from server.llm.vocabulary import BASE_WORDS, WORD
from server.proctoring.alert_types import (
    ALERT_TYPES,
    COMMON_SETTINGS,
    SEVERITIES,
    AlertType,
    alert_type,
    label_of,
    penalty,
)
from server.proctoring.alerts import AlertConfig, AlertEngine, DetectedObject, FrameSignals
from server.proctoring.audio import FrameAudio
from server.reports.series import alert_label

CONFIG_FIELDS = {f.name for f in fields(AlertConfig)}
PENALTY_BY_SEVERITY = {"critical": 10, "warning": 5, "info": 0}  # docs/report.md's rule


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("t", list(ALERT_TYPES.values()), ids=list(ALERT_TYPES))
def test_every_type_has_every_part(t: AlertType):
    for part in ("name", "message", "trigger", "label", "growth"):
        assert getattr(t, part).strip(), f"{t.name}: empty {part}"
    assert re.fullmatch(r"[a-z][a-z_]*", t.name)
    assert t.severity in SEVERITIES
    assert t.penalty == PENALTY_BY_SEVERITY[t.severity], f"{t.name}: penalty/severity disagree"
    assert t.advice is None or t.advice.strip()
    assert len(t.phrases) == 2 and all(p.strip() for p in t.phrases)
    if t.mention is not None:
        assert re.search(t.mention, t.phrases[0]) and re.search(t.mention, t.phrases[1]), (
            f"{t.name}: its mention pattern does not match its own phrases"
        )
    # placeholders resolve: messages from the alert's fields or the config, triggers from the config
    assert _placeholders(t.message) <= set(t.fields) | CONFIG_FIELDS, t.name
    assert _placeholders(t.trigger) <= CONFIG_FIELDS, t.name
    # settings: real Settings fields, read by AlertConfig, and every trigger threshold listed
    config_of = {AlertConfig.setting_name(f): f for f in CONFIG_FIELDS}
    for s in t.settings:
        assert s in Settings.model_fields, f"{t.name}: {s} is not a Settings field"
        assert s in config_of, f"{t.name}: {s} is not read by AlertConfig"
    used = {AlertConfig.setting_name(p) for p in _placeholders(t.trigger)}
    assert used <= set(t.settings) | set(COMMON_SETTINGS), f"{t.name}: list {used} in settings"


def test_alert_config_reads_every_field_from_settings():
    for f in CONFIG_FIELDS:
        assert AlertConfig.setting_name(f) in Settings.model_fields, f
    assert AlertConfig.from_settings(Settings()) == AlertConfig()  # same defaults in both places
    custom = Settings(no_face_frames=7, alert_repeat_frames=0, text_confidence=55.0)
    config = AlertConfig.from_settings(custom)
    assert (config.no_face_frames, config.repeat_frames, config.text_confidence) == (7, 0, 55.0)


def _every_condition() -> list[FrameSignals]:
    """A session that meets every rule's default trigger once (a new type adds its frames here)."""
    frames: list[dict] = []
    frames += [{"face_count": 0}] * 3
    frames += [{"face_count": 2}]
    frames += [{"looking_away": True}] * 5
    frames += [{"mismatch": True}] * 3
    frames += [{"engagement": 10.0}] * 10
    phone = DetectedObject("Cell Phone", 91.0, {"detector": 91.0})
    frames += [{"suspicious_objects": [phone], "text_confidence": 93.0}]
    frames += [{"presentation_attack": True, "liveness": {"score": 12.0, "signals": {}}}]
    heard = FrameAudio(speech_s=1.0, other_voice_s=1.0, exam=True)  # exam, a second voice, away
    frames += [{"face_count": 0, "audio": heard}] * 2
    out = []
    for i, kw in enumerate(frames, 1):
        kw = {"face_count": 1, **kw}
        out.append(FrameSignals(timestamp=float(i), frame_number=i, **kw))
    return out


def test_the_rules_raise_exactly_the_catalogued_types_with_their_parts():
    engine = AlertEngine(AlertConfig())
    alerts = [a for s in _every_condition() for a in engine.evaluate(s)]
    assert {a.type for a in alerts} == set(ALERT_TYPES), "a type without a rule, or the reverse"
    for a in alerts:
        t = ALERT_TYPES[a.type]
        assert a.severity == t.severity
        assert set(a.extra) <= set(t.fields), f"{a.type}: undeclared fields {set(a.extra)}"
        assert "{" not in a.message and a.message
    by_type = {a.type: a for a in alerts}
    assert by_type["multiple_faces"].message == "Multiple faces detected (2 faces)"
    assert by_type["face_mismatch"].message == "Face verification failed 3 consecutive times"
    assert by_type["suspicious_object"].message == "Suspicious object detected: Cell Phone"


def test_an_uncatalogued_type_fails_loudly():
    with pytest.raises(KeyError, match="alert_types.py"):
        alert_type("eating_snacks")
    assert label_of("eating_snacks") == "eating snacks"  # stored data from a newer version
    assert penalty({"eating_snacks", "multiple_faces"}) == 10


def test_llm_and_views_read_the_catalogue():
    assert {t.name: t.severity for t in ALERT_TYPES.values()} == ALERT_SEVERITY
    assert {t.name: t.phrases for t in ALERT_TYPES.values()} == ALERT_PHRASES
    assert set(ALERT_MENTIONS) <= set(ALERT_TYPES)
    for t in ALERT_TYPES.values():
        assert alert_label(t.name) == t.label
        for phrase in t.phrases:  # the summary grammar must allow the template's own words
            assert {w.lower() for w in WORD.findall(phrase)} <= BASE_WORDS, phrase


def test_the_template_names_every_type():
    for t in ALERT_TYPES.values():
        facts = replace(
            SAMPLES["strong"], alert_counts={t.name: 2}, severity_counts={t.severity: 2}
        )
        assert t.phrases[1] in template_summary(facts), t.name


def test_docs_tables_are_generated_from_the_catalogue():
    assert documented() == section(), "run: python scripts/alerts_table.py --write"


def test_no_face_verification_is_not_a_missing_face():
    # "no face verification was used" (a short session's summary) names no alert
    pattern = ALERT_TYPES["no_face_detected"].mention
    assert not re.search(pattern, "no face verification was used")
    assert re.search(pattern, "there was no face in view for a while")
