"""The native token parser through `statuslist.tokens`: `peek_header` (every header rule, no
signature) and `verify_claims` (signature, then typed claims), by families of hostile tokens;
Hypothesis feeds mutated and random bytes and only StatusListError subclasses may come out."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from statuslist import StatusList
from statuslist.exceptions import (
    CriticalExtensionError,
    LimitExceededError,
    SignatureError,
    StatusListError,
    TokenError,
)
from statuslist.tokens import (
    TokenClaims,
    load_key,
    peek_header,
    sign,
    verify,
    verify_claims,
)

PRIVATE = ec.generate_private_key(ec.SECP256R1())
KEY = load_key(
    PRIVATE.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ),
    "k",
)
PUBLIC = KEY.signer.public_key
URI = "https://example.com/statuslists/1"
CWT_TYP = "application/statuslist+cwt"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _sig(message: bytes) -> bytes:
    r, s = decode_dss_signature(PRIVATE.sign(message, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _jwt(header: dict[str, Any], claims: bytes | None = None) -> bytes:
    sl = StatusList(16, 1)
    body = (
        claims
        or json.dumps(
            {"sub": URI, "iat": 1, "exp": 9, "status_list": json.loads(sl.to_json())}
        ).encode()
    )
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(body)}".encode()
    return signing_input + b"." + _b64(_sig(signing_input)).encode()


def _cwt(protected: dict[Any, Any], unprotected: dict[Any, Any] | None = None) -> bytes:
    sl = StatusList(16, 1)
    payload = cbor2.dumps({2: URI, 6: 1, 4: 9, 65533: {"bits": 1, "lst": sl.encode()}})
    p = cbor2.dumps(protected)
    sig = _sig(cbor2.dumps(["Signature1", p, b"", payload]))
    return cbor2.dumps(cbor2.CBORTag(18, [p, unprotected or {4: b"k"}, payload, sig]))


JOSE = {"alg": "ES256", "kid": "k", "typ": "statuslist+jwt"}


def test_peek_header_reads_what_the_signer_wrote() -> None:
    sl = StatusList(8, 1)
    claims = TokenClaims(sub=URI, iat=1, exp=9, ttl=5, status_list=sl)
    for fmt, typ in (("jwt", "statuslist+jwt"), ("cwt", CWT_TYP)):
        token = sign(KEY.signer, claims, fmt)  # type: ignore[arg-type]
        header = peek_header(token, fmt)
        assert (header.alg, header.kid, header.x5c, header.crit, header.typ) == (
            "ES256",
            "k",
            [],
            [],
            typ,
        )
        read = verify_claims(token, fmt, header.alg, PUBLIC)
        assert (read.sub, read.iat, read.exp, read.ttl, read.bits) == (URI, 1, 9, 5, 1)
        assert StatusList.decode(read.lst, read.bits) == sl


@pytest.mark.parametrize(
    "extra",
    [
        {"crit": ["b64"], "b64": False},
        {"crit": ["x"], "x": 1},
        {"crit": ["x"]},
        {"crit": []},
        {"crit": ["alg"]},
        {"crit": "x", "x": 1},
        {"crit": [None]},
    ],
    ids=repr,
)
def test_jws_crit_refused_by_peek_and_verify(extra: dict[str, Any]) -> None:
    token = _jwt({**JOSE, **extra})
    with pytest.raises(CriticalExtensionError):
        peek_header(token, "jwt")
    with pytest.raises(CriticalExtensionError):
        verify_claims(token, "jwt", "ES256", PUBLIC)
    with pytest.raises(CriticalExtensionError):
        verify(token, "jwt", "ES256", PUBLIC)


@pytest.mark.parametrize(
    ("protected", "crit"),
    [({2: [16]}, [16]), ({2: [1, 16]}, [1, 16]), ({2: [33], 33: b"x"}, [33])],
)
def test_cose_crit_of_understood_labels_is_reported(
    protected: dict[int, Any], crit: list[int]
) -> None:
    token = _cwt({1: -7, 16: CWT_TYP, **protected})
    assert peek_header(token, "cwt").crit == crit


@pytest.mark.parametrize(
    "protected",
    [{2: [99], 99: 1}, {2: ["x"], "x": 1}, {2: [99]}, {2: []}, {2: [2]}, {2: 16}],
    ids=repr,
)
def test_cose_crit_refused(protected: dict[Any, Any]) -> None:
    token = _cwt({1: -7, 16: CWT_TYP, **protected})
    with pytest.raises(TokenError, match="crit"):
        peek_header(token, "cwt")
    with pytest.raises(TokenError, match="crit"):
        verify(token, "cwt", "ES256", PUBLIC)


def test_cose_typ_279() -> None:
    token = _cwt({1: -7, 16: 279})
    assert peek_header(token, "cwt").typ == 279
    verify_claims(token, "cwt", "ES256", PUBLIC)
    for bad in (280, "application/cwt", b"x"):
        with pytest.raises(TokenError, match="typ"):
            peek_header(_cwt({1: -7, 16: bad}), "cwt")


@pytest.mark.parametrize(
    "token",
    [
        b"",
        "é".encode(),
        _jwt({**JOSE, "x5c": ["a"]}),
        _jwt({**JOSE, "kid": 1}),
        _jwt({**JOSE, "alg": "none"}),
        _jwt({**JOSE, "x": json.loads("[" * 100 + "]" * 100)}),
        _jwt(JOSE)[:-1] + b"\xff",
        b"a.b.c.d.e",
        b'{"payload":""}',
    ],
)
def test_peek_header_refusals(token: bytes) -> None:
    with pytest.raises(TokenError):
        peek_header(token, "jwt")


def test_huge_headers_are_limited() -> None:
    with pytest.raises(LimitExceededError):
        peek_header(_jwt({**JOSE, "x": "a" * 100_000}), "jwt")
    with pytest.raises(LimitExceededError):
        peek_header(_cwt({1: -7, 16: CWT_TYP, 99: b"a" * 100_000}), "cwt")


def test_verify_takes_any_str_without_a_bare_exception() -> None:
    good = _jwt(JOSE).decode()
    for text in (good + "é", "\udcff" + good, "\ud800", good.replace(".", "\u3002")):
        with pytest.raises(TokenError):
            verify(text, "jwt", "ES256", PUBLIC)


def test_a_wrong_key_is_a_signature_error() -> None:
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    raw = other.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    with pytest.raises(SignatureError):
        verify_claims(_jwt(JOSE), "jwt", "ES256", raw)
    with pytest.raises(SignatureError):
        verify_claims(_jwt(JOSE), "jwt", "ES256", b"\x04" + b"\x00" * 64)


SEEDS = [_jwt(JOSE), _cwt({1: -7, 16: CWT_TYP, 2: [16]}, {4: b"k", 33: [b"a", b"b"]})]


@settings(max_examples=1500, deadline=None)
@given(
    seed=st.sampled_from([0, 1]),
    edits=st.lists(
        st.tuples(st.integers(0, 4096), st.integers(0, 255), st.sampled_from("fitds")),
        min_size=1,
        max_size=6,
    ),
    fmt=st.sampled_from(["jwt", "cwt"]),
)
def test_mutated_tokens_raise_only_typed_errors(
    seed: int, edits: list[tuple[int, int, str]], fmt: str
) -> None:
    data = bytearray(SEEDS[seed])
    for at, value, kind in edits:
        at %= len(data) + 1
        if kind == "f" and at < len(data):
            data[at] ^= 1 << (value % 8)
        elif kind == "i":
            data.insert(at, value)
        elif kind == "t":
            del data[at:]
        elif kind == "d":
            del data[at : at + value % 32 + 1]
        else:
            other = SEEDS[1 - seed]
            data[at:at] = other[value % len(other) :][:16]
    for call in (
        lambda: peek_header(bytes(data), fmt),
        lambda: verify_claims(bytes(data), fmt, "ES256", PUBLIC),
        lambda: verify(bytes(data), fmt, "ES256", PUBLIC),  # type: ignore[arg-type]
    ):
        with contextlib.suppress(StatusListError):
            call()


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=300), fmt=st.sampled_from(["jwt", "cwt"]))
def test_random_bytes_raise_only_typed_errors(data: bytes, fmt: str) -> None:
    with contextlib.suppress(StatusListError):
        peek_header(data, fmt)
