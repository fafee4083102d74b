"""Measure a GGUF as the summary writer: load time, speed, token counts, and how often it passes.

    python -m server.llm.measure [--gguf models/X.gguf] [--seeds 3] [--timeout 30]

Runs ``LocalSummarizer`` (production settings: grammar, validation, one retry) over the
sample sessions in ``samples.py`` with several seeds, and prints each answer and the
totals. Use it before switching to a drop-in model.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from ..config import get_settings
from .engine import LocalSummarizer
from .samples import SAMPLES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--gguf", type=Path, default=get_settings().models_dir / "SmolLM2-135M-Instruct.Q4_1.gguf"
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--quiet", action="store_true", help="totals only")
    args = parser.parse_args(argv)

    t0 = time.monotonic()
    summarizer = LocalSummarizer(args.gguf, timeout_s=args.timeout)
    summarizer.wait_ready()
    if not summarizer.available:
        print(summarizer.unavailable_reason)
        return 1
    print(
        f"model {args.gguf.name}: loaded in {summarizer.load_s:.2f} s "
        f"(thread start to ready {time.monotonic() - t0:.2f} s), chat template: {summarizer.chat_template_source}"
    )

    results = []
    for seed in range(args.seeds):
        summarizer.seed = 1000 + 10 * seed
        for name, facts in SAMPLES.items():
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
                print(f"\n[{name} seed {seed}] {first}: {r.reason[:160]}")
                print(
                    f"  tokens prompt {r.prompt_tokens} completion {r.completion_tokens} calls {r.calls} "
                    f"elapsed {r.elapsed_s:.2f} s timings {r.timings}"
                )
                for i, draft in enumerate(r.drafts):
                    print(f"  draft {i + 1}: {draft}")

    calls = sum(r.calls for _, _, r in results)
    drafts = [(name, d) for name, _, r in results for d in r.drafts]
    first_pass = sum(1 for _, _, r in results if r.llm_enhanced and r.calls == 1)
    passed = sum(1 for _, _, r in results if r.llm_enhanced)
    gen_ms = sum(r.timings.get("generate_ms", 0) for _, _, r in results)
    gen_n = sum(r.timings.get("generated", 0) for _, _, r in results)
    pre_ms = sum(r.timings.get("prompt_ms", 0) for _, _, r in results)
    pre_n = sum(r.timings.get("prompt_evaluated", 0) for _, _, r in results)
    per_call = [r.elapsed_s / r.calls for _, _, r in results if r.calls]
    print("\n== totals ==")
    print(f"summaries {len(results)}, model calls {calls}, drafts {len(drafts)}")
    print(
        f"llm_enhanced {passed}/{len(results)} ({100 * passed / len(results):.0f}%), "
        f"first draft passed {first_pass}/{len(results)}; drafts passing {passed}/{len(drafts)}"
    )
    print(
        f"prompt tokens per call {sum(r.prompt_tokens for _, _, r in results) / max(calls, 1):.0f}, "
        f"completion tokens per call {sum(r.completion_tokens for _, _, r in results) / max(calls, 1):.0f}"
    )
    if gen_ms and pre_ms:
        print(
            f"prompt evaluation {pre_n / (pre_ms / 1000):.0f} tok/s ({pre_n} tokens not reused from the cache), "
            f"generation {gen_n / (gen_ms / 1000):.1f} tok/s ({gen_n} tokens)"
        )
    if per_call:
        print(
            f"seconds per model call: median {statistics.median(per_call):.2f}, max {max(per_call):.2f}"
        )
    summarizer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
