"""Tokens carrying an X.509 chain (JWT x5c, COSE x5chain) verify against a trust anchor only."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from statuslist import StatusList
from statuslist._native import SigningKey
from statuslist.client import StatusListClient
from statuslist.exceptions import StatusListError, TokenError, UnknownKeyError
from statuslist.tokens import TokenClaims, jwt_status_claim, load_key, sign

NOW = dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("status ca"))
        .issuer_name(_name("status ca"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf_pem_and_chain(ca_key: ec.EllipticCurvePrivateKey) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("status signer"))
        .issuer_name(_name("status ca"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem, cert.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize("fmt", ["jwt", "cwt"])
def test_chain_to_anchor(fmt: str) -> None:
    ca_key, ca = _ca()
    _, stranger = _ca()
    pem, chain = _leaf_pem_and_chain(ca_key)
    key = load_key(pem, "leaf", chain_pem=chain)
    ctype = f"application/statuslist+{fmt}"

    async def main() -> None:
        tokens: dict[str, bytes] = {}

        async def serve(_: web.Request) -> web.Response:
            return web.Response(body=tokens["t"], content_type=ctype)

        app = web.Application()
        app.router.add_get("/l", serve)
        async with TestServer(app, host="127.0.0.1") as server:
            uri = str(server.make_url("/l"))
            sl = StatusList(16, 1)
            sl[3] = 1
            now = int(NOW.timestamp())
            claims = TokenClaims(sub=uri, iat=now, exp=now + 600, ttl=60, status_list=sl)
            tokens["t"] = sign(key.signer, claims, fmt)  # type: ignore[arg-type]
            async with StatusListClient(trust_anchors=[ca]) as client:
                assert (await client.status(jwt_status_claim(3, uri))).status == 1
            async with StatusListClient(trust_anchors=[stranger]) as client:
                with pytest.raises(UnknownKeyError, match="does not validate"):
                    await client.status(jwt_status_claim(3, uri))

    asyncio.run(main())


def _mutations(der: bytes) -> list[bytes]:
    """Damaged copies of a certificate: truncations, and byte changes across its structure."""
    out = [der[:n] for n in (0, 1, 10, len(der) // 2, len(der) - 1)]
    for at in [*range(0, 40), *range(40, len(der), 23)]:
        for value in (0x00, 0x32, 0xFF):
            if der[at] != value:
                out.append(der[:at] + bytes([value]) + der[at + 1 :])
    return out


@pytest.mark.parametrize("fmt", ["jwt", "cwt"])
def test_damaged_chain_certificates_are_typed_errors(fmt: str) -> None:
    """A chain certificate the library refuses, e.g. a version byte of 50 (found by
    tests/fuzz/fuzz_sdk.py: cryptography's InvalidVersion is no ValueError and escaped), is a
    typed refusal, for each damage, before or after the chain is checked."""
    ca_key, ca = _ca()
    pem, chain = _leaf_pem_and_chain(ca_key)
    good = load_key(pem, "leaf", chain_pem=chain)
    leaf = good.chain[0].public_bytes(serialization.Encoding.DER)
    der = serialization.load_pem_private_key(pem, None).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ctype = f"application/statuslist+{fmt}"
    damaged = _mutations(leaf)
    version = leaf.index(bytes.fromhex("a003020102"))  # [0] EXPLICIT INTEGER 2 (v3)
    damaged.append(leaf[: version + 4] + b"\x32" + leaf[version + 5 :])
    # An unknown signature algorithm in the signed part and a subject string of ASN.1 tag 11:
    # cryptography 48's verifier raised KeyError: 11 rendering the subject into its error
    # message (found by tests/fuzz/fuzz_sdk.py).
    oid, cn = bytes.fromhex("2a8648ce3d040302"), b"\x0c\x0dstatus signer"
    at = leaf.index(oid)
    odd = leaf[: at + 3] + b"\x23" + leaf[at + 4 :]
    damaged.append(odd.replace(cn, b"\x0b" + cn[1:]))

    async def main() -> None:
        tokens: dict[str, bytes] = {}

        async def serve(_: web.Request) -> web.Response:
            return web.Response(body=tokens["t"], content_type=ctype)

        app = web.Application()
        app.router.add_get("/l", serve)
        async with TestServer(app, host="127.0.0.1") as server:
            uri = str(server.make_url("/l"))
            now = int(NOW.timestamp())
            claims = TokenClaims(sub=uri, iat=now, exp=now + 600, status_list=StatusList(16, 1))
            kinds: set[type] = set()
            async with StatusListClient(trust_anchors=[ca], cache_size=0) as client:
                for cert in damaged:
                    tokens["t"] = sign(SigningKey("ES256", der, "leaf", [cert]), claims, fmt)  # type: ignore[arg-type]
                    try:
                        await client.status(jwt_status_claim(3, uri))
                    except StatusListError as exc:
                        kinds.add(type(exc))
            # The version-50 certificate is refused as not DER, the rest by the chain check.
            assert TokenError in kinds and UnknownKeyError in kinds, kinds

    asyncio.run(main())
