"""Interop with the PyPI package ``token-status-list`` (Daniel Bluhm; module ``token_status_list``).

Their ``BitArray`` packs statuses and compresses them into the ``{"bits", "lst"}`` object of
spec §4.1/§4.2; their ``IssuerStatusList.sign_jwt`` builds a Status List Token around it with a
caller-supplied signer. Checked here, for bits 1, 2, 4 and 8 and sizes up to ~100k entries:

* our ``to_json()`` decodes in their ``BitArray.load`` to the same statuses;
* their ``BitArray.dump()`` decodes in our ``StatusList.from_json`` to the same statuses;
* both produce the same uncompressed byte array, equal to the spec's LSB-first packing;
* a JWT with their header and claims (``sign_jwt_payload``, ES256 via ``cryptography``)
  verifies with our ``verify`` and carries the same statuses. Their one-call ``sign_jwt`` emits a
  malformed signature segment in this version (pinned down by its own test below).

The package targets draft -02; its CWT form (claim 65534 wrapping a CBOR-encoded byte string) is
that of the old draft, so CWT is not compared. The package is installed by the session fixture if
it is missing; a failed installation fails the tests (it never skips them).
"""

from __future__ import annotations

import base64
import importlib
import importlib.metadata
import json
import subprocess
import sys
import time
from types import ModuleType

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from statuslist import StatusList
from statuslist.exceptions import TokenError
from statuslist.tokens import generate_private_key, load_signing_key, verify
from tests.interop._common import (
    BITS,
    assert_same_statuses,
    case_params,
    lsb_first_pack,
    ours_from_statuses,
    ours_statuses,
    packed_bytes,
    process_failure,
    random_statuses,
)

DIST = "token-status-list"
VERSION = "0.1.0a2.dev1"


def _installed_version() -> str | None:
    try:
        return importlib.metadata.version(DIST)
    except importlib.metadata.PackageNotFoundError:
        return None


@pytest.fixture(scope="session")
def tsl() -> ModuleType:
    """The ``token_status_list`` module at the pinned version, pip-installed when missing."""
    if _installed_version() != VERSION:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "-q",
            f"{DIST}=={VERSION}",
        ]
        failure = None
        try:
            subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            failure = process_failure(exc)
        if failure is not None:  # failed outside the except block: no chained traceback
            pytest.fail(
                f"could not install {DIST}=={VERSION} (needed for the interop tests): "
                f"{' '.join(cmd)}\n{failure}",
                pytrace=False,
            )
        importlib.invalidate_caches()
    if _installed_version() != VERSION:
        pytest.fail(f"{DIST} is at {_installed_version()}, expected {VERSION}", pytrace=False)
    return importlib.import_module("token_status_list")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _theirs_from_statuses(tsl: ModuleType, bits: int, statuses: list[int]) -> object:
    arr = tsl.BitArray.with_at_least(bits, len(statuses))
    for i, status in enumerate(statuses):
        arr.set(i, status)
    return arr


def _theirs_statuses(arr: object) -> list[int]:
    return [arr.get(i) for i in range(len(arr))]  # type: ignore[arg-type, attr-defined]


@pytest.mark.parametrize(("bits", "size", "pattern"), case_params())
def test_ours_decodes_in_theirs(tsl: ModuleType, bits: int, size: int, pattern: str) -> None:
    statuses = random_statuses(bits, size, pattern)
    ours = ours_from_statuses(bits, statuses)
    status_list = json.loads(ours.to_json())

    theirs = tsl.BitArray.load(status_list)

    assert theirs.bits == bits
    assert_same_statuses(_theirs_statuses(theirs), statuses, bits, "token-status-list")


@pytest.mark.parametrize(("bits", "size", "pattern"), case_params())
def test_theirs_decodes_in_ours(tsl: ModuleType, bits: int, size: int, pattern: str) -> None:
    statuses = random_statuses(bits, size, pattern)
    status_list = _theirs_from_statuses(tsl, bits, statuses).dump()  # type: ignore[attr-defined]
    assert status_list["bits"] == bits

    ours = StatusList.from_json(status_list)

    assert ours.bits == bits
    assert_same_statuses(ours_statuses(ours), statuses, bits, "statuslist")


@pytest.mark.parametrize("bits", BITS)
def test_same_byte_array_as_spec_packing(tsl: ModuleType, bits: int) -> None:
    """Both sides pack exactly the spec §4.1 bytes (LSB first), zlib-wrapped (inflates as zlib)."""
    statuses = random_statuses(bits, 10_001, "uniform")
    expected = lsb_first_pack(bits, statuses)

    ours = json.loads(ours_from_statuses(bits, statuses).to_json())["lst"]
    theirs = _theirs_from_statuses(tsl, bits, statuses).to_b64()  # type: ignore[attr-defined]

    assert packed_bytes(ours) == expected
    assert packed_bytes(theirs) == expected


class _TheirJwt:
    """A random list in their ``IssuerStatusList`` and an ES256 key (``cryptography``)."""

    def __init__(self, tsl: ModuleType, bits: int) -> None:
        pem = generate_private_key("ES256")
        private = load_pem_private_key(pem, password=None)
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        self._private = private
        self.public_key = load_signing_key(pem, "interop-1").public_key
        self.bits = bits
        self.statuses = random_statuses(bits, 5_000, "uniform")
        arr = _theirs_from_statuses(tsl, bits, self.statuses)
        self.issuer = tsl.IssuerStatusList(arr, tsl.LinearIndexAllocator(len(self.statuses)))
        self.now = int(time.time())
        self.claims = {
            "kid": "interop-1",
            "iss": "https://issuer.example",
            "sub": "https://issuer.example/statuslists/1",
            "iat": self.now,
            "exp": self.now + 3600,
            "ttl": 300,
        }

    def es256(self, payload: bytes) -> bytes:
        """JWS ES256 signature: r || s, 32 bytes each (RFC 7518 §3.4)."""
        r, s = decode_dss_signature(self._private.sign(payload, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def check(self, token: str) -> None:
        header_raw, claims_raw = verify(token, "jwt", "ES256", self.public_key)

        header, claims = json.loads(header_raw), json.loads(claims_raw)
        assert header == {"typ": "statuslist+jwt", "alg": "ES256", "kid": "interop-1"}
        for name in ("iss", "sub", "iat", "exp", "ttl"):
            assert claims[name] == self.claims[name], name
        ours = StatusList.from_json(claims["status_list"])
        assert ours.bits == self.bits
        assert_same_statuses(ours_statuses(ours), self.statuses, self.bits, "statuslist (JWT)")


@pytest.mark.parametrize("bits", BITS)
def test_their_jwt_payload_verifies_in_ours(tsl: ModuleType, bits: int) -> None:
    """Their header and claims (``sign_jwt_payload``), signed and assembled per RFC 7515 §7.1."""
    jwt = _TheirJwt(tsl, bits)
    signing_input = jwt.issuer.sign_jwt_payload(alg="ES256", **jwt.claims)
    token = f"{signing_input.decode()}.{_b64url(jwt.es256(signing_input))}"

    jwt.check(token)


def test_their_sign_jwt_is_malformed_only_in_the_signature_segment(tsl: ModuleType) -> None:
    """Known bug in token-status-list 0.1.0a2.dev1, pinned here so it cannot hide anything else.

    ``IssuerStatusList.signed_jwt_token`` puts the base64url signature *bytes* into an f-string,
    so ``sign_jwt`` returns ``<header>.<payload>.b'<signature>'``: not a compact JWS
    (RFC 7515 §7.1), and our verifier must reject it. With the ``b'…'`` wrapper removed, the same
    token verifies in ours with the same statuses, so that wrapper is the only defect.
    """
    jwt = _TheirJwt(tsl, 2)
    token = jwt.issuer.sign_jwt(jwt.es256, alg="ES256", **jwt.claims)
    header, payload, signature = token.split(".")
    assert signature.startswith("b'") and signature.endswith("'"), (
        f"{DIST} {VERSION} no longer wraps the signature in b'...': the bug is fixed, so this "
        "test should become a plain sign_jwt -> verify check"
    )

    with pytest.raises(TokenError, match="signature is not base64url"):
        verify(token, "jwt", "ES256", jwt.public_key)
    jwt.check(f"{header}.{payload}.{signature[2:-1]}")
