"""LocalSummarizer with the real SmolLM2-135M GGUF (no fake model), loaded once for the module."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import threading
import time

import pytest

from server.config import get_settings
from server.llm.engine import LocalSummarizer
from server.llm.samples import critical_alerts as critical_facts
from server.llm.samples import strong_candidate as strong_facts
from server.llm.template import template_summary
from server.llm.validate import validate_summary
from server.llm.vocabulary import vocabulary

GGUF = get_settings().models_dir / "SmolLM2-135M-Instruct.Q4_1.gguf"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or not GGUF.is_file(),
    reason=f"needs llama-cpp-python (make venv) and {GGUF.name} (make models)",
)


@pytest.fixture(scope="module")
def summarizer():
    s = LocalSummarizer(GGUF, timeout_s=30.0)
    assert s.wait_ready(60)
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


def assert_grammar_held(draft, facts):
    """The GBNF grammar's promises, checked on the raw model text."""
    assert "\n" not in draft
    sentences = re.split(r"(?<=\.) ", draft)
    assert 1 <= len(sentences) <= 3 and all(s.endswith(".") for s in sentences)
    allowed_numbers = set(facts.number_strings())
    assert set(re.findall(r"\d+(?:\.\d+)?", draft)) <= allowed_numbers
    words = {w.lower() for w in re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", draft)}
    assert words <= vocabulary(facts) | {"minute", "second"}


def test_model_loads_once_with_the_gguf_chat_template(summarizer):
    assert summarizer.chat_template_source == "gguf"
    assert summarizer.load_s is not None and summarizer.load_s < 10


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


def test_tiny_timeout_falls_back_to_the_template(summarizer):
    result = summarizer.summarize(strong_facts(), timeout_s=0.001)
    assert result.llm_enhanced is False and result.reason == "timeout"
    assert result.text == template_summary(strong_facts())
    # The worker is free again for the next caller.
    assert_sound(summarizer.summarize(critical_facts()), critical_facts())


def test_timeout_while_generating_stops_the_model_and_answers(summarizer):
    result = summarizer.summarize(critical_facts(), timeout_s=0.8)
    assert_sound(result, critical_facts())
    # The worker stopped at the deadline and is free again for the next caller.
    assert_sound(summarizer.summarize(strong_facts()), strong_facts())


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


def test_concurrent_callers_each_get_an_answer_within_their_limit(summarizer):
    results, elapsed = {}, {}

    def call(i):
        start = time.monotonic()
        results[i] = summarizer.summarize(
            strong_facts() if i % 2 else critical_facts(), timeout_s=4.0
        )
        elapsed[i] = time.monotonic() - start

    threads = [threading.Thread(target=call, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, result in results.items():
        assert_sound(result, strong_facts() if i % 2 else critical_facts())
