"""The aiohttp application: app factory, routes, thin handlers, one error/metrics middleware.

Public routes serve precomputed bytes (no encoding, signing or database read per request).
``/v1`` routes need a bearer API key of the issuer that owns the list.
"""

from __future__ import annotations

import json
import logging
import time
from array import array
from collections.abc import AsyncIterator, Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import Any

from aiohttp import web

from statuslist import __version__
from statuslist.config import Settings
from statuslist.metrics import Metrics
from statuslist.service import (
    DB_FILE,
    ApiKey,
    ListState,
    Published,
    Service,
    ServiceError,
    bootstrap,
    load_issuer_keys,
    status_name,
)
from statuslist.service.errors import (
    BadRequestError,
    HistoryDisabledError,
    NotAcceptableError,
    NotFoundError,
    PayloadTooLargeError,
    UnauthorizedError,
    UnavailableError,
    ValidationError,
)
from statuslist.storage.sqlite import SQLiteStorage
from statuslist.web.negotiation import accepts_gzip, choose_media_type, etag_matches
from statuslist.web.openapi import openapi

__all__ = ["CALLER", "METRICS", "SERVICE", "SETTINGS", "create_app"]

log = logging.getLogger("statuslist.web")

SETTINGS = web.AppKey("settings", Settings)
SERVICE = web.AppKey("service", Service)
METRICS = web.AppKey("metrics", Metrics)
CALLER = "statuslist.caller"

MEDIA = {"jwt": "application/statuslist+jwt", "cwt": "application/statuslist+cwt"}
FORMAT_OF = {v: k for k, v in MEDIA.items()}
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "ETag, Last-Modified, Cache-Control, Content-Encoding",
}
PROBLEM = "application/problem+json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# -- middleware -------------------------------------------------------------------------------


def _problem(err: ServiceError, extra: dict[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {
        "type": err.type,
        "title": err.title,
        "status": err.status,
        "detail": err.detail,
    }
    if err.field is not None:
        body["field"] = err.field
    headers = dict(extra or {})
    if isinstance(err, UnauthorizedError):
        headers["WWW-Authenticate"] = 'Bearer realm="statuslist"'
    return web.Response(
        text=json.dumps(body), status=err.status, content_type=PROBLEM, headers=headers
    )


#: Public routes whose answers describe this instance right now: never cached.
_UNCACHEABLE = frozenset({"/healthz", "/readyz", "/metrics"})

_HTTP_ERRORS: dict[int, type[ServiceError]] = {
    404: NotFoundError,
    413: PayloadTooLargeError,
}


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authentication of ``/v1``, errors as problem+json (never a stack trace), metrics."""
    started = time.perf_counter()
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    public = not request.path.startswith("/v1/")
    extra = CORS if public else None
    try:
        if not public:
            request[CALLER] = await _authenticate(request)
        response = await handler(request)
    except ServiceError as err:
        response = _problem(err, extra)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = _problem(_from_http(exc), {**(extra or {}), **_allow(exc)})
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        response = _problem(ServiceError("internal error; see the server log"), extra)
    if not public or request.path in _UNCACHEABLE:
        response.headers.setdefault("Cache-Control", "no-store")
    metrics = request.app[METRICS]
    metrics.requests.labels(route, request.method, str(response.status)).inc()
    metrics.latency.labels(route).observe(time.perf_counter() - started)
    return response


def _from_http(exc: web.HTTPException) -> ServiceError:
    cls = _HTTP_ERRORS.get(exc.status)
    if cls is not None:
        return cls(exc.text or exc.reason)
    error = ServiceError(exc.reason)
    error.status, error.title = exc.status, exc.reason
    error.slug = exc.reason.lower().replace(" ", "-")
    return error


def _allow(exc: web.HTTPException) -> dict[str, str]:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else {}


async def _authenticate(request: web.Request) -> ApiKey:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("send the API key as 'Authorization: Bearer <key>'")
    return await request.app[SERVICE].authenticate(token.strip())


# -- public routes ----------------------------------------------------------------------------


def _offered(formats: tuple[str, ...]) -> list[str]:
    return [MEDIA[f] for f in ("jwt", "cwt") if f in formats]


def _cache_headers(max_age: int) -> dict[str, str]:
    return {
        **CORS,
        "Cache-Control": f"public, max-age={max(0, max_age)}",
        "Vary": "Accept, Accept-Encoding",
    }


def _not_modified(request: web.Request, etag: str, iat: int) -> bool:
    inm = request.headers.get("If-None-Match")
    if inm is not None:
        return etag_matches(inm, etag)
    ims = request.headers.get("If-Modified-Since")
    if ims is not None:
        try:
            return iat <= parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError, IndexError):
            return False
    return False


async def get_status_list(request: web.Request) -> web.StreamResponse:
    svc = request.app[SERVICE]
    list_id = request.match_info["list_id"]
    state = svc.lists.get(list_id)
    if state is None:
        raise NotFoundError(f"no status list {list_id!r}")
    media = choose_media_type(request.headers.get("Accept"), _offered(state.record.formats))
    if media is None:
        raise NotAcceptableError(
            f"this list is served as {', '.join(_offered(state.record.formats))}",
            field="Accept",
        )
    fmt = FORMAT_OF[media]
    if "time" in request.query:
        return await _historical(request, state, fmt)
    pub = state.published
    now = time.time()
    if pub is None or pub.exp <= now:
        err = UnavailableError("the token is being published; retry shortly")
        return _problem(err, {**CORS, "Retry-After": "1", "Cache-Control": "no-store"})
    rep = pub.representations[fmt]
    if fmt == "jwt" and accepts_gzip(request.headers.get("Accept-Encoding")):
        rep = pub.representations["jwt+gzip"]
    headers = _cache_headers(min(pub.ttl, int(pub.exp - now)))
    headers["ETag"] = rep.etag
    headers["Last-Modified"] = pub.last_modified
    if _not_modified(request, rep.etag, pub.iat):
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = rep.content_type
    if rep.encoding:
        headers["Content-Encoding"] = rep.encoding
    return web.Response(body=rep.body, headers=headers)


async def _historical(request: web.Request, state: ListState, fmt: str) -> web.Response:
    settings = request.app[SETTINGS]
    if settings.history_retention <= 0:
        raise HistoryDisabledError(
            "this server does not keep historical status lists", field="time"
        )
    try:
        at = int(request.query["time"])
    except ValueError:
        raise BadRequestError("time must be a Unix timestamp in seconds", field="time") from None
    now = time.time()
    if not now - settings.history_retention <= at <= now:
        raise NotFoundError(f"time {at} is outside the retained history", field="time")
    token = await request.app[SERVICE].historical(state.record.id, fmt, at)
    if token is None:
        raise NotFoundError(f"no token of this list was valid at {at}", field="time")
    published = Published.build(state.record.id, state.record.ttl, 0, {fmt: token})
    rep = published.representations[fmt]
    headers = _cache_headers(min(state.record.ttl, int(token.exp - now)))
    headers.update(
        {"ETag": rep.etag, "Last-Modified": published.last_modified, "Content-Type": MEDIA[fmt]}
    )
    return web.Response(body=rep.body, headers=headers)


async def preflight(request: web.Request) -> web.Response:
    return web.Response(
        status=204,
        headers={
            **CORS,
            "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
            "Access-Control-Allow-Headers": "Accept, If-None-Match, If-Modified-Since",
            "Access-Control-Max-Age": "86400",
        },
    )


def _public_json(doc: Any, max_age: int = 60) -> web.Response:
    headers = {**CORS, "Cache-Control": f"public, max-age={max_age}"}
    return web.json_response(doc, headers=headers)


async def aggregation(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    issuer = request.match_info["issuer"]
    if issuer not in svc.keys:
        raise NotFoundError(f"no issuer {issuer!r}")
    return _public_json({"status_lists": svc.aggregation(issuer)})


async def jwks_all(request: web.Request) -> web.Response:
    return _public_json(request.app[SERVICE].jwks(), 300)


async def jwks_issuer(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    issuer = request.match_info["issuer"]
    if issuer not in svc.keys:
        raise NotFoundError(f"no issuer {issuer!r}")
    return _public_json(svc.jwks(issuer), 300)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": __version__})


async def readyz(request: web.Request) -> web.Response:
    ready = request.app[SERVICE].ready
    return web.json_response(
        {"status": "ready" if ready else "starting or stopping"}, status=200 if ready else 503
    )


async def metrics_doc(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})


async def openapi_doc(request: web.Request) -> web.Response:
    return web.json_response(openapi(request.app[SETTINGS]))


# -- issuer API -------------------------------------------------------------------------------


async def _json(request: web.Request) -> Any:
    body = await request.read()
    if not body:
        raise BadRequestError("the request needs a JSON body")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequestError(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequestError("the body's JSON is nested too deeply") from None


def _object(doc: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise ValidationError("the body must be a JSON object")
    extra = set(doc) - allowed
    if extra:
        raise ValidationError(f"unexpected member(s): {', '.join(sorted(extra))}", field=min(extra))
    return doc


def _caller(request: web.Request) -> ApiKey:
    caller: ApiKey = request[CALLER]
    return caller


LIST_PARAMS = {"bits", "size", "ttl", "formats", "final_invalid", "decoys"}


async def create_list(request: web.Request) -> web.Response:
    doc = _object(await _json(request), LIST_PARAMS)
    for name in ("bits", "size", "ttl", "decoys"):
        if name in doc and type(doc[name]) is not int:
            raise ValidationError(f"{name} must be an integer", field=name)
    if "final_invalid" in doc and not isinstance(doc["final_invalid"], bool):
        raise ValidationError("final_invalid must be true or false", field="final_invalid")
    if "formats" in doc and not (
        isinstance(doc["formats"], list) and all(isinstance(f, str) for f in doc["formats"])
    ):
        raise ValidationError('formats must be an array such as ["jwt", "cwt"]', field="formats")
    svc = request.app[SERVICE]
    state = await svc.create_list(_caller(request), **doc)
    return web.json_response(
        svc.describe(state), status=201, headers={"Location": f"/v1/lists/{state.record.id}"}
    )


async def list_lists(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    lists = svc.issuer_lists(_caller(request))
    return web.json_response({"lists": [svc.describe(s, counts=False) for s in lists]})


async def show_list(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    state = svc.get_list(_caller(request), request.match_info["list_id"])
    return web.json_response(svc.describe(state))


async def allocate(request: web.Request) -> web.Response:
    doc = _object(await _json(request), {"count", "list_id"})
    if "count" not in doc:
        raise ValidationError("count is required", field="count")
    list_id = doc.get("list_id")
    if list_id is not None and not isinstance(list_id, str):
        raise ValidationError("list_id must be a string", field="list_id")
    entries = await request.app[SERVICE].allocate(_caller(request), doc["count"], list_id)
    body = json.dumps([{"status_list": {"idx": i, "uri": u}} for u, i in entries])
    return web.Response(text=body, content_type="application/json", status=201)


async def get_entry(request: web.Request) -> web.Response:
    idx = _int_path(request.match_info["idx"])
    i, value = request.app[SERVICE].get_status(_caller(request), request.match_info["list_id"], idx)
    return web.json_response({"idx": i, "status": value, "name": status_name(value)})


def _int_path(text: str) -> int | str:
    try:
        digits = text.removeprefix("-")
        return int(text) if digits.isascii() and digits.isdigit() and len(text) <= 20 else text
    except ValueError:
        return text


async def put_entry(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    caller = _caller(request)
    state = svc.get_list(caller, request.match_info["list_id"])
    idx = svc.parse_index(state, _int_path(request.match_info["idx"]))
    doc = _object(await _json(request), {"status"})
    if "status" not in doc:
        raise ValidationError("status is required", field="status")
    value = svc.parse_status(state, doc["status"])
    await svc.set_status(caller, [(state, array("Q", [idx]), bytes([value]))])
    return web.json_response({"idx": idx, "status": value, "name": status_name(value)})


async def patch_entries(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    caller = _caller(request)
    state = svc.get_list(caller, request.match_info["list_id"])
    if request.content_type == "application/octet-stream":
        if "status" not in request.query:
            raise ValidationError("binary batches need ?status=", field="status")
        status: Any = request.query["status"]
        if status.isdigit():
            status = int(status)
        idx, values = svc.parse_binary(state, await request.read(), status)
    else:
        idx, values = svc.parse_updates(state, await _json(request))
    n = await svc.set_status(caller, [(state, idx, values)])
    return web.json_response({"updated": n})


async def patch_by_uri(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    caller = _caller(request)
    doc = _object(await _json(request), {"updates"})
    updates = doc.get("updates")
    if not isinstance(updates, list) or not updates:
        raise ValidationError("updates must be a non-empty array", field="updates")
    limit = request.app[SETTINGS].limits.max_batch
    if len(updates) > limit:
        raise PayloadTooLargeError(f"{len(updates)} updates in one batch; the limit is {limit}")
    grouped: dict[str, tuple[ListState, list[int], bytearray]] = {}
    for n, u in enumerate(updates):
        if not isinstance(u, dict) or set(u) != {"uri", "idx", "status"}:
            raise ValidationError(
                'each update must be {"uri": …, "idx": …, "status": …}', field=f"updates[{n}]"
            )
        state = svc.resolve_uri(caller, u["uri"], f"updates[{n}].uri")
        entry = grouped.setdefault(state.record.id, (state, [], bytearray()))
        entry[1].append(svc.parse_index(state, u["idx"], f"updates[{n}].idx"))
        entry[2].append(svc.parse_status(state, u["status"], f"updates[{n}].status"))
    batch = [(s, array("Q", i), bytes(v)) for s, i, v in grouped.values()]
    n = await svc.set_status(caller, batch)
    return web.json_response({"updated": n})


async def publish(request: web.Request) -> web.Response:
    pub = await request.app[SERVICE].publish_now(_caller(request), request.match_info["list_id"])
    etags = {fmt: rep.etag for fmt, rep in pub.representations.items()}
    first = next(iter(pub.representations.values()))
    return web.json_response({"etag": first.etag, "etags": etags, "iat": pub.iat, "exp": pub.exp})


# -- the app ----------------------------------------------------------------------------------


def create_app(settings: Settings, *, metrics: Metrics | None = None) -> web.Application:
    """The service as an aiohttp application; storage and service live in ``cleanup_ctx``."""
    app = web.Application(middlewares=[middleware], client_max_size=settings.limits.max_body_bytes)
    app[SETTINGS] = settings
    app[METRICS] = metrics or Metrics()

    async def service_ctx(app: web.Application) -> AsyncIterator[None]:
        storage = SQLiteStorage(settings.data_dir / DB_FILE)
        await storage.open()
        try:
            keys = load_issuer_keys(settings)
            await bootstrap(settings, storage)
            service = Service(settings, storage, keys, metrics=app[METRICS])
            await service.start()
            app[SERVICE] = service
            yield
            await service.stop()
        finally:
            await storage.close()

    app.cleanup_ctx.append(service_ctx)
    r = app.router
    r.add_get("/statuslists/{list_id}", get_status_list)
    r.add_route("OPTIONS", "/statuslists/{list_id}", preflight)
    r.add_get("/aggregation/{issuer}", aggregation)
    r.add_get("/.well-known/jwks.json", jwks_all)
    r.add_get("/issuers/{issuer}/jwks.json", jwks_issuer)
    r.add_get("/healthz", healthz)
    r.add_get("/readyz", readyz)
    r.add_get("/metrics", metrics_doc)
    r.add_get("/openapi.json", openapi_doc)
    r.add_post("/v1/lists", create_list)
    r.add_get("/v1/lists", list_lists)
    r.add_get("/v1/lists/{list_id}", show_list)
    r.add_post("/v1/allocations", allocate)
    r.add_get("/v1/lists/{list_id}/entries/{idx}", get_entry)
    r.add_put("/v1/lists/{list_id}/entries/{idx}", put_entry)
    r.add_patch("/v1/lists/{list_id}/entries", patch_entries)
    r.add_patch("/v1/entries", patch_by_uri)
    r.add_post("/v1/lists/{list_id}/publish", publish)
    return app
