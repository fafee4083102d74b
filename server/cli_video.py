"""``proctor analyze-video FILE... [--frame-interval N] [--out DIR] [--format json|html]``

The server's video analysis in-process, no server needed: the same service objects
(``build_runtime``: store, models, inference pool, service; then ``VideoAnalysis``) as
``POST /comprehensive-interview-analysis``.  Sessions go to a throw-away store unless
``--save`` (then to the configured one, where the server lists them).  Every file is
checked before the models load; a progress bar per file, a summary table at the end,
exit status 1 when any file failed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Where the HTML report renderer lives (it has moved before); the first that imports wins.
HTML_RENDERERS = ("server.reports.html", "server.api.report_html", "server.proctoring.html")


def add_analyze_video(sub) -> None:
    p = sub.add_parser(
        "analyze-video", help="analyse recorded interview videos into reports (no server needed)"
    )
    p.add_argument(
        "files", nargs="+", metavar="FILE", help="video files (MP4/MOV, WebM/MKV, AVI, ...)"
    )
    p.add_argument(
        "--frame-interval",
        type=int,
        default=None,
        metavar="N",
        help="analyse every Nth frame (default PROCTOR_VIDEO_FRAME_INTERVAL)",
    )
    p.add_argument(
        "--out", default=".", metavar="DIR", help="folder for the reports (default: here)"
    )
    p.add_argument(
        "--format", choices=("json", "html"), default="json", help="report format (default json)"
    )
    p.add_argument(
        "--job-data",
        default=None,
        metavar="JSON",
        help='e.g. \'{"jobTitle": "...", "company": "..."}\'',
    )
    p.add_argument(
        "--no-llm",
        action="store_true",
        help="write the summary from the template, not the local LLM",
    )
    p.add_argument(
        "--save",
        action="store_true",
        help="keep the sessions in the configured store (PROCTOR_DATA_DIR / PROCTOR_DATABASE_URL)",
    )
    p.add_argument(
        "--verbose",
        action="store_true",
        help="show the libraries' own log lines (MediaPipe, LiteRT) instead of only progress and results",
    )
    p.set_defaults(func=cmd_analyze_video)


def find_html_renderer():
    """``render_report_html`` wherever it lives now; None when no module provides it."""
    for name in HTML_RENDERERS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        fn = getattr(module, "render_report_html", None)
        if callable(fn):
            return fn
    return None


@dataclass
class Outcome:
    file: str
    ok: bool
    detail: str = ""  # the error, or the report's path
    frames: int = 0
    video_s: float = 0.0
    wall_s: float = 0.0
    score: int | None = None
    alerts: int = 0


def _out_path(out_dir: Path, video: Path, suffix: str, taken: set[Path]) -> Path:
    path = out_dir / f"{video.stem}.report{suffix}"
    n = 2
    while path in taken:  # two inputs with one name in this run
        path = out_dir / f"{video.stem}-{n}.report{suffix}"
        n += 1
    taken.add(path)
    return path


def cmd_analyze_video(args: argparse.Namespace) -> int:
    from .config import Settings
    from .service.video import VideoSourceError, parse_frame_interval

    render_html = None
    if args.format == "html":
        render_html = find_html_renderer()
        if render_html is None:
            print(
                "error: --format html needs the HTML report renderer (render_report_html), which this install "
                f"does not have (looked in {', '.join(HTML_RENDERERS)}); use --format json",
                file=sys.stderr,
            )
            return 2
    settings = Settings()
    try:
        interval = parse_frame_interval(args.frame_interval, settings.video_frame_interval)
        job_data = json.loads(args.job_data) if args.job_data else {}
        if not isinstance(job_data, dict):
            raise ValueError("--job-data must be a JSON object")
    except (VideoSourceError, ValueError) as exc:
        print(f"error: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    tmp = None
    overrides: dict = {"inference_workers": 1}  # one frame in flight: a second worker would idle
    if args.no_llm:
        overrides["llm_enabled"] = False
    if not args.save:
        tmp = Path(tempfile.mkdtemp(prefix="proctor-video-"))
        overrides.update(data_dir=tmp, database_url=None)
    settings = settings.model_copy(update=overrides)
    from .quiet import native_logs_to_file

    log_file = None
    try:
        # The progress bar and the table only: native log lines go to a file (--verbose: here).
        with native_logs_to_file(not args.verbose, prefix="proctor-analyze-video-") as log_file:
            outcomes = asyncio.run(
                _analyse_all(
                    [Path(f) for f in args.files],
                    settings,
                    interval,
                    job_data,
                    out_dir,
                    args.format,
                    render_html,
                )
            )
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    print_summary(outcomes)
    if log_file is not None:
        if all(o.ok for o in outcomes):
            log_file.unlink(missing_ok=True)
        else:
            print(f"libraries' log: {log_file}", file=sys.stderr)
    return 0 if all(o.ok for o in outcomes) else 1


async def _analyse_all(
    files: list[Path], settings, interval: int, job_data: dict, out_dir: Path, fmt: str, render_html
) -> list[Outcome]:
    from tqdm import tqdm

    from .runtime import build_runtime
    from .service.errors import ServiceError
    from .service.video import VideoAnalysis, VideoParams
    from .vision.video import VideoError, probe

    outcomes: dict[int, Outcome] = {}
    todo = []
    for i, f in enumerate(files):  # refuse bad files before loading any model
        try:
            todo.append((i, f, probe(f, settings.max_image_pixels)))
        except (VideoError, OSError) as exc:
            outcomes[i] = Outcome(str(f), False, str(exc))
    if todo:
        runtime = await build_runtime(settings)  # no job queue, no idle clean-up, no pushes
        try:
            analysis = VideoAnalysis(runtime.service)
            taken: set[Path] = set()
            params = VideoParams(frame_interval=interval, job_data=job_data)
            for i, f, info in todo:
                bar = tqdm(
                    total=info.frames_to_analyse(interval) or None,
                    desc=f.name[:40],
                    unit="frame",
                    leave=True,
                    file=sys.stderr,
                )

                async def progress(done: int, total: int, bar=bar) -> None:
                    bar.total = total
                    bar.n = done
                    bar.refresh()

                started = time.monotonic()
                try:
                    sid, typed = await analysis.run(f, params, source=str(f), on_progress=progress)
                    report = typed.as_contract()
                    path = _out_path(out_dir, f, ".html" if fmt == "html" else ".json", taken)
                    if fmt == "html":
                        path.write_text(render_html(report), encoding="utf-8")
                    else:
                        path.write_text(
                            json.dumps(
                                {"success": True, "session_id": sid, "report": report}, indent=2
                            ),
                            encoding="utf-8",
                        )
                    video = report.get("analysis_metadata", {}).get("video", {})
                    outcomes[i] = Outcome(
                        str(f),
                        True,
                        str(path),
                        frames=report["session_summary"]["frames_analyzed"],
                        video_s=video.get("duration_seconds", 0.0),
                        wall_s=time.monotonic() - started,
                        score=report["overall_behavior_analysis"]["overallAveragePercentage"],
                        alerts=report["session_summary"]["total_alerts"],
                    )
                except (VideoError, ServiceError) as exc:
                    outcomes[i] = Outcome(str(f), False, getattr(exc, "message", None) or str(exc))
                except Exception as exc:  # one broken file must not stop the batch
                    outcomes[i] = Outcome(str(f), False, f"{type(exc).__name__}: {exc}")
                finally:
                    bar.close()
        finally:
            await runtime.close()
    return [outcomes[i] for i in range(len(files))]


def print_summary(outcomes: list[Outcome]) -> None:
    header = (
        "FILE",
        "STATUS",
        "FRAMES",
        "VIDEO",
        "TIME",
        "SPEED",
        "SCORE",
        "ALERTS",
        "REPORT / ERROR",
    )
    rows = []
    for o in outcomes:
        if o.ok:
            speed = f"{o.video_s / o.wall_s:.1f}x" if o.wall_s > 0 else "-"
            rows.append(
                (
                    o.file,
                    "ok",
                    str(o.frames),
                    f"{o.video_s:.1f}s",
                    f"{o.wall_s:.1f}s",
                    speed,
                    "-" if o.score is None else str(o.score),
                    str(o.alerts),
                    o.detail,
                )
            )
        else:
            rows.append((o.file, "FAILED", "-", "-", "-", "-", "-", "-", o.detail))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print()
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip())
    failed = sum(1 for o in outcomes if not o.ok)
    print(
        f"\n{len(outcomes) - failed} of {len(outcomes)} video(s) analysed"
        + (f", {failed} failed" if failed else "")
    )
