"""LocalSummarizer with the real SmolLM2-135M GGUF (no fake model), loaded once for the module."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import pytest

from server.config import get_settings
from server.llm.engine import LocalSummarizer
from server.llm.samples import critical_alerts as critical_facts
from server.llm.samples import strong_candidate as strong_facts
from server.llm.template import template_summary
from server.llm.validate import FIELD_TOKENS, mask_fields, validate_summary
from server.llm.vocabulary import vocabulary
from tests.helpers import needs_llama

GGUF = get_settings().models_dir / "SmolLM2-135M-Instruct.Q4_1.gguf"

pytestmark = needs_llama(GGUF)


@pytest.fixture(scope="module")
def summarizer():
    s = LocalSummarizer(GGUF, timeout_s=300.0)  # bounds a hang only: the CPU may be shared
    assert s.wait_ready(600)  # bounds a hang only
    assert s.available, s.unavailable_reason
    yield s
    s.close()


def assert_sound(result, facts):
    """What every answer must satisfy, model text or fallback."""
    assert validate_summary(result.text, facts) == []
    if result.llm_enhanced:
        assert result.reason == "ok"
        assert result.text == result.drafts[-1]
    else:
        assert result.reason and result.reason != "ok"
        assert result.text == template_summary(facts)
    if result.calls:
        assert result.prompt_tokens > 0
        # a deadline can stop the model while it still reads the prompt: then nothing was generated
        assert result.completion_tokens > 0 or result.reason == "timeout"
        assert (
            result.token_consumption()["total_tokens_consumed"]
            == result.prompt_tokens + result.completion_tokens
        )
    assert len(result.drafts) == result.calls


class HeldModel:
    """The real model made slow on purpose, so that a deadline passes mid-generation every
    time: its first generation waits at its first token until ``release`` is set.  Put in
    front of the summarizer's own stopping criteria, so the deadline check comes after the
    wait.  ``generated`` lists the tokens each generation wrote, in order."""

    def __init__(self, llama):
        self.create_completion = llama.create_completion
        self.held = threading.Event()  # the first generation is waiting at its first token
        self.release = threading.Event()
        self.generated: list[int] = []

    def __call__(self, *args, stopping_criteria, **kwargs):
        from llama_cpp import StoppingCriteriaList

        first = not self.generated and not self.held.is_set()

        def hold(_ids, _logits) -> bool:
            if first and not self.release.is_set():
                self.held.set()
                self.release.wait(120)
            return False

        criteria = StoppingCriteriaList([hold, *stopping_criteria])
        out = self.create_completion(*args, stopping_criteria=criteria, **kwargs)
        self.generated.append(out["usage"]["completion_tokens"])
        return out


@pytest.fixture
def held(summarizer, monkeypatch):
    model = HeldModel(summarizer._llama)
    monkeypatch.setattr(summarizer._llama, "create_completion", model)
    yield model
    model.release.set()


def in_thread(fn, *args, **kwargs) -> tuple[threading.Thread, list]:
    """``fn`` running on a thread of its own; its return value lands in the list."""
    out: list = []
    t = threading.Thread(target=lambda: out.append(fn(*args, **kwargs)))
    t.start()
    return t, out


def assert_grammar_held(draft, facts):
    """The GBNF grammar's promises, checked on the raw model text."""
    assert "\n" not in draft
    # job fields come out whole, as given (the grammar's literals); the rest is checked without them
    draft, _ = mask_fields(draft, facts)
    sentences = re.split(r"(?<=\.) ", draft)
    assert 1 <= len(sentences) <= 4 and all(s.endswith(".") for s in sentences)
    allowed_numbers = set(facts.number_strings())
    assert set(re.findall(r"\d+(?:\.\d+)?", draft)) <= allowed_numbers
    words = {w.lower() for w in re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", draft)}
    tokens = {t.lower() for t in FIELD_TOKENS.values()}
    assert words <= vocabulary(facts) | {"minute", "second"} | tokens


def test_model_loads_once_with_the_gguf_chat_template(summarizer):
    assert summarizer.chat_template_source == "gguf"
    assert summarizer.load_s is not None  # its time goes to docs/llm.md, not into a test


@pytest.mark.parametrize(
    "facts", [strong_facts(), critical_facts()], ids=["strong", "critical-alerts"]
)
def test_summary_is_model_text_that_passed_or_the_template(summarizer, facts):
    result = summarizer.summarize(facts)
    print(
        f"\n[{result.reason[:120]}] llm_enhanced={result.llm_enhanced} {result.token_consumption()}\n{result.text}"
    )
    assert_sound(result, facts)
    assert result.calls >= 1  # the model ran
    for draft in result.drafts:
        assert_grammar_held(draft, facts)


def test_same_facts_give_the_same_summary(summarizer):
    summarizer.retries = 0  # one draft each is enough to compare; read by the worker per job
    try:
        first, second = summarizer.summarize(strong_facts()), summarizer.summarize(strong_facts())
    finally:
        summarizer.retries = 1
    assert first.calls == second.calls == 1
    assert first.drafts == second.drafts and first.text == second.text


def test_same_facts_give_the_same_second_draft(summarizer):
    """With the retry on: the second draft's prompt reuses this job's own cache (the first
    draft's prompt), so it too must come out the same for the same facts and seed."""
    first, second = summarizer.summarize(critical_facts()), summarizer.summarize(critical_facts())
    assert first.calls == second.calls and first.drafts == second.drafts
    assert first.text == second.text


def test_tiny_timeout_falls_back_to_the_template(summarizer):
    result = summarizer.summarize(strong_facts(), timeout_s=0.001)
    assert result.llm_enhanced is False and result.reason == "timeout"
    assert result.text == template_summary(strong_facts())
    # The worker is free again for the next caller.
    assert_sound(summarizer.summarize(critical_facts()), critical_facts())


def test_timeout_while_generating_stops_the_model_and_answers(summarizer, held):
    caller, answers = in_thread(summarizer.summarize, critical_facts(), timeout_s=2.0)
    assert held.held.wait(60)  # the model is generating
    caller.join(60)
    assert not caller.is_alive()  # the caller was answered while the model was still held
    (result,) = answers
    assert result.llm_enhanced is False and result.reason == "timeout"
    assert result.text == template_summary(critical_facts())
    held.release.set()
    # The worker is free again for the next caller ...
    assert_sound(summarizer.summarize(strong_facts()), strong_facts())
    # ... because the held generation stopped at its deadline, writing no further token.
    assert held.generated[0] == 0


def test_async_summary_does_not_block_the_event_loop(summarizer):
    async def main():
        ticks = 0
        done = asyncio.Event()

        async def ticker():
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        start = time.monotonic()
        result = await summarizer.summarize_async(critical_facts())
        elapsed = time.monotonic() - start
        done.set()
        await task
        return result, elapsed, ticks

    result, elapsed, ticks = asyncio.run(main())
    assert_sound(result, critical_facts())
    assert result.calls >= 1
    assert ticks >= 3  # the event loop kept turning while the model worked


def test_concurrent_callers_each_get_an_answer_within_their_limit(summarizer, held):
    first, first_answer = in_thread(summarizer.summarize, critical_facts(), timeout_s=60.0)
    assert held.held.wait(60)  # the model is busy with the first caller
    others = [
        in_thread(summarizer.summarize, facts, timeout_s=0.5)
        for facts in (strong_facts(), critical_facts())
    ]
    for t, _ in others:
        t.join(60)
        assert not t.is_alive()  # answered while the model was still busy with the first
    for (_, (result,)), facts in zip(others, (strong_facts(), critical_facts()), strict=True):
        assert result.reason == "timeout" and result.calls == 0
        assert result.text == template_summary(facts)
    held.release.set()
    first.join(120)
    (result,) = first_answer
    assert_sound(result, critical_facts())
    assert result.calls >= 1
    last = summarizer.summarize(strong_facts())
    assert_sound(last, strong_facts())
    # the two callers that gave up were dropped from the queue: the model ran only for the others
    assert len(held.generated) == result.calls + last.calls
