"""Bad input to every write route of a real ``statuslist serve`` is refused with a clear 4xx
``application/problem+json`` (type, title, status, detail, and the ``field`` at fault), never a
500, and nothing of a refused request is stored: lists are read back after every refusal, and a
batch whose last element is bad must not apply the ones before it.

The server (fixture ``limited``) has two issuers ``a`` and ``b`` and small limits. Every test
makes its own lists of issuer ``a``.
"""

from __future__ import annotations

import base64
import json
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from statuslist import StatusList
from tests.web.conftest import Limited

PROBLEM = "application/problem+json"
HUGE = 2**70
SIZE = 64  # entries of every test list (a multiple of 8, so no rounding)
NO_BODY = object()


# -- helpers --------------------------------------------------------------------------------------


def call(
    lim: Limited,
    method: str,
    path: str,
    body: Any = NO_BODY,
    *,
    key: str | None = "",
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """A request with issuer a's admin key unless ``key`` is given (``None``: no key)."""
    if body is not NO_BODY:
        raw = json.dumps(body).encode()
    return lim.srv.request(
        method, path, key=lim.key_a if key == "" else key, raw=raw, headers=headers
    )


def ok(lim: Limited, method: str, path: str, body: Any = NO_BODY, **kw: Any) -> Any:
    status, _, data = call(lim, method, path, body, **kw)
    assert status < 300, f"{method} {path} -> {status}: {data[:300]!r}"
    return json.loads(data)


def assert_problem(
    resp: tuple[int, dict[str, str], bytes], status: int, field: str | None = None
) -> dict[str, Any]:
    """``resp`` is a problem document with ``status`` (and ``field`` when given)."""
    code, headers, body = resp
    assert code == status, f"expected {status}, got {code}: {body[:400]!r}"
    assert headers.get("Content-Type", "").split(";")[0] == PROBLEM, headers
    doc: dict[str, Any] = json.loads(body)
    assert doc["status"] == status
    for member in ("type", "title", "detail"):
        assert isinstance(doc[member], str) and doc[member], doc
    assert "Traceback" not in doc["detail"]
    if field is not None:
        assert doc.get("field") == field, doc
    return doc


@dataclass(frozen=True)
class ListRef:
    id: str
    uri: str
    bits: int


def make_list(lim: Limited, bits: int, **params: Any) -> ListRef:
    doc = ok(lim, "POST", "/v1/lists", {"bits": bits, "size": SIZE, **params})
    assert doc["size"] == SIZE
    return ListRef(doc["id"], doc["uri"], bits)


def set_entry(lim: Limited, lst: ListRef, idx: int, status: Any) -> None:
    ok(lim, "PUT", f"/v1/lists/{lst.id}/entries/{idx}", {"status": status})


def entry(lim: Limited, lst: ListRef, idx: int) -> int:
    value: int = ok(lim, "GET", f"/v1/lists/{lst.id}/entries/{idx}")["status"]
    return value


def snapshot(lim: Limited, lst: ListRef) -> tuple[Any, ...]:
    """Everything observable about a list: its metadata and counts, and every entry (read from
    a token published now)."""
    meta = ok(lim, "GET", f"/v1/lists/{lst.id}")
    meta.pop("published")
    meta.pop("pending_publish")
    ok(lim, "POST", f"/v1/lists/{lst.id}/publish")
    status, _, token = call(lim, "GET", f"/statuslists/{lst.id}", key=None)
    assert status == 200
    payload = token.split(b".")[1]
    claims = json.loads(_b64(payload))
    entries = StatusList.from_json(claims["status_list"]).to_bytes()
    return (json.dumps(meta, sort_keys=True), entries)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))


def issuer_lists(lim: Limited, key: str | None = "") -> list[str]:
    return sorted(item["id"] for item in ok(lim, "GET", "/v1/lists", key=key)["lists"])


@dataclass(frozen=True)
class Lists:
    one: ListRef  # 1 bit; entry 10 INVALID
    two: ListRef  # 2 bits; entry 10 SUSPENDED, entry 11 INVALID


@pytest.fixture
def lists(limited: Limited) -> Lists:
    one, two = make_list(limited, 1), make_list(limited, 2)
    set_entry(limited, one, 10, "INVALID")
    set_entry(limited, two, 10, "SUSPENDED")
    set_entry(limited, two, 11, 1)
    return Lists(one, two)


def unchanged(lim: Limited, *targets: ListRef) -> Callable[[], None]:
    """Takes snapshots now; the returned function asserts they have not changed."""
    before = [snapshot(lim, t) for t in targets]

    def check() -> None:
        after = [snapshot(lim, t) for t in targets]
        assert after == before, "a refused request changed a list"

    return check


# -- bad JSON on every route ----------------------------------------------------------------------

DEEP = b"[" * 20000 + b"]" * 20000  # valid JSON nesting deeper than the parser's recursion

BAD_BODIES: list[tuple[str, bytes, int]] = [
    ("malformed", b'{"status": ', 400),
    ("not-json", b"revoke it please", 400),
    ("empty", b"", 400),
    ("trailing-garbage", b'{"status": 1} x', 400),
    ("invalid-utf8", b'{"status": "\xff\xfe"}', 400),
    ("deep-nesting", DEEP, 400),
    ("huge-number-literal", b'{"status": 1' + b"0" * 5000 + b"}", 400),
    ("array", b"[1, 2, 3]", 422),
    ("string", b'"INVALID"', 422),
    ("number", b"1", 422),
    ("null", b"null", 422),
]


def write_routes(lsts: Lists) -> list[tuple[str, str]]:
    one = lsts.one
    return [
        ("POST", "/v1/lists"),
        ("POST", "/v1/allocations"),
        ("PUT", f"/v1/lists/{one.id}/entries/3"),
        ("PATCH", f"/v1/lists/{one.id}/entries"),
        ("PATCH", "/v1/entries"),
    ]


@pytest.mark.parametrize(("name", "raw", "expected"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_json_bodies(
    limited: Limited, lists: Lists, name: str, raw: bytes, expected: int
) -> None:
    check = unchanged(limited, lists.one)
    before = issuer_lists(limited)
    for method, path in write_routes(lists):
        resp = call(limited, method, path, raw=raw)
        assert_problem(resp, expected)
    check()
    assert issuer_lists(limited) == before


# -- POST /v1/lists -------------------------------------------------------------------------------

CREATE_BAD: list[tuple[dict[str, Any], str]] = [
    ({"bits": "1"}, "bits"),
    ({"bits": 1.0}, "bits"),
    ({"bits": True}, "bits"),
    ({"bits": None}, "bits"),
    ({"bits": 3}, "bits"),
    ({"bits": 16}, "bits"),
    ({"bits": 0}, "bits"),
    ({"size": 0}, "size"),
    ({"size": -8}, "size"),
    ({"size": HUGE}, "size"),
    ({"size": "64"}, "size"),
    ({"size": 64.5}, "size"),
    ({"ttl": 0}, "ttl"),
    ({"ttl": -1}, "ttl"),
    ({"ttl": HUGE}, "ttl"),
    ({"ttl": True}, "ttl"),
    ({"ttl": None}, "ttl"),
    ({"formats": "jwt"}, "formats"),
    ({"formats": []}, "formats"),
    ({"formats": ["xml"]}, "formats"),
    ({"formats": ["jwt", "jwt"]}, "formats"),
    ({"formats": [1]}, "formats"),
    ({"formats": None}, "formats"),
    ({"final_invalid": "yes"}, "final_invalid"),
    ({"final_invalid": 1}, "final_invalid"),
    ({"decoys": -1}, "decoys"),
    ({"decoys": SIZE}, "decoys"),
    ({"decoys": HUGE}, "decoys"),
    ({"decoys": 1.5}, "decoys"),
    ({"colour": "red"}, "colour"),
]


@pytest.mark.parametrize(
    ("params", "field"), CREATE_BAD, ids=[json.dumps(c[0]) for c in CREATE_BAD]
)
def test_create_list_refuses(limited: Limited, params: dict[str, Any], field: str) -> None:
    before = issuer_lists(limited)
    body = {"bits": 1, "size": SIZE, **params}
    assert_problem(call(limited, "POST", "/v1/lists", body), 422, field)
    assert issuer_lists(limited) == before


def test_create_list_needs_an_admin_key(limited: Limited) -> None:
    before = issuer_lists(limited)
    for key in (limited.read_a, limited.write_a):
        assert_problem(call(limited, "POST", "/v1/lists", {"bits": 1}, key=key), 403)
    assert issuer_lists(limited) == before


# -- POST /v1/allocations -------------------------------------------------------------------------

ALLOC_BAD: list[tuple[dict[str, Any], int, str | None]] = [
    ({}, 422, "count"),
    ({"count": "1"}, 422, "count"),
    ({"count": 1.0}, 422, "count"),
    ({"count": True}, 422, "count"),
    ({"count": None}, 422, "count"),
    ({"count": 0}, 422, "count"),
    ({"count": -1}, 422, "count"),
    ({"count": HUGE}, 422, "count"),
    ({"count": 1_000_001}, 422, "count"),  # limits.max_allocation
    ({"count": 1, "list_id": 5}, 422, "list_id"),
    ({"count": 1, "list_id": ["x"]}, 422, "list_id"),
    ({"count": 1, "list_id": "no-such-list"}, 404, "list_id"),
    ({"count": 1, "bits": 1}, 422, "bits"),
]


@pytest.mark.parametrize(
    ("body", "status", "field"), ALLOC_BAD, ids=[json.dumps(c[0]) for c in ALLOC_BAD]
)
def test_allocation_refuses(
    limited: Limited, lists: Lists, body: dict[str, Any], status: int, field: str | None
) -> None:
    before = issuer_lists(limited)
    check = unchanged(limited, lists.one)
    assert_problem(call(limited, "POST", "/v1/allocations", body), status, field)
    # The same, aimed at a list: nothing allocated from it.
    if "list_id" not in body:
        with_list = {**body, "list_id": lists.one.id}
        assert_problem(call(limited, "POST", "/v1/allocations", with_list), status, field)
    check()
    assert issuer_lists(limited) == before


def test_allocation_beyond_a_lists_capacity_is_409(limited: Limited, lists: Lists) -> None:
    check = unchanged(limited, lists.one)
    body = {"count": SIZE + 1, "list_id": lists.one.id}
    assert_problem(call(limited, "POST", "/v1/allocations", body), 409, "count")
    check()
    # What fits is allocated, then the rest is refused.
    got = ok(limited, "POST", "/v1/allocations", {"count": SIZE - 1, "list_id": lists.one.id})
    assert len({e["status_list"]["idx"] for e in got}) == SIZE - 1
    check = unchanged(limited, lists.one)
    body = {"count": 2, "list_id": lists.one.id}
    assert_problem(call(limited, "POST", "/v1/allocations", body), 409, "count")
    check()


# -- PUT /v1/lists/{id}/entries/{idx} -------------------------------------------------------------

PUT_BAD_PATH = ["abc", "1.5", "-1", "+1", "0x1", str(SIZE), str(SIZE + 1), str(HUGE), "1e3"]


@pytest.mark.parametrize("idx", PUT_BAD_PATH)
def test_put_bad_index(limited: Limited, lists: Lists, idx: str) -> None:
    check = unchanged(limited, lists.one)
    resp = call(limited, "PUT", f"/v1/lists/{lists.one.id}/entries/{idx}", {"status": 1})
    assert_problem(resp, 422, "idx")
    check()


PUT_BAD_BODY: list[tuple[int, Any, str | None]] = [
    (1, {"status": True}, "status"),
    (1, {"status": False}, "status"),
    (1, {"status": None}, "status"),
    (1, {"status": 1.0}, "status"),
    (1, {"status": "1"}, "status"),
    (1, {"status": "REVOKED"}, "status"),
    (1, {"status": ""}, "status"),
    (1, {"status": ["INVALID"]}, "status"),
    (1, {"status": -1}, "status"),
    (1, {"status": 2}, "status"),  # 2 does not fit one bit
    (1, {"status": "SUSPENDED"}, "status"),  # SUSPENDED is 2
    (1, {"status": HUGE}, "status"),
    (2, {"status": 4}, "status"),
    (2, {"status": 255}, "status"),
    (1, {}, "status"),
    (1, {"status": 1, "reason": "x"}, "reason"),
    (1, {"Status": 1}, "Status"),
]


@pytest.mark.parametrize(
    ("bits", "body", "field"),
    PUT_BAD_BODY,
    ids=[f"{c[0]}bit-{json.dumps(c[1])}" for c in PUT_BAD_BODY],
)
def test_put_bad_body(
    limited: Limited, lists: Lists, bits: int, body: Any, field: str | None
) -> None:
    lst = lists.one if bits == 1 else lists.two
    check = unchanged(limited, lst)
    for idx in (3, 10):  # a VALID entry and a non-VALID one
        resp = call(limited, "PUT", f"/v1/lists/{lst.id}/entries/{idx}", body)
        assert_problem(resp, 422, field)
    check()


def test_put_accepts_names_and_integers(limited: Limited, lists: Lists) -> None:
    """The control for the refusals above: the same route with good input works."""
    two = lists.two
    for status, value in (("SUSPENDED", 2), (3, 3), ("VALID", 0), (1, 1)):
        set_entry(limited, two, 5, status)
        assert entry(limited, two, 5) == value
    set_entry(limited, lists.one, SIZE - 1, "INVALID")
    assert entry(limited, lists.one, SIZE - 1) == 1


# -- PATCH /v1/lists/{id}/entries -----------------------------------------------------------------

GOOD_UPDATES = [{"idx": 1, "status": "INVALID"}, {"idx": 2, "status": 1}]

# (bits, last update, field at fault)
UPDATE_BAD_LAST: list[tuple[int, Any, str]] = [
    (1, {"idx": "3", "status": 1}, "updates[2].idx"),
    (1, {"idx": 3.0, "status": 1}, "updates[2].idx"),
    (1, {"idx": 3.5, "status": 1}, "updates[2].idx"),
    (1, {"idx": True, "status": 1}, "updates[2].idx"),
    (1, {"idx": None, "status": 1}, "updates[2].idx"),
    (1, {"idx": -1, "status": 1}, "updates[2].idx"),
    (1, {"idx": HUGE, "status": 1}, "updates[2].idx"),
    (1, {"idx": SIZE, "status": 1}, "updates[2].idx"),
    (1, {"idx": 3, "status": True}, "updates[2].status"),
    (1, {"idx": 3, "status": None}, "updates[2].status"),
    (1, {"idx": 3, "status": 1.0}, "updates[2].status"),
    (1, {"idx": 3, "status": "REVOKED"}, "updates[2].status"),
    (1, {"idx": 3, "status": 2}, "updates[2].status"),
    (1, {"idx": 3, "status": "SUSPENDED"}, "updates[2].status"),
    (1, {"idx": 3, "status": -1}, "updates[2].status"),
    (2, {"idx": 3, "status": 4}, "updates[2].status"),
    (2, {"idx": 3, "status": HUGE}, "updates[2].status"),
    (1, {"idx": 3}, "updates[2]"),
    (1, {"status": 1}, "updates[2]"),
    (1, {"idx": 3, "status": 1, "x": 0}, "updates[2]"),
    (1, [3, 1], "updates[2]"),
    (1, None, "updates[2]"),
    (1, "3=INVALID", "updates[2]"),
]


@pytest.mark.parametrize(
    ("bits", "last", "field"),
    UPDATE_BAD_LAST,
    ids=[f"{c[0]}bit-{json.dumps(c[1])}" for c in UPDATE_BAD_LAST],
)
def test_patch_updates_with_a_bad_last_element(
    limited: Limited, lists: Lists, bits: int, last: Any, field: str
) -> None:
    lst = lists.one if bits == 1 else lists.two
    check = unchanged(limited, lst)
    body = {"updates": [*GOOD_UPDATES, last]}
    assert_problem(call(limited, "PATCH", f"/v1/lists/{lst.id}/entries", body), 422, field)
    check()
    assert entry(limited, lst, 1) == entry(limited, lst, 2) == 0


INDICES_BAD: list[tuple[int, dict[str, Any], str]] = [
    # {"indices": [...], "status": S}
    (1, {"indices": [1, 2, "3"], "status": 1}, "indices[2]"),
    (1, {"indices": [1, 2, 3.0], "status": 1}, "indices[2]"),
    (1, {"indices": [1, 2, True], "status": 1}, "indices[2]"),
    (1, {"indices": [1, 2, None], "status": 1}, "indices[2]"),
    (1, {"indices": [1, 2, -1], "status": 1}, "indices[2]"),
    (1, {"indices": [1, 2, HUGE], "status": 1}, "indices[2]"),
    (1, {"indices": [1, 2, SIZE], "status": 1}, "indices[2]"),
    (1, {"indices": [1, 2, [3]], "status": 1}, "indices[2]"),
    (1, {"indices": [], "status": 1}, "indices"),
    (1, {"indices": "1,2", "status": 1}, "indices"),
    (1, {"indices": None, "status": 1}, "indices"),
    (1, {"indices": [1, 2], "status": True}, "status"),
    (1, {"indices": [1, 2], "status": None}, "status"),
    (1, {"indices": [1, 2], "status": "REVOKED"}, "status"),
    (1, {"indices": [1, 2], "status": 2}, "status"),
    (1, {"indices": [1, 2], "status": "SUSPENDED"}, "status"),
    (2, {"indices": [1, 2], "status": 4}, "status"),
    (1, {"indices": [1, 2], "status": 1, "statuses": [1, 1]}, "statuses"),
    (1, {"indices": [1, 2], "status": 1, "note": "x"}, "note"),
    # {"indices": [...], "statuses": [...]}
    (1, {"indices": [1, 2, 3], "statuses": [1, 1, True]}, "statuses[2]"),
    (1, {"indices": [1, 2, 3], "statuses": [1, 1, None]}, "statuses[2]"),
    (1, {"indices": [1, 2, 3], "statuses": [1, 1, "REVOKED"]}, "statuses[2]"),
    (1, {"indices": [1, 2, 3], "statuses": [1, 1, 2]}, "statuses[2]"),
    (1, {"indices": [1, 2, 3], "statuses": ["INVALID", 1, "SUSPENDED"]}, "statuses[2]"),
    (1, {"indices": [1, 2, 3], "statuses": [1, 1, 1.0]}, "statuses[2]"),
    (2, {"indices": [1, 2, 3], "statuses": [1, 2, 4]}, "statuses[2]"),
    (1, {"indices": [1, 2, 3], "statuses": [1, 1]}, "statuses"),
    (1, {"indices": [1, 2], "statuses": [1, 1, 1]}, "statuses"),
    (1, {"indices": [1, 2], "statuses": 1}, "statuses"),
    (1, {"indices": [1, 2]}, "statuses"),
    (1, {"indices": [1, 2, SIZE], "statuses": [1, 1, 1]}, "indices[2]"),
    # neither form, or both
    (1, {}, None),
    (1, {"changes": [1]}, None),
    (1, {"updates": [{"idx": 1, "status": 1}], "indices": [2], "status": 1}, "indices"),
    (1, {"updates": []}, "updates"),
    (1, {"updates": {"1": 1}}, "updates"),
    (1, {"updates": None}, "updates"),
]


@pytest.mark.parametrize(
    ("bits", "body", "field"),
    INDICES_BAD,
    ids=[f"{c[0]}bit-{json.dumps(c[1])}" for c in INDICES_BAD],
)
def test_patch_json_forms_refuse(
    limited: Limited, lists: Lists, bits: int, body: dict[str, Any], field: str | None
) -> None:
    lst = lists.one if bits == 1 else lists.two
    check = unchanged(limited, lst)
    assert_problem(call(limited, "PATCH", f"/v1/lists/{lst.id}/entries", body), 422, field)
    check()


BINARY_BAD: list[tuple[str, bytes, str, str | None]] = [
    ("index-equals-size", array("Q", [1, 2, SIZE]).tobytes(), "?status=1", "indices"),
    ("index-max-u64", array("Q", [1, 2, 2**64 - 1]).tobytes(), "?status=1", "indices"),
    ("ragged", array("Q", [1, 2]).tobytes() + b"\x03\x00\x00", "?status=1", None),
    ("empty", b"", "?status=1", None),
    ("no-status", array("Q", [1, 2]).tobytes(), "", "status"),
    ("unknown-status", array("Q", [1, 2]).tobytes(), "?status=REVOKED", "status"),
    ("status-too-big", array("Q", [1, 2]).tobytes(), "?status=2", "status"),
    ("suspended-1bit", array("Q", [1, 2]).tobytes(), "?status=SUSPENDED", "status"),
    ("negative-status", array("Q", [1, 2]).tobytes(), "?status=-1", "status"),
    ("float-status", array("Q", [1, 2]).tobytes(), "?status=1.0", "status"),
    ("empty-status", array("Q", [1, 2]).tobytes(), "?status=", "status"),
    ("huge-status", array("Q", [1, 2]).tobytes(), f"?status={HUGE}", "status"),
]


@pytest.mark.parametrize(
    ("raw", "query", "field"), [c[1:] for c in BINARY_BAD], ids=[c[0] for c in BINARY_BAD]
)
def test_patch_binary_refuses(
    limited: Limited, lists: Lists, raw: bytes, query: str, field: str | None
) -> None:
    check = unchanged(limited, lists.one)
    resp = call(
        limited,
        "PATCH",
        f"/v1/lists/{lists.one.id}/entries{query}",
        raw=raw,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert_problem(resp, 422, field)
    check()


def test_patch_forms_accept_good_input(limited: Limited, lists: Lists) -> None:
    """The control for the refusals above: every batch form works with good input."""
    one, two = lists.one, lists.two
    url = f"/v1/lists/{one.id}/entries"
    assert ok(limited, "PATCH", url, {"updates": GOOD_UPDATES}) == {"updated": 2}
    assert ok(limited, "PATCH", url, {"indices": [3, 4], "status": "INVALID"}) == {"updated": 2}
    assert ok(limited, "PATCH", url, {"indices": [5, 6], "statuses": [1, "INVALID"]})
    raw = array("Q", [7, SIZE - 1]).tobytes()
    headers = {"Content-Type": "application/octet-stream"}
    assert ok(limited, "PATCH", url + "?status=1", raw=raw, headers=headers) == {"updated": 2}
    assert [entry(limited, one, i) for i in (0, 1, 2, 3, 4, 5, 6, 7, 8, SIZE - 1)] == [
        0, 1, 1, 1, 1, 1, 1, 1, 0, 1
    ]  # fmt: skip
    url = f"/v1/lists/{two.id}/entries"
    assert ok(limited, "PATCH", url + "?status=SUSPENDED", raw=raw, headers=headers)
    assert entry(limited, two, 7) == 2


# -- PATCH /v1/entries (by status claim) ----------------------------------------------------------


def by_uri_cases(lsts: Lists) -> list[tuple[str, Any, int, str | None]]:
    one, two = lsts.one, lsts.two
    prefix = one.uri.rsplit("/", 1)[0]
    return [
        ("uri-int", {"uri": 5, "idx": 3, "status": 1}, 422, "updates[2].uri"),
        ("uri-null", {"uri": None, "idx": 3, "status": 1}, 422, "updates[2].uri"),
        (
            "uri-elsewhere",
            {"uri": "https://x.example/statuslists/" + one.id, "idx": 3, "status": 1},
            422,
            "updates[2].uri",
        ),
        ("uri-unknown-list", {"uri": prefix + "/nope", "idx": 3, "status": 1}, 404, None),
        ("idx-string", {"uri": one.uri, "idx": "3", "status": 1}, 422, "updates[2].idx"),
        ("idx-float", {"uri": one.uri, "idx": 3.0, "status": 1}, 422, "updates[2].idx"),
        ("idx-bool", {"uri": one.uri, "idx": False, "status": 1}, 422, "updates[2].idx"),
        ("idx-negative", {"uri": one.uri, "idx": -1, "status": 1}, 422, "updates[2].idx"),
        ("idx-huge", {"uri": one.uri, "idx": HUGE, "status": 1}, 422, "updates[2].idx"),
        ("idx-size", {"uri": one.uri, "idx": SIZE, "status": 1}, 422, "updates[2].idx"),
        ("status-bool", {"uri": one.uri, "idx": 3, "status": True}, 422, "updates[2].status"),
        ("status-null", {"uri": one.uri, "idx": 3, "status": None}, 422, "updates[2].status"),
        ("status-name", {"uri": one.uri, "idx": 3, "status": "GONE"}, 422, "updates[2].status"),
        ("status-2-on-1bit", {"uri": one.uri, "idx": 3, "status": 2}, 422, "updates[2].status"),
        ("status-4-on-2bit", {"uri": two.uri, "idx": 3, "status": 4}, 422, "updates[2].status"),
        ("missing-status", {"uri": one.uri, "idx": 3}, 422, "updates[2]"),
        ("extra-member", {"uri": one.uri, "idx": 3, "status": 1, "x": 1}, 422, "updates[2]"),
        ("not-object", [one.uri, 3, 1], 422, "updates[2]"),
    ]


def test_patch_by_uri_with_a_bad_last_element(limited: Limited, lists: Lists) -> None:
    one, two = lists.one, lists.two
    # The good updates touch both lists, so a half-applied batch would show in either.
    good = [{"uri": one.uri, "idx": 1, "status": 1}, {"uri": two.uri, "idx": 1, "status": 2}]
    failures = []
    for name, last, status, field in by_uri_cases(lists):
        check = unchanged(limited, one, two)
        resp = call(limited, "PATCH", "/v1/entries", {"updates": [*good, last]})
        try:
            assert_problem(resp, status, field)
            check()
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)
    assert entry(limited, one, 1) == entry(limited, two, 1) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "updates"),
        ({"updates": []}, "updates"),
        ({"updates": None}, "updates"),
        ({"updates": "all"}, "updates"),
        ({"updates": [], "force": True}, "force"),
    ],
)
def test_patch_by_uri_refuses_bad_envelopes(
    limited: Limited, lists: Lists, body: Any, field: str
) -> None:
    check = unchanged(limited, lists.one)
    assert_problem(call(limited, "PATCH", "/v1/entries", body), 422, field)
    check()


def test_patch_by_uri_good_input(limited: Limited, lists: Lists) -> None:
    one, two = lists.one, lists.two
    body = {
        "updates": [
            {"uri": one.uri, "idx": 1, "status": "INVALID"},
            {"uri": two.uri, "idx": 1, "status": "SUSPENDED"},
            {"uri": two.uri, "idx": 2, "status": 3},
        ]
    }
    assert ok(limited, "PATCH", "/v1/entries", body) == {"updated": 3}
    assert (entry(limited, one, 1), entry(limited, two, 1), entry(limited, two, 2)) == (1, 2, 3)


# -- limits: body size and batch size -------------------------------------------------------------


def test_oversized_bodies_are_413(limited: Limited, lists: Lists) -> None:
    one = lists.one
    big = limited.max_body_bytes + 1024
    before = issuer_lists(limited)
    check = unchanged(limited, one)
    padded = json.dumps({"status": 1, "pad": "x" * big}).encode()
    idx = array("Q", [1] * (big // 8)).tobytes()
    cases: list[tuple[str, str, bytes, dict[str, str] | None]] = [
        ("POST", "/v1/lists", padded, None),
        ("POST", "/v1/allocations", padded, None),
        ("PUT", f"/v1/lists/{one.id}/entries/3", padded, None),
        ("PATCH", f"/v1/lists/{one.id}/entries", padded, None),
        (
            "PATCH",
            f"/v1/lists/{one.id}/entries?status=1",
            idx,
            {"Content-Type": "application/octet-stream"},
        ),
        ("PATCH", "/v1/entries", padded, None),
    ]
    for method, path, raw, headers in cases:
        assert len(raw) > limited.max_body_bytes
        resp = call(limited, method, path, raw=raw, headers=headers)
        assert_problem(resp, 413)
    check()
    assert issuer_lists(limited) == before


def test_batches_over_the_limit_are_413(limited: Limited, lists: Lists) -> None:
    one = lists.one
    n = limited.max_batch + 1
    indices = [i % SIZE for i in range(n)]
    bodies: list[tuple[str, Any, bytes | None, dict[str, str] | None]] = [
        (
            f"/v1/lists/{one.id}/entries",
            {"updates": [{"idx": i, "status": 1} for i in indices]},
            None,
            None,
        ),
        (f"/v1/lists/{one.id}/entries", {"indices": indices, "status": 1}, None, None),
        (f"/v1/lists/{one.id}/entries", {"indices": indices, "statuses": [1] * n}, None, None),
        (
            f"/v1/lists/{one.id}/entries?status=1",
            NO_BODY,
            array("Q", indices).tobytes(),
            {"Content-Type": "application/octet-stream"},
        ),
        (
            "/v1/entries",
            {"updates": [{"uri": one.uri, "idx": i, "status": 1} for i in indices]},
            None,
            None,
        ),
    ]
    check = unchanged(limited, one)
    for path, body, raw, headers in bodies:
        if raw is None:
            raw = json.dumps(body, separators=(",", ":")).encode()
        assert len(raw) <= limited.max_body_bytes, path  # the batch limit, not the body limit
        resp = call(limited, "PATCH", path, raw=raw, headers=headers)
        assert_problem(resp, 413)
    check()
    # Exactly at the limit is fine.
    at_limit = indices[:-1]
    ok(limited, "PATCH", f"/v1/lists/{one.id}/entries", {"indices": at_limit, "status": 1})
    assert ok(limited, "GET", f"/v1/lists/{one.id}")["counts"] == {"INVALID": SIZE}


# -- authentication, scope, ownership -------------------------------------------------------------


def write_requests(lsts: Lists) -> list[tuple[str, str, Any]]:
    """One valid request per write route that targets issuer a's list ``one``."""
    one = lsts.one
    return [
        ("POST", "/v1/allocations", {"count": 1, "list_id": one.id}),
        ("PUT", f"/v1/lists/{one.id}/entries/3", {"status": 1}),
        ("PATCH", f"/v1/lists/{one.id}/entries", {"updates": [{"idx": 3, "status": 1}]}),
        ("PATCH", f"/v1/lists/{one.id}/entries", {"indices": [3], "status": 1}),
        ("PATCH", "/v1/entries", {"updates": [{"uri": one.uri, "idx": 3, "status": 1}]}),
        ("POST", f"/v1/lists/{one.id}/publish", NO_BODY),
    ]


def test_missing_or_invalid_key_is_401(limited: Limited, lists: Lists) -> None:
    check = unchanged(limited, lists.one)
    before = issuer_lists(limited)
    requests = [("POST", "/v1/lists", {"bits": 1}), *write_requests(lists)]
    for method, path, body in requests:
        # No header, an unknown key, an empty one, another scheme, the key without "Bearer".
        for auth in (None, "Bearer sl_not-a-key", "Bearer ", "Basic YTpi", limited.key_a):
            headers = {} if auth is None else {"Authorization": auth}
            resp = call(limited, method, path, body, key=None, headers=headers)
            assert_problem(resp, 401)
            assert resp[1].get("WWW-Authenticate", "").startswith("Bearer"), (method, path)
    check()
    assert issuer_lists(limited) == before


def test_read_only_key_cannot_write(limited: Limited, lists: Lists) -> None:
    check = unchanged(limited, lists.one)
    # It can read.
    assert entry(limited, lists.one, 10) == 1
    assert ok(limited, "GET", f"/v1/lists/{lists.one.id}", key=limited.read_a)["id"]
    for method, path, body in write_requests(lists):
        resp = call(limited, method, path, body, key=limited.read_a)
        assert_problem(resp, 403)
    assert_problem(call(limited, "POST", "/v1/allocations", {"count": 1}, key=limited.read_a), 403)
    check()


def test_another_issuers_list_is_404(limited: Limited, lists: Lists) -> None:
    check = unchanged(limited, lists.one, lists.two)
    before = issuer_lists(limited)
    for method, path, body in write_requests(lists):
        resp = call(limited, method, path, body, key=limited.key_b)
        assert_problem(resp, 404)
    for path in (f"/v1/lists/{lists.one.id}", f"/v1/lists/{lists.one.id}/entries/3"):
        assert_problem(call(limited, "GET", path, key=limited.key_b), 404)
    # Issuer b's batch by claim naming a's list, after one of b's own: nothing applied.
    b_list = ok(limited, "POST", "/v1/lists", {"bits": 1, "size": SIZE}, key=limited.key_b)
    body = {
        "updates": [
            {"uri": b_list["uri"], "idx": 1, "status": 1},
            {"uri": lists.one.uri, "idx": 1, "status": 1},
        ]
    }
    assert_problem(call(limited, "PATCH", "/v1/entries", body, key=limited.key_b), 404)
    got = ok(limited, "GET", f"/v1/lists/{b_list['id']}/entries/1", key=limited.key_b)
    assert got["status"] == 0
    check()
    assert issuer_lists(limited) == before
    # a's key does not see b's list either.
    assert b_list["id"] not in issuer_lists(limited)
    assert_problem(call(limited, "GET", f"/v1/lists/{b_list['id']}"), 404)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "POST"])
def test_unknown_list_is_404(limited: Limited, method: str) -> None:
    before = issuer_lists(limited)
    path = {
        "PUT": "/v1/lists/no-such-list/entries/1",
        "PATCH": "/v1/lists/no-such-list/entries",
        "POST": "/v1/lists/no-such-list/publish",
    }[method]
    body = {"PUT": {"status": 1}, "PATCH": {"indices": [1], "status": 1}, "POST": NO_BODY}[method]
    assert_problem(call(limited, method, path, body), 404)
    assert issuer_lists(limited) == before


# -- irreversible INVALID ("final") ---------------------------------------------------------------


@pytest.fixture
def final(limited: Limited) -> ListRef:
    lst = make_list(limited, 2, final_invalid=True)
    assert ok(limited, "GET", f"/v1/lists/{lst.id}")["final_invalid"] is True
    set_entry(limited, lst, 3, "INVALID")
    set_entry(limited, lst, 4, "SUSPENDED")
    return lst


def test_final_invalid_refuses_an_unrevoke(limited: Limited, final: ListRef) -> None:
    check = unchanged(limited, final)
    for status in ("VALID", 0, "SUSPENDED", 3):
        resp = call(limited, "PUT", f"/v1/lists/{final.id}/entries/3", {"status": status})
        assert_problem(resp, 409, "status")
        assert entry(limited, final, 3) == 1
    check()
    # INVALID again is no change, and other entries still move freely.
    set_entry(limited, final, 3, "INVALID")
    set_entry(limited, final, 4, "VALID")
    set_entry(limited, final, 5, "SUSPENDED")
    assert [entry(limited, final, i) for i in (3, 4, 5)] == [1, 0, 2]


def test_final_invalid_refuses_a_mixed_batch_whole(limited: Limited, final: ListRef) -> None:
    url = f"/v1/lists/{final.id}/entries"
    headers = {"Content-Type": "application/octet-stream"}
    batches: list[tuple[str, str, Any, bytes | None]] = [
        ("PATCH", url, {"updates": [{"idx": 6, "status": 1}, {"idx": 3, "status": 0}]}, None),
        ("PATCH", url, {"updates": [{"idx": 4, "status": 0}, {"idx": 3, "status": 2}]}, None),
        ("PATCH", url, {"indices": [6, 3], "status": "VALID"}, None),
        ("PATCH", url, {"indices": [6, 3], "statuses": ["INVALID", "VALID"]}, None),
        ("PATCH", url + "?status=0", NO_BODY, array("Q", [4, 3]).tobytes()),
        (
            "PATCH",
            "/v1/entries",
            {
                "updates": [
                    {"uri": final.uri, "idx": 6, "status": "INVALID"},
                    {"uri": final.uri, "idx": 3, "status": "VALID"},
                ]
            },
            None,
        ),
    ]
    check = unchanged(limited, final)
    for method, path, body, raw in batches:
        resp = call(limited, method, path, body, raw=raw, headers=headers if raw else None)
        assert_problem(resp, 409)
        assert [entry(limited, final, i) for i in (3, 4, 6)] == [1, 2, 0], (path, body)
    check()


def test_final_invalid_across_lists_by_claim(
    limited: Limited, lists: Lists, final: ListRef
) -> None:
    """A batch by claim whose un-revoke is in a second list leaves the first list alone too."""
    check = unchanged(limited, lists.one, final)
    body = {
        "updates": [
            {"uri": lists.one.uri, "idx": 1, "status": "INVALID"},
            {"uri": final.uri, "idx": 3, "status": "VALID"},
        ]
    }
    assert_problem(call(limited, "PATCH", "/v1/entries", body), 409)
    check()


def test_without_final_an_unrevoke_is_allowed(limited: Limited, lists: Lists) -> None:
    """The control: on an ordinary list INVALID can be set back to VALID."""
    set_entry(limited, lists.one, 10, "VALID")
    assert entry(limited, lists.one, 10) == 0
