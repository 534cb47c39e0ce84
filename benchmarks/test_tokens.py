"""Token signing benchmarks (issue #3): bulk ES256 signing of small Status List Tokens in one
native call, against Python `joserfc` signing the same payloads, and one 10M-entry list's token.
"""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.jwk import ECKey

from benchmarks.conftest import raw_list
from statuslist import StatusList
from statuslist._native import sign_tokens
from statuslist.tokens import TokenClaims, load_signing_key, sign_many

N_TOKENS = 10_000


@pytest.fixture(scope="module")
def private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _small_lists() -> list[StatusList]:
    lists = []
    for i in range(N_TOKENS):
        sl = StatusList(1024, 1)
        sl[i % 1024] = 1
        lists.append(sl)
    return lists


def test_sign_es256_bulk_statuslist(
    benchmark: pytest.FixtureRequest, private_key: ec.EllipticCurvePrivateKey
) -> None:
    """10,000 tokens in one call; divide by the median for tokens/s (2 cores)."""
    benchmark.group = f"sign {N_TOKENS:,} small ES256 JWTs"
    key = load_signing_key(_pem(private_key), kid="bench")
    jobs = [
        (
            key,
            "jwt",
            f"https://example.com/statuslists/{i}",
            1_700_000_000,
            1_700_086_400,
            300,
            None,
            1,
            sl.encode(),
            None,
        )
        for i, sl in enumerate(_small_lists())
    ]
    tokens = benchmark.pedantic(sign_tokens, args=(jobs,), rounds=10)
    assert len(tokens) == N_TOKENS
    benchmark.extra_info["tokens"] = N_TOKENS


def test_sign_es256_joserfc(
    benchmark: pytest.FixtureRequest, private_key: ec.EllipticCurvePrivateKey
) -> None:
    benchmark.group = f"sign {N_TOKENS:,} small ES256 JWTs"
    key = ECKey.import_key(private_key)
    header = {"alg": "ES256", "kid": "bench", "typ": "statuslist+jwt"}
    payloads = [
        {
            "sub": f"https://example.com/statuslists/{i}",
            "iat": 1_700_000_000,
            "exp": 1_700_086_400,
            "ttl": 300,
            "status_list": json.loads(sl.to_json()),
        }
        for i, sl in enumerate(_small_lists())
    ]

    def run() -> list[str]:
        return [jwt.encode(header, p, key) for p in payloads]

    tokens = benchmark.pedantic(run, rounds=3)
    assert len(tokens) == N_TOKENS
    benchmark.extra_info["tokens"] = N_TOKENS


def test_sign_10m_list_token(
    benchmark: pytest.FixtureRequest, private_key: ec.EllipticCurvePrivateKey
) -> None:
    """Encode + sign one token for a 10M-entry list (hashing the ~180 KB payload)."""
    benchmark.group = "sign one 10,000,000-entry list token"
    key = load_signing_key(_pem(private_key), kid="bench")
    sl = StatusList.from_bytes(raw_list(10_000_000), 1)
    claims = TokenClaims(sub="https://example.com/statuslists/big", iat=1, exp=2, status_list=sl)
    sl.encode()
    tokens = benchmark.pedantic(lambda: sign_many([(key, claims, "jwt")]), rounds=20)
    benchmark.extra_info["token_bytes"] = len(tokens[0])
