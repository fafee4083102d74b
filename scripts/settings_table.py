"""Print the README's settings table from ``server.config.Settings`` (one source of truth).

python scripts/settings_table.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.config import REPO_ROOT, Settings  # noqa: E402


def rows() -> list[tuple[str, str, str]]:
    out = []
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, Path):
            default = (
                f"{default.relative_to(REPO_ROOT)}/"
                if default.is_relative_to(REPO_ROOT)
                else str(default)
            )
        out.append(
            (
                f"PROCTOR_{name.upper()}",
                "" if default is None else f"{default}",
                field.description or "",
            )
        )
    return out


def main() -> None:
    print("| variable | default | meaning |")
    print("|---|---|---|")
    for var, default, desc in rows():
        print(f"| `{var}` | `{default}` | {desc} |" if default else f"| `{var}` | | {desc} |")


if __name__ == "__main__":
    main()
