"""``/openapi.json`` is exact: a valid OpenAPI 3.1 document (openapi-spec-validator) that
declares every path parameter and body, and schemathesis, run against a real ``statuslist
serve`` with a fixed seed and a bounded budget, finds no answer it does not describe.

The schemathesis run has every check on. Its server has small limits (so the document's bounds
are cheap to reach) and a few real lists whose ids the generator uses for half of the
``{list_id}`` values, so that the issuer operations reach the entry and batch code rather than
stopping at 404. ``positive_data_acceptance`` also accepts a 422 on the operations whose bodies
have rules JSON Schema cannot state (an index below *this* list's size, a status that fits
*its* bits, ``decoys`` below the size, ``statuses`` as long as ``indices``).
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.parse
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from openapi_spec_validator import validate
from schemathesis.core.parameters import ParameterLocation

from statuslist.config import Limits, ListDefaults, Settings
from statuslist.web import create_app
from statuslist.web import routes as web_routes
from statuslist.web.openapi import openapi
from tests.pg import postgres_server
from tests.support import ServerProcess, run_cli

#: The fuzzed server's limits: small, so that the bounds in the document are reachable.
LIMITS = {"max_body_bytes": 65536, "max_batch": 200, "max_allocation": 500, "max_list_size": 4096}
#: The run is deterministic: a fixed seed and a bounded budget (override both for a longer run:
#: ``STATUSLIST_FUZZ_SEED=7 STATUSLIST_FUZZ_EXAMPLES=1000 pytest tests/web/test_openapi.py``).
SEED = int(os.environ.get("STATUSLIST_FUZZ_SEED", "20261201"))
MAX_EXAMPLES = int(os.environ.get("STATUSLIST_FUZZ_EXAMPLES", "100"))


# -- the document -------------------------------------------------------------------------------


def _params(doc: dict[str, Any], path: str, method: str) -> list[dict[str, Any]]:
    item = doc["paths"][path]
    return [*item.get("parameters", []), *item[method].get("parameters", [])]


@pytest.mark.parametrize(
    "settings",
    [Settings(), Settings(limits=Limits(**LIMITS), public_base_url="https://status.example")],
    ids=["defaults", "limited"],
)
def test_document_is_valid_openapi(settings: Settings) -> None:
    doc = openapi(settings)
    validate(doc)  # raises on an invalid document
    assert doc["openapi"] == "3.1.0"
    limits = settings.limits
    schemas = doc["components"]["schemas"]
    assert schemas["NewList"]["properties"]["size"]["maximum"] == limits.max_list_size
    assert schemas["BatchUpdates"]["properties"]["updates"]["maxItems"] == limits.max_batch
    count = doc["paths"]["/v1/allocations"]["post"]["requestBody"]["content"]["application/json"]
    assert count["schema"]["properties"]["count"]["maximum"] == limits.max_allocation
    assert doc["servers"] == [{"url": settings.base_url}]


def test_every_operation_declares_parameters_bodies_and_response_schemas() -> None:
    doc = openapi(Settings())
    app = create_app(Settings())
    for method, path in sorted(set(web_routes(app))):
        op_name = "get" if method == "HEAD" else method.lower()
        op = doc["paths"][path][op_name]
        declared = {p["name"] for p in _params(doc, path, op_name) if p["in"] == "path"}
        assert declared == set(re.findall(r"\{(\w+)\}", path)), (method, path)
        if method in ("POST", "PUT", "PATCH") and path != "/v1/lists/{list_id}/publish":
            body = op["requestBody"]
            assert body["required"] is True
            assert all("schema" in m for m in body["content"].values()), (method, path)
        for status, resp in op["responses"].items():
            if "$ref" in resp:
                name = resp["$ref"].rsplit("/", 1)[1]
                resp = doc["components"]["responses"][name]
                assert resp["content"]["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }
            if status in ("204", "304"):
                assert "content" not in resp
            else:
                assert all("schema" in m for m in resp["content"].values()), (path, status)
        if path.startswith("/v1/"):
            assert op["security"] == [{"bearer": []}]
            assert "401" in op["responses"]
    patch = doc["paths"]["/v1/lists/{list_id}/entries"]["patch"]["requestBody"]["content"]
    assert set(patch) == {"application/json", "application/octet-stream"}
    assert len(patch["application/json"]["schema"]["oneOf"]) == 3
    token = doc["paths"]["/statuslists/{list_id}"]["get"]["responses"]
    assert {"200", "304", "400", "404", "406", "501", "503"} <= set(token)
    assert set(token["200"]["content"]) == {
        "application/statuslist+jwt",
        "application/statuslist+cwt",
    }
    put = doc["paths"]["/v1/lists/{list_id}/entries/{idx}"]["put"]["requestBody"]
    assert put["content"]["application/json"]["schema"]["required"] == ["status"]


def test_served_document_is_the_validated_one(server: ServerProcess) -> None:
    status, _, body = server.request("GET", "/openapi.json")
    assert status == 200
    doc = json.loads(body)
    validate(doc)
    assert doc["servers"] == [{"url": server.public_url}]


# -- schemathesis against a live server ---------------------------------------------------------

#: The fuzzed server's settings (its config file says the same); the document schemathesis
#: works from is the one this server serves (``test_fuzzed_server_serves_this_document``).
FUZZED = Settings(
    public_base_url="https://status.test",
    publish_interval=0.2,
    list_defaults=ListDefaults(size=1024),
    limits=Limits(**LIMITS),
)
URI_PREFIX = f"{FUZZED.base_url}/statuslists/"
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "ignored_auth",
    "unsupported_method",
    "allow_header_conformance",
]
#: The operations with rules that JSON Schema cannot state: an index below *this* list's size, a
#: status that fits *its* bits, ``decoys`` below the size, ``statuses`` as long as ``indices``,
#: and integers written as JSON integers (``1.0`` is refused; JSON Schema's data model has no
#: difference between the two). Their positive cases may also be answered 422.
_RULES_BEYOND_SCHEMA = (
    "/v1/lists",
    "/v1/allocations",
    "/v1/entries",
    "/v1/lists/{list_id}/entries",
    "/v1/lists/{list_id}/entries/{idx}",
)
STATUS_LIST_ROUTE = "/statuslists/{list_id}"
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {"deterministic": True, "max-examples": MAX_EXAMPLES, "database": "none"},
        "request-timeout": 30,
        "checks": {
            **{name: {"enabled": True} for name in CHECKS},
            # A body over the documented bounds (maxItems = limits.max_batch) is refused as too
            # large: a rejection like the 4xx that schemathesis expects by default.
            "negative_data_rejection": {
                "expected-statuses": [
                    *("400", "401", "403", "404", "405", "406", "409", "413", "415"),
                    *("422", "428", "429", "5xx"),
                ]
            },
        },
        "operations": [
            {
                # Designed answers: 501 for ?time= without history, 503 while a token is
                # being signed; any other 5xx (a 500) still fails.
                "include-path": STATUS_LIST_ROUTE,
                "checks": {
                    "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "501", "503"]}
                },
            },
            {
                "include-path-regex": "^("
                + "|".join(re.escape(p) for p in _RULES_BEYOND_SCHEMA)
                + ")$",
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422"]
                    }
                },
            },
        ],
    }
)
DOCUMENT = openapi(FUZZED)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)
#: The token GET alone, for the server that keeps history (``schema.include`` does not narrow
#: what the pytest plugin collects in this schemathesis version).
token_schema = schemathesis.openapi.from_dict(
    {**DOCUMENT, "paths": {STATUS_LIST_ROUTE: DOCUMENT["paths"][STATUS_LIST_ROUTE]}}, config=CONFIG
)


@dataclass
class Live:
    """The fuzzed server, its admin key and its real lists."""

    srv: ServerProcess
    key: str
    lists: list[str]
    sizes: dict[str, int]


def _serve(base: Path, *, history: bool, database_url: str | None = None) -> Iterator[Live]:
    """The fuzzed server (``FUZZED``'s settings, ``history`` keeping an hour of ``?time=``; on
    ``database_url`` with a configured issuer, else the development setup); afterwards it must
    stop cleanly, with no traceback and no storage failure in its log."""
    data = base / "data"
    config = base / "statuslist.toml"
    text = (
        f"data_dir = {str(data)!r}\npublish_interval = {FUZZED.publish_interval}\n"
        f"history_retention = {3600 if history else 0}\n"
    )
    if database_url is not None:  # PostgreSQL needs configured issuers
        run_cli("keygen", "--out", str(base / "a.pem"))
        text += f"database_url = {database_url!r}\n[issuers.a]\nkeys = [{str(base / 'a.pem')!r}]\n"
    text += f"[list_defaults]\nsize = {FUZZED.list_defaults.size}\n[limits]\n"
    config.write_text(text + "".join(f"{k} = {v}\n" for k, v in LIMITS.items()), "utf-8")
    key = None
    if database_url is not None:
        args = ("apikey", "create", "--config", str(config), "--issuer", "a", "--scope", "admin")
        key = run_cli(*args).strip()
    srv = ServerProcess(data, public_url=FUZZED.base_url, args=("--config", str(config)))
    srv.start()
    try:
        key = key or srv.api_key
        made = _lists(srv, key)
        yield Live(srv, key, list(made), made)
    finally:
        report = os.environ.get("STATUSLIST_FUZZ_REPORT")
        if report:  # what the run reached, per route and status
            metrics = srv.request("GET", "/metrics")[2].decode()
            counts = [m for m in metrics.splitlines() if m.startswith("statuslist_http_requests")]
            with Path(report).open("a") as out:
                out.write(
                    f"# history={history} pg={bool(database_url)}\n" + "\n".join(counts) + "\n"
                )
        code = srv.stop()
    log = srv.log()
    assert code == 0, f"server exited with {code}:\n{log}"
    assert "Traceback" not in log and "storage failed" not in log, log


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    yield from _serve(tmp_path_factory.mktemp("schemathesis"), history=False)


@pytest.fixture(scope="module")
def live_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    yield from _serve(tmp_path_factory.mktemp("schemathesis-history"), history=True)


def _lists(srv: ServerProcess, key: str) -> dict[str, int]:
    """Real lists for the generator: every width, both formats alone, one with final INVALID."""
    bodies: list[dict[str, Any]] = [
        {"bits": 1, "size": 64},
        {"bits": 2, "size": 4096, "formats": ["jwt"]},
        {"bits": 8, "size": 256, "formats": ["cwt"], "final_invalid": True},
    ]
    made = {d["id"]: d["size"] for d in (srv.api("POST", "/v1/lists", b, key=key) for b in bodies)}
    deadline = time.monotonic() + 30
    for list_id in made:  # published, so that the token GET answers 200 for them
        while srv.request("GET", f"/statuslists/{list_id}")[0] != 200:
            assert time.monotonic() < deadline, f"list {list_id} was never published"
            time.sleep(0.05)
    return made


def test_fuzzed_server_serves_this_document(live: Live) -> None:
    status, _, body = live.srv.request("GET", "/openapi.json")
    assert status == 200
    served = json.loads(body)
    assert served == json.loads(json.dumps(DOCUMENT))


def _pick(value: object, options: list[Any]) -> Any | None:
    """One of ``options`` or None (keep the generated value), as a function of ``value``: half
    the cases steered, deterministically."""
    k = zlib.crc32(repr(value).encode()) % (2 * len(options))
    return options[k] if k < len(options) else None


def _steer(case: Any, live: Live) -> None:
    """Well-formed parts of a case are pointed at real lists half of the time (their ids, their
    URIs, indices below their size), so that the issuer operations get past 404 and 422 to the
    entry and batch code; malformed parts keep what was generated."""
    meta = case.meta
    path = case.path_parameters or {}
    if "list_id" in path and not meta.is_negative_at(ParameterLocation.PATH):
        chosen = _pick(path["list_id"], live.lists)
        if chosen is not None:
            path["list_id"] = chosen
            if "idx" in path and isinstance(path["idx"], int):
                path["idx"] %= live.sizes[chosen]
    query = case.query
    wait = str(query.get("wait")) if isinstance(query, dict) else ""
    # A negative query keeps what was generated: made valid, it would be "accepted bad data".
    negative_query = meta.is_negative_at(ParameterLocation.QUERY)
    if not negative_query and wait.isascii() and wait.isdigit() and 0 < int(wait) <= 60:
        query["wait"] = 0  # the audit feed's long-poll is tested on its own, not waited out
    body = case.body
    if (
        case.operation.path == "/v1/entries"
        and not meta.is_negative_at(ParameterLocation.BODY)
        and isinstance(body, dict)
    ):
        for update in body.get("updates", []):
            chosen = _pick(update, live.lists)
            if chosen is not None:
                update["uri"] = URI_PREFIX + chosen
                update["idx"] %= live.sizes[chosen]


def _call(case: Any, live: Live) -> None:
    """The case against ``live``, with the real admin key for the bearer scheme as an explicit
    header (so that ``ignored_auth`` knows it for a valid key and probes without it), except
    in the cases about the header itself (missing or malformed ``Authorization``), which keep
    what was generated."""
    about_auth = getattr(case.meta.phase.data, "parameter", None) == "Authorization"
    headers = None
    if case.operation.path.startswith("/v1/") and not about_auth:
        headers = {"Authorization": f"Bearer {live.key}"}
    case.call_and_validate(base_url=live.srv.url, headers=headers)


@schema.parametrize()
def test_schemathesis_finds_nothing(case: Any, live: Live) -> None:
    _steer(case, live)
    _call(case, live)


@schema.parametrize()
def test_schemathesis_finds_nothing_on_postgresql(case: Any, live_pg: Live) -> None:
    _steer(case, live_pg)
    _call(case, live_pg)


@token_schema.parametrize()
def test_schemathesis_finds_nothing_with_history(case: Any, live_history: Live) -> None:
    """The token GET again, on a server that keeps history: ``?time=`` reaches the database."""
    _steer(case, live_history)
    response = case.call_and_validate(base_url=live_history.srv.url)
    assert response.status_code != 501, "history is on"


# -- the classes schemathesis found, each as a family of cases ----------------------------------


def _problem(resp: tuple[int, dict[str, str], bytes], status: int, field: str) -> None:
    code, headers, body = resp
    assert code == status, f"expected {status}, got {code}: {body[:300]!r}"
    assert headers["Content-Type"].split(";")[0] == "application/problem+json"
    doc = json.loads(body)
    assert doc["status"] == status and doc["field"] == field, doc


BAD_TIMES = ["yesterday", "1.5", "", "0x10", "-1", "+1", "01", "٣", " 1", str(1 << 63), "1" * 40]


@pytest.mark.parametrize("srv_name", ["server", "history_server"])
def test_malformed_time_is_400_with_or_without_history(
    srv_name: str, request: pytest.FixtureRequest
) -> None:
    """A malformed ``?time=`` was a 501 (history off) before it was read: a malformed value is
    the client's error either way. Repeated ``time`` is refused too (which one was meant?)."""
    srv: ServerProcess = request.getfixturevalue(srv_name)
    list_id = srv.api("POST", "/v1/lists", {"bits": 1, "size": 8})["id"]
    srv.api("POST", f"/v1/lists/{list_id}/publish")
    for at in [*BAD_TIMES, f"{int(time.time())}&time={int(time.time())}"]:
        resp = srv.request("GET", f"/statuslists/{list_id}?time={urllib.parse.quote(at, '&=')}")
        _problem(resp, 400, "time")
    # The control: a well-formed time is 501 without history, 200 with it.
    status = srv.request("GET", f"/statuslists/{list_id}?time={int(time.time())}")[0]
    assert status == (501 if srv_name == "server" else 200)


@pytest.mark.parametrize("member", ["list_id"])
def test_null_members_are_not_absent(live: Live, member: str) -> None:
    """``{"count": 1, "list_id": null}`` allocated from the pool as if ``list_id`` were absent;
    null is a value of the wrong type (as for ``formats``, ``bits``, ``count``)."""
    for body in ({"count": 1, member: None}, {member: None, "count": 1}):
        resp = live.srv.request("POST", "/v1/allocations", body, key=live.key)
        _problem(resp, 422, member)
    for body in ({"bits": None}, {"formats": None}, {"final_invalid": None}, {"decoys": None}):
        _problem(live.srv.request("POST", "/v1/lists", body, key=live.key), 422, next(iter(body)))


@pytest.mark.parametrize(
    "body",
    [
        {"updates": [{"idx": 0, "status": 0}]},
        {"indices": [0, 1], "status": "VALID"},
        {"indices": [0, 1], "statuses": [0, 1]},
    ],
    ids=["updates", "indices", "statuses"],
)
@pytest.mark.parametrize("query", ["?status=256", "?status=1", "?status=VALID", "?status="])
def test_status_query_beside_a_json_batch_is_refused(
    live: Live, body: dict[str, Any], query: str
) -> None:
    """``?status=`` was ignored beside a JSON body (even ``?status=256``): a batch that says
    two things is refused, and nothing is written."""
    list_id = next(i for i, n in live.sizes.items() if n == 64)
    before = live.srv.api("GET", f"/v1/lists/{list_id}")["counts"]
    resp = live.srv.request("PATCH", f"/v1/lists/{list_id}/entries{query}", body, key=live.key)
    _problem(resp, 422, "status")
    assert live.srv.api("GET", f"/v1/lists/{list_id}")["counts"] == before
    # The control: the same body without the query is accepted.
    assert live.srv.api("PATCH", f"/v1/lists/{list_id}/entries", body)["updated"] >= 1


@pytest.mark.parametrize("query", ["?status=1&status=1", "?status=1&status=0", "?status=&status=1"])
def test_binary_batch_with_repeated_status_is_400(live: Live, query: str) -> None:
    list_id = next(i for i, n in live.sizes.items() if n == 64)
    resp = live.srv.request(
        "PATCH",
        f"/v1/lists/{list_id}/entries{query}",
        raw=array("Q", [1, 2]).tobytes(),
        key=live.key,
        headers={"Content-Type": "application/octet-stream"},
    )
    _problem(resp, 400, "status")


@pytest.fixture(scope="module")
def live_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The fuzzed server on PostgreSQL (a shared backend: a list id not in memory reaches a
    query, lists created elsewhere are looked for)."""
    with postgres_server() as pg:
        base = tmp_path_factory.mktemp("schemathesis-pg")
        yield from _serve(base, history=False, database_url=pg.new_database())


#: Ids that cannot name a list, as sent in a path (percent-encoded) and in a JSON body.
PATH_IDS = ["%00x", "x%00", "%ED%A0%80", "%C3%A9", "a.b", "a%20b", "~", "a" * 65]
BODY_IDS = ["\u0000", "x\u0000", "\ud800", "é", "a.b", "a b", "", "a" * 65, "x" * 10_000]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_ids_that_cannot_name_a_list_are_404_without_a_query(
    backend: str, request: pytest.FixtureRequest
) -> None:
    """On PostgreSQL a NUL or a lone surrogate in a list id reached a query: 503 "the database
    is unavailable" (and an ERROR logged) for what is simply no such list. Every place a list
    id comes in — path, allocation body, status claim URI — answers 404 naming the field."""
    srv_live: Live = request.getfixturevalue("live" if backend == "sqlite" else "live_pg")
    srv, key = srv_live.srv, srv_live.key
    real = next(i for i, n in srv_live.sizes.items() if n == 64)
    binary = {"Content-Type": "application/octet-stream"}
    for bad in PATH_IDS:
        calls: list[tuple[str, str, Any, dict[str, str] | None, bytes | None]] = [
            ("GET", f"/statuslists/{bad}", None, None, None),
            ("OPTIONS", f"/statuslists/{bad}", None, None, None),
            ("GET", f"/v1/lists/{bad}", None, None, None),
            ("GET", f"/v1/lists/{bad}/entries/0", None, None, None),
            ("PUT", f"/v1/lists/{bad}/entries/0", {"status": 0}, None, None),
            ("PATCH", f"/v1/lists/{bad}/entries", {"indices": [0], "status": 0}, None, None),
            ("PATCH", f"/v1/lists/{bad}/entries?status=0", None, binary, bytes(8)),
            ("POST", f"/v1/lists/{bad}/publish", None, None, None),
        ]
        for method, path, body, headers, raw in calls:
            resp = srv.request(method, path, body, key=key, headers=headers, raw=raw)
            _problem(resp, 404, "list_id")
    uri_prefix = srv.public_url + "/statuslists/"
    for bad in BODY_IDS:
        alloc = {"count": 1, "list_id": bad}
        _problem(srv.request("POST", "/v1/allocations", alloc, key=key), 404, "list_id")
        updates = [
            {"uri": uri_prefix + real, "idx": 0, "status": 0},
            {"uri": uri_prefix + bad, "idx": 0, "status": 0},
        ]
        resp = srv.request("PATCH", "/v1/entries", {"updates": updates}, key=key)
        _problem(resp, 404, "updates[1].uri")
    # Still ready (the database was never in trouble), and a real id still works.
    status, _, body = srv.request("GET", "/readyz")
    assert status == 200 and json.loads(body)["status"] == "ready", body
    assert srv.api("GET", f"/v1/lists/{real}", key=key)["id"] == real
