"""Keeps keys, tokens and tickets out of every log line (the access log included).

Credentials travel in headers, which nothing logs; this filter is the second line for a
client that still puts one in a URL (``?key=...``) or an error text that quotes one.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
# ?key=... &token=... ticket=... api_key=... in URLs and messages
QUERY_SECRET = re.compile(r"(?i)\b(key|token|ticket|api_key|apikey|secret)=([^&\s\"']+)")
# Our own credential shapes, wherever they appear
SHAPED_SECRET = re.compile(r"\b(ct|tk|pk)_[A-Za-z0-9_\-.]{16,}")
BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9_\-.=:]+")


def redact(text: str) -> str:
    text = QUERY_SECRET.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = SHAPED_SECRET.sub(REDACTED, text)
    return BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.name != "uvicorn.access":  # its formatter needs the args as they are
            try:
                message = record.getMessage()
            except (TypeError, ValueError):
                return True
            clean = redact(message)
            if clean != message:  # a secret made of a format and its args: log it joined
                record.msg, record.args = clean, ()
        return True


def install(*logger_names: str) -> RedactSecrets:
    """Attach the filter to the named loggers and to every handler of the root logger."""
    flt = RedactSecrets()
    for name in logger_names or ("uvicorn.access", "uvicorn.error", "proctor", "server"):
        logging.getLogger(name).addFilter(flt)
    for handler in logging.getLogger().handlers:
        handler.addFilter(flt)
    return flt
