"""Measure a GGUF as the summary writer: load time, speed, tokens, and how often it passes.

    python -m server.llm.measure [--gguf models/X.gguf] [--seeds 1] [--timeout 120]
                                 [--threads 1] [--only name,name] [--quiet]

Runs ``LocalSummarizer`` (production settings: grammar, validation, one retry) over the
fact sheets in ``samples.FACT_SHEETS`` (31: clean, every alert type, failed verification,
short and long, no face, hostile job fields) with one or more seeds, and prints each
draft and the totals: the share of first drafts that pass, of summaries that pass after
the retry (what reports show), and seconds per summary. Run it before switching models
and after changing ``prompts.py``; the figures go into docs/llm.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from ..config import get_settings
from .engine import LocalSummarizer
from .prompts import PROMPT_VERSION
from .samples import FACT_SHEETS


def _rss_mb() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("RssAnon", "RssFile")):
            out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


def _p95(values: list[float]) -> float:
    """The 95th percentile (nearest rank): at most 5% of the values are above it."""
    ranked = sorted(values)
    return ranked[max(0, -(-95 * len(ranked) // 100) - 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--gguf",
        type=Path,
        default=get_settings().models_dir / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    )
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repack", action="store_true", help="let llama.cpp repack the weights")
    parser.add_argument("--only", default="", help="comma list of fact sheet names")
    parser.add_argument("--quiet", action="store_true", help="totals only")
    parser.add_argument("--json", type=Path, help="also write every result here")
    args = parser.parse_args(argv)
    sheets = {k: v for k, v in FACT_SHEETS.items() if not args.only or k in args.only.split(",")}

    t0 = time.monotonic()
    settings = get_settings()
    summarizer = LocalSummarizer(
        args.gguf,
        n_ctx=settings.llm_context,
        timeout_s=args.timeout,
        max_tokens=settings.llm_max_tokens,
        n_threads=args.threads,
        repack=args.repack,
    )
    summarizer.wait_ready()
    summarizer.wait_warm()
    if not summarizer.available:
        print(summarizer.unavailable_reason)
        return 1
    rss = _rss_mb()
    print(
        f"model {args.gguf.name}: loaded in {summarizer.load_s:.2f} s, ready (prompt prefix read) "
        f"{time.monotonic() - t0:.2f} s after start; chat template {summarizer.chat_template_source}; "
        f"prompt version {PROMPT_VERSION}; {args.threads} thread(s), repack {args.repack}; "
        f"RSS anon {rss['RssAnon']:.0f} MB + file-backed {rss['RssFile']:.0f} MB",
        flush=True,
    )

    results = []
    for seed in range(args.seeds):
        summarizer.seed = 1000 + 10 * seed
        for name, facts in sheets.items():
            r = summarizer.summarize(facts)
            results.append((name, seed, r))
            if not args.quiet:
                first = (
                    "passed"
                    if r.llm_enhanced and r.calls == 1
                    else "retry passed"
                    if r.llm_enhanced
                    else "fell back"
                )
                print(f"\n[{name} seed {seed}] {first}: {r.reason[:200]}")
                print(
                    f"  tokens prompt {r.prompt_tokens} completion {r.completion_tokens} "
                    f"calls {r.calls} elapsed {r.elapsed_s:.1f} s timings {r.timings}"
                )
                for i, draft in enumerate(r.drafts):
                    print(f"  draft {i + 1}: {draft}")
                print("", end="", flush=True)

    n = len(results)
    calls = sum(r.calls for _, _, r in results)
    ran = [r for _, _, r in results if r.calls]
    first_pass = sum(1 for r in ran if r.llm_enhanced and r.calls == 1)
    passed = sum(1 for r in ran if r.llm_enhanced)
    second = [r for r in ran if r.calls >= 2]
    second_pass = sum(1 for r in second if r.llm_enhanced)
    gen_ms = sum(r.timings.get("generate_ms", 0) for r in ran)
    gen_n = sum(r.timings.get("generated", 0) for r in ran)
    pre_ms = sum(r.timings.get("prompt_ms", 0) for r in ran)
    pre_n = sum(r.timings.get("prompt_evaluated", 0) for r in ran)
    per_summary = [r.elapsed_s for r in ran]
    per_call = [x for r in ran for x in r.draft_seconds]
    print(f"\n== totals: {args.gguf.name}, prompt {PROMPT_VERSION} ==")
    print(f"summaries {n} ({len(ran)} reached the model), model calls {calls}")
    print(
        f"first draft passed {first_pass}/{len(ran)} ({100 * first_pass / max(len(ran), 1):.0f}%); "
        f"second draft passed {second_pass}/{len(second)}; "
        f"model-written summaries shown {passed}/{len(ran)} ({100 * passed / max(len(ran), 1):.0f}%)"
    )
    failed = sorted({name for name, _, r in results if not r.llm_enhanced})
    if failed:
        print("fell back to the template: " + ", ".join(failed))
    print(
        f"prompt tokens per call {sum(r.prompt_tokens for r in ran) / max(calls, 1):.0f}, "
        f"completion tokens per call {sum(r.completion_tokens for r in ran) / max(calls, 1):.0f}"
    )
    if gen_ms and pre_ms:
        print(
            f"prompt evaluation {pre_n / (pre_ms / 1000):.0f} tok/s ({pre_n} tokens read, the rest "
            f"from the cache), generation {gen_n / (gen_ms / 1000):.1f} tok/s ({gen_n} tokens)"
        )
    if per_summary:
        print(
            f"seconds per summary: median {statistics.median(per_summary):.1f}, "
            f"p95 {_p95(per_summary):.1f}, max {max(per_summary):.1f}"
        )
    if per_call:
        print(
            f"seconds per model call ({len(per_call)}): p50 {statistics.median(per_call):.1f}, "
            f"p95 {_p95(per_call):.1f}"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "sheet": name,
                        "seed": seed,
                        "llm_enhanced": r.llm_enhanced,
                        "calls": r.calls,
                        "reason": r.reason,
                        "drafts": list(r.drafts),
                        "elapsed_s": r.elapsed_s,
                        "draft_seconds": list(r.draft_seconds),
                        "timings": r.timings,
                    }
                    for name, seed, r in results
                ],
                indent=1,
            )
        )
    rss = _rss_mb()
    print(f"RSS at the end: anon {rss['RssAnon']:.0f} MB + file-backed {rss['RssFile']:.0f} MB")
    summarizer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
