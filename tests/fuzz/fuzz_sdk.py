"""Atheris target: the relying-party SDK's handling of a fetched Status List Token.

``StatusListClient._validate`` is what runs on the bytes an HTTP answer brought (after the size
cap): envelope and header checks, key choice (JWKs, or an ``x5c``/``x5chain`` chain against a
trust anchor), signature, claims, time, ``sub`` and the ``lst`` inflation. Every refusal must be
a :class:`~statuslist.exceptions.StatusListError` subclass; anything else is a finding.

Input byte 0 picks the mode:

- 0 / 1: the rest is the response body, served as ``application/statuslist+jwt`` / ``+cwt``;
  the client trusts the spec examples' key, so the committed spec tokens verify;
- 2: the rest is ``header 0x00 claims``, signed here as a JWS with the harness's Ed25519 key
  (trusted, kid ``fuzz``), so the fuzzer reaches everything past the signature check;
- 3: byte 1 is n, then n bytes of COSE protected header, then the claims; signed here as a
  ``COSE_Sign1`` (unprotected ``{4: b"fuzz"}``).

Run: ``python3 tests/fuzz/fuzz_sdk.py [libFuzzer flags] [corpus dirs]`` (rust/fuzz/README.md).
"""

from __future__ import annotations

import base64
import datetime as dt
import sys
from typing import Any

import atheris

with atheris.instrument_imports(include=["statuslist"]):
    import cbor2
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.x509.oid import NameOID

    from statuslist.client import StatusListClient
    from statuslist.exceptions import StatusListError

#: Within the spec tokens' iat..exp (1686920170..2291720170).
NOW = 1_700_000_000.0
URI = "https://example.com/statuslists/1"
SPEC_JWK = {
    "kty": "EC",
    "crv": "P-256",
    "kid": "12",
    "alg": "ES256",
    "x": "I3HWm_0Ds1dPMI-IWmf4mBmH-YaeAVbPVu7vB27CxXo",
    "y": "6N_d5Elj9bs1htgV3okJKIdbHEpkgTmAluYKJemzn1M",
}
KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _anchor() -> x509.Certificate:
    """A self-signed CA over the harness key: chains in x5c/x5chain are checked against it."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz anchor")])
    start = dt.datetime.fromtimestamp(NOW - 86_400, dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(KEY.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(KEY, None)  # Ed25519 signs without a separate hash
    )


PUBLIC = KEY.public_key().public_bytes_raw()
CLIENT = StatusListClient(
    trusted_jwks=[
        SPEC_JWK,
        {"kty": "OKP", "crv": "Ed25519", "kid": "fuzz", "alg": "EdDSA", "x": _b64(PUBLIC)},
    ],
    trust_anchors=[_anchor()],
    max_bytes=1 << 16,
    clock=lambda: NOW,
)
TYPES = ("application/statuslist+jwt", "application/statuslist+cwt")


def _jws(header: bytes, claims: bytes) -> bytes:
    signing_input = f"{_b64(header)}.{_b64(claims)}".encode()
    return signing_input + b"." + _b64(KEY.sign(signing_input)).encode()


def _cose(protected: bytes, claims: bytes) -> bytes:
    tbs = cbor2.dumps(["Signature1", protected, b"", claims])
    return cbor2.dumps(cbor2.CBORTag(18, [protected, {4: b"fuzz"}, claims, KEY.sign(tbs)]))


def _run(coro: Any) -> Any:
    """Drives the coroutine without an event loop: with JWKs given it must never wait on I/O."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise AssertionError("_validate waited on I/O although every key was given")


def one_input(data: bytes) -> None:
    if not data:
        return
    mode, rest = data[0] % 4, data[1:]
    if mode == 2:
        header, _, claims = rest.partition(b"\x00")
        body = _jws(header, claims)
    elif mode == 3:
        if not rest:
            return
        n = min(rest[0], len(rest) - 1)
        body = _cose(rest[1 : 1 + n], rest[1 + n :])
    else:
        body = rest
    try:
        entry = _run(CLIENT._validate(URI, body, TYPES[mode % 2], None, NOW))
    except StatusListError:
        return
    # Accepted: the policy checks held and the list decoded within the cap.
    assert entry.iat <= NOW + 60 < entry.exp + 120
    assert len(entry.status_list.to_bytes()) <= 1 << 16


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
