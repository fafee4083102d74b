"""The candidate page's microphone in Debian's chromium: a fake microphone plays two_turns.wav
(two voices taking turns), the page sends 1 s WAV chunks from an AudioWorklet, and the
session's report hears the speech.  Skipped without chromium or playwright, like the other
browser tests."""

from __future__ import annotations

from tests.helpers import DATA, launch_with_fake_media, playwright_or_skip
from tests.live_server import LiveServer

WAIT_MS = 120_000  # the longest wait for a condition in the page (never a timing assertion)

sync_api = playwright_or_skip()


def test_candidate_microphone_sends_audio_chunks(tmp_path):
    server = LiveServer(tmp_path / "data").start()
    try:
        with server.client() as http:
            sid = http.post("/api/sessions/start", json={}).json()["session_id"]
        with sync_api.sync_playwright() as p:
            browser = launch_with_fake_media(
                p,
                f"--use-file-for-fake-audio-capture={DATA / 'audio' / 'two_turns.wav'}",
                "--autoplay-policy=no-user-gesture-required",
            )
            errors: list[str] = []
            page = browser.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server.url}/console/candidate?session={sid}")
            page.wait_for_selector("#step-identity:not(.hidden)", timeout=WAIT_MS)
            # identity is not under test here (test_console_browser covers it): go straight on
            page.evaluate("document.getElementById('to-interview').disabled = false")
            page.click("#to-interview")
            page.click("#begin-btn")
            page.wait_for_function(
                "() => Number(document.body.dataset.audioChunks || 0) >= 6"
                " || document.body.dataset.micError",
                timeout=WAIT_MS,
            )
            assert page.evaluate("document.body.dataset.micError || ''") == ""
            page.click("#end-btn")
            page.wait_for_selector("#step-done:not(.hidden)", timeout=WAIT_MS)
            browser.close()
        assert errors == []
        with server.client() as http:
            report = http.get(f"/api/sessions/{sid}/report").json()["report"]
        audio = report["audio_analysis"]
        assert audio["analyzed"] and audio["source"] == "live"
        assert audio["audio_seconds"] >= 5.5
        assert audio["speaking_seconds"] > 1.0  # the fake microphone's speech was heard
    finally:
        server.stop()
