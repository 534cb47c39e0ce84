"""The token GET's wire path (``WireResponse``: answers as bytes built at publish time) against
aiohttp's own response, which serves HEAD, HTTP/1.0 and ``Connection: close``: for the same
token, every header but ``Date`` and ``Connection`` is the same, and so are the bytes. Raw
sockets, so that nothing is added, merged or decoded on the way; several requests per
connection, so that a keep-alive answer that left anything behind would show."""

from __future__ import annotations

import socket
from email.utils import formatdate

import pytest

from statuslist.web.served import representation
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
