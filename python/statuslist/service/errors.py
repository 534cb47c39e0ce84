"""The refusals of the service layer, one class each: a stable ``slug`` and ``title`` (RFC 9457
``type`` and ``title`` once the web layer renders them), the ``detail``, and where one input is at
fault, the ``field`` that is. Which HTTP status each one answers is the web layer's business
(``statuslist.web.problems``); the service knows nothing of HTTP."""

from __future__ import annotations

from statuslist.exceptions import ServiceError

__all__ = [
    "PROBLEM_BASE",
    "BadRequestError",
    "ConflictError",
    "ForbiddenError",
    "HistoryDisabledError",
    "ListDamagedError",
    "NotAcceptableError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PreconditionFailedError",
    "ServiceError",
    "StorageFullError",
    "UnauthorizedError",
    "UnavailableError",
    "UnsupportedMediaError",
    "ValidationError",
]

PROBLEM_BASE = "urn:statuslist:problem:"


class BadRequestError(ServiceError, ValueError):
    """The request cannot be read (not JSON, wrong media type, broken encoding)."""

    slug, title = "malformed", "Malformed request"


class UnauthorizedError(ServiceError):
    slug, title = "unauthorized", "Missing or invalid API key"


class ForbiddenError(ServiceError):
    slug, title = "forbidden", "API key not allowed to do this"


class NotFoundError(ServiceError):
    slug, title = "not-found", "Not found"


class NotAcceptableError(ServiceError):
    slug, title = "not-acceptable", "No acceptable representation"


class PreconditionFailedError(ServiceError):
    slug, title = "precondition-failed", "A precondition of the request does not hold"


class ConflictError(ServiceError):
    slug, title = "conflict", "Conflicts with the current state"


class PayloadTooLargeError(ServiceError, ValueError):
    slug, title = "too-large", "Request too large"


class UnsupportedMediaError(ServiceError, ValueError):
    """The request's body comes in a media type or content coding that is not accepted."""

    slug, title = "unsupported-media", "Unsupported request body"


class ValidationError(ServiceError, ValueError):
    """The request reads, but a value in it is not acceptable."""

    slug, title = "invalid", "Invalid request"


class HistoryDisabledError(ServiceError):
    slug, title = "history-disabled", "Historical resolution is not enabled"


class UnavailableError(ServiceError):
    """The operation cannot be carried out now (database down, list not yet signed)."""

    slug, title = "unavailable", "Temporarily unavailable"
    #: Seconds a client should wait before retrying (``Retry-After``), or ``None``.
    retry_after: int | None = 1


class StorageFullError(UnavailableError):
    """The database's disk is full: nothing was changed; retrying after space is freed works."""

    slug, title = "storage-full", "The database's disk is full"
    retry_after = 30


class ListDamagedError(UnavailableError):
    """A stored list failed its integrity checks on start; it is not served until repaired."""

    slug, title = "list-damaged", "The stored list is damaged"
    retry_after = None
