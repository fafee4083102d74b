"""``proctor analyze-video``: reports for a batch of files with no server, and exit status 1
when any file fails."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from tests.helpers import DATA

ROOT = Path(__file__).resolve().parents[1]


def frame_count(path: Path) -> int:
    """Frames that really decode (no_face.mp4's container claims 98, 95 decode)."""
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    return n


def run_cli(*args: str, cwd: Path, data_dir: Path) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        PROCTOR_DATA_DIR=str(data_dir),
        PROCTOR_LLM_ENABLED="false",
        PYTHONUNBUFFERED="1",
    )
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "analyze-video", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_two_files_two_reports_exit_zero(tmp_path):
    files = [DATA / "single_face.mp4", DATA / "no_face.mp4"]
    out = tmp_path / "reports"
    proc = run_cli(
        *map(str, files),
        "--frame-interval",
        "12",
        "--out",
        str(out),
        cwd=ROOT,
        data_dir=tmp_path / "d",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    written = sorted(p.name for p in out.iterdir())
    assert written == ["no_face.report.json", "single_face.report.json"]
    for f in files:
        body = json.loads((out / f"{f.stem}.report.json").read_text())
        report = body["report"]
        assert body["success"] is True and report["session_id"] == body["session_id"]
        assert report["session_summary"]["frames_analyzed"] == math.ceil(frame_count(f) / 12)
        assert report["analysis_metadata"]["source"] == "video"
    no_face = json.loads((out / "no_face.report.json").read_text())["report"]
    assert "no_face_detected" in [a["type"] for a in no_face["alert_history"]]
    # a summary table: a header and one "ok" row per file
    lines = proc.stdout.splitlines()
    assert any(line.startswith("FILE") and "STATUS" in line for line in lines)
    for f in files:
        assert any(str(f) in line and " ok " in line for line in lines), proc.stdout
    assert "2 of 2 video(s) analysed" in proc.stdout
    assert "frame" in proc.stderr  # the progress bars
    # and nothing else: the libraries' own log lines are kept off the terminal (--verbose shows them)
    for noise in ("XNNPACK", "W0000", "LiteRT", "alembic", "Context impl"):
        assert noise not in proc.stderr, proc.stderr[-2000:]
    # no --save: the sessions went to a throw-away store, not the configured one
    assert not (tmp_path / "d" / "proctor.db").exists()

    from server.cli_video import find_html_renderer

    render = find_html_renderer()  # what --format html uses, on a report the CLI wrote
    if render is not None:
        assert render(report).lstrip().lower().startswith("<!doctype html")


def test_a_bad_file_gives_non_zero_exit(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video\n")
    missing = tmp_path / "missing.mp4"
    out = tmp_path / "reports"
    proc = run_cli(str(bad), str(missing), "--out", str(out), cwd=ROOT, data_dir=tmp_path / "d")
    assert proc.returncode == 1
    rows = [line for line in proc.stdout.splitlines() if "FAILED" in line]
    assert len(rows) == 2 and "not a video" in rows[0] and "not found" in rows[1]
    assert not list(out.glob("*"))


def test_html_without_a_renderer_fails_clearly(tmp_path, monkeypatch, capsys):
    from server import cli, cli_video

    monkeypatch.setattr(cli_video, "HTML_RENDERERS", ("server.no_such_renderer",))
    code = cli.main(
        ["analyze-video", str(DATA / "single_face.mp4"), "--format", "html", "--out", str(tmp_path)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "render_report_html" in err and "--format json" in err
    assert not list(tmp_path.glob("*"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--frame-interval", "0"], "frame_interval"),
        (["--job-data", "[1]"], "JSON object"),
    ],
)
def test_bad_options_exit_two(tmp_path, capsys, args, message):
    from server import cli

    code = cli.main(["analyze-video", str(DATA / "single_face.mp4"), "--out", str(tmp_path), *args])
    assert code == 2 and message in capsys.readouterr().err
