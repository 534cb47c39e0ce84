"""The public app's handlers: Status List Tokens (GET/HEAD/OPTIONS, ``?time=``), JWKS,
aggregation, health, metrics, OpenAPI — no authentication, CORS ``*``. A token GET answers from
the served-token cache: no encoding, signing or database read per request."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any

from aiohttp import web

from statuslist import __version__
from statuslist.exceptions import ServiceError
from statuslist.service.errors import (
    BadRequestError,
    HistoryDisabledError,
    NotAcceptableError,
    NotFoundError,
    PreconditionFailedError,
    UnavailableError,
)
from statuslist.web.commands import canonical_int, path_list_id
from statuslist.web.keys import METRICS, RUNTIME, SETTINGS
from statuslist.web.negotiation import etag_matches, etag_matches_strong, http_date
from statuslist.web.openapi import MAX_TIME, openapi
from statuslist.web.problems import internal_error, problem, problem_from_http
from statuslist.web.served import (
    CORS,
    MEDIA,
    VARY,
    Representation,
    ServedList,
    WireResponse,
    cache_headers,
    etag_of,
)
from statuslist.web.wire import wire_usable

__all__ = ["ROUTES", "public_middleware"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_NO_STORE = {**CORS, "Cache-Control": "no-store"}
_INSTANCE = {"Cache-Control": "no-store"}


@web.middleware
async def public_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Metrics for every request (the ``/v1`` app's included); errors of the public routes as
    problem+json with CORS headers (the ``/v1`` app answers its own)."""
    started = time.perf_counter()
    try:
        response = await handler(request)
        if type(response) is WireResponse:  # a cached token: counted, not timed
            request.app[METRICS].token_answer(response.status)
            return response
    except ServiceError as err:
        response = problem(err, CORS)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        v1 = request.path.startswith("/v1/")  # no such /v1 route: still not cacheable
        response = problem_from_http(exc, {"Cache-Control": "no-store"} if v1 else CORS)
    except Exception as exc:
        response = internal_error(request, exc, CORS)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    request.app[METRICS].request_done(
        route, request.method, response.status, time.perf_counter() - started
    )
    return response


# -- Status List Tokens -------------------------------------------------------------------------


def _header(request: web.Request, name: str) -> str | None:
    """A header's value, its field lines combined when it was sent on several (RFC 9110
    §5.3)."""
    values = request.headers.getall(name, None)
    if not values:
        return None
    return values[0] if len(values) == 1 else ", ".join(values)


def _query(request: web.Request, name: str) -> str:
    """A query parameter that must be sent once (which of two values was meant?)."""
    values = request.query.getall(name)
    if len(values) != 1:
        raise BadRequestError(f"{name} must be given once", field=name)
    return values[0]


def _unchanged_since(
    request: web.Request, name: str, rep: Representation, served: ServedList
) -> bool | None:
    """Whether the token is known unchanged since the HTTP-date in header ``name``; None when
    the header is absent or not an HTTP-date (ignored, RFC 9110 §13.1.3, §13.1.4)."""
    value = request.headers.get(name)  # one line (see _SINGLETONS)
    since = None if value is None else http_date(value)
    if since is None:
        return None
    if served.same_second and since == rep.iat:
        return False  # the client may hold the other token of that second
    return rep.iat <= since


def _failed_precondition(
    request: web.Request, rep: Representation, served: ServedList
) -> str | None:
    """RFC 9110 §13.2.2, steps 1 and 2: the header whose condition is false, if one is:
    ``If-Match`` (strong comparison), else ``If-Unmodified-Since``."""
    if_match = _header(request, "If-Match")
    if if_match is not None:
        return None if etag_matches_strong(if_match, rep.etag) else "If-Match"
    if _unchanged_since(request, "If-Unmodified-Since", rep, served) is False:
        return "If-Unmodified-Since"
    return None


def _not_modified(request: web.Request, rep: Representation, served: ServedList) -> bool:
    inm = _header(request, "If-None-Match")
    if inm is not None:
        return etag_matches(inm, rep.etag)
    return _unchanged_since(request, "If-Modified-Since", rep, served) is True


def _unavailable() -> web.Response:
    return problem(UnavailableError("the token is being published; retry shortly"), _NO_STORE)


#: Header fields of which nginx (the offload and CDN configs) refuses a second line with a 400;
#: the token GET does the same, so both answer any request alike.
_SINGLETONS = ("If-Modified-Since", "If-Unmodified-Since", "Authorization")


async def get_status_list(request: web.Request) -> web.StreamResponse:
    tokens = request.app[RUNTIME].tokens
    served = tokens.get(request.match_info["list_id"])  # only well-formed ids are in the cache
    headers = request.headers
    for name in _SINGLETONS:
        if name in headers and len(headers.getall(name)) > 1:
            raise BadRequestError(f"{name} must be sent once", field=name)
    if served is None:
        list_id = path_list_id(request)
        svc = request.app[RUNTIME].service
        follower = svc.follower
        if follower is not None and await follower.find(list_id):  # created elsewhere just now
            served = tokens.get(list_id)
        if served is None:
            if list_id in svc.lists.damaged:
                return problem(svc.lists.damage_error(list_id), _NO_STORE)
            if svc.lists.find(list_id) is None:
                raise NotFoundError(f"no status list {list_id!r}")  # an id: short, ASCII
            return _unavailable()
    fmt = tokens.negotiate(_header(request, "Accept"), served)
    if fmt is None:  # the answer depends on Accept too: a cache must know
        err = NotAcceptableError(
            f"this list is served as {', '.join(served.offered)}", field="Accept"
        )
        return problem(err, {**CORS, "Vary": VARY})
    if request.query_string and "time" in request.query:
        return await _historical(request, request.match_info["list_id"], fmt)
    if fmt == "jwt" and tokens.gzip_ok(_header(request, "Accept-Encoding")):
        rep = served.reps["jwt+gzip"]
    else:
        rep = served.reps[fmt]
    now = time.time()
    if rep.exp <= now:
        return _unavailable()
    if "If-Match" in headers or "If-Unmodified-Since" in headers:
        failed = _failed_precondition(request, rep, served)
        if failed is not None:
            return problem(
                PreconditionFailedError(
                    f"{failed} does not hold for the current token (ETag {rep.etag})",
                    field=failed,
                ),
                {**_NO_STORE, "Vary": VARY},
            )
    modified = not _not_modified(request, rep, served)
    if request.method == "GET" and wire_usable(request):
        return WireResponse(rep, now, modified=modified)
    if not modified:
        return web.Response(status=304, headers=rep.headers_at(now, modified=False))
    return web.Response(body=rep.body, headers=rep.headers_at(now))


async def _historical(request: web.Request, list_id: str, fmt: str) -> web.Response:
    settings = request.app[SETTINGS]
    # A malformed ?time= is the client's error whether or not history is kept.
    at = canonical_int(_query(request, "time"))
    if at is None or at > MAX_TIME:
        raise BadRequestError(
            "time must be a Unix timestamp in seconds (ASCII digits)", field="time"
        )
    if settings.history_retention <= 0:
        raise HistoryDisabledError(
            "this server does not keep historical status lists", field="time"
        )
    now = time.time()
    if not now - settings.history_retention <= at <= now:
        raise NotFoundError(f"time {at} is outside the retained history", field="time")
    svc = request.app[RUNTIME].service
    token = await svc.historical(list_id, fmt, at)
    state = svc.lists.find(list_id)
    if token is None or state is None:
        raise NotFoundError(f"no token of this list was valid at {at}", field="time")
    headers = cache_headers(min(state.record.ttl, int(token.exp - now)))
    headers.update(
        {
            "ETag": etag_of(token.body),
            "Last-Modified": formatdate(token.iat, usegmt=True),
            "Content-Type": MEDIA[fmt],
        }
    )
    return web.Response(body=token.body, headers=headers)


async def preflight(request: web.Request) -> web.Response:
    path_list_id(request)  # an id that cannot name a list: 404 (no look-up otherwise)
    return web.Response(
        status=204,
        headers={
            **CORS,
            "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
            "Access-Control-Allow-Headers": "Accept, If-None-Match, If-Modified-Since",
            "Access-Control-Max-Age": "86400",
        },
    )


# -- documents ----------------------------------------------------------------------------------


def _public_json(doc: Any, max_age: int = 60) -> web.Response:
    return web.json_response(doc, headers={**CORS, "Cache-Control": f"public, max-age={max_age}"})


def _issuer(request: web.Request) -> str:
    issuer = request.match_info["issuer"]
    if not request.app[RUNTIME].service.keys.knows(issuer):
        raise NotFoundError(f"no issuer {issuer!r}")
    return issuer


async def aggregation(request: web.Request) -> web.Response:
    lists = request.app[RUNTIME].service.lists
    return _public_json({"status_lists": [s.uri for s in lists.of_issuer(_issuer(request))]})


async def jwks_all(request: web.Request) -> web.Response:
    return _public_json(request.app[RUNTIME].service.keys.jwks(), 300)


async def jwks_issuer(request: web.Request) -> web.Response:
    return _public_json(request.app[RUNTIME].service.keys.jwks(_issuer(request)), 300)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": __version__}, headers=_INSTANCE)


async def readyz(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    reasons = rt.service.not_ready() if rt.started else ["starting"]
    problems = rt.service.degraded() if rt.started else []
    offload = rt.tokens.offload
    if offload is not None and offload.last_error is not None:
        problems = [*problems, offload.last_error]  # nginx serves older tokens meanwhile
    status = "not ready" if reasons else "degraded" if problems else "ready"
    doc: dict[str, Any] = {"status": status}
    if rt.started:
        doc["publishing"] = rt.service.publisher.leading
    if reasons or problems:
        # Degraded (the database away): still ready, since cached tokens are still served.
        doc["reasons"] = reasons + problems
    return web.json_response(doc, status=503 if reasons else 200, headers=_INSTANCE)


async def metrics_doc(request: web.Request) -> web.Response:
    metrics, rt = request.app[METRICS], request.app[RUNTIME]
    if rt.started:  # what /readyz would say, for alerting from Prometheus
        svc = rt.service
        metrics.ready.set(0 if svc.not_ready() else 1)
        metrics.degraded.set(len(svc.degraded()))
        metrics.damaged_lists.set(len(svc.lists.damaged))
    body = metrics.render()
    return web.Response(
        body=body,
        headers={**_INSTANCE, "Content-Type": "text/plain; version=0.0.4"},
    )


async def openapi_doc(request: web.Request) -> web.Response:
    return web.json_response(openapi(request.app[SETTINGS]))


ROUTES = [
    web.get("/statuslists/{list_id}", get_status_list),
    web.options("/statuslists/{list_id}", preflight),
    web.get("/aggregation/{issuer}", aggregation),
    web.get("/.well-known/jwks.json", jwks_all),
    web.get("/issuers/{issuer}/jwks.json", jwks_issuer),
    web.get("/healthz", healthz),
    web.get("/readyz", readyz),
    web.get("/metrics", metrics_doc),
    web.get("/openapi.json", openapi_doc),
]
