"""Errors as ``application/problem+json`` (RFC 9457): which HTTP status each service error
answers, and the rendering shared by the public app and the issuer API."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from statuslist.exceptions import DiskFullError, ServiceError, StorageError
from statuslist.service.errors import (
    PROBLEM_BASE,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    HistoryDisabledError,
    NotAcceptableError,
    NotFoundError,
    PayloadTooLargeError,
    PreconditionFailedError,
    StorageFullError,
    UnauthorizedError,
    UnavailableError,
    UnsupportedMediaError,
    ValidationError,
)
from statuslist.web.logs import Throttle

__all__ = ["PROBLEM", "http_status", "internal_error", "problem", "problem_from_http"]

log = logging.getLogger("statuslist.web")

PROBLEM = "application/problem+json"

#: A failing database fails every request: log a few, count the rest.
_storage_log = Throttle()

_STATUS: dict[type[ServiceError], int] = {
    BadRequestError: 400,
    UnauthorizedError: 401,
    ForbiddenError: 403,
    NotFoundError: 404,
    NotAcceptableError: 406,
    ConflictError: 409,
    PreconditionFailedError: 412,
    PayloadTooLargeError: 413,
    UnsupportedMediaError: 415,
    ValidationError: 422,
    HistoryDisabledError: 501,
    UnavailableError: 503,
}


def http_status(err: ServiceError) -> int:
    for cls in type(err).__mro__:
        status = _STATUS.get(cls)
        if status is not None:
            return status
    return getattr(err, "status", 500)


def problem(err: ServiceError, headers: Mapping[str, str] | None = None) -> web.Response:
    status = http_status(err)
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + err.slug,
        "title": err.title,
        "status": status,
        "detail": err.detail,
    }
    if err.field is not None:
        body["field"] = err.field
    extra = dict(headers or {})
    if isinstance(err, UnauthorizedError):
        extra["WWW-Authenticate"] = 'Bearer realm="statuslist"'
    if isinstance(err, UnavailableError) and err.retry_after is not None:
        extra.setdefault("Retry-After", str(err.retry_after))
    return web.Response(text=json.dumps(body), status=status, content_type=PROBLEM, headers=extra)


class _HttpProblemError(ServiceError):
    """An aiohttp HTTP error (no route, wrong method, body too large) as a problem."""

    def __init__(self, exc: web.HTTPException) -> None:
        super().__init__(exc.text or exc.reason if exc.status in (404, 413) else exc.reason)
        self.status = exc.status
        self.title = exc.reason
        self.slug = {404: "not-found", 413: "too-large"}.get(
            exc.status, exc.reason.lower().replace(" ", "-")
        )
        if exc.status == 404:
            self.title = NotFoundError.title
        elif exc.status == 413:
            self.title = PayloadTooLargeError.title


def problem_from_http(
    exc: web.HTTPException, headers: Mapping[str, str] | None = None
) -> web.Response:
    extra = dict(headers or {})
    allow = exc.headers.get("Allow")
    if allow:
        extra["Allow"] = allow
    return problem(_HttpProblemError(exc), extra)


def internal_error(
    request: web.Request, exc: BaseException, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A problem for an exception nothing expected: logged with its trace, answered without."""
    if isinstance(exc, StorageError):
        if _storage_log.allow():
            log.error(
                "storage failed in %s %s: %s%s", request.method, request.path, exc,
                _storage_log.note(),
            )  # fmt: skip
        if isinstance(exc, DiskFullError):
            return problem(StorageFullError(f"nothing was changed: {exc}"), headers)
        return problem(UnavailableError(f"the database is unavailable: {exc}"), headers)
    log.error("unhandled error in %s %s", request.method, request.path, exc_info=exc)
    return problem(ServiceError("internal error; see the server log"), headers)
