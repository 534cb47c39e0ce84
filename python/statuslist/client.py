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
import http.client
import json
import socket
import ssl
import threading
import time
import urllib.parse
import zlib
from collections import OrderedDict
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

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
    "SyncStatusListClient",
    "VerifiedStatusList",
    "register_mechanism",
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


def register_mechanism(name: str, read: Callable[[Any], StatusReference]) -> None:
    """Teaches :meth:`StatusReference.from_claims` another status mechanism (spec §6 and its
    IANA registry, §13): ``read`` turns the member ``name`` of a ``status`` claim into the entry
    to check, raising a :class:`~statuslist.exceptions.StatusListError` subclass for a value it
    cannot use. Mechanisms are tried in registration order; ``status_list`` comes first and
    cannot be replaced."""
    if name in MECHANISMS:
        raise ValueError(f"the status mechanism {name!r} is registered already")
    MECHANISMS[name] = read


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


@dataclass(frozen=True, slots=True)
class _Get:
    """A GET the validation needs (the transport's job)."""

    uri: str
    etag: str | None
    accept: str


@dataclass(frozen=True, slots=True)
class _Got:
    """What the transport got: 304, or a 2xx body with its media type and ETag."""

    status: int
    body: bytes
    ctype: str
    etag: str | None


T = TypeVar("T")
#: One operation as steps: yields the GETs it needs, receives each answer, returns its result.
_Steps = Generator[_Get, _Got, T]


class _Core:
    """The client without I/O: settings, the cache and §8.3 validation, written as steps that
    yield the GETs they need. :class:`StatusListClient` runs them on aiohttp and
    :class:`SyncStatusListClient` on :mod:`http.client`, so both validate alike."""

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
        require_eku: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not trusted_jwks and jwks_url is None and not trust_anchors:
            raise ValueError(
                "give trusted_jwks, jwks_url and/or trust_anchors: tokens must verify against keys"
            )
        self._anchors = list(trust_anchors)
        #: With an x5c/x5chain, the leaf must carry this Extended Key Usage (spec §10: the
        #: status-signing EKU, :data:`~statuslist.tokens.STATUS_SIGNING_EKU` until assigned).
        self._require_eku = x509.ObjectIdentifier(require_eku) if require_eku else None
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
        self._timeout_s = timeout
        self._max_redirects = max_redirects
        self._min_ttl, self._max_ttl, self._leeway = min_ttl, max_ttl, leeway
        self._cache: OrderedDict[tuple[str, str], _Entry] = OrderedDict()  # (uri, fetched)
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()  # the sync client may serve several threads
        self._clock = clock

    # -- the operations, as steps ---------------------------------------------------------------

    def _status_steps(self, claims: Mapping[Any, Any] | StatusReference) -> _Steps[StatusResult]:
        ref = claims if isinstance(claims, StatusReference) else StatusReference.from_claims(claims)
        entry, from_cache = yield from self._list_steps(ref.uri)
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

    def _status_list_steps(self, uri: str, location: str | None) -> _Steps[VerifiedStatusList]:
        entry, from_cache = yield from self._list_steps(uri, location)
        return VerifiedStatusList(
            uri=uri,
            status_list=entry.status_list,
            format=entry.fmt,
            iat=entry.iat,
            exp=entry.exp,
            ttl=entry.ttl,
            from_cache=from_cache,
        )

    def _list_steps(self, uri: str, location: str | None = None) -> _Steps[tuple[_Entry, bool]]:
        now = self._clock()
        where = location or uri
        key = (uri, where)
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None and now < cached.fresh_until:
                self._cache.move_to_end(key)
                return cached, True
        etag = cached.etag if cached is not None and now < cached.exp else None
        got = yield _Get(where, etag, self._accept())
        if got.status == 304 and cached is not None and etag is not None:
            cached.fresh_until = self._fresh_until(now, cached.ttl, cached.exp)
            with self._cache_lock:
                self._cache[key] = cached
                self._cache.move_to_end(key)
            return cached, True
        entry = yield from self._validate_steps(uri, got.body, got.ctype, got.etag, now)
        with self._cache_lock:
            self._cache[key] = entry
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return entry, False

    def _accept(self) -> str:
        return ", ".join(
            f"{MEDIA_TYPES[f]}" + ("" if i == 0 else ";q=0.9") for i, f in enumerate(self._formats)
        )

    def _fresh_until(self, now: float, ttl: int | None, exp: int) -> float:
        keep = min(max(ttl if ttl is not None else 0, self._min_ttl), self._max_ttl)
        return min(now + keep, float(exp))

    def _keys_steps(self) -> _Steps[list[Mapping[str, Any]]]:
        if self._jwks_url is not None and self._remote_jwks is None:
            url = self._jwks_url
            got = yield _Get(url, None, ", ".join(JWKS_TYPES))
            body, ctype = got.body, got.ctype
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
        # The certificate library sees attacker-chosen bytes here and has raised more than its
        # documented errors on them (InvalidVersion; KeyError from the verifier rendering a name
        # with an unknown string tag into its message, cryptography 48; both found by
        # tests/fuzz/fuzz_sdk.py):
        # whatever it raises on these bytes, the chain cannot be used.
        try:
            certs = [x509.load_der_x509_certificate(c) for c in chain]
        except Exception:
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
            raise UnknownKeyError(
                f"certificate chain does not validate: {_clip(str(exc))}"
            ) from None
        except Exception as exc:  # bad keys or encodings, UnsupportedAlgorithm, KeyError, …
            raise UnknownKeyError(
                f"certificate chain cannot be used: {type(exc).__name__} {_show(exc, 200)}"
            ) from None
        if self._require_eku is not None:
            self._check_eku(certs[0])
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

    def _check_eku(self, leaf: x509.Certificate) -> None:
        try:
            usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            usages = None
        if usages is None or self._require_eku not in usages:
            raise UnknownKeyError(
                "the signing certificate does not carry the status-signing Extended Key Usage "
                f"{self._require_eku.dotted_string if self._require_eku else ''}"
            )

    def _key_for_steps(self, header: TokenHeader) -> _Steps[bytes]:
        alg, kid, chain = header.alg, header.kid, header.x5c
        if alg not in self._algorithms:
            raise TokenError(f"algorithm {alg!r} is not allowed")
        if chain and self._anchors:
            return self._chain_key(chain, alg)
        keys = yield from self._keys_steps()
        matches = [k for k in keys if kid is None or k.get("kid") == kid]
        matches = [k for k in matches if k.get("alg", alg) == alg]
        if not matches:
            raise UnknownKeyError(f"no trusted key with kid {_show(kid)} for {alg}")
        if len(matches) > 1 and kid is None:
            raise UnknownKeyError("token has no kid and several trusted keys match")
        return _jwk_public_key(matches[0])

    def _validate_steps(
        self, uri: str, body: bytes, ctype: str, etag: str | None, now: float
    ) -> _Steps[_Entry]:
        """§8.3 on untrusted bytes. The native core is the one parser: it checks the envelope
        and header rules (``peek_header``), then the signature and the claims' types
        (``verify_claims``); what is left here is policy (keys, time, ``sub``)."""
        fmt = next((f for f, t in MEDIA_TYPES.items() if t == ctype), None)
        if fmt is None or fmt not in self._formats:
            raise TokenError(f"unexpected Content-Type {_show(ctype)} from {_clip(uri)}")
        header = peek_header(body, fmt)
        key = yield from self._key_for_steps(header)
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


class StatusListClient(_Core):
    """Fetches, validates and caches Status List Tokens (asyncio, aiohttp). Use as an async
    context manager, or pass your own :class:`aiohttp.ClientSession` (which the client then does
    not close). :class:`SyncStatusListClient` is the same client without asyncio."""

    def __init__(self, *, session: aiohttp.ClientSession | None = None, **options: Any) -> None:
        super().__init__(**options)
        self._timeout = aiohttp.ClientTimeout(total=self._timeout_s)
        self._session = session
        self._own_session = session is None

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

    async def _run(self, steps: _Steps[T]) -> T:
        try:
            need = next(steps)
            while True:
                need = steps.send(await self._fetch(need))
        except StopIteration as done:
            return cast(T, done.value)

    async def status(self, claims: Mapping[Any, Any] | StatusReference) -> StatusResult:
        """The status value of the referenced entry, validated per spec §8.3."""
        return await self._run(self._status_steps(claims))

    async def status_list(self, uri: str, *, location: str | None = None) -> VerifiedStatusList:
        """The validated, decoded list at ``uri`` (same checks and cache as :meth:`status`).

        ``location``: GET the token there instead (one instance of a service that runs several
        behind ``uri``'s host, as the load tester probes them); the token is still held to
        ``uri`` (its ``sub`` must be ``uri``), and is cached per (``uri``, ``location``), since
        each location answers with its own ETag."""
        return await self._run(self._status_list_steps(uri, location))

    async def _fetch(self, need: _Get) -> _Got:
        """GET ``uri``: bounded redirects, a total timeout (connect, headers and body alike) and
        a bounded body, read in pieces; every failure is a :class:`FetchError` (or
        :class:`LimitExceededError` for a body over the cap)."""
        uri, etag = need.uri, need.etag
        headers = {"Accept": need.accept}
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
                    return _Got(304, b"", "", etag)
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
                return _Got(resp.status, body, resp.content_type, resp.headers.get("ETag"))
        except StatusListError:
            raise
        except aiohttp.TooManyRedirects:
            raise FetchError(f"GET {where}: more than {self._max_redirects} redirects") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise FetchError(f"GET {where} failed: {_show(exc, 200)}") from None
        except ValueError as exc:  # yarl refuses a malformed URL with a plain ValueError
            raise FetchError(f"GET {where}: not a usable URL ({_show(exc, 200)})") from None


_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PIECE = 1 << 16


class SyncStatusListClient(_Core):
    """:class:`StatusListClient` without asyncio, for WSGI relying parties (Django, Flask) and
    scripts: the same options, the same §8.3 validation (one implementation, run here over
    :mod:`http.client`), the same cache and the same typed errors. Safe to share between
    threads. Use as a context manager or call :meth:`close` (a no-op today: each GET uses its
    own connection)."""

    def __enter__(self) -> SyncStatusListClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        return None

    def _run(self, steps: _Steps[T]) -> T:
        try:
            need = next(steps)
            while True:
                need = steps.send(self._fetch(need))
        except StopIteration as done:
            return cast(T, done.value)

    def status(self, claims: Mapping[Any, Any] | StatusReference) -> StatusResult:
        """The status value of the referenced entry, validated per spec §8.3."""
        return self._run(self._status_steps(claims))

    def status_list(self, uri: str, *, location: str | None = None) -> VerifiedStatusList:
        """The validated, decoded list at ``uri`` (see :meth:`StatusListClient.status_list`)."""
        return self._run(self._status_list_steps(uri, location))

    def _fetch(self, need: _Get) -> _Got:
        """GET with the async client's guarantees: at most ``max_redirects`` redirects, one
        total deadline over connecting, headers and every piece of the body, a body bounded
        after any content coding is undone; every failure a :class:`FetchError` (or
        :class:`LimitExceededError` for a body over the cap)."""
        deadline = time.monotonic() + self._timeout_s
        url = need.uri
        headers = {
            "Accept": need.accept,
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": "statuslist-sync-client",
        }
        if need.etag is not None:
            headers["If-None-Match"] = need.etag
        for _ in range(self._max_redirects + 1):
            where = _clip(url)
            try:
                parts = urllib.parse.urlsplit(url)
                host, port = parts.hostname, parts.port
            except ValueError as exc:
                raise FetchError(f"GET {where}: not a usable URL ({_show(exc, 200)})") from None
            if parts.scheme not in ("http", "https") or not host:
                raise FetchError(f"GET {where}: not a usable URL (http or https with a host)")
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            conn: http.client.HTTPConnection | None = None
            left = deadline - time.monotonic()
            if left <= 0:
                raise FetchError(f"GET {where} failed: timed out")
            try:
                if parts.scheme == "https":
                    conn = http.client.HTTPSConnection(
                        host, port, timeout=left, context=ssl.create_default_context()
                    )
                else:
                    conn = http.client.HTTPConnection(host, port, timeout=left)
                conn.request("GET", target, headers=headers)
                resp = conn.getresponse()
                if resp.status in _REDIRECTS:
                    location = resp.getheader("Location")
                    if not location:
                        raise FetchError(f"GET {where} answered {resp.status} without Location")
                    url = urllib.parse.urljoin(url, location)
                    continue
                if resp.status == 304:
                    return _Got(304, b"", "", need.etag)
                if not 200 <= resp.status < 300:
                    raise FetchError(f"GET {where} answered HTTP {resp.status}")
                body = self._read_body(conn, resp, where, deadline)
                ctype = (resp.getheader("Content-Type") or "").split(";")[0].strip().lower()
                return _Got(resp.status, body, ctype, resp.getheader("ETag"))
            except StatusListError:
                raise
            except (OSError, http.client.HTTPException, ValueError) as exc:
                if isinstance(exc, TimeoutError | socket.timeout):
                    raise FetchError(f"GET {where} failed: timed out") from None
                raise FetchError(f"GET {where} failed: {_show(exc, 200)}") from None
            finally:
                if conn is not None:
                    conn.close()
        raise FetchError(f"GET {_clip(need.uri)}: more than {self._max_redirects} redirects")

    def _read_body(
        self,
        conn: http.client.HTTPConnection,
        resp: http.client.HTTPResponse,
        where: str,
        deadline: float,
    ) -> bytes:
        coding = (resp.getheader("Content-Encoding") or "identity").strip().lower()
        if coding in ("identity", ""):
            inflater = None
        elif coding in ("gzip", "x-gzip"):
            inflater = zlib.decompressobj(wbits=31)
        elif coding == "deflate":
            inflater = zlib.decompressobj(wbits=15)
        else:
            raise FetchError(f"GET {where}: unsupported Content-Encoding {_show(coding)}")
        cap = self._max_token_bytes
        parts: list[bytes] = []
        size = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise FetchError(f"GET {where} failed: timed out reading the body")
            if conn.sock is not None:
                conn.sock.settimeout(left)
            piece = resp.read1(_PIECE)
            if not piece:
                break
            if inflater is not None:
                try:
                    piece = inflater.decompress(piece, cap + 1 - size)
                except zlib.error:
                    raise FetchError(f"GET {where}: broken {coding} encoding") from None
                if inflater.unconsumed_tail:
                    raise LimitExceededError(f"response from {where} is larger than {cap} bytes")
            size += len(piece)
            if size > cap:
                raise LimitExceededError(f"response from {where} is larger than {cap} bytes")
            parts.append(piece)
        if inflater is not None and not inflater.eof:
            raise FetchError(f"GET {where}: truncated {coding} body")
        return b"".join(parts)
