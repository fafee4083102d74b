"""Median-of-runs tables from the JSON files in bench/results/, one column pair per label.

    python -m bench.report [--labels before,after] [--results bench/results]

Groups the results of ``bench.stages``, ``bench.baseline``, ``bench.load`` and
``bench.memory`` by the ``--label`` they were run with and prints, for each, the median
over its runs (the number of runs in brackets), as Markdown tables like the ones in
docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from bench.common import RESULTS, table


def load(results: Path) -> dict[tuple[str, str], list[dict]]:
    runs: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for path in sorted(results.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if "bench" in data:
            runs[(data["bench"], data.get("label") or "")].append(data)
    return runs


def med(values) -> float | None:
    values = [v for v in values if isinstance(v, (int, float))]
    return round(statistics.median(values), 1) if values else None


def dig(d: dict, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def stages(runs, labels) -> None:
    names: list[str] = []
    for label in labels:
        for r in runs.get(("stages", label), []):
            for k in r.get("stages") or {}:
                if k not in names:
                    names.append(k)
    if names:
        head = ["stage"] + [
            f"{lab} {q} ({len([r for r in runs.get(('stages', lab), []) if r.get('stages')])})"
            for lab in labels
            for q in ("p50", "p95")
        ]
        rows = [
            [n]
            + [
                med(dig(r, "stages", n, q) for r in runs.get(("stages", lab), []))
                for lab in labels
                for q in ("p50", "p95")
            ]
            for n in names
        ]
        print("Per stage, every model on every frame (ms):")
        print(table(head, rows), "\n")
    rows = []
    for part in ("production", "all"):
        row = [part]
        for lab in labels:
            rs = [r for r in runs.get(("stages", lab), []) if r.get(part)]
            row += [med(dig(r, part, "frame", q) for r in rs) for q in ("p50", "p95", "p99")] + [
                len(rs)
            ]
        rows.append(row)
    head = ["schedule"] + [f"{lab} {q}" for lab in labels for q in ("p50", "p95", "p99", "runs")]
    print("Whole frame, one session (ms):")
    print(table(head, rows), "\n")


def baseline(runs, labels) -> None:
    paths: list[str] = []
    for lab in labels:
        for r in runs.get(("baseline", lab), []):
            paths += [p for p in r["stats"] if p not in paths]
    if not paths:
        return
    rows = [
        [p]
        + [
            med(dig(r, "stats", p, "p50") for r in runs.get(("baseline", lab), []))
            for lab in labels
        ]
        for p in paths
    ]
    rows.append(
        ["ratio (classic dlib / proctor)"]
        + [med(r.get("ratio_p50") for r in runs.get(("baseline", lab), [])) for lab in labels]
    )
    rows.append(
        ["ratio (dlib no upsample / proctor)"]
        + [
            med(r.get("ratio_p50_no_upsample") for r in runs.get(("baseline", lab), []))
            for lab in labels
        ]
    )
    print("Detection + verification, p50 ms per frame:")
    print(
        table(
            ["path"] + [f"{lab} ({len(runs.get(('baseline', lab), []))})" for lab in labels], rows
        ),
        "\n",
    )


def load_tables(runs, labels) -> None:
    by_n: dict[int, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for lab in labels:
        for r in runs.get(("load", lab), []):
            for step in r.get("runs", []) + r.get("sweep", []):
                by_n[step["clients"]][lab].append(step)
    if not by_n:
        return
    rows = []
    for n in sorted(by_n):
        row = [n]
        for lab in labels:
            steps = by_n[n].get(lab, [])
            errs = sum(sum(s["errors"].values()) for s in steps)
            row += [
                med(s["latency_ms"]["p50"] for s in steps),
                med(s["latency_ms"]["p95"] for s in steps),
                med(s["latency_ms"]["p99"] for s in steps),
                errs if steps else None,
                med(s["cpu_cores_busy"] for s in steps),
                len(steps),
            ]
        rows.append(row)
    head = ["clients"] + [
        f"{lab} {q}" for lab in labels for q in ("p50", "p95", "p99", "errors", "cpu", "runs")
    ]
    print("Concurrent sessions at 1 frame/s, latency ms (median of runs; errors summed):")
    print(table(head, rows))
    for lab in labels:
        best = [r["max_clients"] for r in runs.get(("load", lab), []) if "max_clients" in r]
        ok = [
            n for n in sorted(by_n) if by_n[n].get(lab) and all(s["passed"] for s in by_n[n][lab])
        ]
        print(
            f"{lab}: largest N with p95 < 1 s and no error per run {best}; passing in every run: "
            f"{max(ok) if ok else None}"
        )
    print()


def memory(runs, labels) -> None:
    if not any(runs.get(("memory", lab)) for lab in labels):
        return

    def row(name, *keys):
        return [name] + [
            med(dig(r, *keys) for r in runs.get(("memory", lab), [])) for lab in labels
        ]

    marks = sorted(
        {
            int(k)
            for lab in labels
            for r in runs.get(("memory", lab), [])
            for k in r.get("rss_by_frames_mb", {})
        }
    )
    rows = [row("after start", "rss_after_start_mb")]
    rows += [row(f"after {m} frames", "rss_by_frames_mb", str(m)) for m in marks]
    rows += [
        row("highest sample during the frames", "rss_highest_sample_mb"),
        row("after ending the sessions (reports)", "rss_after_reports_mb"),
        row("growth over the frames, % from start", "growth_from_start_pct"),
        row("growth, % from frame 100", "growth_from_100_frames_pct"),
    ]
    print("Memory, RSS MB of all server processes:")
    print(
        table(
            ["point"] + [f"{lab} ({len(runs.get(('memory', lab), []))})" for lab in labels], rows
        ),
        "\n",
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--labels", default="before,after")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    labels = [x.strip() for x in args.labels.split(",") if x.strip()]
    runs = load(args.results)
    stages(runs, labels)
    baseline(runs, labels)
    load_tables(runs, labels)
    memory(runs, labels)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
