"""proctor: an on-premise, fully offline interview proctoring server."""

__version__ = "0.1.0"
