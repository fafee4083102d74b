"""Errors a use case raises; the API turns each into ``{"success": false, "error": ...}``."""

from __future__ import annotations

from . import messages


class ServiceError(Exception):
    status = 400

    def __init__(self, message: str, status: int | None = None, **extra):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.extra = extra


class SessionNotFound(ServiceError):
    status = 404

    def __init__(self):
        super().__init__(messages.INVALID_SESSION)


class SessionEnded(ServiceError):
    def __init__(self):
        super().__init__(messages.SESSION_ENDED)


class Busy(ServiceError):
    status = 503

    def __init__(self, message: str = messages.BUSY, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


class Conflict(ServiceError):
    status = 409
