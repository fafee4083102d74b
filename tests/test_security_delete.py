"""DELETE removes everything of a session: after it, no table and no file of the data folder
holds the session id or the candidate's name (a live session with a registered face and
frames, and a video session with its job row and uploaded file), and no log line named the
candidate."""

from __future__ import annotations

import logging
import uuid

from tests.helpers import DATA, data_url


def files_holding(root, *needles: bytes) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {n!r}" for n in needles if n in data]
    return found


def test_delete_leaves_nothing_of_the_session(client, caplog):
    data_dir = client.app.state.settings.data_dir
    name = f"Zelda Deletable {uuid.uuid4().hex[:8]}"
    with caplog.at_level(logging.DEBUG):
        live = client.post(
            "/api/sessions/start", json={"job_data": {"candidateName": name, "jobTitle": "QA"}}
        ).json()["session_id"]
        r = client.post(
            f"/api/sessions/{live}/register-face", json={"face": data_url("single_face.jpg")}
        )
        assert r.status_code == 200 and r.json()["success"], r.text
        for _ in range(2):
            r = client.post(f"/api/sessions/{live}/frame", json={"frame": data_url("obama.jpg")})
            assert r.status_code == 200
        assert client.post(f"/api/sessions/{live}/end").status_code == 200

        with (DATA / "single_face.mp4").open("rb") as fh:
            r = client.post(
                "/api/videos/analyze",
                files={"video": ("interview.mp4", fh, "video/mp4")},
                data={"frame_interval": "24", "jobData": f'{{"candidateName": "{name}"}}'},
            )
        assert r.status_code == 200, r.text
        video, job = r.json()["session_id"], r.json()["job_id"]

        ids = [live.encode(), video.encode(), job.encode(), name.encode()]
        assert files_holding(data_dir, *ids), "the data is stored before the delete"
        for sid in (live, video):
            r = client.delete(f"/api/sessions/{sid}")
            assert r.status_code == 200, r.text
    assert client.get(f"/api/jobs/{job}").status_code == 404
    assert client.get(f"/api/sessions/{live}/metrics").status_code == 404
    assert files_holding(data_dir, *ids) == []
    assert name not in caplog.text
