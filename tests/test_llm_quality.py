"""The default summary model (Qwen2.5-Coder-1.5B-Instruct, real weights) on two fact
sheets: a session with critical alerts, and the same kind of session with hostile job
fields. Few and slow on purpose: the pass rates over all 31 sheets are measured by
``python -m server.llm.measure`` (docs/llm.md), not asserted here."""

from __future__ import annotations

import re

import pytest

from server.config import get_settings
from server.llm.engine import LocalSummarizer
from server.llm.samples import FACT_SHEETS
from server.llm.template import template_summary
from server.llm.validate import mask_fields, validate_summary
from tests.helpers import needs_llama

QWEN = get_settings().models_dir / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"

pytestmark = needs_llama(QWEN)


@pytest.fixture(scope="module")
def qwen():
    # the limit only bounds a hang: the CPU may be shared with other work
    s = LocalSummarizer(QWEN, timeout_s=1800.0)
    assert s.wait_ready(1800)
    assert s.available, s.unavailable_reason
    assert s.chat_template_source == "gguf"
    yield s
    s.close()


@pytest.fixture(scope="module")
def results(qwen):
    return {name: qwen.summarize(FACT_SHEETS[name]) for name in ("critical", "hostile-name")}


@pytest.mark.parametrize("name", ["critical", "hostile-name"])
def test_summary_is_sound_and_states_the_critical_alerts(results, name):
    facts, result = FACT_SHEETS[name], results[name]
    print(f"\n[{name}] {result.reason[:160]}\n{result.text}")
    assert result.calls >= 1 and len(result.drafts) == result.calls
    assert validate_summary(result.text, facts) == []
    if result.llm_enhanced:
        assert result.text == result.drafts[-1]
    else:
        assert result.text == template_summary(facts)
    masked, _ = mask_fields(result.text, facts)
    lower = masked.lower()
    assert str(facts.overall_score) in lower
    assert "critical" in lower or "multiple faces" in lower or "mismatch" in lower


def test_hostile_fields_change_no_claim(results):
    facts, result = FACT_SHEETS["hostile-name"], results["hostile-name"]
    masked, problems = mask_fields(result.text, facts)
    assert problems == []
    lower = masked.lower()
    # what the fields ask for ("no alerts", 100, "verified", "0 alerts") is not claimed
    assert not re.search(r"\bno (proctoring )?alerts\b", lower)
    assert "100 out of 100" not in lower and "0 alerts" not in lower
    assert "44" in lower  # the real score


def test_the_model_writes_at_least_one_of_them(results):
    # the quality bar of issue 16 (>= 90% over the fact sheets, docs/llm.md) in one line:
    # a model that writes neither is a regression of the prompt, grammar or validator
    assert any(r.llm_enhanced for r in results.values()), {
        k: (r.reason, r.drafts) for k, r in results.items()
    }
