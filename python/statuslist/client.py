"""The relying-party SDK: fetch a Status List Token and read one entry the way spec §8.3 demands.

``await client.status(claims)`` takes a Referenced Token's ``status`` claim (JWT or CWT form, or
the token's whole claims) and returns a :class:`StatusResult`. On the way it:

- fetches ``uri`` with ``Accept`` for the formats it accepts, bounded redirects, a timeout and a
  cap on the response size;
- verifies the signature against the trusted keys (JWKs given directly and/or a JWKS URL, or an
  ``x5c``/``x5chain`` certificate chain that validates to a configured trust anchor), with an
  algorithm allowlist; ``none`` in any casing, HMAC algorithms, JWE and JSON-serialised JWS are
  refused (RFC 8725); ``typ`` must be ``statuslist+jwt`` / ``application/statuslist+cwt`` (or
  CoAP Content-Format 279); a CWT must be COSE_Sign1 tagged 18 and not wrapped in tag 61; a
  ``crit`` naming an extension not understood refuses the token
  (:class:`~statuslist.exceptions.CriticalExtensionError`). All of this, and the claims' types,
  is checked by the native core, the one token parser (``peek_header``, ``verify_claims``);
- checks ``sub == uri`` exactly, ``iat`` present and not in the future, ``exp`` present and not
  passed (with a small leeway), and ``ttl`` positive;
- inflates ``lst`` with a cap (16 MiB by default) and rejects an index out of bounds;
- caches each verified list for ``ttl`` (clamped to ``[min_ttl, max_ttl]`` and never past ``exp``)
  in a bounded LRU cache, and revalidates with ``If-None-Match`` when the server sent an ETag.

Every failure on untrusted input (the claims handed in, HTTP responses, JWK Sets, token bytes)
raises a :class:`~statuslist.exceptions.StatusListError` subclass saying what failed; messages
quote input only up to a bound.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
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
    StatusListError,
    SubjectMismatchError,
    TokenError,
    UnknownKeyError,
)
from statuslist.tokens import CWT_STATUS_CLAIM, TokenHeader, peek_header, verify_claims

__all__ = [
    "MECHANISMS",
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
#: Media types accepted for a JWK Set (RFC 7517 §8.5; most servers send plain JSON).
JWKS_TYPES = ("application/json", "application/jwk-set+json")


def _show(value: object, limit: int = 80) -> str:
    """A bounded ``repr`` of untrusted input for messages (an int of 5,000 digits has none)."""
    try:
        text = repr(value)
    except ValueError:
        return f"<{type(value).__name__} too large to show>"
    return text if len(text) <= limit else f"{text[:limit]}…"


def _clip(text: str, limit: int = 200) -> str:
    """Untrusted text (a URI) for messages, bounded."""
    return text if len(text) <= limit else f"{text[:limit]}…"


@dataclass(frozen=True, slots=True)
class StatusReference:
    """The ``status_list`` claim of a Referenced Token: which entry of which list."""

    idx: int
    uri: str

    @classmethod
    def from_claims(cls, claims: Mapping[Any, Any]) -> StatusReference:
        """Accepts a token's claims, its ``status`` claim (JWT key ``status`` or CWT key 65535),
        the ``status_list`` object, or ``{"idx", "uri"}``.

        A ``status`` claim may name several mechanisms (spec §6): the first one in
        :data:`MECHANISMS` is used, the others are ignored; naming none of them is an error."""
        node: Any = claims
        for key in ("status", CWT_STATUS_CLAIM):
            if isinstance(node, Mapping) and key in node:
                node = node[key]
        if not isinstance(node, Mapping):
            raise MalformedError(f"the status claim must be an object, got {_show(node)}")
        if "idx" in node or "uri" in node:
            return cls._from_object(node)
        for name, read in MECHANISMS.items():
            if name in node:
                return read(node[name])
        names = ", ".join(_show(k, 40) for k in list(node)[:8]) or "none"
        raise MalformedError(
            f"no supported status mechanism is present (supported: {', '.join(MECHANISMS)}; "
            f"found: {names})"
        )

    @classmethod
    def _from_object(cls, node: Any) -> StatusReference:
        """The ``status_list`` mechanism (spec §6.1): ``{"idx": …, "uri": …}``."""
        if not isinstance(node, Mapping):
            raise MalformedError(f"status_list must be an object, got {_show(node)}")
        idx, uri = node.get("idx"), node.get("uri")
        if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
            raise MalformedError(
                f"status_list.idx must be a non-negative integer, got {_show(idx)}"
            )
        if not isinstance(uri, str) or not uri:
            raise MalformedError(f"status_list.uri must be a non-empty string, got {_show(uri)}")
        return cls(idx=idx, uri=uri)


#: Status mechanisms of a ``status`` claim this client reads, by member name (spec §6; others
#: such as ``identifiers`` lists are ignored when one of these is present).
MECHANISMS: dict[str, Callable[[Any], StatusReference]] = {
    "status_list": StatusReference._from_object,
}


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


def _b64(value: object, name: str) -> bytes:
    if not isinstance(value, str) or not value.isascii():
        raise UnknownKeyError(f"JWK member {name} must be a base64url string")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise UnknownKeyError(f"JWK member {name} is not base64url") from None


#: Curve name -> coordinate length and curve, for EC JWKs.
_CURVES: dict[str, tuple[int, ec.EllipticCurve]] = {
    "P-256": (32, ec.SECP256R1()),
    "P-384": (48, ec.SECP384R1()),
}


def _jwk_public_key(jwk: Mapping[str, Any]) -> bytes:
    """The raw public key the native verifier reads, from a public JWK (checked: a JWKS is
    untrusted input too)."""
    kty = jwk.get("kty")
    if kty == "EC":
        crv = jwk.get("crv")
        if not isinstance(crv, str) or crv not in _CURVES:
            raise UnknownKeyError(f"unsupported EC JWK curve {_show(crv)}")
        size, curve = _CURVES[crv]
        x, y = _b64(jwk.get("x"), "x"), _b64(jwk.get("y"), "y")
        if len(x) != size or len(y) != size:
            raise UnknownKeyError(f"EC JWK coordinates must be {size} bytes for {crv}")
        try:
            ec.EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve
            ).public_key()
        except ValueError:
            raise UnknownKeyError(f"EC JWK point is not on {crv}") from None
        return b"\x04" + x + y
    if kty == "OKP":
        if jwk.get("crv") != "Ed25519":
            raise UnknownKeyError(f"unsupported OKP JWK curve {_show(jwk.get('crv'))}")
        x = _b64(jwk.get("x"), "x")
        if len(x) != 32:
            raise UnknownKeyError("Ed25519 JWK x must be 32 bytes")
        return x
    if kty == "RSA":
        n = int.from_bytes(_b64(jwk.get("n"), "n"), "big")
        e = int.from_bytes(_b64(jwk.get("e"), "e"), "big")
        try:
            key = rsa.RSAPublicNumbers(e, n).public_key()
        except ValueError as exc:
            raise UnknownKeyError(f"RSA JWK is not a usable key: {exc}") from None
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    raise UnknownKeyError(f"unsupported JWK kty {_show(kty)}")


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
                f"index {_show(ref.idx)} is out of bounds for the {len(entry.status_list)}-entry "
                f"list at {_clip(ref.uri)}"
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

    async def _fetch(
        self, uri: str, etag: str | None, accept: str | None = None
    ) -> tuple[int, bytes, str, str | None]:
        """GET ``uri``: bounded redirects, a total timeout (connect, headers and body alike) and
        a bounded body, read in pieces; every failure is a :class:`FetchError` (or
        :class:`LimitExceededError` for a body over the cap)."""
        if accept is None:
            accept = ", ".join(
                f"{MEDIA_TYPES[f]}" + ("" if i == 0 else ";q=0.9")
                for i, f in enumerate(self._formats)
            )
        headers = {"Accept": accept}
        if etag is not None:
            headers["If-None-Match"] = etag
        where = _clip(uri)
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
                    raise FetchError(f"GET {where} answered HTTP {resp.status}")
                # A body arrives in pieces: read to the end, refusing it once over the cap.
                parts: list[bytes] = []
                size = 0
                while chunk := await resp.content.read(1 << 20):
                    size += len(chunk)
                    if size > self._max_token_bytes:
                        raise LimitExceededError(
                            f"response from {where} is larger than {self._max_token_bytes} bytes"
                        )
                    parts.append(chunk)
                body = b"".join(parts)
                return resp.status, body, resp.content_type, resp.headers.get("ETag")
        except StatusListError:
            raise
        except aiohttp.TooManyRedirects:
            raise FetchError(f"GET {where}: more than {self._max_redirects} redirects") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise FetchError(f"GET {where} failed: {_show(exc, 200)}") from None
        except ValueError as exc:  # yarl refuses a malformed URL with a plain ValueError
            raise FetchError(f"GET {where}: not a usable URL ({_show(exc, 200)})") from None

    async def _keys(self) -> list[Mapping[str, Any]]:
        if self._jwks_url is not None and self._remote_jwks is None:
            url = self._jwks_url
            _, body, ctype, _ = await self._fetch(url, None, accept=", ".join(JWKS_TYPES))
            if ctype not in JWKS_TYPES:
                raise UnknownKeyError(f"{url} answered {_show(ctype)}, not a JWK Set")
            try:
                doc = json.loads(body)
            except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
                raise UnknownKeyError(f"{url} is not a JWK Set (not JSON)") from None
            keys = doc.get("keys") if isinstance(doc, dict) else None
            if not isinstance(keys, list):
                raise UnknownKeyError(f"{url} is not a JWK Set (no keys array)")
            self._remote_jwks = [k for k in keys if isinstance(k, dict)]
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
            public = certs[0].public_key()
        except VerificationError as exc:
            raise UnknownKeyError(f"certificate chain does not validate: {exc}") from None
        except (ValueError, TypeError) as exc:  # e.g. UnsupportedAlgorithm, bad encodings
            raise UnknownKeyError(f"certificate chain cannot be used: {_show(exc, 200)}") from None
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

    async def _key_for(self, header: TokenHeader) -> bytes:
        alg, kid, chain = header.alg, header.kid, header.x5c
        if alg not in self._algorithms:
            raise TokenError(f"algorithm {alg!r} is not allowed")
        if chain and self._anchors:
            return self._chain_key(chain, alg)
        keys = await self._keys()
        matches = [k for k in keys if kid is None or k.get("kid") == kid]
        matches = [k for k in matches if k.get("alg", alg) == alg]
        if not matches:
            raise UnknownKeyError(f"no trusted key with kid {_show(kid)} for {alg}")
        if len(matches) > 1 and kid is None:
            raise UnknownKeyError("token has no kid and several trusted keys match")
        return _jwk_public_key(matches[0])

    async def _validate(
        self, uri: str, body: bytes, ctype: str, etag: str | None, now: float
    ) -> _Entry:
        """§8.3 on untrusted bytes. The native core is the one parser: it checks the envelope
        and header rules (``peek_header``), then the signature and the claims' types
        (``verify_claims``); what is left here is policy (keys, time, ``sub``)."""
        fmt = next((f for f, t in MEDIA_TYPES.items() if t == ctype), None)
        if fmt is None or fmt not in self._formats:
            raise TokenError(f"unexpected Content-Type {_show(ctype)} from {_clip(uri)}")
        header = peek_header(body, fmt)
        key = await self._key_for(header)
        token = verify_claims(body, fmt, header.alg, key)
        sub, iat, exp, ttl = token.sub, token.iat, token.exp, token.ttl
        if sub != uri:
            raise SubjectMismatchError(
                f"token sub {_show(sub)} is not the referenced uri {_show(uri)}"
            )
        if iat is None:
            raise TokenError("claim iat is missing")
        if exp is None:
            raise TokenError("claim exp is missing; it is required to bound the token's use")
        if iat > now + self._leeway:
            raise TokenError(f"token issued in the future (iat {iat})")
        if exp <= now - self._leeway:
            raise ExpiredTokenError(f"token expired at {exp} (now {int(now)})")
        if ttl is not None and ttl <= 0:
            raise TokenError(f"claim ttl must be positive, got {ttl}")
        status_list = StatusList.decode(token.lst, token.bits, self._max_bytes)
        return _Entry(
            status_list=status_list,
            fmt=fmt,
            iat=iat,
            exp=exp,
            ttl=ttl,
            etag=etag,
            fresh_until=self._fresh_until(now, ttl, exp),
        )
