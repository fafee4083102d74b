"""Ending a session does not wait for the model: the template answers within the budget,
the model finishes in the background, the stored report is updated and ``report_updated``
is pushed. Real SmolLM2-135M (the mechanics; quality is tested with Qwen in test_llm_quality)."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from server.config import Settings
from server.main import create_app
from tests.helpers import data_url, image, needs_llama
from tests.report_session import report_settings, video_frames

SMOL = "SmolLM2-135M-Instruct.Q4_1.gguf"

pytestmark = needs_llama(Settings().models_dir / SMOL)


def test_end_answers_with_the_template_and_the_model_updates_the_report(tmp_path):
    # budget 0: /end never waits for the model, whatever the machine's speed
    settings = report_settings(
        tmp_path, llm_enabled=True, llm_model=SMOL, llm_budget_s=0.0, llm_timeout_s=300
    )
    with TestClient(create_app(settings)) as client:
        events = []
        client.app.state.service.subscribe(lambda sid, event, payload: events.append((sid, event)))
        job = {"candidateName": "Ada Lovelace", "jobTitle": "Analyst", "company": "Babbage & Co"}
        sid = client.post("/api/sessions/start", json={"job_data": job}).json()["session_id"]
        for frame in [image("obama.jpg"), *video_frames("single_face.mp4", 3)]:
            r = client.post(f"/api/sessions/{sid}/frame", json={"frame": data_url(frame)})
            assert r.status_code == 200, r.text
        ended = client.post(f"/api/sessions/{sid}/end").json()["report"]
        meta = ended["analysis_metadata"]
        assert meta["summary_pending"] is True and meta["summary_reason"] == "pending"
        assert meta["summary_source"] == "template" and meta["llm_enhanced"] is False
        assert ended["ai_summary"]["summary"].strip()

        deadline = time.monotonic() + 300  # only bounds a hang; no timing is asserted
        while True:
            report = client.get(f"/api/sessions/{sid}/report").json()["report"]
            if not report["analysis_metadata"]["summary_pending"]:
                break
            assert time.monotonic() < deadline, "the background summary never finished"
            time.sleep(0.5)
        meta = report["analysis_metadata"]
        assert meta["summary_reason"] != "pending"
        assert meta["summary_source"] == ("llm" if meta["llm_enhanced"] else "template")
        assert meta["llm_model"] == SMOL.removesuffix(".gguf")
        # the model ran: its tokens are counted whether or not its text passed
        assert report["token_consumption"]["total_api_calls"] >= 1
        if meta["llm_enhanced"]:
            assert report["ai_summary"]["summary"] != ended["ai_summary"]["summary"]
        else:
            assert report["ai_summary"]["summary"] == ended["ai_summary"]["summary"]
        assert (sid, "report_updated") in events
        # everything else in the report is what /end answered
        for key in ("session_summary", "overall_behavior_analysis", "face_verification_summary"):
            assert report[key] == ended[key]
