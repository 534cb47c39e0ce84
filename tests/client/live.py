"""A real local HTTP server in its own thread serving crafted responses, and forgers of correctly
signed tokens with arbitrary (hostile) headers and claims, for the SDK's bad-input suites."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import cbor2
from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from statuslist.client import StatusListClient, SyncStatusListClient
from statuslist.exceptions import StatusListError
from tests.client.test_client import KEY, NOW, PRIVATE

JWT_TYPE = "application/statuslist+jwt"
CWT_TYPE = "application/statuslist+cwt"
CWT_TYP = "application/statuslist+cwt"


@dataclass
class Reply:
    """What the server answers on one path."""

    body: bytes
    ctype: str = JWT_TYPE
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    #: Seconds to wait before answering, and between pieces when ``piece`` is set.
    delay: float = 0.0
    piece: int = 0
    #: Close the connection after sending this many body bytes.
    cut_after: int | None = None


class LiveServer:
    """aiohttp on 127.0.0.1, a free port, its own event loop thread; ``replies`` is read per
    request, so a test sets it and then points the client at ``url(path)``."""

    def __init__(self) -> None:
        self.replies: dict[str, Reply] = {}
        self.hits: dict[str, int] = {}
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._runner: web.AppRunner | None = None
        self.base = ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.hits[request.path] = self.hits.get(request.path, 0) + 1
        reply = self.replies.get(request.path)
        if reply is None:
            return web.Response(status=404)
        if reply.delay and not reply.piece:
            await asyncio.sleep(reply.delay)
        headers = {"Content-Type": reply.ctype, **reply.headers}
        if reply.piece or reply.cut_after is not None:
            resp = web.StreamResponse(status=reply.status, headers=headers)
            resp.content_length = len(reply.body)
            await resp.prepare(request)
            body = reply.body if reply.cut_after is None else reply.body[: reply.cut_after]
            step = reply.piece or len(body) or 1
            for at in range(0, len(body), step):
                await resp.write(body[at : at + step])
                await asyncio.sleep(reply.delay)
            if reply.cut_after is not None and request.transport is not None:
                request.transport.close()
                return resp
            await resp.write_eof()
            return resp
        return web.Response(status=reply.status, body=reply.body, headers=headers)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())

    def __enter__(self) -> LiveServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the local HTTP server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def serve(self, path: str, reply: Reply) -> str:
        self.replies[path] = reply
        return self.url(path)


#: Which client ``query`` uses: the asyncio one or the synchronous one (a fixture of the hostile
#: suites runs every case with both: they share one validation, and both must hold it).
CLIENT_KIND = ["async"]


def query(idx: int, uri: str, **client_args: Any) -> Any:
    """``client.status`` of one entry through a fresh client (no cache carried over)."""
    args = {"trusted_jwks": [KEY.public_jwk], "clock": lambda: NOW, **client_args}
    claims = {"status": {"status_list": {"idx": idx, "uri": uri}}}
    if CLIENT_KIND[0] == "sync":
        with SyncStatusListClient(**args) as sync_client:
            return sync_client.status(claims)

    async def main() -> Any:
        async with StatusListClient(**args) as client:
            return await client.status(claims)

    return asyncio.run(main())


def _check_message(exc: StatusListError) -> StatusListError:
    message = str(exc)
    assert message, f"{type(exc).__name__} without a message"
    assert len(message) < 1000, f"unbounded message ({len(message)} chars)"
    assert "Traceback" not in message
    return exc


def refusal(idx: int, uri: str, **client_args: Any) -> StatusListError:
    """The typed error ``query`` raises; anything else (a bare exception, or no error) fails."""
    caught: StatusListError | None = None
    try:
        result = query(idx, uri, **client_args)
    except StatusListError as exc:
        caught = exc
    if caught is None:
        raise AssertionError(f"accepted: {result!r}")
    return _check_message(caught)


def typed_or_result(idx: int, uri: str, **client_args: Any) -> None:
    """Either a result or a typed error: never a bare exception."""
    caught: StatusListError | None = None
    try:
        query(idx, uri, **client_args)
    except StatusListError as exc:
        caught = exc
    if caught is not None:
        _check_message(caught)


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def es256(message: bytes) -> bytes:
    r, s = decode_dss_signature(PRIVATE.sign(message, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def raw_jwt(header: bytes, claims: bytes) -> bytes:
    """A compact JWS over exactly these header and claims bytes, correctly signed."""
    signing_input = f"{b64u(header)}.{b64u(claims)}".encode()
    return signing_input + b"." + b64u(es256(signing_input)).encode()


def raw_cwt(protected: bytes, unprotected: Any, payload: bytes, tag: int | None = 18) -> bytes:
    """A COSE_Sign1 over exactly these protected header and payload bytes, correctly signed."""
    signature = es256(cbor2.dumps(["Signature1", protected, b"", payload]))
    message = [protected, unprotected, payload, signature]
    return cbor2.dumps(message if tag is None else cbor2.CBORTag(tag, message))


def cwt_claims(uri: str, **over: Any) -> dict[int, Any]:
    from tests.client.test_client import _list

    claims: dict[int, Any] = {
        2: uri,
        6: NOW - 10,
        4: NOW + 3600,
        65534: 300,
        65533: {"bits": 2, "lst": _list().encode()},
    }
    for k, v in over.items():
        claims[int(k.lstrip("_"))] = v
    return {k: v for k, v in claims.items() if v is not None}


def good_protected(**over: Any) -> bytes:
    header: dict[Any, Any] = {1: -7, 16: CWT_TYP}
    header.update({int(k.lstrip("_")): v for k, v in over.items()})
    return cbor2.dumps({k: v for k, v in header.items() if v is not None})


def nested(depth: int, leaf: str = "0") -> str:
    return "[" * depth + leaf + "]" * depth


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at : at + size]
