"""Status List Tokens (spec §5): signing keys and signed JWT/CWT tokens, built by the native core.

This module is the first slice of the token layer: loading a PEM/PKCS#8 private key, signing one
or many tokens (many at once run in parallel in Rust with the GIL released), and verifying a
token against a known public key. JWKS publishing, JWK key files, ``kid`` thumbprints and the
relying-party SDK are still to come (issue #3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from statuslist._native import SigningKey, sign_tokens, verify_token
from statuslist.codec import StatusList
from statuslist.exceptions import KeyLoadError

__all__ = ["SigningKey", "TokenClaims", "load_signing_key", "sign", "sign_many", "verify"]

Format = Literal["jwt", "cwt"]


def load_signing_key(pem: bytes, kid: str, password: bytes | None = None) -> SigningKey:
    """Loads a PEM private key; the algorithm follows from the key type (P-256 → ES256,
    P-384 → ES384, Ed25519 → EdDSA, RSA → PS256)."""
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError) as exc:
        raise KeyLoadError(f"cannot read the PEM private key: {exc}") from None
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        alg = "ES256"
    elif isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP384R1):
        alg = "ES384"
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        alg = "EdDSA"
    elif isinstance(key, rsa.RSAPrivateKey):
        alg = "PS256"
    else:
        raise KeyLoadError(f"unsupported key type {type(key).__name__}")
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return SigningKey(alg, der, kid)


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


def _job(
    key: SigningKey, fmt: Format, c: TokenClaims
) -> tuple[SigningKey, str, str, int, int | None, int | None, str | None, int, bytes, str | None]:
    sl = c.status_list
    return (key, fmt, c.sub, c.iat, c.exp, c.ttl, c.iss, sl.bits, sl.encode(), c.aggregation_uri)


def sign(key: SigningKey, claims: TokenClaims, fmt: Format = "jwt") -> bytes:
    """One signed token: JWS compact serialisation (ASCII bytes) or a tagged COSE_Sign1."""
    return sign_tokens([_job(key, fmt, claims)])[0]


def sign_many(jobs: list[tuple[SigningKey, TokenClaims, Format]]) -> list[bytes]:
    """Signs all jobs in one native call across cores; all-or-nothing on errors."""
    return sign_tokens([_job(key, fmt, claims) for key, claims, fmt in jobs])


def verify(token: bytes | str, fmt: Format, alg: str, public_key: bytes) -> tuple[bytes, bytes]:
    """Checks form, type, algorithm and signature; returns (header, claims) bytes."""
    raw = token.encode("ascii") if isinstance(token, str) else token
    return verify_token(raw, fmt, alg, public_key)
