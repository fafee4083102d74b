"""The 0-100 similarity mapping (model-free)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from server.proctoring.verification import (
    CALIBRATION_FILE,
    SimilarityScale,
    cosine,
    load_scale,
    match,
)


def test_threshold_lands_on_calibrated_cosine():
    s = SimilarityScale("sface", cos_threshold=0.38, width=0.07)
    assert s.to_percent(0.38) == pytest.approx(80.0, abs=0.05)
    assert s.to_percent(0.37) < 80 < s.to_percent(0.39)
    assert s.to_percent(0.38, threshold=90) == pytest.approx(90.0, abs=0.05)


def test_monotonic_and_bounded():
    s = load_scale("sface")
    values = [s.to_percent(c) for c in np.linspace(-1, 1, 41)]
    assert values == sorted(values)
    assert 0 <= values[0] < 1 and 99 < values[-1] <= 100


def test_calibration_file_separates_measured_pairs():
    data = json.loads(CALIBRATION_FILE.read_text())["families"]["sface"]
    s = load_scale("sface")
    assert s.to_percent(data["genuine"]["min"]) >= 80
    assert s.to_percent(data["impostor"]["max"]) < 80


def test_match_and_size_mismatch():
    s = SimilarityScale("sface", 0.38, 0.07)
    a = np.array([1.0, 0.0, 0.0], np.float32)
    assert match(a, a, s, 80).verified is True
    assert match(a, np.array([0.0, 1.0, 0.0], np.float32), s, 80).verified is False
    with pytest.raises(ValueError):
        cosine(a, np.ones(4, np.float32))
