"""The public HTTP interface of a real ``statuslist serve``: the Status List Token route (RFC 9110
content negotiation, validators and conditional requests, caching headers, gzip, HEAD, CORS),
historical resolution, and the other public documents (aggregation, JWKS, health, metrics,
OpenAPI)."""

from __future__ import annotations

import base64
import gzip
import json
import re
import time
from email.utils import formatdate, parsedate_to_datetime
from typing import Any

import cbor2
import pytest

from statuslist import StatusList
from statuslist.config import Settings
from statuslist.web import create_app
from statuslist.web import routes as web_routes
from tests.support import ServerProcess

JWT = "application/statuslist+jwt"
CWT = "application/statuslist+cwt"
PROBLEM = "application/problem+json"


# -- helpers ------------------------------------------------------------------------------------


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def jwt_parts(token: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, payload) of a compact JWS, decoded with the standard library only."""
    pieces = token.decode("ascii").split(".")
    assert len(pieces) == 3, token[:80]
    return json.loads(_b64(pieces[0])), json.loads(_b64(pieces[1]))


def cwt_parts(token: bytes) -> tuple[dict[int, Any], dict[int, Any]]:
    """(protected header, claims) of a tagged COSE_Sign1 (tag 18)."""
    tagged = cbor2.loads(token)
    assert isinstance(tagged, cbor2.CBORTag) and tagged.tag == 18
    protected, _unprotected, payload, _signature = tagged.value
    return cbor2.loads(protected), cbor2.loads(payload)


def media(headers: dict[str, str]) -> str:
    return headers.get("Content-Type", "").split(";")[0].strip().lower()


def assert_problem(status: int, headers: dict[str, str], body: bytes, expected: int) -> Any:
    assert status == expected, body[:300]
    assert media(headers) == PROBLEM, headers
    doc = json.loads(body)
    assert doc["status"] == expected
    for member in ("type", "title", "detail"):
        assert isinstance(doc[member], str) and doc[member], doc
    return doc


def new_list(srv: ServerProcess, **params: Any) -> dict[str, Any]:
    """A fresh list of this test, published (so its token is served)."""
    doc: dict[str, Any] = srv.api("POST", "/v1/lists", {"bits": 1, "size": 64, **params})
    srv.api("POST", f"/v1/lists/{doc['id']}/publish")
    return doc


def fetch(
    srv: ServerProcess, list_id: str, method: str = "GET", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    return srv.request(method, f"/statuslists/{list_id}", headers=headers)


@pytest.fixture(scope="module")
def both(server: ServerProcess) -> dict[str, Any]:
    """A list served as JWT and CWT, ttl 30 s. Tests only read it (publishing re-signs, but
    every test compares values within one moment or re-reads them)."""
    return new_list(server, ttl=30, formats=["jwt", "cwt"])


# -- Accept negotiation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JWT),
        ("", JWT),
        ("*/*", JWT),
        ("application/*", JWT),
        (CWT, CWT),
        (JWT, JWT),
        (f"{JWT};q=0.1, {CWT}", CWT),
        (f"{JWT}; q=0.1 , {CWT}; q=0.2", CWT),
        (f"{CWT};q=0.5, {JWT};q=0.5", JWT),  # a tie goes to the server's preference
        (f"{JWT};q=0, */*", CWT),  # q=0 refuses JWT although */* would allow it
        (f"{CWT};q=0, application/*", JWT),
        (f"application/*;q=0, {CWT}", CWT),  # the specific type overrides the range
        ("text/html, */*;q=0.1", JWT),
        ("APPLICATION/STATUSLIST+CWT", CWT),
        ("Application/StatusList+Jwt;Q=0.2, application/statuslist+CWT;Q=0.9", CWT),
        # A range with parameters matches only a representation with those parameters (ours
        # have none), so it is passed over and the plain range decides.
        (f"{CWT};profile=x, {JWT};q=0.5", JWT),
        (f'{JWT};charset="x";q=1, {CWT};q=0.3', CWT),
    ],
)
def test_accept_negotiation(
    server: ServerProcess, both: dict[str, Any], accept: str | None, expected: str
) -> None:
    headers = {} if accept is None else {"Accept": accept}
    status, hdrs, body = fetch(server, both["id"], **headers)
    assert status == 200, body[:300]
    assert media(hdrs) == expected
    if expected == CWT:
        assert body[:1] == b"\xd2"  # CBOR tag 18 (COSE_Sign1)
        protected, claims = cwt_parts(body)
        assert protected[16] == CWT  # typ
        assert claims[2] == both["uri"]  # sub
    else:
        header, payload = jwt_parts(body)
        assert header["typ"] == "statuslist+jwt"
        assert payload["sub"] == both["uri"]


@pytest.mark.parametrize(
    "accept",
    [
        "text/html",
        "application/json",
        f"{JWT};q=0, {CWT};q=0",
        "*/*;q=0",
        f"{CWT};profile=x",
        "text/*",
    ],
)
def test_nothing_acceptable_is_406_problem(
    server: ServerProcess, both: dict[str, Any], accept: str
) -> None:
    status, hdrs, body = fetch(server, both["id"], Accept=accept)
    doc = assert_problem(status, hdrs, body, 406)
    assert doc["field"] == "Accept"
    assert hdrs.get("Access-Control-Allow-Origin") == "*"


def test_cwt_only_list(server: ServerProcess) -> None:
    lst = new_list(server, formats=["cwt"])
    for accept in (JWT, f"{JWT}, text/html;q=0.5", f"{CWT};q=0, {JWT}"):
        status, hdrs, body = fetch(server, lst["id"], Accept=accept)
        assert_problem(status, hdrs, body, 406)
    for accept in (None, "*/*", f"{JWT}, {CWT};q=0.1", "application/*"):
        headers = {} if accept is None else {"Accept": accept}
        status, hdrs, body = fetch(server, lst["id"], **headers)
        assert status == 200, (accept, body[:200])
        assert media(hdrs) == CWT
        assert body[:1] == b"\xd2"
    # A CWT is never gzip'd (it is already compact binary).
    status, hdrs, body = fetch(server, lst["id"], **{"Accept-Encoding": "gzip"})
    assert status == 200
    assert "Content-Encoding" not in hdrs
    assert body[:1] == b"\xd2"


# -- representation headers -----------------------------------------------------------------------


def test_token_headers(server: ServerProcess, both: dict[str, Any]) -> None:
    for accept, fmt in ((JWT, "jwt"), (CWT, "cwt")):
        status, hdrs, body = fetch(server, both["id"], Accept=accept)
        assert status == 200
        assert hdrs["Content-Type"] == accept
        assert "Content-Encoding" not in hdrs
        etag = hdrs["ETag"]
        assert re.fullmatch(r'"[\x21\x23-\x7e]+"', etag), etag  # strong: quoted, no W/
        assert hdrs["Vary"].replace(" ", "").lower() == "accept,accept-encoding"
        assert hdrs["Access-Control-Allow-Origin"] == "*"
        if fmt == "jwt":
            _, claims = jwt_parts(body)
            iat, exp, ttl = claims["iat"], claims["exp"], claims["ttl"]
        else:
            _, cwt = cwt_parts(body)
            iat, exp, ttl = cwt[6], cwt[4], cwt[65534]
        assert ttl == 30
        # Last-Modified is the token's iat.
        assert parsedate_to_datetime(hdrs["Last-Modified"]).timestamp() == iat
        match = re.fullmatch(r"public, max-age=(\d+)", hdrs["Cache-Control"])
        assert match, hdrs["Cache-Control"]
        max_age = int(match.group(1))
        assert 0 < max_age <= min(ttl, exp - time.time() + 1)
    # JWT, gzip'd JWT and CWT are different representations with different validators.
    tags = {
        fetch(server, both["id"], **headers)[1]["ETag"]
        for headers in ({"Accept": JWT}, {"Accept": CWT}, {"Accept-Encoding": "gzip"})
    }
    assert len(tags) == 3


def test_etag_is_stable_and_follows_the_bytes(server: ServerProcess) -> None:
    lst = new_list(server)
    _, h1, b1 = fetch(server, lst["id"])
    _, h2, b2 = fetch(server, lst["id"])
    assert (h1["ETag"], b1) == (h2["ETag"], b2)
    server.api("PUT", f"/v1/lists/{lst['id']}/entries/5", {"status": "INVALID"})
    published = server.api("POST", f"/v1/lists/{lst['id']}/publish")
    _, h3, b3 = fetch(server, lst["id"])
    assert b3 != b1
    assert h3["ETag"] != h1["ETag"]
    assert h3["ETag"] == published["etag"]
    _, claims = jwt_parts(b3)
    assert StatusList.from_json(claims["status_list"])[5] == 1
    assert StatusList.from_json(jwt_parts(b1)[1]["status_list"])[5] == 0


# -- conditional requests ---------------------------------------------------------------------


def test_if_none_match(server: ServerProcess, both: dict[str, Any]) -> None:
    _, hdrs, _ = fetch(server, both["id"])
    etag = hdrs["ETag"]
    for inm in (etag, f'"nope", {etag}', f"W/{etag}", f'W/"x",W/{etag}', "*"):
        status, h, body = fetch(server, both["id"], **{"If-None-Match": inm})
        assert status == 304, inm
        assert body == b""
        assert h["ETag"] == etag
        assert h["Cache-Control"].startswith("public, max-age=")
        assert h["Vary"].replace(" ", "").lower() == "accept,accept-encoding"
    for inm in ('"nope"', 'W/"nope", "other"', etag[:-2] + '"'):
        status, _, body = fetch(server, both["id"], **{"If-None-Match": inm})
        assert status == 200, inm
        assert body
    # The JWT's tag does not validate the CWT representation.
    status, h, body = fetch(server, both["id"], Accept=CWT, **{"If-None-Match": etag})
    assert status == 200
    assert media(h) == CWT
    assert body[:1] == b"\xd2"


def test_if_modified_since(server: ServerProcess) -> None:
    # A list of its own, published once (creating it does): after two publishes within one
    # second a date of that second validates nothing (test_hardening checks that).
    both = server.api("POST", "/v1/lists", {"bits": 1, "size": 64, "ttl": 30})
    _, hdrs, _ = fetch(server, both["id"])
    last = parsedate_to_datetime(hdrs["Last-Modified"]).timestamp()
    for since in (hdrs["Last-Modified"], formatdate(last + 3600, usegmt=True)):
        status, h, body = fetch(server, both["id"], **{"If-Modified-Since": since})
        assert status == 304, since
        assert body == b""
        assert h["Last-Modified"] == hdrs["Last-Modified"]
    status, _, body = fetch(
        server, both["id"], **{"If-Modified-Since": formatdate(last - 10, usegmt=True)}
    )
    assert status == 200
    assert body
    # If-None-Match takes precedence over If-Modified-Since (RFC 9110 §13.1.3).
    status, _, body = fetch(
        server,
        both["id"],
        **{
            "If-None-Match": '"not-the-tag"',
            "If-Modified-Since": formatdate(last + 3600, usegmt=True),
        },
    )
    assert status == 200
    assert body
    # An unparseable date is ignored.
    status, _, body = fetch(server, both["id"], **{"If-Modified-Since": "yesterday"})
    assert status == 200
    assert body


def test_if_match_and_if_unmodified_since(server: ServerProcess) -> None:
    """RFC 9110 §13.1.1 and §13.1.4: a GET whose If-Match names no current tag (strong
    comparison), or whose If-Unmodified-Since is older than the token, is a 412 problem; one
    that holds gets the token. If-Match decides alone when both are sent."""
    lst = server.api("POST", "/v1/lists", {"bits": 1, "size": 64, "ttl": 30})
    _, hdrs, token = fetch(server, lst["id"])
    etag, last = hdrs["ETag"], hdrs["Last-Modified"]
    stamp = parsedate_to_datetime(last).timestamp()
    holds = [
        {"If-Match": etag},
        {"If-Match": f'"nope", {etag}'},
        {"If-Match": "*"},
        {"If-Unmodified-Since": formatdate(stamp + 3600, usegmt=True)},
        {"If-Unmodified-Since": "not a date"},
        {"If-Match": etag, "If-Unmodified-Since": formatdate(stamp - 3600, usegmt=True)},
    ]
    for conditions in holds:
        status, _, body = fetch(server, lst["id"], **conditions)
        assert (status, body) == (200, token), conditions
    fails = [
        {"If-Match": '"nope"'},
        {"If-Match": f"W/{etag}"},  # weak tags never match strongly
        {"If-Match": ""},
        {"If-Unmodified-Since": formatdate(stamp - 3600, usegmt=True)},
        {"If-Match": '"nope"', "If-Unmodified-Since": formatdate(stamp + 3600, usegmt=True)},
    ]
    for conditions in fails:
        status, h, body = fetch(server, lst["id"], **conditions)
        assert status == 412, conditions
        assert h["Content-Type"].startswith("application/problem+json")
        assert h["Cache-Control"] == "no-store"
        problem = json.loads(body)
        assert problem["status"] == 412 and problem["type"].endswith("precondition-failed")
    status, _, _ = fetch(server, lst["id"], "HEAD", **{"If-Match": '"nope"'})
    assert status == 412


# -- gzip -------------------------------------------------------------------------------------


def test_gzip_for_jwt(server: ServerProcess, both: dict[str, Any]) -> None:
    _, plain_h, plain = fetch(server, both["id"])
    for ae in ("gzip", "gzip, deflate, br", "br;q=1, gzip;q=0.5", "*"):
        status, h, body = fetch(server, both["id"], **{"Accept-Encoding": ae})
        assert status == 200
        assert h["Content-Encoding"] == "gzip", ae
        assert h["Content-Type"] == JWT
        assert gzip.decompress(body) == plain
        assert h["ETag"] != plain_h["ETag"]
        assert re.fullmatch(r'"[^"]+"', h["ETag"])
        assert "accept-encoding" in h["Vary"].lower()
        assert int(h["Content-Length"]) == len(body)
    # The gzip'd representation revalidates with its own tag.
    _, gz_h, _ = fetch(server, both["id"], **{"Accept-Encoding": "gzip"})
    status, _, body = fetch(
        server, both["id"], **{"Accept-Encoding": "gzip", "If-None-Match": gz_h["ETag"]}
    )
    assert (status, body) == (304, b"")


@pytest.mark.parametrize("ae", ["gzip;q=0", "identity", "gzip;q=0, *", "*;q=0", "deflate"])
def test_no_gzip_when_refused(server: ServerProcess, both: dict[str, Any], ae: str) -> None:
    _, _, plain = fetch(server, both["id"])
    status, h, body = fetch(server, both["id"], **{"Accept-Encoding": ae})
    assert status == 200
    assert "Content-Encoding" not in h
    assert body == plain


def test_never_gzip_for_cwt(server: ServerProcess, both: dict[str, Any]) -> None:
    status, h, body = fetch(server, both["id"], Accept=CWT, **{"Accept-Encoding": "gzip"})
    assert status == 200
    assert "Content-Encoding" not in h
    assert media(h) == CWT
    assert body[:1] == b"\xd2"


# -- HEAD, CORS, errors -----------------------------------------------------------------------


@pytest.mark.parametrize("accept", [JWT, CWT])
def test_head(server: ServerProcess, both: dict[str, Any], accept: str) -> None:
    _, get_h, get_body = fetch(server, both["id"], Accept=accept)
    status, h, body = fetch(server, both["id"], "HEAD", Accept=accept)
    assert status == 200
    assert body == b""
    for name in ("Content-Type", "ETag", "Last-Modified", "Vary", "Access-Control-Allow-Origin"):
        assert h[name] == get_h[name], name
    assert h["Cache-Control"].startswith("public, max-age=")
    assert int(h["Content-Length"]) == len(get_body)
    status, _, body = fetch(server, both["id"], "HEAD", Accept="text/html")
    assert (status, body) == (406, b"")


def test_cors_preflight(server: ServerProcess, both: dict[str, Any]) -> None:
    status, h, body = server.request(
        "OPTIONS",
        f"/statuslists/{both['id']}",
        headers={
            "Origin": "https://wallet.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "if-none-match",
        },
    )
    assert status == 204
    assert body == b""
    assert h["Access-Control-Allow-Origin"] == "*"
    assert "GET" in [m.strip() for m in h["Access-Control-Allow-Methods"].split(",")]
    assert "if-none-match" in h["Access-Control-Allow-Headers"].lower()
    exposed = h["Access-Control-Expose-Headers"].lower()
    assert "etag" in exposed


def test_unknown_list_is_404_problem(server: ServerProcess) -> None:
    for method in ("GET", "HEAD"):
        status, h, body = fetch(server, "does-not-exist", method)
        assert status == 404
        assert h["Access-Control-Allow-Origin"] == "*"
        if method == "GET":
            assert_problem(status, h, body, 404)


def test_history_is_off_by_default(server: ServerProcess, both: dict[str, Any]) -> None:
    status, h, body = server.request("GET", f"/statuslists/{both['id']}?time={int(time.time())}")
    doc = assert_problem(status, h, body, 501)
    assert doc["field"] == "time"
    assert h["Access-Control-Allow-Origin"] == "*"


# -- historical resolution ----------------------------------------------------------------------


def _status_at(srv: ServerProcess, list_id: str, at: Any, idx: int) -> tuple[dict[str, Any], int]:
    status, h, body = srv.request("GET", f"/statuslists/{list_id}?time={at}")
    assert status == 200, body[:300]
    assert h["Content-Type"] == JWT
    assert h["Access-Control-Allow-Origin"] == "*"
    _, claims = jwt_parts(body)
    return claims, StatusList.from_json(claims["status_list"])[idx]


def test_historical_resolution(history_server: ServerProcess) -> None:
    srv = history_server
    lst = new_list(srv)
    first = srv.api("POST", f"/v1/lists/{lst['id']}/publish")
    time.sleep(1.2)  # iat has one-second resolution
    srv.api("PUT", f"/v1/lists/{lst['id']}/entries/7", {"status": "INVALID"})
    second = srv.api("POST", f"/v1/lists/{lst['id']}/publish")
    assert second["iat"] > first["iat"]

    claims, value = _status_at(srv, lst["id"], first["iat"], 7)
    assert claims["iat"] <= first["iat"] <= claims["exp"]
    assert value == 0  # before the revocation
    claims, value = _status_at(srv, lst["id"], second["iat"], 7)
    assert claims["iat"] == second["iat"]
    assert value == 1
    now = int(time.time())
    claims, value = _status_at(srv, lst["id"], now, 7)
    assert claims["iat"] <= now <= claims["exp"]
    assert claims["sub"] == lst["uri"]
    assert value == 1
    # CWT too, by Accept.
    status, h, body = srv.request(
        "GET", f"/statuslists/{lst['id']}?time={now}", headers={"Accept": CWT}
    )
    assert status == 200
    assert media(h) == CWT
    assert cwt_parts(body)[1][6] <= now

    for at in (now - 7200, now + 3600, first["iat"] - 60):
        status, h, body = srv.request("GET", f"/statuslists/{lst['id']}?time={at}")
        doc = assert_problem(status, h, body, 404)
        assert doc["field"] == "time", at
    for at in ("yesterday", "1.5", "", "0x10"):
        status, h, body = srv.request("GET", f"/statuslists/{lst['id']}?time={at}")
        doc = assert_problem(status, h, body, 400)
        assert doc["field"] == "time", at


# -- other public documents ---------------------------------------------------------------------


def test_aggregation(server: ServerProcess) -> None:
    lists = [new_list(server) for _ in range(2)]
    status, h, body = server.request("GET", "/aggregation/default")
    assert status == 200
    assert media(h) == "application/json"
    assert h["Access-Control-Allow-Origin"] == "*"
    uris = json.loads(body)["status_lists"]
    for lst in lists:
        assert lst["uri"] in uris
    # Every uri is served, and every token names this aggregation.
    for uri in uris:
        path = uri.removeprefix(server.public_url)
        status, h, token = server.request("GET", path)
        assert status == 200, uri
        if media(h) == CWT:  # a CWT-only list of another test
            status_list = cwt_parts(token)[1][65533]
        else:
            status_list = jwt_parts(token)[1]["status_list"]
        assert status_list["aggregation_uri"] == f"{server.public_url}/aggregation/default"
    status, h, body = server.request("GET", "/aggregation/nope")
    assert_problem(status, h, body, 404)


def test_jwks(server: ServerProcess, both: dict[str, Any]) -> None:
    _, _, token = fetch(server, both["id"])
    kid = jwt_parts(token)[0]["kid"]
    _, _, cwt = fetch(server, both["id"], Accept=CWT)
    cwt_kid = cbor2.loads(cwt).value[1][4]  # unprotected header, label 4 = kid
    assert cwt_kid == kid.encode()
    for path in ("/.well-known/jwks.json", "/issuers/default/jwks.json"):
        status, h, body = server.request("GET", path)
        assert status == 200, path
        assert media(h) == "application/json"
        assert h["Access-Control-Allow-Origin"] == "*"
        keys = json.loads(body)["keys"]
        match = [k for k in keys if k.get("kid") == kid]
        assert len(match) == 1, (path, keys)
        assert match[0]["kty"] == "EC"
        assert "d" not in match[0]  # public keys only
    status, h, body = server.request("GET", "/issuers/nope/jwks.json")
    assert_problem(status, h, body, 404)


def test_health(server: ServerProcess) -> None:
    for path in ("/healthz", "/readyz"):
        status, h, body = server.request("GET", path)
        assert status == 200, path
        assert media(h) == "application/json"
        assert json.loads(body)["status"]


def test_metrics(server: ServerProcess, both: dict[str, Any]) -> None:
    fetch(server, both["id"])
    status, h, body = server.request("GET", "/metrics")
    assert status == 200
    assert media(h) == "text/plain"
    text = body.decode()
    assert re.search(r"^statuslist_http_requests_total\{[^}]*\} \d", text, re.M), text[:2000]
    assert re.search(r'route="/statuslists/\{list_id\}"', text)
    assert re.search(r"^statuslist_publish_lag_seconds", text, re.M)
    # The process itself (read by `statuslist loadtest` for the server's RSS and CPU).
    rss = re.search(r"^process_resident_memory_bytes (\S+)$", text, re.M)
    assert rss is not None and float(rss.group(1)) > 10 << 20
    assert re.search(r"^process_cpu_seconds_total \S+$", text, re.M)


def test_openapi_describes_every_route(server: ServerProcess) -> None:
    status, h, body = server.request("GET", "/openapi.json")
    assert status == 200
    assert media(h) == "application/json"
    doc = json.loads(body)
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    app = create_app(Settings())
    routes = set(web_routes(app))
    assert len(routes) > 10
    for method, path in sorted(routes):
        assert path in paths, path
        op = "get" if method == "HEAD" else method.lower()
        assert op in paths[path], (method, path)
    # Nothing documented that is not served.
    assert set(paths) == {p for _, p in routes}


def test_problem_bodies_have_no_stack_traces(server: ServerProcess) -> None:
    status, h, body = server.request("GET", "/no/such/route")
    doc = assert_problem(status, h, body, 404)
    assert "Traceback" not in json.dumps(doc)
    status, h, body = server.request("DELETE", "/healthz")
    assert_problem(status, h, body, 405)
    assert "GET" in h.get("Allow", "")
