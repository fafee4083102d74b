"""GET /api/sessions/{id}/report?format=html: one self-contained page, user input escaped,
and drawn by a real browser (Debian's chromium through Playwright) without errors."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from server.main import create_app
from server.reports.html import render_report_html
from tests.helpers import CHROMIUM, CHROMIUM_ARGS
from tests.report_session import DrivenSession, drive, report_settings

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PAGE_URL = "http://proctor.test/api/sessions/{sid}/report?format=html"
# Candidate names are user input: markup in one must show as text, never run.
NAME = 'Zoë <img src=x onerror=alert(1)> O\'Brien & "Sons"'
JOB = {
    "candidateName": NAME,
    "jobTitle": "Software Engineer <b>II</b>",
    "company": "TechCorp",
    "interviewType": "Technical",
}
CHARTS = ("metrics", "similarity", "emotions", "alerts", "speech")


@pytest.fixture(scope="module")
def app_client(tmp_path_factory):
    with TestClient(create_app(report_settings(tmp_path_factory.mktemp("report-html")))) as c:
        yield c


@pytest.fixture(scope="module")
def run(app_client) -> DrivenSession:
    return drive(app_client, JOB)


@pytest.fixture(scope="module")
def page_html(app_client, run) -> str:
    r = app_client.get(f"/api/sessions/{run.session_id}/report", params={"format": "html"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    return r.text


def test_html_is_self_contained(page_html):
    assert page_html.startswith("<!DOCTYPE html>")
    assert "<script" not in page_html.lower()
    # nothing to fetch: no src/href other than data: or in-page, no CSS url() or @import
    tags = "".join(re.findall(r"<[a-zA-Z][^>]*>", page_html))
    refs = re.findall(
        r"""\b(?:src|href|xlink:href|action|poster)\s*=\s*["']?([^"'\s>]*)""", tags, re.I
    )
    assert refs == ["data:,"], (
        refs
    )  # the empty favicon, which keeps the browser from asking for one
    assert "url(" not in page_html and "@import" not in page_html
    assert "default-src 'none'" in page_html  # and the browser is told to refuse anything else
    for kind in CHARTS:
        assert f'data-chart="{kind}"' in page_html, kind


def test_html_escapes_user_input(page_html):
    assert "<img src=x" not in page_html and "<b>II</b>" not in page_html
    assert "Zoë &lt;img src=x onerror=alert(1)&gt; O&#x27;Brien &amp; &quot;Sons&quot;" in page_html
    assert "Software Engineer &lt;b&gt;II&lt;/b&gt;" in page_html


def test_html_shows_the_report_numbers(page_html, run):
    report = run.end["report"]
    assert f'aria-label="Overall score {report["ai_summary"]["overallVideoScore"]}"' in page_html
    assert page_html.count('<tr><td class="t">') == len(report["alert_history"]) > 0
    ver = report["face_verification_summary"]
    assert f"{ver['successful_verifications']} of {ver['total_verifications']} matched" in page_html
    assert html.escape(report["ai_summary"]["summary"]) in page_html


def test_html_renders_a_session_without_frames(app_client):
    sid = app_client.post("/api/sessions/start", json={}).json()["session_id"]
    assert app_client.post(f"/api/sessions/{sid}/end").status_code == 200
    r = app_client.get(f"/api/sessions/{sid}/report", params={"format": "html"})
    assert r.status_code == 200
    assert "No frame with a face was analysed" in r.text
    assert "No face registered: identity was not checked" in r.text
    assert "No alert was raised" in r.text
    assert app_client.get(
        f"/api/sessions/{sid}/report", params={"format": "pdf"}
    ).content.startswith(b"%PDF-")


def test_html_escapes_every_report_string():
    """Alert messages and summaries are escaped too, whatever their source."""
    evil = "<script>alert(1)</script>"
    report = {
        "session_id": evil,
        "interview": {"candidate_name": evil, "job_title": evil},
        "ai_summary": {
            "summary": evil,
            "keyStrengths": [evil],
            "areasOfGrowth": [evil],
            "overallVideoScore": 50,
        },
        "video_analysis_insights": {"recommendations": [evil]},
        "overall_behavior_analysis": {"summary": evil},
        "cultural_fit_analysis": {"summary": evil},
        "alert_history": [{"type": evil, "severity": evil, "message": evil, "timestamp": 1.0}],
        "analysis_metadata": {"llm_provider": evil, "llm_model": evil, "summary_source": evil},
    }
    page = render_report_html(report)
    assert "<script" not in page
    assert page.count("&lt;script&gt;") >= 10


def _chromium_or_skip():
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed: `make venv` installs the test extra")
    if not CHROMIUM.exists():
        reason = "Debian's chromium is missing at /usr/bin/chromium: `make browser` installs it (apt-get, as root)"
        if shutil.which("apt-get") is None:
            pytest.skip(reason + "; this machine has no apt-get")
        pytest.skip(reason)


def test_html_report_in_chromium(run, page_html):
    _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    url = PAGE_URL.format(sid=run.session_id)
    requests, failed, console_errors, page_errors = [], [], [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda req: requests.append(req.url))
            page.on("requestfailed", lambda req: failed.append(req.url))
            page.on(
                "console",
                lambda msg: console_errors.append(msg.text) if msg.type == "error" else None,
            )
            page.on("pageerror", lambda exc: page_errors.append(str(exc)))

            # the page as the server answered it; any other request is refused (and recorded)
            def serve(route):
                if route.request.url == url:
                    route.fulfill(
                        status=200, body=page_html, content_type="text/html; charset=utf-8"
                    )
                else:
                    route.abort()

            page.route("**/*", serve)
            response = page.goto(url, wait_until="load")
            assert response is not None and response.ok

            charts = page.eval_on_selector_all(
                "svg.chart",
                """svgs => svgs.map(svg => ({
                    kind: svg.dataset.chart,
                    width: svg.getBoundingClientRect().width,
                    height: svg.getBoundingClientRect().height,
                    drawn: [...svg.querySelectorAll('path.series, path.area, path.mark, circle.mark')]
                        .filter(el => el.tagName === 'circle' || (el.getAttribute('d') || '').length > 10)
                        .map(el => { const b = el.getBBox(); return b.width + b.height; })
                        .filter(size => size > 0).length,
                }))""",
            )
            heading = page.inner_text("h1")
            injected = page.eval_on_selector_all("main img", "els => els.length")
            rows = page.eval_on_selector_all("table.alerts tbody tr", "els => els.length")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()

    report = run.end["report"]
    assert console_errors == [] and page_errors == []
    assert requests == [url] and failed == []
    assert [c["kind"] for c in charts] == list(CHARTS)
    for c in charts:
        assert c["width"] > 600 and c["height"] > 60, c
    drawn = {c["kind"]: c["drawn"] for c in charts}
    assert drawn["metrics"] == 4  # four live metric lines
    assert drawn["similarity"] == 1
    assert drawn["emotions"] >= 2  # at least two emotions' areas
    assert drawn["alerts"] == len(report["alert_history"])
    assert heading == NAME and injected == 0
    assert rows == len(report["alert_history"])
    assert (ARTIFACTS / "report.png").stat().st_size > 50_000
