"""Writes the committed seed corpora of the fuzz targets (rust/fuzz/seeds/*, tests/fuzz/seeds/*).

Seeds are small valid inputs in each target's framing (see the target's docstring): the spec
examples (``shared/spec/vectors.json`` beside the checkout, as for the conformance tests) and a few
generated lists and tokens. Run from the repository root: ``python3 -m tests.fuzz.make_seeds``;
the output is deterministic.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import zlib
from pathlib import Path

import cbor2
from cryptography.hazmat.primitives.serialization import Encoding

from tests.conftest import load_vectors
from tests.fuzz.harness_keys import LEAF

ROOT = Path(__file__).resolve().parents[2]
RUST = ROOT / "rust" / "fuzz" / "seeds"
PY = ROOT / "tests" / "fuzz" / "seeds"
VECTORS = load_vectors()
#: Seeds stay small: the large spec lists are skipped past this many compressed bytes.
MAX_SEED = 2048


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _write(folder: Path, seeds: list[bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        if not old.name.startswith("regression-"):  # crash inputs of past findings stay
            old.unlink()
    for seed in seeds:
        if len(seed) <= MAX_SEED + 64:
            (folder / hashlib.sha1(seed).hexdigest()).write_bytes(seed)  # noqa: S324


def _lists() -> list[tuple[int, bytes]]:
    """(bits, zlib stream) of the spec lists and a few generated ones."""
    out = [(v["bits"], _b64(v["json"]["lst"])) for v in VECTORS["lists"]]
    for bits, raw in [(1, bytes(64)), (2, bytes(range(256))), (8, b"\x01\x00\x02" * 100)]:
        out.append((bits, zlib.compress(raw, 9)))
    out.append((1, zlib.compress(bytes(100_000), 9)))  # a small bomb: 100 kB from ~100 bytes
    return [(b, z) for b, z in out if len(z) <= MAX_SEED]


def _claims_json(lst: bytes, bits: int) -> bytes:
    return json.dumps(
        {
            "exp": 2291720170,
            "iat": 1686920170,
            "status_list": {"bits": bits, "lst": _b64e(lst)},
            "sub": "https://example.com/statuslists/1",
            "ttl": 43200,
        },
        separators=(",", ":"),
    ).encode()


def _claims_cbor(lst: bytes, bits: int) -> bytes:
    return cbor2.dumps(
        {
            2: "https://example.com/statuslists/1",
            6: 1686920170,
            4: 2291720170,
            65534: 43200,
            65533: {"bits": bits, "lst": lst},
        }
    )


def _sign_frame(iat: int, exp: int | None, ttl: int | None, sub: str, tail: bytes) -> bytes:
    """The sign_jwt / sign_cwt mode framing: 3 u64s, a bits/iss byte, a flags byte, sub, 0, tail."""
    flags = (1 if exp is not None else 0) | (2 if ttl is not None else 0)
    return (
        struct.pack("<QQQ", iat, exp or 0, ttl or 0)
        + bytes([0x00, flags])
        + sub.encode()
        + b"\x00"
        + tail
    )


def main() -> None:
    lists = _lists()
    small = [(b, z) for b, z in lists if len(z) < 256]
    limits = [b"\xff\xff", struct.pack("<H", 1000), struct.pack("<H", 2)]
    bits_sel = {1: 0, 2: 1, 4: 2, 8: 3}
    _write(
        RUST / "zlib_inflate",
        [lim + bytes([bits_sel[b]]) + z for b, z in lists for lim in limits[:1]]
        + [limits[1] + b"\x00" + lists[-1][1], limits[2] + b"\x00" + lists[0][1]],
    )
    _write(
        RUST / "list_encode",
        [
            b"\x00\x00\x00\x00" + bytes.fromhex(v["byte_array_hex"])
            for v in VECTORS["lists"]
            if v["byte_array_hex"]
        ]
        + [b"\x03\x05\x10\x00" + bytes(range(200)), b"\x00\xf2\x03\x00" + bytes(300)]
        + [b"\x01\xfa\x40\x00" + bytes(range(0, 250, 3))],  # 80 kB: two chunks, 64 updates
    )
    objects = [v["json"] for v in VECTORS["lists"]] + [
        {"bits": 1, "lst": "eNrbuRgAAhcBXQ", "aggregation_uri": "https://example.com/agg"}
    ]
    _write(
        RUST / "object_json",
        [json.dumps(o, separators=(",", ":")).encode() for o in objects if len(o["lst"]) < 400],
    )
    _write(
        RUST / "object_cbor",
        [bytes.fromhex(v["cbor_hex"]) for v in VECTORS["lists"] if len(v["cbor_hex"]) < 800]
        + [cbor2.dumps({"bits": 2, "lst": small[1][1], "aggregation_uri": "https://e.x/a"})],
    )

    tokens = VECTORS["tokens"]
    jwt = tokens["status_list_jwt"].encode()
    cwt = bytes.fromhex(tokens["status_list_cwt_hex"])
    jwt_header = b'{"alg":"EdDSA","kid":"fuzz","typ":"statuslist+jwt"}'
    cwt_protected = cbor2.dumps({1: -8, 16: "application/statuslist+cwt"})
    sign = [
        _sign_frame(
            1686920170, 2291720170, 43200, "https://example.com/statuslists/1", b"\xb9\xa3"
        ),
        _sign_frame(5, None, None, "urn:x", bytes(40)),
    ]
    sign[1] = sign[1][:24] + bytes([0xC1]) + sign[1][25:]  # bits 8 and an iss
    _write(
        RUST / "token_jwt",
        [b"\x00" + jwt, b"\x00" + jwt.rsplit(b".", 1)[0] + b"."]
        + [b"\x01" + jwt_header + b"\x00" + _claims_json(z, b) for b, z in small[:2]]
        + [b"\x02" + s for s in sign],
    )
    _write(
        RUST / "token_cwt",
        [b"\x00" + cwt, b"\x00" + cwt[:-3]]
        + [
            b"\x01" + bytes([len(cwt_protected)]) + cwt_protected + _claims_cbor(z, b)
            for b, z in small[:2]
        ]
        + [b"\x02" + s for s in sign],
    )

    # Python targets (tests/fuzz/fuzz_sdk.py, fuzz_commands.py).
    leaf = LEAF.public_bytes(Encoding.DER)
    x5c_header = json.dumps(
        {"alg": "ES256", "typ": "statuslist+jwt", "x5c": [base64.b64encode(leaf).decode()]},
        separators=(",", ":"),
    ).encode()
    x5_protected = cbor2.dumps({1: -7, 16: "application/statuslist+cwt", 33: leaf})
    x5_claims = _claims_cbor(small[0][1], small[0][0])
    at = leaf.index(bytes.fromhex("a003020102")) + 4  # [0] EXPLICIT INTEGER 2 (v3)
    bad_version = leaf[:at] + b"\x32" + leaf[at + 1 :]
    bad_version_header = x5c_header.replace(base64.b64encode(leaf), base64.b64encode(bad_version))
    _write(
        PY / "sdk",
        [b"\x00" + jwt, b"\x01" + cwt]
        + [b"\x02" + jwt_header + b"\x00" + _claims_json(z, b) for b, z in small[:2]]
        + [
            b"\x03" + struct.pack("<H", len(cwt_protected)) + cwt_protected + _claims_cbor(z, b)
            for b, z in small[:2]
        ]
        # The harness key behind a certificate chain to the trusted anchor (x5c / x5chain).
        + [b"\x04" + x5c_header + b"\x00" + _claims_json(small[0][1], small[0][0])]
        + [b"\x05" + struct.pack("<H", len(x5_protected)) + x5_protected + x5_claims]
        # A certificate of X.509 version 50: cryptography's InvalidVersion once escaped the SDK.
        + [b"\x04" + bad_version_header + b"\x00" + _claims_json(small[0][1], small[0][0])],
    )
    bodies = [
        (0, b'{"bits":2,"size":1000,"ttl":300,"formats":["jwt","cwt"],"decoys":3}'),
        (1, b'{"count":10,"list_id":"abc"}'),
        (2, b'{"status":"INVALID"}'),
        (3, b'{"updates":[{"idx":1,"status":"SUSPENDED"},{"idx":2,"status":0}]}'),
        (3, b'{"indices":[1,2,3],"status":1}'),
        (3, b'{"indices":[1,2],"statuses":["VALID",2]}'),
        (4, b'{"updates":[{"uri":"https://s.example/statuslists/a","idx":1,"status":1}]}'),
        (5, b"1\x00" + struct.pack("<QQ", 3, 2**64 - 1)),
        (5, b"INVALID&1\x00" + struct.pack("<Q", 5)),
        (6, b"12345"),
        (7, b"9a12bc34de56f701"),
        # Refusals quote input only up to a bound (a long index was once echoed whole).
        (3, b'{"updates":[{"idx":"' + b"x" * 1200 + b'","status":0}]}'),
        (3, b'{"indices":[1' + b"0" * 1200 + b'],"status":0}'),
    ]
    _write(PY / "commands", [bytes([op]) + body for op, body in bodies])


if __name__ == "__main__":
    main()
