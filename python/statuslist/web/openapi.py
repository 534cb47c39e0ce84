"""The OpenAPI 3.1 description of every route (served at ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

from statuslist import __version__
from statuslist.config import Settings

__all__ = ["openapi"]

_PROBLEM = {"$ref": "#/components/responses/Problem"}
_STATUS = {
    "oneOf": [
        {"type": "string", "enum": ["VALID", "INVALID", "SUSPENDED"]},
        {"type": "integer", "minimum": 0, "maximum": 255},
    ]
}


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": summary, "responses": responses}
    out.update(extra)
    return out


def _body(schema: dict[str, Any], media: str = "application/json") -> dict[str, Any]:
    return {"required": True, "content": {media: {"schema": schema}}}


def _ok(description: str, media: str = "application/json") -> dict[str, Any]:
    return {"description": description, "content": {media: {}}}


def _secured(op: dict[str, Any]) -> dict[str, Any]:
    op["security"] = [{"bearer": []}]
    op["responses"].update({"401": _PROBLEM, "403": _PROBLEM, "404": _PROBLEM, "422": _PROBLEM})
    return op


LIST_ID = {"name": "list_id", "in": "path", "required": True, "schema": {"type": "string"}}
IDX = {"name": "idx", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}


def openapi(settings: Settings) -> dict[str, Any]:
    token = {
        "200": {
            "description": "The Status List Token (JWT or CWT by Accept; gzip'd JWT by "
            "Accept-Encoding)",
            "content": {"application/statuslist+jwt": {}, "application/statuslist+cwt": {}},
        },
        "304": {"description": "Not modified (If-None-Match / If-Modified-Since)"},
        "404": _PROBLEM,
        "406": _PROBLEM,
        "501": _PROBLEM,
        "503": _PROBLEM,
    }
    paths: dict[str, Any] = {
        "/statuslists/{list_id}": {
            "get": _op(
                "Status List Token",
                token,
                parameters=[
                    LIST_ID,
                    {"name": "time", "in": "query", "schema": {"type": "integer"}},
                ],
            ),
            "options": _op("CORS preflight", {"204": {"description": "CORS headers"}}),
        },
        "/aggregation/{issuer}": {
            "get": _op("The issuer's Status List URIs", {"200": _ok("status_lists")})
        },
        "/.well-known/jwks.json": {"get": _op("Signing keys, all issuers", {"200": _ok("JWKS")})},
        "/issuers/{issuer}/jwks.json": {
            "get": _op("One issuer's signing keys", {"200": _ok("JWKS"), "404": _PROBLEM})
        },
        "/healthz": {"get": _op("Liveness", {"200": _ok("alive")})},
        "/readyz": {"get": _op("Readiness", {"200": _ok("ready"), "503": _ok("not ready")})},
        "/metrics": {"get": _op("Prometheus metrics", {"200": _ok("metrics", "text/plain")})},
        "/openapi.json": {"get": _op("This document", {"200": _ok("OpenAPI")})},
        "/v1/lists": {
            "post": _secured(
                _op(
                    "Create a list (admin key)",
                    {"201": _ok("the list")},
                    requestBody=_body(
                        {
                            "type": "object",
                            "properties": {
                                "bits": {"enum": [1, 2, 4, 8]},
                                "size": {"type": "integer", "minimum": 1},
                                "ttl": {"type": "integer", "minimum": 1},
                                "formats": {"type": "array", "items": {"enum": ["jwt", "cwt"]}},
                                "final_invalid": {"type": "boolean"},
                                "decoys": {"type": "integer", "minimum": 0},
                            },
                            "additionalProperties": False,
                        }
                    ),
                )
            ),
            "get": _secured(_op("The issuer's lists", {"200": _ok("lists")})),
        },
        "/v1/lists/{list_id}": {
            "get": _secured(_op("A list: metadata, counts, publish state", {"200": _ok("list")}))
        },
        "/v1/allocations": {
            "post": _secured(
                _op(
                    "Allocate fresh entries (never reused)",
                    {"201": _ok("[{status_list: {idx, uri}}]"), "409": _PROBLEM},
                    requestBody=_body(
                        {
                            "type": "object",
                            "required": ["count"],
                            "properties": {
                                "count": {"type": "integer", "minimum": 1},
                                "list_id": {"type": "string"},
                            },
                        }
                    ),
                )
            )
        },
        "/v1/lists/{list_id}/entries/{idx}": {
            "get": _secured(
                _op("An entry's status", {"200": _ok("status")}, parameters=[LIST_ID, IDX])
            ),
            "put": _secured(
                _op(
                    "Set an entry's status",
                    {"200": _ok("status"), "409": _PROBLEM},
                    parameters=[LIST_ID, IDX],
                    requestBody=_body({"type": "object", "properties": {"status": _STATUS}}),
                )
            ),
        },
        "/v1/lists/{list_id}/entries": {
            "patch": _secured(
                _op(
                    "Atomic batch: {updates:[{idx,status}]} | {indices,status} | "
                    "{indices,statuses} | octet-stream of u64 LE indices with ?status=",
                    {"200": _ok("{updated}"), "409": _PROBLEM, "413": _PROBLEM},
                    parameters=[LIST_ID],
                    requestBody={
                        "required": True,
                        "content": {"application/json": {}, "application/octet-stream": {}},
                    },
                )
            )
        },
        "/v1/entries": {
            "patch": _secured(
                _op(
                    "Atomic batch by status claim: {updates:[{uri,idx,status}]}",
                    {"200": _ok("{updated}"), "409": _PROBLEM, "413": _PROBLEM},
                )
            )
        },
        "/v1/lists/{list_id}/publish": {
            "post": _secured(
                _op(
                    "Publish now",
                    {"200": _ok("{etag (first format), etags per representation, iat, exp}")},
                )
            )
        },
        "/v1/lists/{list_id}/changes": {
            "get": _secured(
                _op(
                    "The list's change log after ?after=SEQ (?limit=1..1000, ?wait=0..60 s "
                    "long-polls); JSON, or NDJSON with Accept: application/x-ndjson",
                    {
                        "200": _ok(
                            "{changes:[{seq,list_id,at,actor,indices,old,new}], next_after, more}"
                        )
                    },
                    parameters=[LIST_ID],
                )
            )
        },
        "/v1/changes": {
            "get": _secured(
                _op(
                    "Every change to the caller's issuer's lists after ?after=SEQ",
                    {"200": _ok("{changes, next_after, more}")},
                )
            )
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "statuslist", "version": __version__},
        "servers": [{"url": settings.base_url}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Problem": {
                    "description": "RFC 9457 problem details",
                    "content": {"application/problem+json": {}},
                }
            },
        },
    }
