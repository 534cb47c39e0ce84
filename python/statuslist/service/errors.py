"""The errors of the service layer. Each carries its HTTP status, a stable problem ``type`` and
``title`` (RFC 9457) and, where one input is at fault, the ``field`` that is."""

from __future__ import annotations

__all__ = [
    "BadRequestError",
    "ConflictError",
    "ForbiddenError",
    "HistoryDisabledError",
    "NotAcceptableError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ServiceError",
    "UnauthorizedError",
    "UnavailableError",
    "ValidationError",
]

PROBLEM_BASE = "urn:statuslist:problem:"


class ServiceError(Exception):
    status = 500
    slug = "internal"
    title = "Internal error"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field

    @property
    def type(self) -> str:
        return PROBLEM_BASE + self.slug


class BadRequestError(ServiceError):
    status, slug, title = 400, "malformed", "Malformed request"


class UnauthorizedError(ServiceError):
    status, slug, title = 401, "unauthorized", "Missing or invalid API key"


class ForbiddenError(ServiceError):
    status, slug, title = 403, "forbidden", "API key not allowed to do this"


class NotFoundError(ServiceError):
    status, slug, title = 404, "not-found", "Not found"


class NotAcceptableError(ServiceError):
    status, slug, title = 406, "not-acceptable", "No acceptable representation"


class ConflictError(ServiceError):
    status, slug, title = 409, "conflict", "Conflicts with the current state"


class PayloadTooLargeError(ServiceError):
    status, slug, title = 413, "too-large", "Request too large"


class ValidationError(ServiceError):
    status, slug, title = 422, "invalid", "Invalid request"


class HistoryDisabledError(ServiceError):
    status, slug, title = 501, "history-disabled", "Historical resolution is not enabled"


class UnavailableError(ServiceError):
    status, slug, title = 503, "unavailable", "Temporarily unavailable"
