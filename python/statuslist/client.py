"""The relying-party SDK: fetch a Status List Token and read one entry the way spec §8.3 demands.

``await client.status(claims)`` takes a Referenced Token's ``status`` claim (JWT or CWT form, or
the token's whole claims) and returns a :class:`StatusResult`. On the way it:

- fetches ``uri`` with ``Accept`` for the formats it accepts, bounded redirects, a timeout and a
  cap on the response size;
- verifies the signature against the trusted keys (JWKs given directly and/or a JWKS URL, or an
  ``x5c``/``x5chain`` certificate chain that validates to a configured trust anchor), with an
  algorithm allowlist; ``none`` in any casing, HMAC algorithms, JWE and JSON-serialised JWS are
  refused (RFC 8725); ``typ`` must be ``statuslist+jwt`` / ``application/statuslist+cwt``; a CWT
  must be COSE_Sign1 tagged 18 and not wrapped in tag 61;
- checks ``sub == uri`` exactly, ``iat`` present and not in the future, ``exp`` present and not
  passed (with a small leeway), and ``ttl`` positive;
- inflates ``lst`` with a cap (16 MiB by default) and rejects an index out of bounds;
- caches each verified list for ``ttl`` (clamped to ``[min_ttl, max_ttl]`` and never past ``exp``)
  in a bounded LRU cache, and revalidates with ``If-None-Match`` when the server sent an ETag.

Every failure raises a :class:`~statuslist.exceptions.StatusListError` subclass saying what failed.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.verification import (
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from statuslist.codec import DEFAULT_MAX_BYTES, StatusList
from statuslist.exceptions import (
    ExpiredTokenError,
    FetchError,
    IndexOutOfRangeError,
    LimitExceededError,
    MalformedError,
    SubjectMismatchError,
    TokenError,
    UnknownKeyError,
)
from statuslist.tokens import CWT_STATUS_CLAIM, verify

__all__ = [
    "STATUS_NAMES",
    "StatusListClient",
    "StatusReference",
    "StatusResult",
    "VerifiedStatusList",
]

Format = Literal["jwt", "cwt"]
MEDIA_TYPES: dict[Format, str] = {
    "jwt": "application/statuslist+jwt",
    "cwt": "application/statuslist+cwt",
}
#: Names of the registered Status Types (spec §7.1).
STATUS_NAMES = {0: "VALID", 1: "INVALID", 2: "SUSPENDED"}
CWT_SUB, CWT_IAT, CWT_EXP, CWT_TTL, CWT_STATUS_LIST = 2, 6, 4, 65534, 65533


@dataclass(frozen=True, slots=True)
class StatusReference:
    """The ``status_list`` claim of a Referenced Token: which entry of which list."""

    idx: int
    uri: str

    @classmethod
    def from_claims(cls, claims: Mapping[Any, Any]) -> StatusReference:
        """Accepts a token's claims, its ``status`` claim (JWT key ``status`` or CWT key 65535),
        the ``status_list`` object, or ``{"idx", "uri"}``."""
        node: Any = claims
        for key in ("status", CWT_STATUS_CLAIM):
            if isinstance(node, Mapping) and key in node:
                node = node[key]
        if isinstance(node, Mapping) and "status_list" in node:
            node = node["status_list"]
        if not isinstance(node, Mapping):
            raise MalformedError("no status_list claim found")
        idx, uri = node.get("idx"), node.get("uri")
        if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
            raise MalformedError(f"status_list.idx must be a non-negative integer, got {idx!r}")
        if not isinstance(uri, str) or not uri:
            raise MalformedError(f"status_list.uri must be a non-empty string, got {uri!r}")
        return cls(idx=idx, uri=uri)


@dataclass(frozen=True, slots=True)
class StatusResult:
    """The status of one Referenced Token and where it came from."""

    status: int
    name: str
    reference: StatusReference
    format: Format
    iat: int
    exp: int
    ttl: int | None
    from_cache: bool


@dataclass(frozen=True, slots=True)
class VerifiedStatusList:
    """A whole Status List Token that passed every check of :meth:`StatusListClient.status`,
    decoded: read any number of entries from ``status_list``."""

    uri: str
    status_list: StatusList
    format: Format
    iat: int
    exp: int
    ttl: int | None
    from_cache: bool


@dataclass(slots=True)
class _Entry:
    status_list: StatusList
    fmt: Format
    iat: int
    exp: int
    ttl: int | None
    etag: str | None
    fresh_until: float


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _jwk_public_key(jwk: Mapping[str, Any]) -> bytes:
    """The raw public key the native verifier reads, from a public JWK."""
    kty = jwk.get("kty")
    if kty == "EC":
        return b"\x04" + _b64(jwk["x"]) + _b64(jwk["y"])
    if kty == "OKP":
        return _b64(jwk["x"])
    if kty == "RSA":
        n = int.from_bytes(_b64(jwk["n"]), "big")
        e = int.from_bytes(_b64(jwk["e"]), "big")
        return (
            rsa.RSAPublicNumbers(e, n)
            .public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        )
    raise UnknownKeyError(f"unsupported JWK kty {kty!r}")


def _int_claim(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TokenError(f"claim {name} must be an integer, got {value!r}")
    return value


class StatusListClient:
    """Fetches, validates and caches Status List Tokens. Use as an async context manager, or pass
    your own :class:`aiohttp.ClientSession` (which the client then does not close)."""

    def __init__(
        self,
        *,
        trusted_jwks: Sequence[Mapping[str, Any]] = (),
        jwks_url: str | None = None,
        trust_anchors: Sequence[x509.Certificate] = (),
        formats: Sequence[Format] = ("jwt", "cwt"),
        algorithms: Sequence[str] = ("ES256", "ES384", "EdDSA", "PS256"),
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_token_bytes: int = 32 << 20,
        timeout: float = 10.0,
        max_redirects: int = 3,
        min_ttl: int = 0,
        max_ttl: int = 86_400,
        leeway: int = 60,
        cache_size: int = 1024,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not trusted_jwks and jwks_url is None and not trust_anchors:
            raise ValueError(
                "give trusted_jwks, jwks_url and/or trust_anchors: tokens must verify against keys"
            )
        self._anchors = list(trust_anchors)
        unknown = set(formats) - set(MEDIA_TYPES)
        if not formats or unknown:
            raise ValueError(f"formats must be a non-empty subset of jwt, cwt; got {formats!r}")
        self._jwks = list(trusted_jwks)
        self._jwks_url = jwks_url
        self._remote_jwks: list[Mapping[str, Any]] | None = None
        self._formats = tuple(formats)
        self._algorithms = frozenset(algorithms)
        self._max_bytes = max_bytes
        self._max_token_bytes = max_token_bytes
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_redirects = max_redirects
        self._min_ttl, self._max_ttl, self._leeway = min_ttl, max_ttl, leeway
        self._cache: OrderedDict[tuple[str, str], _Entry] = OrderedDict()  # (uri, fetched)
        self._cache_size = cache_size
        self._session = session
        self._own_session = session is None
        self._clock = clock

    async def __aenter__(self) -> StatusListClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def status(self, claims: Mapping[Any, Any] | StatusReference) -> StatusResult:
        """The status value of the referenced entry, validated per spec §8.3."""
        ref = claims if isinstance(claims, StatusReference) else StatusReference.from_claims(claims)
        entry, from_cache = await self._list(ref.uri)
        if ref.idx >= len(entry.status_list):
            raise IndexOutOfRangeError(
                f"index {ref.idx} is out of bounds for the {len(entry.status_list)}-entry list "
                f"at {ref.uri}"
            )
        value = entry.status_list[ref.idx]
        return StatusResult(
            status=value,
            name=STATUS_NAMES.get(value, f"0x{value:02X}"),
            reference=ref,
            format=entry.fmt,
            iat=entry.iat,
            exp=entry.exp,
            ttl=entry.ttl,
            from_cache=from_cache,
        )

    async def status_list(self, uri: str, *, location: str | None = None) -> VerifiedStatusList:
        """The validated, decoded list at ``uri`` (same checks and cache as :meth:`status`).

        ``location``: GET the token there instead (one instance of a service that runs several
        behind ``uri``'s host, as the load tester probes them); the token is still held to
        ``uri`` (its ``sub`` must be ``uri``), and is cached per (``uri``, ``location``), since
        each location answers with its own ETag."""
        entry, from_cache = await self._list(uri, location)
        return VerifiedStatusList(
            uri=uri,
            status_list=entry.status_list,
            format=entry.fmt,
            iat=entry.iat,
            exp=entry.exp,
            ttl=entry.ttl,
            from_cache=from_cache,
        )

    async def _list(self, uri: str, location: str | None = None) -> tuple[_Entry, bool]:
        now = self._clock()
        where = location or uri
        key = (uri, where)
        cached = self._cache.get(key)
        if cached is not None and now < cached.fresh_until:
            self._cache.move_to_end(key)
            return cached, True
        etag = cached.etag if cached is not None and now < cached.exp else None
        status, body, ctype, new_etag = await self._fetch(where, etag)
        if status == 304 and cached is not None and etag is not None:
            cached.fresh_until = self._fresh_until(now, cached.ttl, cached.exp)
            self._cache.move_to_end(key)
            return cached, True
        entry = await self._validate(uri, body, ctype, new_etag, now)
        self._cache[key] = entry
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return entry, False

    def _fresh_until(self, now: float, ttl: int | None, exp: int) -> float:
        keep = min(max(ttl if ttl is not None else 0, self._min_ttl), self._max_ttl)
        return min(now + keep, float(exp))

    async def _fetch(self, uri: str, etag: str | None) -> tuple[int, bytes, str, str | None]:
        accept = ", ".join(
            f"{MEDIA_TYPES[f]}" + ("" if i == 0 else ";q=0.9") for i, f in enumerate(self._formats)
        )
        headers = {"Accept": accept}
        if etag is not None:
            headers["If-None-Match"] = etag
        try:
            async with self._http().get(
                uri,
                headers=headers,
                max_redirects=self._max_redirects,
                timeout=self._timeout,
            ) as resp:
                if resp.status == 304:
                    return 304, b"", "", etag
                if not 200 <= resp.status < 300:
                    raise FetchError(f"GET {uri} answered HTTP {resp.status}")
                # A body arrives in pieces: read to the end, refusing it once over the cap.
                parts: list[bytes] = []
                size = 0
                while chunk := await resp.content.read(1 << 20):
                    size += len(chunk)
                    if size > self._max_token_bytes:
                        raise LimitExceededError(
                            f"token at {uri} is larger than {self._max_token_bytes} bytes"
                        )
                    parts.append(chunk)
                body = b"".join(parts)
                return resp.status, body, resp.content_type, resp.headers.get("ETag")
        except aiohttp.TooManyRedirects:
            raise FetchError(f"GET {uri}: more than {self._max_redirects} redirects") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise FetchError(f"GET {uri} failed: {exc!r}") from None

    async def _keys(self) -> list[Mapping[str, Any]]:
        if self._jwks_url is not None and self._remote_jwks is None:
            _, body, _, _ = await self._fetch(self._jwks_url, None)
            try:
                keys = json.loads(body)["keys"]
            except (ValueError, KeyError, TypeError):
                raise UnknownKeyError(f"{self._jwks_url} is not a JWK Set") from None
            self._remote_jwks = [k for k in keys if isinstance(k, Mapping)]
        return [*self._jwks, *(self._remote_jwks or [])]

    def _chain_key(self, chain: list[bytes], alg: str) -> bytes:
        """The leaf's public key, once the chain validates to a trust anchor at the current time."""
        try:
            certs = [x509.load_der_x509_certificate(c) for c in chain]
        except ValueError:
            raise TokenError("x5c/x5chain holds a certificate that is not DER") from None
        builder = (
            PolicyBuilder()
            .store(Store(self._anchors))
            .time(dt.datetime.fromtimestamp(self._clock(), dt.UTC))
            .extension_policies(
                ca_policy=ExtensionPolicy.webpki_defaults_ca(),
                ee_policy=ExtensionPolicy.permit_all(),
            )
        )
        try:
            builder.build_client_verifier().verify(certs[0], certs[1:])
        except VerificationError as exc:
            raise UnknownKeyError(f"certificate chain does not validate: {exc}") from None
        public = certs[0].public_key()
        kinds = {
            "ES256": ec.EllipticCurvePublicKey,
            "ES384": ec.EllipticCurvePublicKey,
            "EdDSA": ed25519.Ed25519PublicKey,
            "PS256": rsa.RSAPublicKey,
        }
        if not isinstance(public, kinds.get(alg, type(None))):
            raise UnknownKeyError(f"the certificate's key does not fit {alg}")
        if isinstance(public, ec.EllipticCurvePublicKey):
            return public.public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        if isinstance(public, ed25519.Ed25519PublicKey):
            return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        if isinstance(public, rsa.RSAPublicKey):
            return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        raise UnknownKeyError(f"unsupported certificate key type {type(public).__name__}")

    async def _key_for(self, kid: str | None, alg: str, chain: list[bytes] | None = None) -> bytes:
        if alg.lower() == "none" or alg not in self._algorithms:
            raise TokenError(f"algorithm {alg!r} is not allowed")
        if chain and self._anchors:
            return self._chain_key(chain, alg)
        keys = await self._keys()
        matches = [k for k in keys if kid is None or k.get("kid") == kid]
        matches = [k for k in matches if k.get("alg", alg) == alg]
        if not matches:
            raise UnknownKeyError(f"no trusted key with kid {kid!r} for {alg}")
        if len(matches) > 1 and kid is None:
            raise UnknownKeyError("token has no kid and several trusted keys match")
        return _jwk_public_key(matches[0])

    async def _validate(
        self, uri: str, body: bytes, ctype: str, etag: str | None, now: float
    ) -> _Entry:
        fmt = next((f for f, t in MEDIA_TYPES.items() if t == ctype), None)
        if fmt is None or fmt not in self._formats:
            raise TokenError(f"unexpected Content-Type {ctype!r} from {uri}")
        if fmt == "jwt":
            text = body.decode("ascii", "replace").strip()
            if text.startswith("{"):
                raise TokenError("JWS JSON serialisation is not accepted")
            parts = text.split(".")
            if len(parts) == 5:
                raise TokenError("token is a JWE; a signed JWT is required")
            if len(parts) != 3:
                raise TokenError(f"expected a compact JWS, found {len(parts)} parts")
            try:
                header = json.loads(_b64(parts[0]))
            except ValueError:
                raise TokenError("JWT header is not base64url JSON") from None
            if not isinstance(header, dict):
                raise TokenError("JWT header is not a JSON object")
            alg, kid = str(header.get("alg")), header.get("kid")
            x5c = header.get("x5c")
            chain = (
                [base64.b64decode(c) for c in x5c if isinstance(c, str)]
                if isinstance(x5c, list) and x5c
                else None
            )
            key = await self._key_for(kid if isinstance(kid, str) else None, alg, chain)
            _, raw_claims = verify(text, "jwt", alg, key)
            claims = json.loads(raw_claims)
            if not isinstance(claims, dict):
                raise TokenError("JWT claims are not a JSON object")
            sub, iat, exp, ttl = (claims.get(n) for n in ("sub", "iat", "exp", "ttl"))
            status_list = claims.get("status_list")
            if not isinstance(status_list, dict):
                raise TokenError("claim status_list is missing or not an object")

            def build() -> StatusList:
                return StatusList.from_json(status_list, max_bytes=self._max_bytes)
        else:
            kid, alg, chain = self._cwt_key_hints(body)
            key = await self._key_for(kid, alg, chain)
            _, raw_claims = verify(body, "cwt", alg, key)
            claims = cbor2.loads(raw_claims)
            if not isinstance(claims, Mapping):
                raise TokenError("CWT claims are not a map")
            sub, iat, exp, ttl = (claims.get(k) for k in (CWT_SUB, CWT_IAT, CWT_EXP, CWT_TTL))
            cbor_list = claims.get(CWT_STATUS_LIST)
            if not isinstance(cbor_list, Mapping):
                raise TokenError("claim status_list (65533) is missing or not a map")
            encoded = cbor2.dumps(dict(cbor_list))

            def build() -> StatusList:
                return StatusList.from_cbor(encoded, max_bytes=self._max_bytes)

        if sub != uri:
            raise SubjectMismatchError(f"token sub {sub!r} is not the referenced uri {uri!r}")
        if iat is None:
            raise TokenError("claim iat is missing")
        if exp is None:
            raise TokenError("claim exp is missing; it is required to bound the token's use")
        iat, exp = _int_claim(iat, "iat"), _int_claim(exp, "exp")
        if iat > now + self._leeway:
            raise TokenError(f"token issued in the future (iat {iat})")
        if exp <= now - self._leeway:
            raise ExpiredTokenError(f"token expired at {exp} (now {int(now)})")
        if ttl is not None and (_int_claim(ttl, "ttl") <= 0):
            raise TokenError(f"claim ttl must be positive, got {ttl}")
        return _Entry(
            status_list=build(),
            fmt=fmt,
            iat=iat,
            exp=exp,
            ttl=ttl,
            etag=etag,
            fresh_until=self._fresh_until(now, ttl, exp),
        )

    @staticmethod
    def _cwt_key_hints(body: bytes) -> tuple[str | None, str, list[bytes] | None]:
        """kid (unprotected 4), alg (protected 1) and x5chain (unprotected 33), unverified."""
        try:
            outer = cbor2.loads(body)
        except (cbor2.CBORDecodeError, ValueError, TypeError):
            raise TokenError("CWT is not valid CBOR") from None
        if not isinstance(outer, cbor2.CBORTag):
            raise TokenError("CWT must be COSE_Sign1 tagged 18 (no tag found)")
        if outer.tag == 61:
            raise TokenError("CWT must not carry the CWT tag 61 (spec §5.2)")
        if outer.tag != 18 or not isinstance(outer.value, list | tuple) or len(outer.value) != 4:
            raise TokenError(f"expected COSE_Sign1 tag 18, found tag {outer.tag}")
        try:
            protected = cbor2.loads(outer.value[0])
        except (cbor2.CBORDecodeError, ValueError, TypeError):
            raise TokenError("CWT protected header is not valid CBOR") from None
        unprotected = outer.value[1]
        cose_algs = {-7: "ES256", -35: "ES384", -8: "EdDSA", -37: "PS256"}
        alg_id = protected.get(1) if isinstance(protected, Mapping) else None
        alg = cose_algs.get(alg_id) if isinstance(alg_id, int) else None
        if alg is None:
            raise TokenError("CWT protected header has no allowed alg")
        # cbor2 decodes maps nested in a tag as frozendict: test for Mapping, not dict.
        kid = unprotected.get(4) if isinstance(unprotected, Mapping) else None
        x5 = unprotected.get(33) if isinstance(unprotected, Mapping) else None
        chain = (
            [x5]
            if isinstance(x5, bytes)
            else [c for c in x5 if isinstance(c, bytes)]
            if (isinstance(x5, list))
            else None
        )
        return (kid.decode("utf-8", "replace") if isinstance(kid, bytes) else None), alg, chain
