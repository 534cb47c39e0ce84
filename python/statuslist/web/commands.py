"""Request bodies parsed at the edge into the service's typed commands.

Here: JSON syntax, shapes, member names and types (an index is a non-negative integer below
2^64, a status a known name or an integer 0..255). The service checks the rest against the list
(index below its size, a value that fits its bits, final INVALID, batch limits).
"""

from __future__ import annotations

import json
import string
from array import array
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from statuslist.service import STATUS_NAMES, Allocation, ListUpdate, NewList, UpdateBatch
from statuslist.service.errors import (
    BadRequestError,
    NotFoundError,
    UnsupportedMediaError,
    ValidationError,
)

__all__ = [
    "LIST_ID_PATTERN",
    "SingleBodies",
    "allocation",
    "batch_binary",
    "batch_by_uri",
    "batch_json",
    "new_list",
    "no_binary_status",
    "parse_json",
    "parse_list_id",
    "path_index",
    "path_list_id",
    "read_json",
    "single",
    "single_status",
]

_U64 = 1 << 64
_NAMES = {name: bytes([v]) for name, v in STATUS_NAMES.items()}
_BYTES = {v: bytes([v]) for v in range(256)}


async def read_body(request: web.Request) -> bytes:
    """The request body as sent; compressed bodies are refused (they are never inflated)."""
    coding = request.headers.get("Content-Encoding", "").strip().lower()
    if coding not in ("", "identity"):
        raise UnsupportedMediaError(
            "request bodies are accepted without Content-Encoding only", field="Content-Encoding"
        )
    return await request.read()


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused when a member name repeats (which value was meant?)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(f"member {_quote(key)} appears twice in one object")
            seen.add(key)
    return out


def _quote(text: str, limit: int = 64) -> str:
    """``text`` for an error message, cut to ``limit`` characters (never an echo of a body)."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


async def read_json(request: web.Request) -> Any:
    return parse_json(await read_body(request))


def parse_json(body: bytes) -> Any:
    """A request body as JSON; every refusal is a :class:`BadRequestError` (400)."""
    if not body:
        raise BadRequestError("the request needs a JSON body")
    try:
        return json.loads(body, object_pairs_hook=_no_duplicates)
    except _DuplicateKeyError as exc:
        raise BadRequestError(f"the body's JSON is ambiguous: {exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequestError(f"the body is not valid JSON: {str(exc)[:200]}") from None
    except RecursionError:
        raise BadRequestError("the body's JSON is nested too deeply") from None


def _show(value: Any, limit: int = 64) -> str:
    """Any JSON value for an error message, cut to ``limit`` characters of its repr."""
    if isinstance(value, str):
        return _quote(value, limit)
    if type(value) is int and not -(10**limit) < value < 10**limit:
        return f"an integer of {len(str(abs(value)))} digits"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _object(doc: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise ValidationError("the body must be a JSON object")
    extra = set(doc) - allowed
    if extra:
        names = ", ".join(_quote(n) for n in sorted(extra)[:5])
        raise ValidationError(f"unexpected member(s): {names}", field=min(extra)[:64])
    return doc


def _is_int(v: Any) -> bool:
    return type(v) is int


def index(value: Any, fld: str) -> int:
    if not _is_int(value) or not 0 <= value < _U64:
        raise ValidationError(
            f"index must be a non-negative integer, got {_show(value)}", field=fld
        )
    return int(value)


def status(value: Any, fld: str = "status") -> int:
    if isinstance(value, str):
        v = STATUS_NAMES.get(value)
        if v is None:
            raise ValidationError(
                f"unknown status {_quote(value)}: use VALID, INVALID, SUSPENDED or an integer",
                field=fld,
            )
        return v
    if not _is_int(value):
        raise ValidationError("status must be a name or an integer", field=fld)
    if not 0 <= value <= 255:
        raise ValidationError(f"status {_show(value)} does not fit any list (0..255)", field=fld)
    return int(value)


def canonical_int(text: str) -> int | None:
    """``text`` as a non-negative integer if it is one in canonical form (ASCII digits, no sign,
    no leading zero), else None: ``007``, ``-0`` or ``٣`` must not alias a real entry."""
    if not (text.isascii() and text.isdigit() and len(text) <= 20):
        return None
    if len(text) > 1 and text[0] == "0":
        return None
    return int(text)


def path_index(text: str) -> int:
    """The ``{idx}`` of a path: a canonical non-negative integer below 2^64."""
    value = canonical_int(text)
    if value is None or value >= _U64:
        raise ValidationError(
            f"index must be a non-negative integer in canonical form, got {_quote(text)}",
            field="idx",
        )
    return value


#: What a list id can be made of (ids are ``secrets.token_hex(8)``; the rule is looser, so that
#: it does not tie the API to that form).
LIST_ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$"
_ID_CHARS = frozenset(string.ascii_letters + string.digits + "_-")


def parse_list_id(text: str, fld: str = "list_id") -> str:
    """A list id as sent. One that cannot name a list (ids are short URL-safe ASCII) is not
    found without a look-up: a NUL or a lone surrogate must not reach a database query, where
    it would be a database error (503) instead of a 404."""
    if not (0 < len(text) <= 64 and _ID_CHARS.issuperset(text)):
        raise NotFoundError(f"no list {_quote(text)}", field=fld)
    return text


def path_list_id(request: web.Request) -> str:
    """The ``{list_id}`` of the request's path (see :func:`parse_list_id`)."""
    return parse_list_id(request.match_info["list_id"])


# -- commands -----------------------------------------------------------------------------------


def new_list(doc: Any) -> NewList:
    doc = _object(doc, {"bits", "size", "ttl", "formats", "final_invalid", "decoys"})
    for name in ("bits", "size", "ttl", "decoys"):
        if name in doc and not _is_int(doc[name]):
            raise ValidationError(f"{name} must be an integer", field=name)
    if "final_invalid" in doc and not isinstance(doc["final_invalid"], bool):
        raise ValidationError("final_invalid must be true or false", field="final_invalid")
    formats = doc.get("formats")
    if formats is not None and not (
        isinstance(formats, list) and all(isinstance(f, str) for f in formats)
    ):
        raise ValidationError('formats must be an array such as ["jwt", "cwt"]', field="formats")
    if "formats" in doc and formats is None:
        raise ValidationError('formats must be an array such as ["jwt", "cwt"]', field="formats")
    return NewList(
        bits=doc.get("bits"),
        size=doc.get("size"),
        ttl=doc.get("ttl"),
        formats=None if formats is None else tuple(formats),
        final_invalid=doc.get("final_invalid", False),
        decoys=doc.get("decoys", 0),
    )


def allocation(doc: Any) -> Allocation:
    doc = _object(doc, {"count", "list_id"})
    if "count" not in doc:
        raise ValidationError("count is required", field="count")
    if not _is_int(doc["count"]):
        raise ValidationError("count must be an integer", field="count")
    target = doc.get("list_id")
    if "list_id" in doc and not isinstance(target, str):  # null is not "absent"
        raise ValidationError("list_id must be a string", field="list_id")
    return Allocation(doc["count"], None if target is None else parse_list_id(target))


def single(list_id: str, idx: int, doc: Any) -> UpdateBatch:
    """``PUT /v1/lists/{id}/entries/{idx}`` ``{"status": …}``."""
    value = single_status(doc)
    return UpdateBatch([ListUpdate(list_id, array("Q", [idx]), _BYTES[value], "single")])


def single_status(doc: Any) -> int:
    """The status of a ``PUT /v1/lists/{id}/entries/{idx}`` body, ``{"status": …}``."""
    doc = _object(doc, {"status"})
    if "status" not in doc:
        raise ValidationError("status is required", field="status")
    return status(doc["status"])


class SingleBodies:
    """The status of each small single-PUT body seen before: callers send one of a few bodies
    (``{"status":"INVALID"}``), so a repeated one is one dictionary look-up, not a JSON parse.
    Only bodies that parsed are remembered; bounded."""

    __slots__ = ("_known",)

    #: Bodies of at most this many bytes are remembered, at most ``LIMIT`` of them.
    BODY_BYTES = 128
    LIMIT = 256

    def __init__(self) -> None:
        self._known: dict[bytes, int] = {}

    async def read(self, request: web.Request) -> int:
        """The status the request's body names (refusals as :func:`single_status`)."""
        body = await read_body(request)
        value = self._known.get(body)
        if value is None:
            value = single_status(parse_json(body))
            if len(body) <= self.BODY_BYTES and len(self._known) < self.LIMIT:
                self._known[body] = value
        return value


def batch_json(list_id: str, doc: Any) -> UpdateBatch:
    """The JSON forms of ``PATCH /v1/lists/{id}/entries``: ``{"updates": [{"idx", "status"}]}``,
    ``{"indices": […], "status": S}`` or ``{"indices": […], "statuses": […]}``."""
    if not isinstance(doc, dict):
        raise ValidationError("the body must be a JSON object")
    if "updates" in doc:
        _object(doc, {"updates"})
        updates = doc["updates"]
        if not isinstance(updates, list) or not updates:
            raise ValidationError("updates must be a non-empty array", field="updates")
        idx = array("Q")
        vals = bytearray()
        for n, u in enumerate(updates):
            if not isinstance(u, dict) or len(u) != 2 or "idx" not in u or "status" not in u:
                raise ValidationError(
                    'each update must be {"idx": …, "status": …}', field=f"updates[{n}]"
                )
            idx.append(index(u["idx"], f"updates[{n}].idx"))
            vals.append(status(u["status"], f"updates[{n}].status"))
        return UpdateBatch([ListUpdate(list_id, idx, bytes(vals), "updates")])
    if "indices" not in doc:
        raise ValidationError('expected "updates" or "indices"')
    idx = _indices(doc["indices"])
    if "status" in doc:
        _object(doc, {"indices", "status"})
        value = status(doc["status"])
        return UpdateBatch([ListUpdate(list_id, idx, bytes([value]) * len(idx), "indices")])
    _object(doc, {"indices", "statuses"})
    statuses = doc.get("statuses")
    if not isinstance(statuses, list) or len(statuses) != len(idx):
        raise ValidationError("statuses must be an array as long as indices", field="statuses")
    try:
        values = b"".join(
            _NAMES[s] if type(s) is str else _BYTES[s] if type(s) is int else b"!" * 2
            for s in statuses
        )
    except KeyError:
        values = b""
    if len(values) != len(statuses):  # one of them is not a status: say which
        for k, s in enumerate(statuses):
            status(s, f"statuses[{k}]")
    return UpdateBatch([ListUpdate(list_id, idx, values, "statuses")])


def _indices(values: Any, fld: str = "indices") -> array[int]:
    if not isinstance(values, list) or not values:
        raise ValidationError("must be a non-empty array of indices", field=fld)
    if not all(map(_is_int, values)):
        bad = next(k for k, v in enumerate(values) if not _is_int(v))
        raise ValidationError(f"{fld}[{bad}] is not an integer", field=f"{fld}[{bad}]")
    try:
        return array("Q", values)
    except OverflowError:
        bad = next(k for k, v in enumerate(values) if not 0 <= v < _U64)
        raise ValidationError(
            f"{fld}[{bad}] = {_show(values[bad])} is not a non-negative integer below 2^64",
            field=f"{fld}[{bad}]",
        ) from None


def no_binary_status(query: Mapping[str, str]) -> None:
    """A JSON batch names its statuses in the body: a ``?status=`` beside it is refused, not
    ignored (which one was meant?)."""
    if "status" in query:
        raise ValidationError(
            "?status= goes with application/octet-stream bodies only; a JSON batch names its "
            "statuses in the body",
            field="status",
        )


def batch_binary(list_id: str, raw: bytes, query: MultiMapping[str]) -> UpdateBatch:
    """``application/octet-stream``: little-endian u64 indices, ``?status=`` (once) for all."""
    values = query.getall("status", [])
    if not values:
        raise ValidationError("binary batches need ?status=", field="status")
    if len(values) > 1:
        raise BadRequestError("?status= must be given once", field="status")
    text = values[0]
    number = canonical_int(text)
    value = status(number if number is not None else text)
    if not raw or len(raw) % 8:
        raise ValidationError("the body must be a non-empty sequence of u64 LE indices")
    idx = array("Q")
    idx.frombytes(raw)
    return UpdateBatch([ListUpdate(list_id, idx, bytes([value]) * len(idx), "binary")])


def batch_by_uri(doc: Any, list_id_of: Any) -> UpdateBatch:
    """``PATCH /v1/entries`` ``{"updates": [{"uri", "idx", "status"}]}``, grouped by list;
    ``list_id_of(uri)`` is the list id of a status list URI of this server, or None."""
    doc = _object(doc, {"updates"})
    updates = doc.get("updates")
    if not isinstance(updates, list) or not updates:
        raise ValidationError("updates must be a non-empty array", field="updates")
    grouped: dict[str, tuple[array[int], bytearray, list[int], int]] = {}
    for n, u in enumerate(updates):
        if not isinstance(u, dict) or len(u) != 3 or not {"uri", "idx", "status"} <= u.keys():
            raise ValidationError(
                'each update must be {"uri": …, "idx": …, "status": …}', field=f"updates[{n}]"
            )
        uri = u["uri"]
        target = list_id_of(uri) if isinstance(uri, str) else None
        if target is None:
            raise ValidationError(
                "uri must be a status list URI of this server", field=f"updates[{n}].uri"
            )
        target = parse_list_id(target, f"updates[{n}].uri")
        entry = grouped.setdefault(target, (array("Q"), bytearray(), [], n))
        entry[0].append(index(u["idx"], f"updates[{n}].idx"))
        entry[1].append(status(u["status"], f"updates[{n}].status"))
        entry[2].append(n)
    return UpdateBatch(
        [
            ListUpdate(lid, i, bytes(v), "updates", pos, f"updates[{first}].uri")
            for lid, (i, v, pos, first) in grouped.items()
        ]
    )
