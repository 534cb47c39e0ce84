"""Status List Tokens: spec examples verify; our tokens verify with independent implementations."""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

from statuslist import StatusList
from statuslist.exceptions import KeyLoadError, SignatureError, TokenError
from statuslist.tokens import TokenClaims, load_signing_key, sign, sign_many, verify

URI = "https://example.com/statuslists/1"


def _b64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _pem(key: Any) -> bytes:
    return key.private_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


KEYS = {
    "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ES384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "EdDSA": ed25519.Ed25519PrivateKey.generate,
    "PS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
}


def _claims() -> TokenClaims:
    sl = StatusList(1000, 2)
    sl.set_many([3, 500, 999], [1, 2, 1])
    return TokenClaims(sub=URI, iat=1_700_000_000, exp=2_000_000_000, ttl=300, status_list=sl)


def test_spec_examples_verify(vectors: dict[str, Any]) -> None:
    t = vectors["tokens"]
    jwk = t["public_jwk"]
    point = b"\x04" + _b64(jwk["x"]) + _b64(jwk["y"])
    header, claims = verify(t["status_list_jwt"], "jwt", "ES256", point)
    assert json.loads(header)["typ"] == "statuslist+jwt"
    body = json.loads(claims)
    assert body["sub"] == URI
    assert StatusList.from_json(body["status_list"])[0] == 1
    _, cwt_claims = verify(bytes.fromhex(t["status_list_cwt_hex"]), "cwt", "ES256", point)
    decoded = cbor2.loads(cwt_claims)
    assert decoded[2] == URI and decoded[65534] == 43200
    assert StatusList.from_cbor(cbor2.dumps(decoded[65533]))[0] == 1


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_jwt_verifies_with_joserfc(alg: str) -> None:
    private = KEYS[alg]()
    key = load_signing_key(_pem(private), kid="k-1")
    assert key.alg == alg
    token = sign(key, _claims(), "jwt").decode()
    imported = {"ES256": ECKey, "ES384": ECKey, "EdDSA": OKPKey, "PS256": RSAKey}[alg]
    public = imported.import_key(private.public_key())  # type: ignore[attr-defined]
    decoded = jwt.decode(token, public, algorithms=[alg])
    assert decoded.header == {"alg": alg, "kid": "k-1", "typ": "statuslist+jwt"}
    assert decoded.claims["sub"] == URI and decoded.claims["ttl"] == 300
    assert decoded.claims["exp"] == 2_000_000_000 and decoded.claims["iat"] == 1_700_000_000
    sl = StatusList.from_json(decoded.claims["status_list"])
    assert (sl[3], sl[500], sl[999], sl.bits) == (1, 2, 1, 2)


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_cwt_verifies_with_cryptography_and_cbor2(alg: str) -> None:
    private = KEYS[alg]()
    key = load_signing_key(_pem(private), kid="k-1")
    token = sign(key, _claims(), "cwt")
    outer = cbor2.loads(token)
    assert isinstance(outer, cbor2.CBORTag) and outer.tag == 18
    protected, unprotected, payload, signature = outer.value
    cose_alg = {"ES256": -7, "ES384": -35, "EdDSA": -8, "PS256": -37}[alg]
    assert cbor2.loads(protected) == {1: cose_alg, 16: "application/statuslist+cwt"}
    assert unprotected == {4: b"k-1"}
    to_sign = cbor2.dumps(["Signature1", protected, b"", payload])
    public = private.public_key()
    if alg.startswith("ES"):
        half = len(signature) // 2
        der = encode_dss_signature(
            int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
        )
        digest = hashes.SHA256() if alg == "ES256" else hashes.SHA384()
        public.verify(der, to_sign, ec.ECDSA(digest))
    elif alg == "EdDSA":
        public.verify(signature, to_sign)
    else:
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        public.verify(signature, to_sign, pss, hashes.SHA256())
    claims = cbor2.loads(payload)
    assert claims[2] == URI and claims[6] == 1_700_000_000 and claims[4] == 2_000_000_000
    assert claims[65534] == 300
    assert zlib.decompress(claims[65533]["lst"]) == _claims().status_list.to_bytes()


def test_sign_many_in_one_call() -> None:
    key = load_signing_key(_pem(KEYS["ES256"]()), kid="bulk")
    jobs = [(key, _claims(), "jwt" if i % 2 else "cwt") for i in range(200)]
    tokens = sign_many(jobs)  # type: ignore[arg-type]
    assert len(tokens) == 200
    for i, t in enumerate(tokens):
        verify(t, "jwt" if i % 2 else "cwt", "ES256", key.public_key)


def _forge(header: dict[str, Any], claims: bytes, sig: bytes = b"x") -> str:
    enc = base64.urlsafe_b64encode
    parts = [enc(json.dumps(header).encode()), enc(claims), enc(sig)]
    return ".".join(p.decode().rstrip("=") for p in parts)


def test_verification_rejects_bad_tokens() -> None:
    key = load_signing_key(_pem(KEYS["ES256"]()), kid="k")
    other = load_signing_key(_pem(KEYS["ES256"]()), kid="k")
    good = sign(key, _claims(), "jwt").decode()
    h, c, s = good.split(".")
    with pytest.raises(SignatureError):
        verify(good, "jwt", "ES256", other.public_key)
    # Change one character inside the signature (always a different value).
    bad = s[:10] + ("B" if s[10] == "A" else "A") + s[11:]
    with pytest.raises(SignatureError):
        verify(f"{h}.{c}.{bad}", "jwt", "ES256", key.public_key)
    for none in ("none", "None", "NONE"):
        with pytest.raises(TokenError, match="never accepted"):
            verify(_forge({"alg": none, "typ": "statuslist+jwt"}, b"{}"), "jwt", "ES256", b"")
    with pytest.raises(TokenError, match="not allowed"):
        verify(_forge({"alg": "HS256", "typ": "statuslist+jwt"}, b"{}"), "jwt", "ES256", b"")
    with pytest.raises(TokenError, match="typ"):
        verify(_forge({"alg": "ES256", "typ": "JWT"}, b"{}"), "jwt", "ES256", key.public_key)
    with pytest.raises(TokenError, match="JWE"):
        verify("a.b.c.d.e", "jwt", "ES256", key.public_key)
    with pytest.raises(TokenError, match="JSON serialisation"):
        verify('{"payload":"e30","signatures":[]}', "jwt", "ES256", key.public_key)
    cwt = sign(key, _claims(), "cwt")
    with pytest.raises(TokenError, match="61"):
        verify(cbor2.dumps(cbor2.CBORTag(61, cbor2.loads(cwt))), "cwt", "ES256", key.public_key)
    with pytest.raises(TokenError, match="tag"):
        verify(cbor2.dumps(cbor2.loads(cwt).value), "cwt", "ES256", key.public_key)
    with pytest.raises(SignatureError):
        verify(cwt[:-1] + bytes([cwt[-1] ^ 1]), "cwt", "ES256", key.public_key)


def test_key_and_claim_errors() -> None:
    with pytest.raises(KeyLoadError):
        load_signing_key(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "k")
    key = load_signing_key(_pem(KEYS["EdDSA"]()), kid="k")
    bad = TokenClaims(sub=URI, iat=10, exp=10, status_list=StatusList(8))
    with pytest.raises(ValueError, match="exp must be after iat"):
        sign(key, bad)
    with pytest.raises(ValueError, match="ttl must be a positive"):
        sign(key, TokenClaims(sub=URI, iat=10, ttl=0, status_list=StatusList(8)))
