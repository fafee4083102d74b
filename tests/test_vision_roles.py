"""The family table of server/vision/roles.py: every model the server can be given has an adapter."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.models.fetch import DEFAULTS
from server.models.registry import DROPIN_LICENCES
from server.vision.roles import FAMILIES, Build, build


def test_every_default_model_family_has_an_adapter():
    for model in DEFAULTS:
        if model.role in FAMILIES:
            assert model.family in FAMILIES[model.role], (model.role, model.family)


def test_every_dropin_family_has_an_adapter():
    vision = {family for table in FAMILIES.values() for family in table}
    assert set(DROPIN_LICENCES) - {"gguf"} <= vision


def test_an_unknown_family_is_refused_by_name():
    with pytest.raises(
        ValueError, match=r"unknown face_detector family 'retinaface' \(known: scrfd, yunet\)"
    ):
        build("face_detector", "retinaface", Build(Path("x.onnx"), ["CPUExecutionProvider"]))
