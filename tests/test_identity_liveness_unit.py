"""Model-free tests of the identity chain, the attempt ledger and the liveness scoring."""

from __future__ import annotations

import numpy as np

from server.proctoring.alerts import AlertConfig, AlertEngine, FrameSignals
from server.proctoring.identity import (
    LINK_DOCUMENT_LIVE,
    LINK_DOCUMENT_REGISTERED,
    LINK_LIVE_REGISTERED,
    IdentityLedger,
    check_document,
    check_registration,
    document_section,
    document_summary_line,
    pack_embedding,
    unpack_embedding,
)
from server.proctoring.liveness import (
    LivenessCues,
    LivenessTracker,
    _homography_residual,
    single_image_liveness,
)
from server.proctoring.verification import SimilarityScale

SCALE = SimilarityScale("sface", 0.45, 0.06)


def unit(seed: int, base: np.ndarray | None = None, mix: float = 0.0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=128)
    if base is not None:
        v = mix * base + (1 - mix) * v / np.linalg.norm(v)
    return (v / np.linalg.norm(v)).astype(np.float32)


ALICE = unit(1)
ALICE_2 = unit(2, ALICE, 0.85)  # the same person, another photo (cosine ~0.85)
BOB = unit(3)


def test_document_matches_live_and_registered():
    r = check_document(ALICE, ALICE_2, ALICE, SCALE, 80.0)
    assert r.verified and r.message is None
    assert {link.name for link in r.links} == {
        LINK_DOCUMENT_LIVE,
        LINK_LIVE_REGISTERED,
        LINK_DOCUMENT_REGISTERED,
    }


def test_impostor_registered_first_then_real_document_and_photo_is_refused():
    # Bob registered his own face; then shows Alice's ID and a photo of Alice
    r = check_document(ALICE, ALICE_2, BOB, SCALE, 80.0)
    assert r.link(LINK_DOCUMENT_LIVE).match.verified  # the reference's check alone passes
    assert not r.verified
    assert r.failed.name == LINK_LIVE_REGISTERED
    assert "already registered" in r.message


def test_registration_after_a_document_must_match_it():
    assert check_registration(ALICE_2, ALICE, SCALE, 80.0).verified
    bad = check_registration(BOB, ALICE, SCALE, 80.0)
    assert not bad.verified and "ID document" in bad.message
    assert check_registration(BOB, None, SCALE, 80.0).verified  # nothing to compare with yet


def test_embeddings_of_another_model_are_not_a_mismatch():
    r = check_registration(BOB, np.ones(512, np.float32), SCALE, 80.0)
    assert r.verified and not r.links


def test_pack_round_trip():
    assert np.allclose(unpack_embedding(pack_embedding(ALICE)), ALICE)
    assert unpack_embedding(None) is None and unpack_embedding("%%%") is None


def test_ledger_counts_and_blocks_until_a_proctor_reregisters():
    ledger = IdentityLedger(None)
    for _ in range(3):
        ledger.record("document", False, "t")
    ledger.record("register", True, "t")
    assert ledger.failures == 3 and ledger.blocked(3) and not ledger.blocked(4)
    assert not ledger.blocked(0)  # 0: unlimited
    assert "3 of 3" in ledger.blocked_message(3)
    ledger.record("reregister", True, "t", by="proctor")
    assert not ledger.blocked(3)
    state = ledger.as_state()
    assert state["document_attempts"] == 3 and state["registration_attempts"] == 1
    assert [e["step"] for e in state["events"]][-1] == "reregister"


def test_document_section_and_summary_line():
    missing = document_section(None, None, registered=True)
    assert missing["status"] == "missing" and missing["attempts"] == 0
    assert "No ID document check" in document_summary_line(missing)
    ledger = IdentityLedger(None)
    ledger.record("document", False, "t1")
    ledger.record("document", False, "t2")
    failed = document_section(
        {"verified": False, "similarity": 40.0, "document_type": "pan", "timestamp": "t2"},
        ledger.as_state(),
        registered=False,
    )
    assert failed["status"] == "failed" and failed["attempts"] == 2
    assert failed["document_type"] == "pan" and failed["similarity"] == 40.0
    assert "failed (2 attempts)" in document_summary_line(failed)
    ok = document_section({"verified": True, "document_type": "passport"}, None, registered=True)
    assert ok["status"] == "verified" and document_summary_line(ok) is None
    video = document_section(None, None, registered=False, kind="video")
    assert video["status"] == "not_applicable" and document_summary_line(video) is None


# --- liveness -------------------------------------------------------------------------

RNG = np.random.default_rng(0)
FACE = RNG.uniform(0.4, 0.6, size=(31, 2))
FACE[4], FACE[13] = (0.45, 0.45), (0.55, 0.45)  # eye corners: eye distance 0.1


def homography(points: np.ndarray, t: float) -> np.ndarray:
    h = np.array([[1 + 0.02 * t, 0.01 * t, 0.01 * t], [-0.01 * t, 1, 0.005 * t], [0.1 * t, 0, 1]])
    p = np.c_[points, np.ones(len(points))] @ h.T
    return p[:, :2] / p[:, 2:]


def test_homography_residual_is_zero_for_a_plane_and_not_for_depth():
    assert _homography_residual(FACE, homography(FACE, 1.0)) < 1e-6
    depth = FACE.copy()
    depth[:10] += 0.01  # a third of the points move differently (a head turning)
    assert _homography_residual(FACE, depth) > 0.002


def cues(points, change=20.0, expression=None, blink=0.0, moire=None, bezel=None):
    return LivenessCues(
        points=points.tolist(),
        blink=blink,
        expression=expression or [0.1] * 8,
        moire=moire,
        bezel=bezel,
        frame_change=change,
    )


def tracker(frames: int = 6):
    return LivenessTracker({}, frames=frames, threshold=50.0, still_frames=4)


def test_a_flat_picture_in_a_frame_fails_after_the_first_frames():
    t = tracker()
    for i in range(6):
        r = t.update(cues(homography(FACE, i * 0.5), bezel=0.75))  # a print's border
    assert r.final and not r.passed and t.attack() is True
    assert r.signals["depth"] < 0.01 and r.signals["artefact"] > 0.25


def test_a_flat_picture_without_artefacts_fails_only_after_patience():
    t = tracker()
    for i in range(6):
        t.update(cues(homography(FACE, i * 0.5)))
    assert t.attack() is None  # no sign of life yet, nothing of a screen: keep watching
    for i in range(12):
        r = t.update(cues(homography(FACE, i * 0.3)))
    assert t.attack() is True and r.final and not r.passed


def test_a_talking_face_passes():
    t = tracker()
    for i in range(6):
        pts = FACE + RNG.normal(0, 0.002, FACE.shape)
        r = t.update(cues(pts, expression=[0.1 + 0.4 * (i % 2)] + [0.1] * 7))
    assert r.final and r.passed and t.attack() is False
    assert r.score >= 50


def test_strong_moire_fails_a_moving_face():
    t = tracker()
    for i in range(6):
        pts = FACE + RNG.normal(0, 0.002, FACE.shape)
        t.update(cues(pts, expression=[0.1 + 0.4 * (i % 2)] + [0.1] * 7, moire=1.0))
    assert t.attack() is True


def test_a_still_picture_fails_at_once_even_after_passing():
    t = tracker()
    for i in range(6):
        t.update(cues(FACE, expression=[0.1 + 0.4 * (i % 2)] + [0.1] * 7))
    assert t.attack() is False
    for _ in range(3):
        t.update(cues(FACE, change=1.0))
    assert t.attack() is False  # three still frames: not yet
    r = t.update(cues(FACE, change=2.0))
    assert t.attack() is True and not r.passed and r.signals["still_frames"] == 4
    t.update(cues(FACE, change=30.0))  # moving again: the still run is over
    assert t.attack() is False


def test_screen_cues_pull_the_score_down():
    clean = single_image_liveness(LivenessCues(moire=0.0, glare=0.0, bezel=0.0), 25.0)
    screen = single_image_liveness(LivenessCues(moire=1.0, glare=0.0, bezel=1.0), 25.0)
    assert clean.passed and not clean.final and clean.score == 100.0
    assert not screen.passed and screen.score < 25
    assert "single image" in clean.signals["method"]


def test_presentation_attack_rule_fires_once_then_repeats():
    engine = AlertEngine(AlertConfig(repeat_frames=3))
    fired = []
    for i in range(8):
        sig = FrameSignals(
            timestamp=float(i),
            face_count=1,
            presentation_attack=i >= 2,
            liveness={"score": 10.0, "signals": {"depth": 0.001}},
        )
        fired += [(i, a) for a in engine.evaluate(sig) if a.type == "presentation_attack"]
    assert [i for i, _ in fired] == [2, 5]
    alert = fired[0][1]
    assert alert.severity == "critical"
    assert alert.as_contract()["liveness_score"] == 10.0
