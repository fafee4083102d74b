"""The local model that turns ``SummaryFacts`` into a paragraph, with the template as the net.

One ``llama_cpp.Llama`` lives on one worker thread of its own (a ``Llama`` is not
thread-safe): it is loaded there, every call to it runs there, one job at a time,
from a queue. Callers wait on a future for at most their time limit, so they get an
answer in time even while the thread is still busy; a stopping criterion ends a
generation at the deadline so the thread frees soon after.

Each call: the facts as a short list -> the GGUF's own chat template -> generation
under a GBNF grammar built for these facts (plain sentences, bounded length, and
digits only as the facts' own numbers) -> ``validate_summary``. A text with problems
gets one more try with another seed when time allows; otherwise, or on timeout or
error, the template's text is returned with ``llm_enhanced=False`` and the reason.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import os
import queue
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .facts import ALERT_SEVERITY, METRIC_WORDS, SummaryFacts
from .prompts import (  # EXAMPLE_SUMMARY: re-exported for the tests
    EXAMPLE_FACTS,
    EXAMPLE_SUMMARY,  # noqa: F401
    EXAMPLES,
    INSTRUCTION,
    PROMPT_VERSION,
    SYSTEM_PROMPT,
    alert_items,
    retry_note,
)
from .template import EMOTION_WORDS, opening_clause, score_band, template_summary
from .validate import validate_summary
from .vocabulary import fact_words, vocabulary, words_gbnf

log = logging.getLogger(__name__)

# What a validator reason quotes of the draft ('...', "...", (...), a list after a colon) may
# name the candidate: log lines keep the kind of reason only (docs/security.md, issue 12).
_QUOTED_DRAFT = re.compile(r"'[^']*'|\"[^\"]*\"|\([^)]*\)|:.*$")


def loggable_reason(problem: str) -> str:
    """A validator reason without the draft's words it quotes."""
    return " ".join(_QUOTED_DRAFT.sub("...", problem).split())


# llama.cpp's OpenMP threads spin while they wait; on a shared CPU that starves the frames.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
_PARAMS_LOCK = threading.Lock()

MIN_SENTENCES = 2
MAX_SENTENCES = 4
MIN_WORDS_PER_SENTENCE = 5
MAX_WORDS_PER_SENTENCE = 40  # the alerts-and-verification sentence needs room: 28 cut it mid-clause

# Used only when a GGUF carries no chat template of its own (most instruct models use it).
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True)
class SummaryResult:
    """The summary to show, and what it cost."""

    text: str
    llm_enhanced: bool  # True only when the model's own text passed validation
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0  # model generations run (a retry counts)
    reason: str = ""  # "ok", or why the template text was used
    problems: tuple[str, ...] = ()  # validation problems of the last rejected model text
    drafts: tuple[str, ...] = ()  # every text the model wrote for this call, for audit logs
    draft_seconds: tuple[float, ...] = ()  # wall clock of each model call, in order
    elapsed_s: float = 0.0
    prompt_version: str = PROMPT_VERSION
    # llama.cpp's own clock, summed over calls: prompt_ms / prompt_evaluated (tokens not
    # reused from the KV cache), generate_ms / generated.
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def token_consumption(self) -> dict[str, float | int]:
        """The report's ``token_consumption`` block."""
        return {
            "total_api_calls": self.calls,
            "total_tokens_consumed": self.total_tokens,
            "total_prompt_tokens": self.prompt_tokens,
            "total_completion_tokens": self.completion_tokens,
            "average_tokens_per_call": round(self.total_tokens / self.calls, 1)
            if self.calls
            else 0,
        }


# --- prompt and grammar ---------------------------------------------------------


def fact_lines(facts: SummaryFacts) -> list[str]:
    """The facts as the model sees them: one short line each, numbers written as allowed."""
    f = facts
    lines = []
    # Job fields go in as quoted data (the system prompt says what that means), already
    # cleaned and cut by SummaryFacts; the grammar lets them out only verbatim.
    fields = f.job_fields()
    for name, label in (
        ("candidate_name", "Candidate name"),
        ("job_title", "Job title"),
        ("company", "Company"),
    ):
        value = getattr(f, name)
        if value:
            lines.append(f'{label}, data: "{value}" (write it as {fields[name]})')
    # the opening ready-made: left to itself, a small model turns a lone company into a role
    lines.append(f"Opening words (copy them): {opening_clause(f)}")
    if f.duration_minutes:
        lines.append(f"Interview length: {f.duration_minutes} minutes")
    else:
        lines.append(f"Interview length: {round(f.duration_s)} seconds")
    if f.questions_answered is not None:
        lines.append(f"Questions answered: {f.questions_answered}")
    lines.append(
        f"Overall video score: {f.overall_score} out of 100 ({score_band(f.overall_score)})"
    )
    # The rules' ranking, not the raw list: a small model copies a ranking faithfully but
    # binds numbers to the wrong signal when it has to rank seven of them itself.
    ranked = sorted(f.metrics().items(), key=lambda kv: -kv[1])
    if len(ranked) == 1:
        lines.append(f"Measured signal: {METRIC_WORDS[ranked[0][0]]} at {ranked[0][1]} out of 100")
    elif ranked:
        (top, top_v), (low, low_v) = ranked[0], ranked[-1]
        lines.append(f"Strongest measured signal: {METRIC_WORDS[top]} at {top_v} out of 100")
        lines.append(f"Weakest measured signal: {METRIC_WORDS[low]} at {low_v} out of 100")
    emotion = EMOTION_WORDS.get((f.dominant_emotion or "").upper())
    if emotion:
        lines.append(f"Most frequent facial expression: {emotion}")
    v = f.verification
    if v.enabled and v.verification_rate is not None:
        lines.append(
            f"Face verification: matched on {v.verification_rate:g}% of checks, {v.mismatches} mismatches"
        )
    else:
        lines.append("Face verification: not used in this session")
    if f.total_alerts:
        # Each kind with its own severity word beside its count ("2 warnings for looking
        # away"), most severe first; "critical" appears only when some alert was critical
        # (given "none of them critical", the model still wrote "1 of them critical").
        items = alert_items(f)
        # No totals by severity: given "(5 critical alerts and 13 warnings)", Qwen wrote
        # "5 critical alerts for multiple faces" for 3.
        if len(items) == 1:  # one kind: its count is the total ("2 notices for low engagement")
            lines.append(f"Proctoring alerts: {items[0]}")
        else:
            lines.append(f"Proctoring alerts: {f.total_alerts} in all: {', '.join(items)}")
    else:
        # as a sentence to copy: given "none", Qwen wrote "the session did not raised any alerts"
        lines.append("Proctoring alerts: none (no proctoring alerts were raised)")
    if f.key_strengths:
        lines.append("Strengths: " + "; ".join(f.key_strengths))
    if f.areas_of_growth:
        lines.append("Areas of growth: " + "; ".join(f.areas_of_growth))
    return lines


def _user_message(facts: SummaryFacts, problems: list[str] | None = None) -> str:
    facts_text = "\n".join(f"- {line}" for line in fact_lines(facts))
    message = f"Facts about the interview session:\n{facts_text}\n\n{INSTRUCTION}"
    return f"{message}\n\n{retry_note(problems, facts)}" if problems else message


def build_messages(facts: SummaryFacts, problems: list[str] | None = None) -> list[dict[str, str]]:
    """System prompt, the worked examples, then this session's facts; for a second draft,
    what was wrong with the first (``problems``, told as ``prompts.retry_note``) after them.
    The rejected draft itself is not shown: the model copied it."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    for example_facts, example_summary in EXAMPLES:
        messages.append({"role": "user", "content": _user_message(example_facts)})
        messages.append({"role": "assistant", "content": example_summary})
    messages.append({"role": "user", "content": _user_message(facts, problems)})
    return messages


# The words that name a severity; build_grammar drops those of severities not raised.
SEVERITY_WORDS = {
    "critical": ("critical",),
    "warning": ("warning", "warnings"),
    "info": ("notice", "notices"),
}


def grammar_vocabulary(facts: SummaryFacts) -> frozenset[str]:
    """The lower-case words the grammar lets the model write: the summary vocabulary less
    the severity words of severities no alert had. Without critical alerts the model wrote
    "1 of them critical for text in view" (the validator refused it, and the retry too)."""
    raised = {ALERT_SEVERITY.get(kind, "info") for kind in facts.alert_counts}
    unused = {w for sev, words in SEVERITY_WORDS.items() if sev not in raised for w in words}
    return vocabulary(facts) - (unused - {w.lower() for w in fact_words(facts)})


def verification_rate_strings(facts: SummaryFacts) -> list[str]:
    """The verification rate as a summary may write it before "%" (as given, and rounded)."""
    v = facts.verification
    if not v.enabled or v.verification_rate is None:
        return []
    rate = float(v.verification_rate)
    return sorted({f"{rate:g}", str(round(rate)), str(math.floor(rate))})


def _gbnf_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_grammar(facts: SummaryFacts) -> str:
    """GBNF for one paragraph of 2-3 plain sentences that opens with the candidate's name
    (or "The candidate"). A sentence is 5-28 words or numbers ending in a full stop; no
    newlines; words only from the closed vocabulary (``vocabulary.py``) and digits only
    as the facts' own numbers."""
    names = fact_words(facts)
    allowed = grammar_vocabulary(facts)
    first = words_gbnf(allowed, capitalised=True)
    capitalised = {w for w in names if w[:1].isupper()}  # a sentence starts with a capital
    if capitalised:
        first = f"{first} | {words_gbnf(capitalised)}"
    fields = facts.job_fields()
    shown = " | ".join(_gbnf_literal(v) for v in fields.values())
    if "candidate_name" in fields:
        first = f"{first} | {_gbnf_literal(facts.subject)}"
    numbers = " | ".join(_gbnf_literal(s) for s in facts.number_strings())
    lo, hi = MIN_WORDS_PER_SENTENCE - 1, MAX_WORDS_PER_SENTENCE - 1
    # A percentage is the verification rate only, always "of checks": free "%" after any
    # number gave "The session raised 2 alerts, 100% face verification matched on 100%".
    rates = verification_rate_strings(facts)
    pct = " | rate" if rates else ""
    item = 'item ::= word | num ("-minute" | "-second")?' + pct + (" | field" if shown else "")
    # The first sentence opens with the template's words (who, role, company, length): the
    # job fields come out as given and in their places, whatever the model would prefer.
    rules = [
        f'root ::= {_gbnf_literal(opening_clause(facts))} (gap item){{2,{hi}}} "." '
        f'(" " sentence){{{MIN_SENTENCES - 1},{MAX_SENTENCES - 1}}}',
        f'sentence ::= first (gap item){{{lo},{hi}}} "."',
        f"first ::= {first}",
        item,
        f"word ::= {words_gbnf(allowed | names)}",
        'gap ::= " " | ", "',
        f"num ::= {numbers}",
    ]
    if rates:
        rules.append(f'rate ::= ({" | ".join(_gbnf_literal(r) for r in rates)}) "% of checks"')
    if shown:  # a job field is one item, written exactly as given
        rules.append(f"field ::= {shown}")
    return "\n".join(rules)


# --- the summarizer ---------------------------------------------------------------


@dataclass
class _Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    timed_out: bool
    seconds: float
    timings: dict[str, float]


@dataclass
class _Job:
    facts: SummaryFacts
    deadline: float  # time.monotonic() by which the model must have stopped
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


class LocalSummarizer:
    """Summaries from a local GGUF model through llama-cpp-python, with the template as fallback.

    Construct it once (the FastAPI lifespan): it starts its worker thread, which loads
    the model at once. ``summarize`` and ``summarize_async`` may be called from any
    thread or the event loop; they never take longer than ``timeout_s``.
    """

    provider = "llama.cpp"

    def __init__(
        self,
        model_path: str | Path,
        n_ctx: int = 2048,
        n_threads: int = 1,
        timeout_s: float = 15.0,
        max_tokens: int = 200,
        n_gpu_layers: int = 0,
        *,
        temperature: float = 0.3,
        seed: int = 20260121,
        retries: int = 1,
        max_pending: int = 4,
        repack: bool = False,
        warm_up: bool = True,
    ):
        self.model_path = Path(model_path)
        self.repack = repack
        self.warm_up = warm_up
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.timeout_s = timeout_s
        self.max_tokens = max_tokens
        self.n_gpu_layers = n_gpu_layers
        self.temperature = temperature
        self.seed = seed
        self.retries = retries
        self.max_pending = max_pending
        self.model_name = self.model_path.stem
        self.load_s: float | None = None
        self.chat_template_source: str | None = None  # "gguf" or "chatml-default", once loaded
        self._unavailable: str | None = None
        self._ready = threading.Event()
        self._warm = threading.Event()  # the shared prompt prefix is in the KV cache
        self._prefix_tokens = 0  # later calls reuse the KV cache up to this many tokens only
        self._closing = threading.Event()
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._llama: Any = None  # llama_cpp.Llama, imported on the worker thread
        self._formatter: Any = None  # its Jinja2ChatFormatter
        self._thread: threading.Thread | None = None

        if not self.model_path.is_file():
            self._unavailable = f"model not available: no GGUF at {self.model_path}"
        else:
            try:
                import llama_cpp  # noqa: F401  (import only to learn it is there; used on the worker)
            except Exception as exc:  # ImportError, or a shared library that fails to load
                self._unavailable = f"model not available: llama_cpp cannot be imported ({exc})"
        if self._unavailable:
            log.warning("LLM summaries off, template only: %s", self._unavailable)
            self._ready.set()
        else:
            self._thread = threading.Thread(target=self._work, name="llm-summarizer", daemon=True)
            self._thread.start()

    # --- public ---------------------------------------------------------------

    @property
    def available(self) -> bool:
        """False once it is known that the model cannot run (missing, failed to load)."""
        return self._unavailable is None

    @property
    def unavailable_reason(self) -> str | None:
        return self._unavailable

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the model is loaded (or known to be unavailable)."""
        return self._ready.wait(timeout)

    def wait_warm(self, timeout: float | None = None) -> bool:
        """Block until the shared prompt prefix is read too (measurements start from there)."""
        return self._warm.wait(timeout) if self._thread is not None else True

    def summarize(self, facts: SummaryFacts, timeout_s: float | None = None) -> SummaryResult:
        """The summary of ``facts`` within ``timeout_s`` (default: the constructor's)."""
        start = time.monotonic()
        job_or_result = self._submit(facts, start, timeout_s)
        if isinstance(job_or_result, SummaryResult):
            return job_or_result
        job = job_or_result
        try:
            return job.future.result(timeout=max(0.0, job.deadline - time.monotonic()))
        except concurrent.futures.TimeoutError:
            job.future.cancel()  # drops it if the worker has not started it yet
            return self._fallback(facts, "timeout", start)
        except Exception as exc:  # a bug on the worker must not cost the report its summary
            log.exception("LLM summary job failed")
            return self._fallback(facts, f"model error: {exc}", start)

    async def summarize_async(
        self, facts: SummaryFacts, timeout_s: float | None = None
    ) -> SummaryResult:
        """As ``summarize``, awaiting the worker without blocking the event loop."""
        start = time.monotonic()
        job_or_result = self._submit(facts, start, timeout_s)
        if isinstance(job_or_result, SummaryResult):
            return job_or_result
        job = job_or_result
        try:
            # On timeout wait_for cancels the future: a queued job is dropped, a running one
            # stops at its own deadline.
            return await asyncio.wait_for(
                asyncio.wrap_future(job.future), max(0.0, job.deadline - time.monotonic())
            )
        except TimeoutError:
            job.future.cancel()
            return self._fallback(facts, "timeout", start)
        except Exception as exc:
            log.exception("LLM summary job failed")
            return self._fallback(facts, f"model error: {exc}", start)

    async def summarize_within(
        self, facts: SummaryFacts, budget_s: float, timeout_s: float | None = None
    ) -> tuple[SummaryResult, concurrent.futures.Future | None]:
        """The model's summary if it is done within ``budget_s``; otherwise the template at
        once (``reason="pending"``) and the job's future, which the model still completes
        within ``timeout_s`` and which then holds the final ``SummaryResult``."""
        start = time.monotonic()
        job_or_result = self._submit(facts, start, timeout_s)
        if isinstance(job_or_result, SummaryResult):
            return job_or_result, None
        job = job_or_result
        waiter = asyncio.wrap_future(job.future)
        try:
            # shield: running out of budget must not cancel the model's job
            return await asyncio.wait_for(asyncio.shield(waiter), max(0.0, budget_s)), None
        except TimeoutError:
            return self._fallback(facts, "pending", start), job.future
        except Exception as exc:
            log.exception("LLM summary job failed")
            return self._fallback(facts, f"model error: {exc}", start), None

    def close(self, timeout: float | None = 5.0) -> None:
        """Stop the worker after its current job; the model is freed on its own thread."""
        self._unavailable = self._unavailable or "model not available: summarizer closed"
        self._closing.set()
        if self._thread is not None and self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join(timeout)

    # --- internals --------------------------------------------------------------

    def _fallback(self, facts: SummaryFacts, reason: str, start: float, **usage) -> SummaryResult:
        return SummaryResult(
            text=template_summary(facts),
            llm_enhanced=False,
            reason=reason,
            elapsed_s=round(time.monotonic() - start, 3),
            **usage,
        )

    def _submit(
        self, facts: SummaryFacts, start: float, timeout_s: float | None
    ) -> _Job | SummaryResult:
        if self._unavailable:
            return self._fallback(facts, self._unavailable, start)
        if self._jobs.qsize() >= self.max_pending:
            return self._fallback(facts, "busy: too many summaries waiting for the model", start)
        budget = self.timeout_s if timeout_s is None else timeout_s
        job = _Job(facts, deadline=start + max(0.0, budget))
        self._jobs.put(job)
        return job

    def _work(self) -> None:
        try:
            self._load()
        except Exception as exc:
            self._unavailable = (
                f"model not available: failed to load {self.model_path.name} ({exc})"
            )
            log.exception("LLM model failed to load; template only")
        finally:
            self._ready.set()
        if self.warm_up and self._llama is not None:
            try:  # jobs queued meanwhile wait for it: they need the same prefix
                self._read_shared_prefix()
            except Exception:
                log.exception("LLM prompt prefix could not be read ahead; summaries read it")
        self._warm.set()
        while True:
            job = self._jobs.get()
            if job is None:
                break
            if not job.future.set_running_or_notify_cancel():
                continue
            try:
                job.future.set_result(self._run_job(job))
            except BaseException as exc:  # the caller gets it; the thread lives on
                job.future.set_exception(exc)
        if self._llama is not None:
            self._llama.close()
            self._llama = None

    def _load(self) -> None:
        import llama_cpp.llama_cpp as llama_lib
        from llama_cpp import Llama, llama_chat_format

        t0 = time.monotonic()
        # Llama() takes no "extra buffer types" switch: it reads llama.cpp's default model
        # params, so they are wrapped for this one construction (on this thread).
        # Off (the default): the weights stay mapped from the file, shared and reclaimable;
        # on: llama.cpp repacks them for faster CPU kernels into private memory (a copy).
        defaults = llama_lib.llama_model_default_params

        def model_params():
            params = defaults()
            params.use_extra_bufts = self.repack
            return params

        with _PARAMS_LOCK:
            llama_lib.llama_model_default_params = model_params
            try:
                # verbose=False keeps llama.cpp quiet; it silences stdout/stderr for the load only.
                llama = Llama(
                    model_path=str(self.model_path),
                    use_mmap=True,
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    n_gpu_layers=self.n_gpu_layers,
                    seed=self.seed,
                    verbose=False,
                )
            finally:
                llama_lib.llama_model_default_params = defaults
        template = llama.metadata.get("tokenizer.chat_template") or CHATML_TEMPLATE
        eos = llama.token_eos()
        bos = llama.token_bos()
        # The same formatter create_chat_completion builds from the GGUF metadata; used
        # directly because create_chat_completion takes no stopping criteria (the deadline).
        self._formatter = llama_chat_format.Jinja2ChatFormatter(
            template=template,
            eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
            bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
            stop_token_ids=[eos],
        )
        self.chat_template_source = (
            "gguf" if "tokenizer.chat_template" in llama.metadata else "chatml-default"
        )
        self._llama = llama
        self.load_s = round(time.monotonic() - t0, 3)
        log.info(
            "LLM %s loaded in %.2f s (chat template: %s)",
            self.model_path.name,
            self.load_s,
            self.chat_template_source,
        )

    def _read_shared_prefix(self) -> None:
        """Read the system prompt and the worked examples into the KV cache once, at start:
        every prompt begins with them, so each summary then reads only its own facts."""
        t0 = time.monotonic()
        messages = build_messages(EXAMPLE_FACTS)[:-1]
        formatted = self._formatter(messages=messages)
        tokens = self._llama.tokenize(
            formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
        )
        import llama_cpp

        self._llama.reset()
        for i in range(0, len(tokens), 64):  # in slices, so that close() need not wait for all
            if self._closing.is_set():
                self._llama.reset()
                return
            self._llama.eval(tokens[i : i + 64])
        # the decode may finish asynchronously: settle it so its time is not billed to the first summary
        llama_cpp.llama_synchronize(self._llama._ctx.ctx)
        self._prefix_tokens = len(tokens)
        log.info("LLM prompt prefix (%d tokens) read in %.2f s", len(tokens), time.monotonic() - t0)

    def _run_job(self, job: _Job) -> SummaryResult:
        start = time.monotonic()
        facts = job.facts
        if self._unavailable:
            return self._fallback(facts, self._unavailable, start)
        # Stop the model a little before the caller's deadline so its result arrives in time.
        margin = min(0.25, 0.1 * max(0.0, job.deadline - start))
        model_deadline = job.deadline - margin
        messages = build_messages(facts)
        grammar = build_grammar(facts)
        reuse = self._prefix_tokens  # KV cache tokens a draft may reuse
        drafts: list[str] = []
        timings: dict[str, float] = {}
        usage: dict[str, Any] = {  # SummaryResult's usage fields, summed over drafts
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "calls": 0,
            "timings": timings,
            "draft_seconds": (),
        }
        problems: list[str] = []
        last_s = 0.0
        for attempt in range(1 + self.retries):
            remaining = model_deadline - time.monotonic()
            if remaining <= 0 or (attempt and remaining < last_s):
                break
            if attempt:  # the same facts, and what was wrong with the rejected draft
                messages = build_messages(facts, problems)
            try:
                gen = self._generate(
                    messages,
                    grammar,
                    model_deadline,
                    self.seed + attempt,
                    reuse=reuse,
                )
            except Exception as exc:
                log.exception("LLM generation failed")
                return self._fallback(
                    facts, f"model error: {exc}", start, drafts=tuple(drafts), **usage
                )
            drafts.append(gen.text)
            for key, value in gen.timings.items():
                timings[key] = round(timings.get(key, 0) + value, 1)
            usage["prompt_tokens"] += gen.prompt_tokens
            usage["completion_tokens"] += gen.completion_tokens
            usage["calls"] += 1
            usage["draft_seconds"] += (round(gen.seconds, 3),)
            last_s = gen.seconds
            # The second draft's prompt shares the first's up to the end of the instruction:
            # it reuses the cache that far (this job's own tokens, read the same way for the
            # same facts and seed; llama.cpp keeps only the part that matches).
            reuse = gen.prompt_tokens
            if gen.timed_out:
                return self._fallback(facts, "timeout", start, drafts=tuple(drafts), **usage)
            problems = validate_summary(gen.text, facts)
            if not problems:
                elapsed = round(time.monotonic() - start, 3)
                return SummaryResult(
                    gen.text, True, reason="ok", drafts=tuple(drafts), elapsed_s=elapsed, **usage
                )
            log.info(
                "LLM summary rejected (attempt %d, %d characters): %s",
                attempt + 1,
                len(gen.text),
                "; ".join(loggable_reason(p) for p in problems),
            )
        if not problems:
            return self._fallback(facts, "timeout", start, **usage)
        return self._fallback(
            facts,
            "validation failed: " + "; ".join(problems),
            start,
            problems=tuple(problems),
            drafts=tuple(drafts),
            **usage,
        )

    def _generate(
        self,
        messages: list[dict[str, str]],
        grammar_text: str,
        deadline: float,
        seed: int,
        *,
        reuse: int,
    ) -> _Generation:
        import llama_cpp
        from llama_cpp import LlamaGrammar, StoppingCriteriaList

        llama, formatter = self._llama, self._formatter
        formatted = formatter(messages=messages)
        prompt = llama.tokenize(
            formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
        )
        timed_out = False

        def past_deadline(_ids, _logits) -> bool:
            nonlocal timed_out
            timed_out = timed_out or time.monotonic() >= deadline
            return timed_out

        stops = StoppingCriteriaList([past_deadline, *(formatted.stopping_criteria or [])])
        # Reuse the KV cache up to the shared prefix only (``reuse``; for a second draft, up
        # to the end of the first draft's prompt): a longer match with the previous call
        # would read this prompt's own tokens in other batches, and the slightly different
        # logits make the same facts and seed give another summary.
        llama.n_tokens = min(llama.n_tokens, reuse)
        llama_cpp.llama_perf_context_reset(llama._ctx.ctx)
        t0 = time.monotonic()
        out = llama.create_completion(
            prompt=prompt,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            top_p=0.9,
            top_k=40,
            repeat_penalty=1.1,
            seed=seed,
            stop=formatted.stop,
            stopping_criteria=stops,
            grammar=LlamaGrammar.from_string(grammar_text, verbose=False),
        )
        seconds = time.monotonic() - t0
        perf = llama_cpp.llama_perf_context(llama._ctx.ctx)
        timings = {
            "prompt_ms": perf.t_p_eval_ms,
            "prompt_evaluated": perf.n_p_eval,
            "generate_ms": perf.t_eval_ms,
            "generated": perf.n_eval,
        }
        usage = out["usage"]
        text = out["choices"][0]["text"].strip()
        return _Generation(
            text, usage["prompt_tokens"], usage["completion_tokens"], timed_out, seconds, timings
        )
