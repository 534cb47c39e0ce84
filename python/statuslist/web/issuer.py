"""The issuer API, mounted at ``/v1``: its own middleware (bearer API key, problem+json,
``no-store``) and thin handlers — parse the request into a command, one service call, respond."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from statuslist.exceptions import ServiceError
from statuslist.service import ApiKey, ListState, Service, status_name
from statuslist.service.audit import MAX_LIMIT, MAX_WAIT, change_doc
from statuslist.service.errors import UnauthorizedError, UnavailableError, ValidationError
from statuslist.web import commands
from statuslist.web.keys import CALLER, RUNTIME, SINGLE_BODIES
from statuslist.web.problems import internal_error, problem, problem_from_http
from statuslist.web.wire import CLOCK, WireBytes, head_bytes, wire_usable

__all__ = ["create_issuer_app", "mount_hot_routes"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def issuer_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticates every request; any error becomes problem+json; nothing is cacheable."""
    try:
        request[CALLER] = await _authenticate(request)
        response = await handler(request)
    except ServiceError as err:
        response = problem(err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = problem_from_http(exc)
    except Exception as exc:
        response = internal_error(request, exc)
    if type(response) is not WireBytes:  # a prebuilt answer has it already
        response.headers.setdefault("Cache-Control", "no-store")
    return response


async def _authenticate(request: web.Request) -> ApiKey:
    header = request.headers.get("Authorization", "")
    keys = request.app[RUNTIME].service.api_keys
    known = keys.by_header(header)  # a caller seen before: no parsing, no hash
    if known is not None:
        return known
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or not token.isascii():
        raise UnauthorizedError("send the API key as 'Authorization: Bearer <key>'")
    found = await keys.authenticate(token.strip())
    keys.remember_header(header, found)
    return found


#: Answers of at least this many bytes are written after their headers, without a join.
_STREAMED = 1 << 16


def _json(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(doc), status=status, content_type="application/json", headers=headers
    )


async def _describe(
    request: web.Request, state: ListState, *, counts: bool = True
) -> dict[str, Any]:
    lists = request.app[RUNTIME].service.lists
    doc = await lists.describe_now(state) if counts else lists.describe(state, counts=False)
    served = request.app[RUNTIME].tokens.get(state.record.id)
    if doc["published"] is not None and served is not None:
        doc["published"]["etag"] = served.reps[state.record.formats[0]].etag
    return doc


# -- handlers -----------------------------------------------------------------------------------


async def create_list(request: web.Request) -> web.Response:
    cmd = commands.new_list(await commands.read_json(request))
    state = await request.app[RUNTIME].service.create_list(request[CALLER], cmd)
    headers = {"Location": f"/v1/lists/{state.record.id}"}
    return _json(await _describe(request, state), 201, headers)


async def list_lists(request: web.Request) -> web.Response:
    states = request.app[RUNTIME].service.lists.of_issuer(request[CALLER].issuer)
    return _json({"lists": [await _describe(request, s, counts=False) for s in states]})


async def show_list(request: web.Request) -> web.Response:
    svc = request.app[RUNTIME].service
    state = await svc.lists.resolve(request[CALLER], commands.path_list_id(request))
    if svc.storage.shared:
        await svc.entries.catch_up(state)
    return _json(await _describe(request, state))


async def allocate(request: web.Request) -> web.StreamResponse:
    cmd = commands.allocation(await commands.read_json(request))
    body = await request.app[RUNTIME].service.allocator.allocate_json(request[CALLER], cmd)
    if len(body) < _STREAMED:
        return web.Response(body=body, status=201, content_type="application/json", charset="utf-8")
    # Headers first, then the body as it is: a Response would join the two into one more copy of
    # the body on the event loop (aiohttp on Python < 3.12.9).
    resp = web.StreamResponse(status=201, headers={"Cache-Control": "no-store"})
    resp.content_type = "application/json"
    resp.charset = "utf-8"
    resp.content_length = len(body)
    await resp.prepare(request)
    await resp.write(body)
    await resp.write_eof()
    return resp


async def get_entry(request: web.Request) -> web.StreamResponse:
    idx = commands.path_index(request.match_info["idx"])
    svc: Service = request.app[RUNTIME].service
    _, value = await svc.entries.get(request[CALLER], commands.path_list_id(request), idx)
    return _entry(request, idx, value)


#: The headers of an entry's answer (``_json``'s, with the middleware's ``Cache-Control``).
_ENTRY_HEADERS = {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"}
_ENTRY_PROXY = CIMultiDictProxy(CIMultiDict(_ENTRY_HEADERS))
#: The same answer on the wire, less ``Date``, ``Content-Length`` and the body.
_ENTRY_HEAD = head_bytes("200 OK", _ENTRY_HEADERS)
#: What follows the index in an entry's answer, per status value: exactly ``json.dumps`` of
#: ``{"idx": idx, "status": value, "name": status_name(value)}``, without building the dict.
_ENTRY_TAILS = [
    f', "status": {v}, "name": {json.dumps(status_name(v))}}}'.encode() for v in range(256)
]


def _entry(request: web.Request, idx: int, value: int) -> web.StreamResponse:
    body = b'{"idx": ' + str(idx).encode() + _ENTRY_TAILS[value]
    if wire_usable(request):
        length = b"Content-Length: %d\r\n\r\n" % len(body)
        return WireBytes(200, (_ENTRY_HEAD + CLOCK.date_line(time.time()) + length + body,))
    return web.Response(body=body, headers=_ENTRY_PROXY)


async def put_entry(request: web.Request) -> web.StreamResponse:
    """The single durable write: the hottest issuer route, kept to what it needs (one resolve,
    the body memo, :meth:`Entries.set_one`, a prebuilt answer)."""
    svc: Service = request.app[RUNTIME].service
    caller = request[CALLER]
    match = request.match_info
    state = await svc.lists.resolve(caller, commands.parse_list_id(match["list_id"]))
    # 404 before the body is read
    idx = commands.path_index(match["idx"])
    value = await request.app[SINGLE_BODIES].read(request)
    await svc.entries.set_one(caller, state, idx, value)
    return _entry(request, idx, value)


async def patch_entries(request: web.Request) -> web.Response:
    svc: Service = request.app[RUNTIME].service
    list_id = commands.path_list_id(request)
    await svc.lists.resolve(request[CALLER], list_id)  # 404 before the body is read
    if request.content_type == "application/octet-stream":
        batch = commands.batch_binary(list_id, await commands.read_body(request), request.query)
    else:
        commands.no_binary_status(request.query)
        batch = commands.batch_json(list_id, await commands.read_json(request))
    return _json({"updated": await svc.entries.update(request[CALLER], batch)})


async def patch_by_uri(request: web.Request) -> web.Response:
    svc: Service = request.app[RUNTIME].service
    batch = commands.batch_by_uri(await commands.read_json(request), svc.lists.list_id_of)
    return _json({"updated": await svc.entries.update(request[CALLER], batch)})


async def publish(request: web.Request) -> web.Response:
    list_id = commands.path_list_id(request)
    pub = await request.app[RUNTIME].service.publish_now(request[CALLER], list_id)
    served = request.app[RUNTIME].tokens.get(list_id)
    if served is None:  # pragma: no cover - publish_now returns once the cache has it
        raise UnavailableError("the list is being published; retry shortly")
    etags = {fmt: rep.etag for fmt, rep in served.reps.items()}
    first = served.reps[next(iter(pub.tokens))]
    return _json({"etag": first.etag, "etags": etags, "iat": pub.iat, "exp": pub.exp})


_NDJSON = "application/x-ndjson"


def _query_int(request: web.Request, name: str, default: int, top: int) -> int:
    """A canonical non-negative integer query parameter (sent at most once)."""
    values = request.query.getall(name, [])
    if not values:
        return default
    value = commands.canonical_int(values[0]) if len(values) == 1 else None
    if value is None or value > top:
        raise ValidationError(f"{name} must be one integer 0..{top} in canonical form", field=name)
    return value


async def _feed(request: web.Request, list_id: str | None) -> web.StreamResponse:
    audit = request.app[RUNTIME].service.audit
    unknown = sorted(set(request.query) - {"after", "limit", "wait"})
    if unknown:
        raise ValidationError(
            f"unknown query parameter {commands._quote(unknown[0])} (after, limit, wait)",
            field=unknown[0][:64],
        )
    after = _query_int(request, "after", 0, (1 << 63) - 1)
    limit = _query_int(request, "limit", 100, MAX_LIMIT)
    wait = _query_int(request, "wait", 0, int(MAX_WAIT))
    caller = request[CALLER]
    if list_id is None:
        page = await audit.issuer_changes(caller, after, limit, wait)
    else:
        page = await audit.list_changes(caller, list_id, after, limit, wait)
    base = request.path
    nxt = f"{base}?after={page.next_after}&limit={limit}"
    headers = {
        "Link": f'<{nxt}>; rel="next"',
        "Statuslist-Next-After": str(page.next_after),
        "Statuslist-More": "true" if page.more else "false",
        "Vary": "Accept",
    }
    docs = [change_doc(c) for c in page.changes]
    if _NDJSON in request.headers.get("Accept", ""):
        body = "".join(json.dumps(d) + "\n" for d in docs)
        return web.Response(text=body, content_type=_NDJSON, headers=headers)
    return _json({"changes": docs, "next_after": page.next_after, "more": page.more}, 200, headers)


async def list_changes(request: web.Request) -> web.StreamResponse:
    return await _feed(request, commands.path_list_id(request))


async def issuer_changes(request: web.Request) -> web.StreamResponse:
    return await _feed(request, None)


class _HotResource(web.DynamicResource):
    """A route of the ``/v1`` app that the public app resolves itself, for one method only: the
    sub-app's second URL walk and its middleware wrapper are skipped. Any other method resolves
    as if this resource were not there, so the sub-app (which keeps the route) answers it, with
    its ``Allow`` header."""

    def __init__(self, path: str, method: str) -> None:
        super().__init__(path)
        self._method = method

    async def resolve(self, request: web.Request) -> Any:
        if request.method != self._method:
            return None, set()
        return await super().resolve(request)


async def _hot_put_entry(request: web.Request) -> web.StreamResponse:
    """``PUT /v1/lists/{id}/entries/{idx}`` as the sub-app answers it: its middleware, then
    :func:`put_entry`."""
    return await issuer_middleware(request, put_entry)


def mount_hot_routes(app: web.Application, issuer: web.Application) -> None:
    """Registers the single durable write (the issuer API's hottest route) in the public app
    ``app``, ahead of the ``/v1`` sub-app ``issuer`` that it is mounted with."""
    app[SINGLE_BODIES] = issuer[SINGLE_BODIES]
    resource = _HotResource("/v1/lists/{list_id}/entries/{idx}", "PUT")
    app.router.register_resource(resource)
    resource.add_route("PUT", _hot_put_entry)


def create_issuer_app() -> web.Application:
    """The ``/v1`` sub-application (its handlers find the service in the parent app)."""
    app = web.Application(middlewares=[issuer_middleware])
    app[SINGLE_BODIES] = commands.SingleBodies()
    r = app.router
    r.add_post("/lists", create_list)
    r.add_get("/lists", list_lists)
    r.add_get("/lists/{list_id}", show_list)
    r.add_post("/allocations", allocate)
    r.add_get("/lists/{list_id}/entries/{idx}", get_entry)
    # Answered by the public app (mount_hot_routes); kept here for the sub-app's Allow header.
    r.add_put("/lists/{list_id}/entries/{idx}", put_entry)
    r.add_patch("/lists/{list_id}/entries", patch_entries)
    r.add_patch("/entries", patch_by_uri)
    r.add_post("/lists/{list_id}/publish", publish)
    r.add_get("/lists/{list_id}/changes", list_changes)
    r.add_get("/changes", issuer_changes)
    return app
