"""The keys and certificates the SDK fuzz target trusts, shared with the seed generator.

The keys, certificate fields and (RFC 6979) signatures are fixed, so the committed seeds stay valid
(the tokens in them are signed by the target): a CA ``ANCHOR`` and a ``LEAF`` it issued,
over the P-256 keys ``CA_KEY`` and ``LEAF_KEY`` (the Web PKI policy the SDK applies to chains
refuses Ed25519 certificates), valid around ``NOW``; ``KEY`` (Ed25519) is trusted as a JWK.
"""

from __future__ import annotations

import base64
import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

#: Within the spec tokens' iat..exp (1686920170..2291720170).
NOW = 1_700_000_000.0
URI = "https://example.com/statuslists/1"
KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = KEY.public_key().public_bytes_raw()
SPEC_JWK = {
    "kty": "EC",
    "crv": "P-256",
    "kid": "12",
    "alg": "ES256",
    "x": "I3HWm_0Ds1dPMI-IWmf4mBmH-YaeAVbPVu7vB27CxXo",
    "y": "6N_d5Elj9bs1htgV3okJKIdbHEpkgTmAluYKJemzn1M",
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


FUZZ_JWK = {"kty": "OKP", "crv": "Ed25519", "kid": "fuzz", "alg": "EdDSA", "x": b64url(PUBLIC)}


CA_KEY = ec.derive_private_key(1001, ec.SECP256R1())
LEAF_KEY = ec.derive_private_key(1002, ec.SECP256R1())


def es256(message: bytes) -> bytes:
    """An ES256 signature by ``LEAF_KEY`` in the JOSE/COSE form (r || s, 32 bytes each)."""
    r, s = decode_dss_signature(LEAF_KEY.sign(message, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _cert(
    subject: str, issuer: str, serial: int, ca: bool, key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    start = dt.datetime.fromtimestamp(NOW - 86_400, dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
    return builder.sign(CA_KEY, hashes.SHA256(), ecdsa_deterministic=True)


ANCHOR = _cert("fuzz anchor", "fuzz anchor", 1, ca=True, key=CA_KEY)
LEAF = _cert("fuzz issuer", "fuzz anchor", 2, ca=False, key=LEAF_KEY)
