"""The token GET's wire path (``WireResponse``: answers as bytes built at publish time) against
aiohttp's own response, which serves HEAD, HTTP/1.0 and ``Connection: close``: for the same
token, every header but ``Date`` and ``Connection`` is the same, and so are the bytes. Raw
sockets, so that nothing is added, merged or decoded on the way; several requests per
connection, so that a keep-alive answer that left anything behind would show."""

from __future__ import annotations

import asyncio
import base64
import gzip
import random
import socket
from email.utils import formatdate

import pytest
from aiohttp.test_utils import make_mocked_request
from hypothesis import given, settings
from hypothesis import strategies as st

from statuslist.config import Settings
from statuslist.web import create_app
from statuslist.web.served import gzip_jwt, representation
from tests.support import ServerProcess

JWT = "application/statuslist+jwt"
CWT = "application/statuslist+cwt"


def _read_answer(sock: socket.socket, buf: bytes, *, head: bool) -> tuple[bytes, bytes, bytes]:
    """One answer off ``sock``: (head, body, what is left in the buffer)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-headers: {buf!r}"
        buf += chunk
    top, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in top.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if head or top.startswith(b"HTTP/1.1 304") or top.startswith(b"HTTP/1.0 304"):
        length = 0
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        rest += chunk
    return top, rest[:length], rest[length:]


def _exchange(port: int, requests: list[bytes], *, head: bool = False) -> list[tuple[bytes, bytes]]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"".join(requests))  # pipelined: the answers must come back in order
        out, buf = [], b""
        for _ in requests:
            top, body, buf = _read_answer(sock, buf, head=head)
            out.append((top, body))
        assert buf == b"", f"bytes after the last answer: {buf[:200]!r}"
        return out


def _headers(top: bytes) -> tuple[str, dict[str, str]]:
    status, *lines = top.decode("latin-1").split("\r\n")
    fields: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        assert name.lower() not in fields, f"{name} twice"
        fields[name.lower()] = value.strip()
    return status, fields


def _request(path: str, *, version: str = "1.1", extra: str = "", method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/{version}\r\nHost: x\r\n{extra}\r\n".encode()


@pytest.fixture(scope="module")
def token_path(server: ServerProcess) -> str:
    list_id = server.api("POST", "/v1/lists", {"bits": 2, "size": 300_000})["id"]
    for idx in (3, 70_000, 299_999):
        server.api("PUT", f"/v1/lists/{list_id}/entries/{idx}", {"status": "SUSPENDED"})
    server.api("POST", f"/v1/lists/{list_id}/publish")
    return f"/statuslists/{list_id}"


@pytest.mark.parametrize(
    "extra",
    [
        "",
        f"Accept: {CWT}\r\n",
        "Accept-Encoding: gzip\r\n",
        f"Accept: {JWT}\r\nAccept-Encoding: gzip, br\r\n",
    ],
)
def test_wire_answers_equal_aiohttps(server: ServerProcess, token_path: str, extra: str) -> None:
    keep = [_request(token_path, extra=extra)] * 3
    wire = _exchange(server.port, keep)
    closing = _exchange(server.port, [_request(token_path, extra=extra + "Connection: close\r\n")])
    old = _exchange(server.port, [_request(token_path, version="1.0", extra=extra)])
    head = _exchange(server.port, [_request(token_path, extra=extra, method="HEAD")], head=True)
    status, want = _headers(closing[0][0])
    assert status == "HTTP/1.1 200 OK"
    for _top, body in wire + closing + old:
        assert body == closing[0][1]
        assert body and len(body) == int(want["content-length"])
    ignored = {"date", "connection"}
    for top, _ in wire + old + head:
        got_status, got = _headers(top)
        assert got_status.endswith("200 OK"), top
        assert {k: v for k, v in got.items() if k not in ignored} == {
            k: v for k, v in want.items() if k not in ignored
        }
    assert "connection" not in _headers(wire[0][0])[1]


def test_wire_not_modified(server: ServerProcess, token_path: str) -> None:
    """304 on the wire path: the headers of aiohttp's 304, no body, no Content-Length; the
    connection goes on."""
    ((top, _),) = _exchange(server.port, [_request(token_path)])
    etag = _headers(top)[1]["etag"]
    cond = f"If-None-Match: {etag}\r\n"
    wire = _exchange(server.port, [_request(token_path, extra=cond)] * 2 + [_request(token_path)])
    closing = _exchange(server.port, [_request(token_path, extra=cond + "Connection: close\r\n")])
    status, want = _headers(closing[0][0])
    assert status == "HTTP/1.1 304 Not Modified"
    for top, body in wire[:2]:
        got_status, got = _headers(top)
        assert got_status == status and body == b""
        assert "content-length" not in got and "content-type" not in got
        assert {k: v for k, v in got.items() if k != "date"} == {
            k: v for k, v in want.items() if k not in ("date", "connection")
        }
    assert _headers(wire[2][0])[0] == "HTTP/1.1 200 OK" and wire[2][1]


@pytest.mark.parametrize(
    ("exp_in", "ttl", "max_age"),
    # exp − now is exp_in − 0.25 s: max-age counts whole seconds left
    [(10_000, 300, 300), (301, 300, 300), (300, 300, 299), (5, 300, 4), (0, 300, 0), (-9, 300, 0)],
)
def test_wire_max_age_never_runs_past_exp(exp_in: int, ttl: int, max_age: int) -> None:
    now = 1_800_000_000.25
    rep = representation(b"x", "jwt", int(now) - 10, int(now) + exp_in, ttl)
    assert rep.cache_control_line(now) == f"Cache-Control: public, max-age={max_age}\r\n".encode()
    assert rep.headers_at(now)["Cache-Control"] == f"public, max-age={max_age}"
    assert rep.max_age(now) == max_age
    assert formatdate(rep.iat, usegmt=True).encode() in rep.wire_ok


# -- the issuer API's entry answers (PUT and GET /v1/lists/{id}/entries/{idx}) -----------------


def _entry_request(
    method: str, path: str, key: str, *, version: str = "1.1", extra: str = ""
) -> bytes:
    body = b'{"status": "SUSPENDED"}' if method == "PUT" else b""
    head = f"{method} {path} HTTP/{version}\r\nHost: x\r\nAuthorization: Bearer {key}\r\n{extra}"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


@pytest.mark.parametrize("method", ["PUT", "GET"])
def test_entry_wire_answers_equal_aiohttps(
    server: ServerProcess, token_path: str, method: str
) -> None:
    """The prebuilt entry answer (keep-alive HTTP/1.1) against aiohttp's (``Connection: close``,
    HTTP/1.0): the same status, headers (but ``Date``, ``Connection``) and body, for indices of
    every width; pipelined PUTs answered in order; what was written reads back."""
    list_id = token_path.rsplit("/", 1)[1]
    key = server.api_key
    for idx in (0, 7, 70_001, 299_998):
        path = f"/v1/lists/{list_id}/entries/{idx}"
        wire = _exchange(server.port, [_entry_request(method, path, key)] * 3)
        closing = _exchange(
            server.port, [_entry_request(method, path, key, extra="Connection: close\r\n")]
        )
        old = _exchange(server.port, [_entry_request(method, path, key, version="1.0")])
        status, want = _headers(closing[0][0])
        assert status == "HTTP/1.1 200 OK", closing
        assert closing[0][1] == f'{{"idx": {idx}, "status": 2, "name": "SUSPENDED"}}'.encode()
        ignored = {"date", "connection"}
        for top, body in wire + old:
            got_status, got = _headers(top)
            assert got_status.endswith("200 OK") and body == closing[0][1], top
            assert {k: v for k, v in got.items() if k not in ignored} == {
                k: v for k, v in want.items() if k not in ignored
            }
        assert "connection" not in _headers(wire[0][0])[1]
        assert server.api("GET", path)["name"] == "SUSPENDED"


@pytest.mark.parametrize("method", ["DELETE", "POST", "PATCH"])
def test_entry_route_other_methods_keep_their_allow(
    server: ServerProcess, token_path: str, method: str
) -> None:
    """The PUT of an entry is resolved ahead of the /v1 app; every other method still reaches
    that app and its 405 names every method the route has."""
    list_id = token_path.rsplit("/", 1)[1]
    req = _entry_request(method, f"/v1/lists/{list_id}/entries/5", server.api_key)
    req = req.replace(b"\r\n\r\n", b"\r\nContent-Length: 0\r\n\r\n", 1)
    ((top, body),) = _exchange(server.port, [req])
    status, got = _headers(top)
    assert status == "HTTP/1.1 405 Method Not Allowed", top
    assert sorted(m.strip() for m in got["allow"].split(",")) == ["GET", "HEAD", "PUT"]
    assert got["content-type"].startswith("application/problem+json") and body
    assert got["cache-control"] == "no-store"


def test_entry_put_errors_come_from_the_issuer_middleware(
    server: ServerProcess, token_path: str
) -> None:
    """Through the route resolved ahead: no key 401, an unknown status and a non-canonical index
    422, malformed JSON 400, a wrong list 404, each as
    problem+json with ``no-store``, as every /v1 route answers."""
    list_id = token_path.rsplit("/", 1)[1]
    cases = [
        (_entry_request("PUT", f"/v1/lists/{list_id}/entries/5", "nope"), "401"),
        (
            _entry_request("PUT", f"/v1/lists/{list_id}/entries/5", server.api_key).replace(
                b"SUSPENDED", b"SUSPENDE?"
            ),
            "422",
        ),
        (
            _entry_request("PUT", f"/v1/lists/{list_id}/entries/5", server.api_key).replace(
                b'"SUSPENDED"}', b'"SUSPENDED"x'
            ),
            "400",
        ),
        (_entry_request("PUT", "/v1/lists/nosuchlist/entries/5", server.api_key), "404"),
        (_entry_request("PUT", f"/v1/lists/{list_id}/entries/05", server.api_key), "422"),
    ]
    for req, code in cases:
        ((top, body),) = _exchange(server.port, [req])
        status, got = _headers(top)
        assert status.startswith(f"HTTP/1.1 {code}"), (req, top)
        assert got["content-type"].startswith("application/problem+json") and body
        assert got["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "path", "hot"),
    [
        ("PUT", "/v1/lists/abc/entries/5", True),
        ("GET", "/v1/lists/abc/entries/5", False),
        ("DELETE", "/v1/lists/abc/entries/5", False),
        ("PUT", "/v1/lists/abc/entries", False),
        ("PATCH", "/v1/lists/abc/entries", False),
        ("PUT", "/v1/lists/abc/entries/5/x", False),
    ],
)
def test_only_the_entry_put_skips_the_v1_app(method: str, path: str, hot: bool) -> None:
    """The public app resolves ``PUT …/entries/{idx}`` itself (one URL walk, no sub-app
    wrapper); every other request of /v1 goes through the sub-app as before."""
    app = create_app(Settings())
    app.freeze()
    request = make_mocked_request(method, path, app=app)
    match = asyncio.run(app.router.resolve(request))
    assert len(match.apps) == (0 if hot else 1)  # the /v1 app, when it resolved the request
    resource = match.route.resource
    assert (type(resource).__name__ == "_HotResource") == hot, (method, path, resource)
    if hot:
        assert match["list_id"] == "abc" and match["idx"] == "5"


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 300_000), st.randoms(use_true_random=False))
def test_gzipd_jwt_inflates_to_it_and_is_never_larger_than_level_6(
    head: bytes, size: int, rng: random.Random
) -> None:
    """The gzip'd JWT: the same bytes back, the same bytes every time (instances agree on the
    ETag), and no larger than ``gzip -6`` of it, small JSON-like tokens and large base64 ones."""
    body = base64.urlsafe_b64encode(head) + b"." + base64.urlsafe_b64encode(rng.randbytes(size))
    zipped = gzip_jwt(body)
    assert gzip.decompress(zipped) == body
    assert gzip_jwt(body) == zipped
    assert len(zipped) <= len(gzip.compress(body, 6, mtime=0))
