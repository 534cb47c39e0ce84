"""The relying-party SDK against a real local HTTP server, including every §8.3 refusal."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import cbor2
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jwt
from joserfc.jwk import ECKey

from statuslist import StatusList
from statuslist.client import StatusListClient, StatusReference
from statuslist.exceptions import (
    ExpiredTokenError,
    FetchError,
    IndexOutOfRangeError,
    LimitExceededError,
    MalformedError,
    SignatureError,
    SubjectMismatchError,
    TokenError,
    UnknownKeyError,
)
from statuslist.tokens import TokenClaims, jwt_status_claim, load_key, sign

NOW = 1_800_000_000
PRIVATE = ec.generate_private_key(ec.SECP256R1())
PEM = PRIVATE.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
KEY = load_key(PEM, "rp-test")
JOSE_KEY = ECKey.import_key(PRIVATE)


def _list() -> StatusList:
    sl = StatusList(1024, 2)
    sl.set_many([7, 8], [1, 2])
    return sl


def _claims(uri: str, **over: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": uri,
        "iat": NOW - 10,
        "exp": NOW + 3600,
        "ttl": 300,
        "status_list": json.loads(_list().to_json()),
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def forged_jwt(uri: str, header: dict[str, Any] | None = None, **claims: Any) -> bytes:
    """A correctly signed ES256 JWT with arbitrary header and claims (signed by joserfc)."""
    h = {"alg": "ES256", "kid": "rp-test", "typ": "statuslist+jwt", **(header or {})}
    return jwt.encode(h, _claims(uri, **claims), JOSE_KEY).encode()


def forged_cwt(
    uri: str, tag: int | None = 18, lst_as_text: bool = False, kid: bytes = b"rp-test"
) -> bytes:
    protected = cbor2.dumps({1: -7, 16: "application/statuslist+cwt"})
    sl = json.loads(_list().to_json())
    lst = sl["lst"] if lst_as_text else _list().encode()
    payload = cbor2.dumps(
        {2: uri, 6: NOW - 10, 4: NOW + 3600, 65534: 300, 65533: {"bits": 2, "lst": lst}}
    )
    to_sign = cbor2.dumps(["Signature1", protected, b"", payload])
    r, s = decode_dss_signature(PRIVATE.sign(to_sign, ec.ECDSA(hashes.SHA256())))
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    message = [protected, {4: kid}, payload, sig]
    return cbor2.dumps(message if tag is None else cbor2.CBORTag(tag, message))


Route = tuple[int, str, bytes, dict[str, str]]


def run(
    routes: Callable[[str], dict[str, Route]],
    check: Callable[[StatusListClient, str], Awaitable[None]],
    **client_args: Any,
) -> dict[str, int]:
    """Serves `routes(base_url)` on a free local port and runs `check(client, base_url)`."""
    hits: dict[str, int] = {}

    async def main() -> None:
        table: dict[str, Route] = {}

        async def handler(request: web.Request) -> web.StreamResponse:
            hits[request.path] = hits.get(request.path, 0) + 1
            if request.path not in table:
                return web.Response(status=404)
            status, ctype, body, headers = table[request.path]
            etag = headers.get("ETag")
            if etag is not None and request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers={"ETag": etag})
            return web.Response(status=status, body=body, content_type=ctype, headers=headers)

        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", handler)
        async with TestServer(app, host="127.0.0.1") as server:
            base = str(server.make_url("")).rstrip("/")
            table.update(routes(base))
            args = {"trusted_jwks": [KEY.public_jwk], "clock": lambda: NOW, **client_args}
            async with StatusListClient(**args) as client:
                await check(client, base)

    asyncio.run(main())
    return hits


JWT_TYPE = "application/statuslist+jwt"
CWT_TYPE = "application/statuslist+cwt"


def signed(uri: str, fmt: str = "jwt", **over: Any) -> bytes:
    claims = TokenClaims(
        sub=uri, iat=NOW - 10, exp=NOW + 3600, ttl=300, status_list=_list(), **over
    )
    return sign(KEY.signer, claims, fmt)  # type: ignore[arg-type]


@pytest.mark.parametrize(("fmt", "ctype"), [("jwt", JWT_TYPE), ("cwt", CWT_TYPE)])
def test_reads_statuses_and_caches(fmt: str, ctype: str) -> None:
    async def check(client: StatusListClient, base: str) -> None:
        uri = f"{base}/lists/1"
        first = await client.status(jwt_status_claim(7, uri))
        assert (first.status, first.name, first.format, first.from_cache) == (
            1,
            "INVALID",
            fmt,
            False,
        )
        second = await client.status({"status_list": {"idx": 8, "uri": uri}})
        assert (second.status, second.name, second.from_cache) == (2, "SUSPENDED", True)
        third = await client.status(StatusReference(idx=9, uri=uri))
        assert third.status == 0 and third.name == "VALID"
        cwt_claim = {65535: {"status_list": {"idx": 7, "uri": uri}}}
        assert (await client.status(cwt_claim)).status == 1

    hits = run(lambda b: {"/lists/1": (200, ctype, signed(f"{b}/lists/1", fmt), {})}, check)
    assert hits["/lists/1"] == 1, "later reads within ttl must come from the cache"


def test_revalidates_with_etag_after_ttl() -> None:
    clock = {"now": float(NOW)}

    async def check(client: StatusListClient, base: str) -> None:
        uri = f"{base}/lists/1"
        assert (await client.status(jwt_status_claim(7, uri))).from_cache is False
        clock["now"] += 301  # past ttl
        again = await client.status(jwt_status_claim(7, uri))
        assert again.from_cache is True and again.status == 1

    hits = run(
        lambda b: {"/lists/1": (200, JWT_TYPE, signed(f"{b}/lists/1"), {"ETag": '"v1"'})},
        check,
        clock=lambda: clock["now"],
    )
    assert hits["/lists/1"] == 2, "the second fetch is a conditional GET answered 304"


def test_keys_from_a_jwks_url() -> None:
    """The client fetches the JWK Set itself when only a JWKS URL is configured."""

    async def main() -> None:
        app = web.Application()
        tokens: dict[str, bytes] = {}

        async def lst(request: web.Request) -> web.Response:
            return web.Response(body=tokens["t"], content_type=JWT_TYPE)

        async def keys(request: web.Request) -> web.Response:
            return web.json_response({"keys": [KEY.public_jwk]})

        app.router.add_get("/lists/1", lst)
        app.router.add_get("/jwks.json", keys)
        async with TestServer(app, host="127.0.0.1") as server:
            base = str(server.make_url("")).rstrip("/")
            tokens["t"] = signed(f"{base}/lists/1")
            async with StatusListClient(jwks_url=f"{base}/jwks.json", clock=lambda: NOW) as c:
                assert (await c.status(jwt_status_claim(8, f"{base}/lists/1"))).status == 2

    asyncio.run(main())


def _refused(
    body: Callable[[str], bytes],
    error: type[Exception],
    match: str,
    ctype: str = JWT_TYPE,
    idx: int = 7,
) -> None:
    async def check(client: StatusListClient, base: str) -> None:
        with pytest.raises(error, match=match):
            await client.status(jwt_status_claim(idx, f"{base}/lists/1"))

    run(lambda b: {"/lists/1": (200, ctype, body(f"{b}/lists/1"), {})}, check)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_wrong_typ() -> None:
    _refused(lambda u: forged_jwt(u, {"typ": "JWT"}), TokenError, "typ")


def test_sub_must_equal_uri() -> None:
    _refused(lambda u: forged_jwt(u, sub=u + "/"), SubjectMismatchError, "sub")


def test_expired() -> None:
    _refused(lambda u: forged_jwt(u, exp=NOW - 3600), ExpiredTokenError, "expired")


def test_missing_exp() -> None:
    _refused(lambda u: forged_jwt(u, exp=None), TokenError, "exp is missing")


def test_bad_signature() -> None:
    def tampered(u: str) -> bytes:
        h, c, s = forged_jwt(u).decode().split(".")
        return f"{h}.{c}.{s[:-4]}AAAA".encode()

    _refused(tampered, SignatureError, "does not verify")


def test_unknown_key() -> None:
    _refused(lambda u: forged_jwt(u, {"kid": "someone-else"}), UnknownKeyError, "someone-else")


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_in_any_casing(alg: str) -> None:
    def unsigned(u: str) -> bytes:
        header = {"alg": alg, "kid": "rp-test", "typ": "statuslist+jwt"}
        return (
            f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims(u)).encode())}.".encode()
        )

    _refused(unsigned, TokenError, "not allowed")


def test_hs256_with_public_key_as_secret() -> None:
    def confused(u: str) -> bytes:
        header = {"alg": "HS256", "kid": "rp-test", "typ": "statuslist+jwt"}
        signing_input = (
            f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims(u)).encode())}"
        )
        secret = PRIVATE.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(mac)}".encode()

    _refused(confused, TokenError, "not allowed")


def test_jwe_refused() -> None:
    _refused(lambda u: b"eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", TokenError, "JWE")


def test_json_serialisation_refused() -> None:
    _refused(lambda u: b'{"payload":"e30","signatures":[]}', TokenError, "JSON serialisation")


def test_index_out_of_bounds() -> None:
    _refused(lambda u: signed(u), IndexOutOfRangeError, "out of bounds", idx=1024)


def test_zip_bomb_over_the_cap() -> None:
    bomb = {"bits": 1, "lst": _b64(zlib.compress(bytes(64 << 20), 9))}
    _refused(lambda u: forged_jwt(u, status_list=bomb), LimitExceededError, "16777216")


def test_cwt_unknown_kid() -> None:
    _refused(lambda u: forged_cwt(u, kid=b"nobody"), UnknownKeyError, "nobody", ctype=CWT_TYPE)


def test_cwt_with_tag_61_refused() -> None:
    def wrapped(u: str) -> bytes:
        return cbor2.dumps(cbor2.CBORTag(61, cbor2.loads(forged_cwt(u))))

    _refused(wrapped, TokenError, "61", ctype=CWT_TYPE)


def test_cwt_without_tag_18_refused() -> None:
    _refused(lambda u: forged_cwt(u, tag=None), TokenError, "tagged 18", ctype=CWT_TYPE)


def test_cwt_with_lst_as_text_refused() -> None:
    _refused(
        lambda u: forged_cwt(u, lst_as_text=True), MalformedError, "byte string", ctype=CWT_TYPE
    )


def test_forged_cwt_is_otherwise_accepted() -> None:
    """The forging helper itself makes valid tokens, so the refusals above are about the flaw."""

    async def check(client: StatusListClient, base: str) -> None:
        assert (await client.status(jwt_status_claim(7, f"{base}/lists/1"))).status == 1

    run(lambda b: {"/lists/1": (200, CWT_TYPE, forged_cwt(f"{b}/lists/1"), {})}, check)
    run(lambda b: {"/lists/1": (200, JWT_TYPE, forged_jwt(f"{b}/lists/1"), {})}, check)


def test_redirect_loop_and_http_errors() -> None:
    async def check(client: StatusListClient, base: str) -> None:
        with pytest.raises(FetchError, match="redirects"):
            await client.status(jwt_status_claim(1, f"{base}/loop"))
        with pytest.raises(FetchError, match="404"):
            await client.status(jwt_status_claim(1, f"{base}/missing"))

    run(lambda b: {"/loop": (302, "text/plain", b"", {"Location": f"{b}/loop"})}, check)


def test_bad_claims_input() -> None:
    with pytest.raises(MalformedError):
        StatusReference.from_claims({"status": {"status_list": {"idx": -1, "uri": "https://x"}}})
    with pytest.raises(MalformedError):
        StatusReference.from_claims({"status": {}})
    with pytest.raises(ValueError, match="trusted_jwks"):
        StatusListClient()


def _serve_in_pieces(make_body: Callable[[str], bytes], piece: int, **client_args: Any) -> Any:
    async def main() -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            body = make_body(str(request.url))
            resp = web.StreamResponse(headers={"Content-Type": JWT_TYPE})
            await resp.prepare(request)
            for at in range(0, len(body), piece):
                await resp.write(body[at : at + piece])
                await asyncio.sleep(0.001)
            await resp.write_eof()
            return resp

        app = web.Application()
        app.router.add_get("/big", handler)
        async with TestServer(app, host="127.0.0.1") as server:
            uri = str(server.make_url("/big"))
            args = {"trusted_jwks": [KEY.public_jwk], "clock": lambda: NOW, **client_args}
            async with StatusListClient(**args) as client:
                return await client.status_list(uri)

    return asyncio.run(main())


def _big_token(uri: str) -> bytes:
    sl = StatusList(1 << 21, 1)  # random bits: the token is about 350 KB
    rng = __import__("random").Random(5)
    sl.set_many(rng.sample(range(1 << 21), 1 << 19), [1] * (1 << 19))
    claims = TokenClaims(sub=uri, iat=NOW - 10, exp=NOW + 3600, ttl=300, status_list=sl)
    return sign(KEY.signer, claims, "jwt")


def test_a_token_that_arrives_in_pieces_is_read_whole() -> None:
    """Found by `statuslist loadtest`: one read() of the body returned only its first part."""
    verified = _serve_in_pieces(_big_token, 8192)
    assert len(verified.status_list) == 1 << 21
    assert verified.status_list.counts()[1] == 1 << 19
    assert verified.from_cache is False


def test_a_token_over_max_token_bytes_is_refused_while_reading() -> None:
    with pytest.raises(LimitExceededError, match="larger than 100000 bytes"):
        _serve_in_pieces(_big_token, 8192, max_token_bytes=100_000)
