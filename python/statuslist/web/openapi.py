"""The OpenAPI 3.1 description of every route (served at ``/openapi.json``): every path
parameter, every request body form, every status a handler can answer with its schema and media
type, and the bounds of the configured :class:`~statuslist.config.Limits`.

``tests/web/test_openapi.py`` validates the document and runs schemathesis against a live
server with it: an answer the document does not describe is a failure there.
"""

from __future__ import annotations

from typing import Any

from statuslist import __version__
from statuslist.config import FORMATS, Settings
from statuslist.service.audit import MAX_LIMIT, MAX_WAIT
from statuslist.web.commands import LIST_ID_PATTERN

__all__ = ["MAX_TIME", "MAX_TTL", "openapi"]

#: The longest ``ttl`` a list may have (seconds; ``service.lists`` checks it).
MAX_TTL = 31 * 86400
#: The largest ``?time=`` (a signed 64-bit integer, as the databases store times).
MAX_TIME = (1 << 63) - 1
_U64_MAX = (1 << 64) - 1
_JSON = "application/json"
_PROBLEM_MEDIA = "application/problem+json"
_JWT = "application/statuslist+jwt"
_CWT = "application/statuslist+cwt"

_STATUS_NAMES = ["VALID", "INVALID", "SUSPENDED"]

#: Why each problem status is answered (the shared ``components.responses``).
_PROBLEMS = {
    "400": "Malformed request: the body is not JSON, is empty, or repeats a member name; a "
    "query value is malformed",
    "401": "Missing or unknown API key (`Authorization: Bearer <key>`)",
    "403": "The API key's scope does not allow this",
    "404": "No such list, issuer, entry URI or historical token",
    "406": "No representation matches `Accept`",
    "409": "Conflicts with the current state (final INVALID, a full list, the issuer's list limit)",
    "412": "`If-Match` or `If-Unmodified-Since` does not hold for the current token (RFC 9110 "
    "§13.1.1, §13.1.4)",
    "413": "The body or the batch is larger than the configured limits",
    "415": "A request body with a `Content-Encoding` (bodies are accepted unencoded only)",
    "422": "The request reads, but a value is not acceptable (a range, a status that does not "
    "fit the list's bits, an unknown member, a cross-field rule)",
    "501": "`?time=` on a server that keeps no history (`history_retention = 0`)",
    "503": "Temporarily unavailable: the database (`unavailable`), its disk full "
    "(`storage-full`), a token still being signed; retry after `Retry-After`. A stored list that "
    "failed its integrity checks (`list-damaged`) stays so until repaired (no `Retry-After`)",
}


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _problems(*codes: int) -> dict[str, Any]:
    return {str(c): _ref("responses", f"Problem{c}") for c in codes}


def _json(description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}, **extra}


def _obj(required: list[str], props: dict[str, Any], *, closed: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "required": required, "properties": props}
    if closed:
        out["additionalProperties"] = False
    return out


def _path(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


def _header(description: str, *, required: bool = True) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": {"type": "string"}}


_ID = {"type": "string", "pattern": LIST_ID_PATTERN}
_LIST_ID = _path("list_id", _ID, "The list's id (an id of another form names no list: 404)")
_IDX = _path(
    "idx",
    {"type": "integer", "minimum": 0, "maximum": _U64_MAX},
    "The entry's index (ASCII digits, no sign, no leading zero; below the list's size)",
)
_ISSUER = _path("issuer", {"type": "string", "minLength": 1}, "The issuer's name")

_CORS_HEADERS = {"Access-Control-Allow-Origin": _header("`*`")}
_NO_STORE = {"Cache-Control": _header("`no-store`")}


def _schemas(settings: Settings) -> dict[str, Any]:
    limits = settings.limits
    index = {"type": "integer", "minimum": 0, "maximum": _U64_MAX}
    prefix = f"{settings.base_url}/statuslists/"
    update = _obj(["idx", "status"], {"idx": index, "status": _ref("schemas", "Status")})
    return {
        "Problem": _obj(
            ["type", "title", "status", "detail"],
            {
                "type": {"type": "string", "description": "`urn:statuslist:problem:<slug>`"},
                "title": {"type": "string"},
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "detail": {"type": "string"},
                "field": {"type": "string", "description": "The input at fault"},
            },
        ),
        "Status": {
            "description": "A status: a name, or the value (it must fit the list's bits)",
            "oneOf": [
                {"type": "string", "enum": _STATUS_NAMES},
                {"type": "integer", "minimum": 0, "maximum": 255},
            ],
        },
        "Index": index,
        "NewList": {
            "type": "object",
            "description": "Absent members take the configured list defaults. `decoys` must be "
            "below the size (rounded up to a whole byte of entries).",
            "properties": {
                "bits": {"type": "integer", "enum": [1, 2, 4, 8]},
                "size": {"type": "integer", "minimum": 1, "maximum": limits.max_list_size},
                "ttl": {"type": "integer", "minimum": 1, "maximum": MAX_TTL},
                "formats": {
                    "type": "array",
                    "items": {"type": "string", "enum": list(FORMATS)},
                    "minItems": 1,
                    "maxItems": len(FORMATS),
                    "uniqueItems": True,
                },
                "final_invalid": {"type": "boolean"},
                "decoys": {"type": "integer", "minimum": 0, "maximum": limits.max_list_size - 1},
            },
            "additionalProperties": False,
        },
        "List": _obj(
            [
                "id",
                "uri",
                "issuer",
                "bits",
                "size",
                "ttl",
                "formats",
                "final_invalid",
                "decoys",
                "auto",
                "created_at",
                "allocated",
                "capacity",
                "published",
                "pending_publish",
            ],
            {
                "id": {"type": "string"},
                "uri": {"type": "string", "format": "uri"},
                "issuer": {"type": "string"},
                "bits": {"type": "integer", "enum": [1, 2, 4, 8]},
                "size": {"type": "integer", "minimum": 1},
                "ttl": {"type": "integer", "minimum": 1, "maximum": MAX_TTL},
                "formats": {"type": "array", "items": {"type": "string", "enum": list(FORMATS)}},
                "final_invalid": {"type": "boolean"},
                "decoys": {"type": "integer", "minimum": 0},
                "auto": {"type": "boolean", "description": "Created by allocation"},
                "created_at": {"type": "number", "description": "Unix time"},
                "allocated": {"type": "integer", "minimum": 0},
                "capacity": {"type": "integer", "minimum": 0},
                "counts": {
                    "type": "object",
                    "description": "Entries per status (not in `GET /v1/lists`)",
                    "additionalProperties": {"type": "integer", "minimum": 0},
                },
                "published": {
                    "oneOf": [
                        {"type": "null"},
                        _obj(
                            ["iat", "exp"],
                            {
                                "iat": {"type": "integer"},
                                "exp": {"type": "integer"},
                                "etag": {"type": "string"},
                            },
                        ),
                    ]
                },
                "pending_publish": {"type": "boolean"},
            },
        ),
        "Entry": _obj(
            ["idx", "status", "name"],
            {
                "idx": index,
                "status": {"type": "integer", "minimum": 0, "maximum": 255},
                "name": {"type": "string"},
            },
        ),
        "Updated": _obj(["updated"], {"updated": {"type": "integer", "minimum": 1}}),
        "BatchUpdates": _obj(
            ["updates"],
            {
                "updates": {
                    "type": "array",
                    "items": update,
                    "minItems": 1,
                    "maxItems": limits.max_batch,
                }
            },
        ),
        "BatchIndices": _obj(
            ["indices", "status"],
            {
                "indices": _indices(limits.max_batch),
                "status": _ref("schemas", "Status"),
            },
        ),
        "BatchStatuses": _obj(
            ["indices", "statuses"],
            {
                "indices": _indices(limits.max_batch),
                "statuses": {
                    "type": "array",
                    "description": "As long as `indices`",
                    "items": _ref("schemas", "Status"),
                    "minItems": 1,
                    "maxItems": limits.max_batch,
                },
            },
        ),
        "BatchByUri": _obj(
            ["updates"],
            {
                "updates": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": limits.max_batch,
                    "items": _obj(
                        ["uri", "idx", "status"],
                        {
                            "uri": {
                                "type": "string",
                                "description": "A status list URI of this server",
                                "pattern": "^" + _regex_escape(prefix) + LIST_ID_PATTERN[1:],
                            },
                            "idx": index,
                            "status": _ref("schemas", "Status"),
                        },
                    ),
                }
            },
        ),
        "Jwks": _obj(
            ["keys"],
            {"keys": {"type": "array", "items": _obj(["kty"], {}, closed=False)}},
        ),
    }


def _regex_escape(text: str) -> str:
    """``text`` as a literal in an ECMA-262 pattern (JSON Schema's regex dialect)."""
    return "".join("\\" + c if c in r"\^$.|?*+()[]{}" else c for c in text)


def _indices(max_batch: int) -> dict[str, Any]:
    return {
        "type": "array",
        "items": _ref("schemas", "Index"),
        "minItems": 1,
        "maxItems": max_batch,
    }


def _components(settings: Settings) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for code, why in _PROBLEMS.items():
        resp: dict[str, Any] = {
            "description": f"RFC 9457 problem details. {why}",
            "content": {_PROBLEM_MEDIA: {"schema": _ref("schemas", "Problem")}},
        }
        if code == "401":
            resp["headers"] = {"WWW-Authenticate": _header('`Bearer realm="statuslist"`')}
        elif code == "503":
            resp["headers"] = {"Retry-After": _header("Seconds to wait", required=False)}
        elif code == "406":
            resp["headers"] = {"Vary": _header("`Accept, Accept-Encoding`")}
        responses[f"Problem{code}"] = resp
    return {
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key (`statuslist apikey create`; the development setup "
                "writes an admin key to `<data_dir>/admin-api-key`)",
            }
        },
        "schemas": _schemas(settings),
        "responses": responses,
    }


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": responses, **extra}


def _issuer_op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An operation of the ``/v1`` issuer API: bearer key, ``no-store``; every answer's
    ``Cache-Control`` is ``no-store``."""
    for resp in responses.values():
        if "$ref" not in resp:
            resp.setdefault("headers", {}).update(_NO_STORE)
    return _op(summary, {**responses, **_problems(401)}, security=[{"bearer": []}], **extra)


def _json_body(schema: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"required": True, "content": {_JSON: {"schema": schema}}}
    if description:
        body["description"] = description
    return body


#: Body-reading operations can also answer these.
_BODY_PROBLEMS = (400, 413, 415, 422, 503)


def _token_paths() -> dict[str, Any]:
    token_headers = {
        "ETag": _header("A strong validator of the bytes served"),
        "Last-Modified": _header("The token's `iat`"),
        "Cache-Control": _header("`public, max-age=N`, never past the token's `exp`"),
        "Vary": _header("`Accept, Accept-Encoding`"),
        **_CORS_HEADERS,
        "Content-Encoding": _header("`gzip` for a JWT when accepted", required=False),
    }
    token = {
        "200": {
            "description": "The Status List Token: a JWT or a CWT by `Accept` (the JWT gzip'd "
            "when `Accept-Encoding` allows)",
            "headers": token_headers,
            "content": {
                _JWT: {"schema": {"type": "string"}},
                _CWT: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        "304": {
            "description": "Not modified (`If-None-Match`, or `If-Modified-Since` where the "
            "second tells tokens apart)",
            "headers": {k: v for k, v in token_headers.items() if k != "Content-Encoding"},
        },
        **_problems(400, 404, 406, 412, 501, 503),
    }
    conditional = [
        {
            "name": "If-None-Match",
            "in": "header",
            "required": False,
            "description": "ETags (weak comparison) or `*`",
            "schema": {"type": "string"},
        },
        {
            "name": "If-Modified-Since",
            "in": "header",
            "required": False,
            "description": "An HTTP date (ignored when it is not one)",
            "schema": {"type": "string"},
        },
    ]
    time_param = {
        "name": "time",
        "in": "query",
        "required": False,
        "description": "Historical resolution: the token valid at this Unix time (ASCII "
        "digits); 501 when the server keeps no history, 404 outside the retained history",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_TIME},
    }
    return {
        "/statuslists/{list_id}": {
            "parameters": [_LIST_ID],
            "get": _op(
                "Status List Token",
                token,
                parameters=[time_param, *conditional],
            ),
            "options": _op(
                "CORS preflight",
                {
                    "204": {
                        "description": "CORS headers (for any id of the list id form)",
                        "headers": {
                            **_CORS_HEADERS,
                            "Access-Control-Allow-Methods": _header("`GET, HEAD, OPTIONS`"),
                        },
                    },
                    **_problems(404),
                },
            ),
        }
    }


def _public_paths() -> dict[str, Any]:
    cached = {"Cache-Control": _header("`public, max-age=N`"), **_CORS_HEADERS}
    jwks = _json("A JWK Set", _ref("schemas", "Jwks"), headers=cached)
    ready = _obj(
        ["status"],
        {
            "status": {"type": "string", "enum": ["ready", "degraded", "not ready"]},
            "publishing": {"type": "boolean", "description": "This instance leads publishing"},
            "reasons": {"type": "array", "items": {"type": "string"}},
        },
    )
    return {
        "/aggregation/{issuer}": {
            "parameters": [_ISSUER],
            "get": _op(
                "The issuer's Status List URIs (Status List Aggregation)",
                {
                    "200": _json(
                        "The URIs",
                        _obj(
                            ["status_lists"],
                            {"status_lists": {"type": "array", "items": {"type": "string"}}},
                        ),
                        headers=cached,
                    ),
                    **_problems(404),
                },
            ),
        },
        "/.well-known/jwks.json": {"get": _op("Signing keys, all issuers", {"200": jwks})},
        "/issuers/{issuer}/jwks.json": {
            "parameters": [_ISSUER],
            "get": _op("One issuer's signing keys", {"200": jwks, **_problems(404)}),
        },
        "/healthz": {
            "get": _op(
                "Liveness",
                {
                    "200": _json(
                        "Alive",
                        _obj(
                            ["status", "version"],
                            {"status": {"const": "ok"}, "version": {"type": "string"}},
                        ),
                        headers=_NO_STORE,
                    )
                },
            )
        },
        "/readyz": {
            "get": _op(
                "Readiness",
                {
                    "200": _json("Ready (or degraded: still serving)", ready, headers=_NO_STORE),
                    "503": _json("Not ready", ready, headers=_NO_STORE),
                },
            )
        },
        "/metrics": {
            "get": _op(
                "Prometheus metrics",
                {
                    "200": {
                        "description": "Prometheus text exposition format 0.0.4",
                        "headers": _NO_STORE,
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            )
        },
        "/openapi.json": {
            "get": _op(
                "This document",
                {"200": _json("OpenAPI 3.1", {"type": "object", "required": ["openapi"]})},
            )
        },
    }


def _issuer_paths(settings: Settings) -> dict[str, Any]:
    limits = settings.limits
    list_doc = _ref("schemas", "List")
    entry = _ref("schemas", "Entry")
    updated = _json("How many entries the batch wrote", _ref("schemas", "Updated"))
    batch_forms = {
        "oneOf": [
            _ref("schemas", "BatchUpdates"),
            _ref("schemas", "BatchIndices"),
            _ref("schemas", "BatchStatuses"),
        ]
    }

    def query_int(name: str, low: int, top: int, default: int, text: str) -> dict[str, Any]:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "description": f"{text} (ASCII digits, no leading zero; default {default})",
            "schema": {"type": "integer", "minimum": low, "maximum": top, "default": default},
        }

    feed_params = [
        query_int("after", 0, (1 << 63) - 1, 0, "The cursor: changes after this sequence"),
        query_int("limit", 1, MAX_LIMIT, 100, "At most this many changes (and ~100k indices)"),
        query_int("wait", 0, int(MAX_WAIT), 0, "Seconds to wait for a change when there is none"),
    ]
    change = _obj(
        ["seq", "list_id", "at", "actor", "indices", "old", "new", "new_names"],
        {
            "seq": {"type": "integer", "minimum": 1},
            "list_id": {"type": "string"},
            "at": {"type": "number", "description": "Unix time of the commit"},
            "actor": {"type": "string", "description": "`issuer:label` of the API key"},
            "indices": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "old": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 255}},
            "new": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 255}},
            "new_names": {"type": "array", "items": {"type": "string"}},
        },
    )
    feed_headers = {
        "Link": _header('`<…?after=N&limit=L>; rel="next"`'),
        "Statuslist-Next-After": _header("The cursor of the next page"),
        "Statuslist-More": _header("`true` when more changes are ready now"),
        "Vary": _header("`Accept`"),
    }
    feed = {
        "description": "A page of the change log (NDJSON, one change per line, with "
        "`Accept: application/x-ndjson`)",
        "headers": feed_headers,
        "content": {
            _JSON: {
                "schema": _obj(
                    ["changes", "next_after", "more"],
                    {
                        "changes": {"type": "array", "items": change},
                        "next_after": {"type": "integer", "minimum": 0},
                        "more": {"type": "boolean"},
                    },
                )
            },
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
    binary_status = {
        "name": "status",
        "in": "query",
        "required": False,
        "description": "The status of every index of an `application/octet-stream` body "
        "(required there; a name or a value in ASCII digits; ignored with JSON bodies)",
        "schema": _ref("schemas", "Status"),
    }
    return {
        "/v1/lists": {
            "post": _issuer_op(
                "Create a list (admin key)",
                {
                    "201": _json(
                        "The new list",
                        list_doc,
                        headers={"Location": _header("`/v1/lists/{id}`")},
                    ),
                    **_problems(403, 409, *_BODY_PROBLEMS),
                },
                requestBody=_json_body(_ref("schemas", "NewList")),
            ),
            "get": _issuer_op(
                "The issuer's lists (without counts)",
                {
                    "200": _json(
                        "The lists",
                        _obj(["lists"], {"lists": {"type": "array", "items": list_doc}}),
                    )
                },
            ),
        },
        "/v1/lists/{list_id}": {
            "parameters": [_LIST_ID],
            "get": _issuer_op(
                "A list: metadata, counts per status, publish state",
                {"200": _json("The list", list_doc), **_problems(404, 503)},
            ),
        },
        "/v1/allocations": {
            "post": _issuer_op(
                "Allocate fresh entries (never reused), from `list_id` or the issuer's pool",
                {
                    "201": _json(
                        "The entries' `status_list` claims",
                        {
                            "type": "array",
                            "items": _obj(
                                ["status_list"],
                                {
                                    "status_list": _obj(
                                        ["idx", "uri"],
                                        {
                                            "idx": _ref("schemas", "Index"),
                                            "uri": {"type": "string"},
                                        },
                                    )
                                },
                            ),
                        },
                    ),
                    **_problems(403, 404, 409, *_BODY_PROBLEMS),
                },
                requestBody=_json_body(
                    _obj(
                        ["count"],
                        {
                            "count": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": limits.max_allocation,
                            },
                            "list_id": _ID,
                        },
                    )
                ),
            )
        },
        "/v1/lists/{list_id}/entries/{idx}": {
            "parameters": [_LIST_ID, _IDX],
            "get": _issuer_op(
                "An entry's committed status",
                {"200": _json("The entry", entry), **_problems(404, 422, 503)},
            ),
            "put": _issuer_op(
                "Set an entry's status",
                {
                    "200": _json("The entry as set", entry),
                    **_problems(403, 404, 409, *_BODY_PROBLEMS),
                },
                requestBody=_json_body(_obj(["status"], {"status": _ref("schemas", "Status")})),
            ),
        },
        "/v1/lists/{list_id}/entries": {
            "parameters": [_LIST_ID],
            "patch": _issuer_op(
                "Atomic batch: all of it is written or none",
                {"200": updated, **_problems(403, 404, 409, *_BODY_PROBLEMS)},
                parameters=[binary_status],
                requestBody={
                    "required": True,
                    "description": "`{updates: [{idx, status}]}`, `{indices, status}`, "
                    "`{indices, statuses}`, or little-endian u64 indices with `?status=`",
                    "content": {
                        _JSON: {"schema": batch_forms},
                        "application/octet-stream": {
                            "schema": {
                                "type": "string",
                                "format": "binary",
                                "description": "8 bytes per index, little-endian",
                                "minLength": 8,
                                "maxLength": min(limits.max_batch * 8, limits.max_body_bytes),
                            }
                        },
                    },
                },
            ),
        },
        "/v1/entries": {
            "patch": _issuer_op(
                "Atomic batch by status claim (`uri`, `idx`), over lists",
                {"200": updated, **_problems(403, 404, 409, *_BODY_PROBLEMS)},
                requestBody=_json_body(_ref("schemas", "BatchByUri")),
            )
        },
        "/v1/lists/{list_id}/publish": {
            "parameters": [_LIST_ID],
            "post": _issuer_op(
                "Publish now",
                {
                    "200": _json(
                        "The published tokens",
                        _obj(
                            ["etag", "etags", "iat", "exp"],
                            {
                                "etag": {"type": "string", "description": "The first format's"},
                                "etags": {
                                    "type": "object",
                                    "description": "Per representation (`jwt`, `jwt+gzip`, `cwt`)",
                                    "additionalProperties": {"type": "string"},
                                },
                                "iat": {"type": "integer"},
                                "exp": {"type": "integer"},
                            },
                        ),
                    ),
                    **_problems(403, 404, 503),
                },
            ),
        },
        "/v1/lists/{list_id}/changes": {
            "parameters": [_LIST_ID],
            "get": _issuer_op(
                "The audit feed of one list: its change log after the cursor `after`, in "
                "order; long-polls up to `wait` seconds for the next change",
                {"200": feed, **_problems(403, 404, 422, 503)},
                parameters=feed_params,
            ),
        },
        "/v1/changes": {
            "get": _issuer_op(
                "The audit feed of the caller's issuer: every change to its lists after the "
                "cursor `after`, in order (`next_after` may pass other issuers' changes)",
                {"200": feed, **_problems(403, 422, 503)},
                parameters=feed_params,
            ),
        },
    }


def openapi(settings: Settings) -> dict[str, Any]:
    limits = settings.limits
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "statuslist",
            "version": __version__,
            "description": "IETF Token Status List service. Every GET also answers HEAD. "
            "Integers in request bodies are JSON integers (`1.0` is refused with 422), and a "
            "JSON object may not repeat a member (400). "
            f"Limits: request bodies up to {limits.max_body_bytes} bytes, batches up to "
            f"{limits.max_batch} entries, allocations up to {limits.max_allocation}, lists "
            f"up to {limits.max_list_size} entries and {limits.max_lists_per_issuer} per "
            "issuer.",
        },
        "servers": [{"url": settings.base_url}],
        "paths": {**_token_paths(), **_public_paths(), **_issuer_paths(settings)},
        "components": _components(settings),
    }
