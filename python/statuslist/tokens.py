"""Status List Tokens (spec §5): signing keys and signed JWT/CWT tokens, built by the native core.

Relying parties: :func:`peek_header` (the header rules, no signature: which key to use) and
:func:`verify_claims` (signature, then typed claims) run the native core, the one token parser.

Keys: PEM (PKCS#8, or any format ``cryptography`` reads) or JWK private keys, an optional PEM
certificate chain (JWT ``x5c`` / COSE ``x5chain``), ``kid`` defaulting to the RFC 7638 thumbprint,
public keys published as a JWKS. Signing one or many tokens runs in Rust (many at once in
parallel, GIL released). Referenced-token helpers build the ``status`` claim of spec §6.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.jwk import ECKey, OKPKey, RSAKey

from statuslist._native import (
    SigningKey,
    TokenHeader,
    VerifiedToken,
    peek_header,
    sign_tokens,
    verify_claims,
    verify_token,
)
from statuslist.codec import StatusList
from statuslist.exceptions import KeyLoadError

__all__ = [
    "CWT_STATUS_CLAIM",
    "STATUS_SIGNING_EKU",
    "DevChain",
    "EncodedClaims",
    "IssuerKey",
    "SigningKey",
    "TokenClaims",
    "TokenHeader",
    "VerifiedToken",
    "cwt_status_claim",
    "dev_certificate_chain",
    "generate_private_key",
    "jwks",
    "jwt_status_claim",
    "load_key",
    "load_signing_key",
    "peek_header",
    "sign",
    "sign_encoded",
    "sign_many",
    "status_signing_csr",
    "verify",
    "verify_claims",
]

#: CWT claim key of the ``status`` claim in a Referenced Token (still "TBD" in draft -20).
CWT_STATUS_CLAIM = 65535

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey

Format = Literal["jwt", "cwt"]


def _alg_for(key: object) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP384R1):
        return "ES384"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(key, rsa.RSAPrivateKey):
        return "PS256"
    raise KeyLoadError(f"unsupported key type {type(key).__name__} (ES256, ES384, EdDSA, PS256)")


def _read_private_key(data: bytes, password: bytes | None) -> PrivateKey:
    text = data.lstrip()
    key: object
    try:
        if text.startswith(b"{"):
            jwk = json.loads(text)
            if "d" not in jwk:
                raise KeyLoadError("the JWK has no private part ('d')")
            kty = jwk.get("kty")
            if kty == "EC":
                key = ECKey.import_key(jwk).private_key
            elif kty == "OKP":
                key = OKPKey.import_key(jwk).private_key
            elif kty == "RSA":
                key = RSAKey.import_key(jwk).private_key
            else:
                raise KeyLoadError(f"unsupported JWK kty {kty!r}")
        elif text.startswith(b"-----"):
            key = serialization.load_pem_private_key(data, password=password)
        else:
            key = serialization.load_der_private_key(data, password=password)
    except KeyLoadError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise KeyLoadError(f"cannot read the private key: {exc}") from None
    supported = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
    if not isinstance(key, supported):
        raise KeyLoadError(
            f"unsupported key type {type(key).__name__} (ES256, ES384, EdDSA, PS256)"
        )
    return key


def _public_jwk_key(private: PrivateKey) -> ECKey | OKPKey | RSAKey:
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return ECKey.import_key(private.public_key())
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return OKPKey.import_key(private.public_key())
    return RSAKey.import_key(private.public_key())


@dataclass(frozen=True, slots=True)
class IssuerKey:
    """A signing key with what relying parties need to verify it: its public JWK (with ``kid``,
    ``alg``, ``use``) and the certificate chain, if any."""

    signer: SigningKey
    public_jwk: dict[str, Any] = field(repr=False)
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def kid(self) -> str:
        return self.signer.kid

    @property
    def alg(self) -> str:
        return self.signer.alg


def load_key(
    data: bytes,
    kid: str | None = None,
    *,
    password: bytes | None = None,
    chain_pem: bytes | None = None,
) -> IssuerKey:
    """Loads a private key from PEM, DER or a JWK. The algorithm follows from the key type
    (P-256 → ES256, P-384 → ES384, Ed25519 → EdDSA, RSA → PS256); ``kid`` defaults to the
    RFC 7638 thumbprint of the public key; ``chain_pem`` (leaf first) goes into x5c/x5chain."""
    private = _read_private_key(data, password)
    alg = _alg_for(private)
    public = _public_jwk_key(private)
    kid = kid or public.thumbprint()
    chain: tuple[x509.Certificate, ...] = ()
    if chain_pem is not None:
        try:
            chain = tuple(x509.load_pem_x509_certificates(chain_pem))
        except ValueError as exc:
            raise KeyLoadError(f"cannot read the certificate chain: {exc}") from None
    der = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    x5c = [c.public_bytes(serialization.Encoding.DER) for c in chain]
    signer = SigningKey(alg, der, kid, x5c)
    jwk = {**public.as_dict(private=False), "kid": kid, "alg": alg, "use": "sig"}
    return IssuerKey(signer=signer, public_jwk=jwk, chain=chain)


def load_signing_key(
    data: bytes, kid: str | None = None, password: bytes | None = None
) -> SigningKey:
    """The native signing key of :func:`load_key`."""
    return load_key(data, kid, password=password).signer


def generate_private_key(alg: str = "ES256") -> bytes:
    """A new private key for ``alg`` as PKCS#8 PEM."""
    key: PrivateKey
    if alg == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
    elif alg == "ES384":
        key = ec.generate_private_key(ec.SECP384R1())
    elif alg == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
    elif alg == "PS256":
        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    else:
        raise KeyLoadError(f"unsupported algorithm {alg!r}; choose ES256, ES384, EdDSA or PS256")
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def jwks(keys: list[IssuerKey]) -> dict[str, list[dict[str, Any]]]:
    """The JWK Set (RFC 7517) publishing the public keys, with ``x5c`` where a chain is set."""
    out = []
    for k in keys:
        jwk = dict(k.public_jwk)
        if k.chain:
            jwk["x5c"] = [
                base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
                for c in k.chain
            ]
        out.append(jwk)
    return {"keys": out}


def jwt_status_claim(idx: int, uri: str) -> dict[str, Any]:
    """The ``status`` claim of a JWT Referenced Token (spec §6.1)."""
    return {"status": {"status_list": {"idx": idx, "uri": uri}}}


def cwt_status_claim(idx: int, uri: str) -> dict[int, Any]:
    """The ``status`` claim (key 65535) of a CWT Referenced Token (spec §6.3), text keys inside."""
    return {CWT_STATUS_CLAIM: {"status_list": {"idx": idx, "uri": uri}}}


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """The claims of one Status List Token (spec §5.1/§5.2)."""

    sub: str
    iat: int
    status_list: StatusList
    exp: int | None = None
    ttl: int | None = None
    iss: str | None = None
    aggregation_uri: str | None = None


@dataclass(frozen=True, slots=True)
class EncodedClaims:
    """The claims of one Status List Token whose list is already encoded: ``lst`` is the zlib
    stream of a ``bits``-bit list (what :meth:`StatusList.encode` returns). Lets a caller take a
    consistent snapshot first and sign later, elsewhere."""

    sub: str
    iat: int
    bits: int
    lst: bytes = field(repr=False)
    exp: int | None = None
    ttl: int | None = None
    iss: str | None = None
    aggregation_uri: str | None = None


_Job = tuple[SigningKey, str, str, int, int | None, int | None, str | None, int, bytes, str | None]


def _encoded_job(key: SigningKey, fmt: Format, c: EncodedClaims) -> _Job:
    return (key, fmt, c.sub, c.iat, c.exp, c.ttl, c.iss, c.bits, c.lst, c.aggregation_uri)


def _job(key: SigningKey, fmt: Format, c: TokenClaims) -> _Job:
    sl = c.status_list
    return (key, fmt, c.sub, c.iat, c.exp, c.ttl, c.iss, sl.bits, sl.encode(), c.aggregation_uri)


def sign(key: SigningKey, claims: TokenClaims, fmt: Format = "jwt") -> bytes:
    """One signed token: JWS compact serialisation (ASCII bytes) or a tagged COSE_Sign1."""
    return sign_tokens([_job(key, fmt, claims)])[0]


def sign_many(jobs: list[tuple[SigningKey, TokenClaims, Format]]) -> list[bytes]:
    """Signs all jobs in one native call across cores; all-or-nothing on errors."""
    return sign_tokens([_job(key, fmt, claims) for key, claims, fmt in jobs])


def sign_encoded(jobs: list[tuple[SigningKey, EncodedClaims, Format]]) -> list[bytes]:
    """Like :func:`sign_many` for pre-encoded lists; one native call, GIL released."""
    return sign_tokens([_encoded_job(key, fmt, claims) for key, claims, fmt in jobs])


def verify(token: bytes | str, fmt: Format, alg: str, public_key: bytes) -> tuple[bytes, bytes]:
    """Checks form, type, algorithm, ``crit`` and signature; returns (header, claims) bytes.

    Relying parties want :func:`peek_header` (which key?) and :func:`verify_claims` (typed
    claims) instead: both run the same native parser."""
    raw = token.encode("utf-8", "surrogatepass") if isinstance(token, str) else token
    return verify_token(raw, fmt, alg, public_key)


# -- certificates for delegated status signing (spec §10, App. A) -------------------------------

#: ``id-kp-oauthStatusSigning`` is 1.3.6.1.5.5.7.3.TBD: its final number is not assigned yet.
#: Until it is, this stand-in — a UUID OID (ITU-T X.667, 2.25.*: anyone may mint one; this one is
#: ``uuid5(NAMESPACE_URL, "urn:statuslist:eku:oauthStatusSigning")``) — is what ``statuslist
#: keygen`` puts in certificates and what the SDK requires when asked to; both take another OID.
STATUS_SIGNING_EKU = "2.25.305926965503572847959941730895865500396"


def _hash_for(key: PrivateKey) -> Any:
    from cryptography.hazmat.primitives import hashes

    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP384R1):
        return hashes.SHA384()
    return hashes.SHA256()


def _name(subject: str) -> x509.Name:
    """``CN=…,O=…`` (RFC 4514) as an X.509 name."""
    try:
        return x509.Name.from_rfc4514_string(subject)
    except ValueError as exc:
        raise KeyLoadError(f"subject {subject!r} is not an RFC 4514 name: {exc}") from None


def _eku(oid: str) -> x509.ExtendedKeyUsage:
    try:
        return x509.ExtendedKeyUsage([x509.ObjectIdentifier(oid)])
    except ValueError:
        raise KeyLoadError(f"{oid!r} is not a dotted object identifier") from None


def status_signing_csr(private_pem: bytes, subject: str, eku: str = STATUS_SIGNING_EKU) -> bytes:
    """A PEM certificate signing request for the key, asking for the status-signing EKU (and
    digital signature key usage), for a CA to issue the certificate that delegates signing."""
    key = _read_private_key(private_pem, None)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_name(subject))
        .add_extension(_eku(eku), critical=False)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .sign(key, _hash_for(key))
    )
    return csr.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True, slots=True)
class DevChain:
    """A development CA and a leaf certificate for a signing key (PEM)."""

    ca_cert: bytes
    ca_key: bytes = field(repr=False)
    chain: bytes  # leaf first, then the CA: an issuer's ``chain`` file (x5c / x5chain)


def dev_certificate_chain(
    private_pem: bytes,
    subject: str = "CN=statuslist development status signer",
    eku: str | None = STATUS_SIGNING_EKU,
    days: int = 365,
) -> DevChain:
    """For development and tests: a fresh CA (its own P-256 key) and a leaf certificate for
    ``private_pem`` carrying the status-signing EKU (``eku=None`` leaves it out)."""
    import datetime as dt

    from cryptography.hazmat.primitives import hashes

    key = _read_private_key(private_pem, None)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name.from_rfc4514_string("CN=statuslist development CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if eku is not None:
        leaf = leaf.add_extension(_eku(eku), critical=False)
    leaf_cert = leaf.sign(ca_key, hashes.SHA256())
    pem = serialization.Encoding.PEM
    return DevChain(
        ca_cert=ca.public_bytes(pem),
        ca_key=ca_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        chain=leaf_cert.public_bytes(pem) + ca.public_bytes(pem),
    )
