"""Interop with the npm package ``@sd-jwt/jwt-status-list`` (openwallet-foundation/sd-jwt-js).

The session fixture copies ``node/package.json``, ``node/package-lock.json`` and
``node/interop.mjs`` into a pytest temp directory and runs ``npm install`` there (nothing is
written into the repository); the tests drive ``interop.mjs`` with one JSON request per call.
Missing ``node``/``npm`` or a failed install FAILS the tests; they are never skipped.

Checked, for bits 1, 2, 4 and 8 and sizes up to ~100k entries:

* our ``to_json()`` decodes in their ``StatusList.decompressStatusList`` to the same statuses;
* their ``compressStatusList`` decodes in our ``StatusList.from_json`` to the same statuses, and
  both sides inflate to the same byte array, equal to the spec's LSB-first packing (§4.1);
* a Status List Token we sign (``sign(..., "jwt")``) is read by their ``getListFromStatusListJWT``
  to the same statuses, its ES256 signature verifies in Node's own ``crypto`` (the package does
  not verify signatures), and its header ``typ`` is the one their ``createHeaderAndPayload`` sets;
* a token built by their ``createHeaderAndPayload`` (signed with ES256 in Node) verifies in our
  ``verify`` with the same statuses, and the same token with a wrong ``typ`` is rejected by ours.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from statuslist import StatusList
from statuslist.exceptions import TokenError
from statuslist.tokens import TokenClaims, generate_private_key, load_signing_key, sign, verify
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

NODE_DIR = Path(__file__).resolve().parent / "node"
PACKAGE = "@sd-jwt/jwt-status-list"
#: The exact version pinned in node/package.json (checked against what npm installed).
VERSION = "0.19.0"
SUB = "https://issuer.example/statuslists/1"


@dataclass(frozen=True)
class NodeHarness:
    node: str
    workdir: Path

    def __call__(self, op: str, **request: Any) -> dict[str, Any]:
        """Runs one ``interop.mjs`` operation; a non-zero exit fails the test with its stderr."""
        proc = subprocess.run(
            [self.node, str(self.workdir / "interop.mjs")],
            input=json.dumps({"op": op, **request}),
            capture_output=True,
            text=True,
            cwd=self.workdir,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            pytest.fail(f"interop.mjs {op} failed ({proc.returncode}):\n{proc.stderr}")
        result: dict[str, Any] = json.loads(proc.stdout)
        return result


def _fail(message: str) -> NoReturn:
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def js(tmp_path_factory: pytest.TempPathFactory) -> NodeHarness:
    """``interop.mjs`` with ``@sd-jwt/jwt-status-list`` installed in a temp directory."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _fail(f"the npm interop tests need node and npm on PATH (node={node}, npm={npm})")
    pinned = json.loads((NODE_DIR / "package.json").read_text())["dependencies"][PACKAGE]
    assert pinned == VERSION, (
        f"node/package.json pins {PACKAGE}@{pinned}, the test expects {VERSION}"
    )

    workdir = tmp_path_factory.mktemp("npm-interop")
    for name in ("package.json", "package-lock.json", "interop.mjs"):
        shutil.copy2(NODE_DIR / name, workdir / name)
    cmd = [npm, "install", "--no-audit", "--no-fund", "--prefix", str(workdir)]
    failure = None
    try:
        subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=300, check=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        failure = process_failure(exc)
    if failure is not None:
        _fail(f"npm install for the interop tests failed: {' '.join(cmd)}\n{failure}")

    installed = workdir / "node_modules" / PACKAGE / "package.json"
    if not installed.is_file():
        _fail(f"npm install did not install {PACKAGE} into {workdir}")
    version = json.loads(installed.read_text())["version"]
    assert version == VERSION, f"npm installed {PACKAGE}@{version}, expected {VERSION}"
    return NodeHarness(node, workdir)


# --- status_list {bits, lst} -----------------------------------------------------------------


@pytest.mark.parametrize(("bits", "size", "pattern"), case_params())
def test_ours_decodes_in_theirs(js: NodeHarness, bits: int, size: int, pattern: str) -> None:
    statuses = random_statuses(bits, size, pattern)
    status_list = json.loads(ours_from_statuses(bits, statuses).to_json())

    theirs = js("decode", status_list=status_list)

    assert theirs["bits"] == bits
    assert_same_statuses(theirs["statuses"], statuses, bits, PACKAGE)


@pytest.mark.parametrize(("bits", "size", "pattern"), case_params())
def test_theirs_decodes_in_ours(js: NodeHarness, bits: int, size: int, pattern: str) -> None:
    statuses = random_statuses(bits, size, pattern)
    status_list = js("encode", bits=bits, statuses=statuses)["status_list"]
    assert status_list["bits"] == bits

    ours = StatusList.from_json(status_list)

    assert ours.bits == bits
    assert_same_statuses(ours_statuses(ours), statuses, bits, "statuslist")


@pytest.mark.parametrize("bits", BITS)
def test_same_byte_array_as_spec_packing(js: NodeHarness, bits: int) -> None:
    """Both sides pack exactly the spec §4.1 bytes (LSB first), zlib-wrapped (inflates as zlib)."""
    statuses = random_statuses(bits, 10_001, "uniform")
    expected = lsb_first_pack(bits, statuses)

    ours = json.loads(ours_from_statuses(bits, statuses).to_json())["lst"]
    theirs = js("encode", bits=bits, statuses=statuses)["status_list"]["lst"]

    assert packed_bytes(ours) == expected
    assert packed_bytes(theirs) == expected


# --- Status List Tokens (JWT) ----------------------------------------------------------------


@dataclass(frozen=True)
class Issuer:
    pem: bytes
    kid: str

    @property
    def public_key(self) -> bytes:
        """Uncompressed P-256 point (0x04 || x || y), as our ``verify`` takes it."""
        return load_signing_key(self.pem, self.kid).public_key

    @property
    def public_jwk(self) -> dict[str, str]:
        point = self.public_key
        assert len(point) == 65 and point[0] == 4

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        return {"kty": "EC", "crv": "P-256", "x": b64(point[1:33]), "y": b64(point[33:])}


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer(generate_private_key("ES256"), "interop-1")


@pytest.mark.parametrize("bits", BITS)
def test_our_jwt_reads_in_theirs(js: NodeHarness, issuer: Issuer, bits: int) -> None:
    statuses = random_statuses(bits, 20_000, "uniform")
    now = int(time.time())
    claims = TokenClaims(
        sub=SUB,
        iat=now,
        exp=now + 3600,
        ttl=300,
        status_list=ours_from_statuses(bits, statuses),
    )
    token = sign(load_signing_key(issuer.pem, issuer.kid), claims, "jwt").decode("ascii")

    theirs = js("read_jwt", jwt=token, public_jwk=issuer.public_jwk)

    assert theirs["signature_valid"], "Node crypto rejects the ES256 signature of our JWT"
    assert theirs["header"]["typ"] == "statuslist+jwt"
    assert theirs["header"]["alg"] == "ES256"
    assert theirs["header"]["kid"] == issuer.kid
    payload = theirs["payload"]
    assert (payload["sub"], payload["iat"], payload["exp"], payload["ttl"]) == (
        SUB,
        now,
        now + 3600,
        300,
    )
    assert theirs["bits"] == bits
    assert_same_statuses(theirs["statuses"], statuses, bits, f"{PACKAGE} (JWT)")


def _their_jwt(js: NodeHarness, issuer: Issuer, bits: int, **extra: Any) -> tuple[str, list[int]]:
    statuses = random_statuses(bits, 20_000, "sparse")
    now = int(time.time())
    token = js(
        "make_jwt",
        bits=bits,
        statuses=statuses,
        payload={"iss": "https://issuer.example", "sub": SUB, "iat": now, "exp": now + 3600},
        header={"alg": "ES256", "kid": issuer.kid},
        private_key_pem=issuer.pem.decode(),
        **extra,
    )["jwt"]
    return token, statuses


@pytest.mark.parametrize("bits", BITS)
def test_their_jwt_verifies_in_ours(js: NodeHarness, issuer: Issuer, bits: int) -> None:
    token, statuses = _their_jwt(js, issuer, bits)

    header_raw, claims_raw = verify(token, "jwt", "ES256", issuer.public_key)

    header, claims = json.loads(header_raw), json.loads(claims_raw)
    # Their createHeaderAndPayload sets the typ the spec requires (§5.1), as ours does.
    assert header == {"alg": "ES256", "kid": issuer.kid, "typ": "statuslist+jwt"}
    assert claims["sub"] == SUB
    ours = StatusList.from_json(claims["status_list"])
    assert ours.bits == bits
    assert_same_statuses(ours_statuses(ours), statuses, bits, "statuslist (JWT)")


def test_their_jwt_with_wrong_typ_is_rejected_by_ours(js: NodeHarness, issuer: Issuer) -> None:
    """The same token as above, validly signed but typed ``JWT``: spec §5.1 requires the typ."""
    token, _ = _their_jwt(js, issuer, 1, typ="JWT")

    with pytest.raises(TokenError, match="typ"):
        verify(token, "jwt", "ES256", issuer.public_key)
