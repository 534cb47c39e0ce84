"""Atheris target: the relying-party SDK's handling of a fetched Status List Token.

``_validate_steps`` (shared by ``StatusListClient`` and ``SyncStatusListClient``) is what runs on
the bytes an HTTP answer brought (after the size cap): envelope and header checks, key choice
(JWKs, or an ``x5c``/``x5chain`` chain against a trust anchor), signature, claims, time, ``sub``
and the ``lst`` inflation. Every refusal must be
a :class:`~statuslist.exceptions.StatusListError` subclass; anything else is a finding.

Input byte 0 picks the mode:

- 0 / 1: the rest is the response body, served as ``application/statuslist+jwt`` / ``+cwt``;
  the client trusts the spec examples' key, so the committed spec tokens verify;
- 2: the rest is ``header 0x00 claims``, signed here as a JWS with the harness's Ed25519 key
  (trusted as kid ``fuzz``), so the fuzzer reaches everything past the signature check;
- 3: bytes 1-2 are n (little-endian), then n bytes of COSE protected header, then the claims;
  signed here as a ``COSE_Sign1`` (unprotected ``{4: b"fuzz"}``);
- 4 / 5: as 2 / 3, signed ES256 by the key of ``LEAF``, a certificate under the trusted
  ``ANCHOR`` (harness_keys.py): with an ``x5c`` / ``x5chain`` naming it, the chain path runs.

Run: ``python3 tests/fuzz/fuzz_sdk.py [libFuzzer flags] [corpus dirs]`` (rust/fuzz/README.md).
"""

from __future__ import annotations

import sys
from typing import Any

import atheris

with atheris.instrument_imports(include=["statuslist"]):
    import cbor2

    from statuslist.client import StatusListClient
    from statuslist.exceptions import StatusListError
    from tests.fuzz.harness_keys import ANCHOR, FUZZ_JWK, KEY, NOW, SPEC_JWK, URI, b64url, es256

CLIENT = StatusListClient(
    trusted_jwks=[SPEC_JWK, FUZZ_JWK],
    trust_anchors=[ANCHOR],
    max_bytes=1 << 16,
    clock=lambda: NOW,
)
TYPES = ("application/statuslist+jwt", "application/statuslist+cwt")


def _jws(header: bytes, claims: bytes, leaf: bool) -> bytes:
    signing_input = f"{b64url(header)}.{b64url(claims)}".encode()
    signature = es256(signing_input) if leaf else KEY.sign(signing_input)
    return signing_input + b"." + b64url(signature).encode()


def _cose(protected: bytes, claims: bytes, leaf: bool) -> bytes:
    tbs = cbor2.dumps(["Signature1", protected, b"", claims])
    signature = es256(tbs) if leaf else KEY.sign(tbs)
    return cbor2.dumps(cbor2.CBORTag(18, [protected, {4: b"fuzz"}, claims, signature]))


def _run(steps: Any) -> Any:
    """Runs the validation steps without a transport: with every key given, they must never ask
    for a GET."""
    try:
        wanted = next(steps)
    except StopIteration as done:
        return done.value
    steps.close()
    raise AssertionError(f"validation asked for a GET ({wanted}) although every key was given")


def one_input(data: bytes) -> None:
    if not data:
        return
    mode, rest = data[0] % 6, data[1:]
    leaf = mode >= 4
    if mode in (2, 4):
        header, _, claims = rest.partition(b"\x00")
        body = _jws(header, claims, leaf)
    elif mode in (3, 5):
        if len(rest) < 2:
            return
        n = min(int.from_bytes(rest[:2], "little"), len(rest) - 2)
        body = _cose(rest[2 : 2 + n], rest[2 + n :], leaf)
    else:
        body = rest
    try:
        entry = _run(CLIENT._validate_steps(URI, body, TYPES[mode % 2], None, NOW))
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
