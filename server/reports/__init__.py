"""Views of a stored end-of-session report: one self-contained HTML page, and a PDF."""
