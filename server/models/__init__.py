"""Model files: the manifest, the offline supply from PyPI packages, and drop-in discovery."""
