"""The README documents every setting, and the two set-up commands."""

from __future__ import annotations

from pathlib import Path

from server.config import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_in_the_readme():
    missing = [
        f"PROCTOR_{n.upper()}"
        for n in Settings.model_fields
        if f"`PROCTOR_{n.upper()}`" not in README
    ]
    assert not missing, f"add to README (python scripts/settings_table.py): {missing}"


def test_readme_names_the_two_commands():
    assert "make run" in README and "make test" in README
