"""Every list vector of the spec (§4 examples, Appendix C) decodes exactly and re-encodes right.

Decoding is checked against a byte array built here from the vector's ``statuses``, ``size`` and
``bits`` with the closed form of spec §4.1 (entry ``i`` occupies bits ``i*bits .. i*bits+bits-1``
of the array, LSB first within a byte, bytes ascending), so an entry that should be 0 but is not
fails as surely as a listed one. Re-encoding is checked with the standard library's ``zlib``,
``base64`` and ``json`` and with ``cbor2``: the inflated arrays are compared, never the compressed
bytes (any valid DEFLATE stream is acceptable).
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from typing import Any

import cbor2
import pytest

from statuslist import StatusList

Vector = dict[str, Any]

BASE64URL_NOPAD = re.compile(r"[A-Za-z0-9_-]*")


def expected_array(vector: Vector) -> bytes:
    """The §4.1 byte array of the vector: every entry not listed in ``statuses`` is 0."""
    size, bits = vector["size"], vector["bits"]
    out = bytearray((size * bits + 7) // 8)
    for key, status in vector["statuses"].items():
        i = int(key)
        assert 0 <= i < size and 0 <= status < 1 << bits, f"bad vector entry {key}: {status}"
        bit = i * bits
        out[bit // 8] |= status << (bit % 8)
    return bytes(out)


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_list(sl: StatusList, vector: Vector) -> None:
    bits, expected = vector["bits"], expected_array(vector)
    assert sl.bits == bits
    # §4.1: the array may be longer than the number of tokens; a decoder sees len*8/bits entries.
    assert len(sl) == len(expected) * 8 // bits
    assert len(sl) >= vector["size"]
    for key, status in vector["statuses"].items():
        assert sl[int(key)] == status, f"entry {key}"
    raw = sl.to_bytes()
    if raw != expected:
        first = next(k for k, (a, b) in enumerate(zip(raw, expected, strict=False)) if a != b)
        pytest.fail(
            f"byte array differs (len {len(raw)} vs {len(expected)}), first at byte {first}: "
            f"{raw[first]:#04x} != {expected[first]:#04x}"
        )
    if vector["byte_array_hex"] is not None:
        assert raw.hex() == vector["byte_array_hex"]
    nonzero = sum(1 for s in vector["statuses"].values() if s)
    assert sl.counts().get(0, 0) == len(sl) - nonzero


def test_expected_array_matches_the_spec_examples(vectors: dict[str, Any]) -> None:
    """The closed-form packing above reproduces every byte array the spec prints."""
    printed = [v for v in vectors["lists"] if v["byte_array_hex"] is not None]
    assert printed, "the spec's §4.1 examples (b9a3, c944f9) are missing from the vectors"
    for v in printed:
        assert expected_array(v).hex() == v["byte_array_hex"], v["name"]


def test_decodes_json_object(list_vector: Vector) -> None:
    check_list(StatusList.from_json(list_vector["json"]), list_vector)


def test_decodes_json_text(list_vector: Vector) -> None:
    text = json.dumps(list_vector["json"])
    check_list(StatusList.from_json(text), list_vector)
    check_list(StatusList.from_json(text.encode()), list_vector)


def test_decodes_cbor(list_vector: Vector) -> None:
    data = bytes.fromhex(list_vector["cbor_hex"])
    check_list(StatusList.from_cbor(data), list_vector)
    check_list(StatusList.from_cbor(bytearray(data)), list_vector)


def test_decodes_bare_zlib(list_vector: Vector) -> None:
    z = b64url_decode(list_vector["json"]["lst"])
    check_list(StatusList.decode(z, list_vector["bits"]), list_vector)


def test_json_and_cbor_forms_agree(list_vector: Vector) -> None:
    from_json = StatusList.from_json(list_vector["json"])
    from_cbor = StatusList.from_cbor(bytes.fromhex(list_vector["cbor_hex"]))
    assert from_json == from_cbor


def test_encode_inflates_to_the_array(list_vector: Vector) -> None:
    expected = expected_array(list_vector)
    sl = StatusList.from_json(list_vector["json"])
    z = sl.encode()
    assert z[:2] != b"\x1f\x8b", "gzip framing instead of zlib"
    assert (z[0] << 8 | z[1]) % 31 == 0 and z[0] & 0x0F == 8, f"no zlib header: {z[:2].hex()}"
    assert zlib.decompress(z) == expected
    # Also from a list built entry by entry rather than decoded.
    built = StatusList(list_vector["size"], list_vector["bits"])
    for key, status in list_vector["statuses"].items():
        built[int(key)] = status
    assert zlib.decompress(built.encode()) == expected


def test_encode_is_never_larger_than_the_specs_bytes(list_vector: Vector) -> None:
    """The spec's examples were made with zlib; ours are no larger than its bytes (the short
    ones come out identical)."""
    doc = json.loads(list_vector["json"]) if isinstance(list_vector["json"], str) else None
    spec = base64.urlsafe_b64decode((doc or list_vector["json"])["lst"] + "==")
    ours = StatusList.from_json(list_vector["json"]).encode()
    assert len(ours) <= len(spec)
    if len(spec) <= 16:
        assert ours == spec


def test_to_json_is_a_spec_object(list_vector: Vector) -> None:
    expected = expected_array(list_vector)
    text = StatusList.from_cbor(bytes.fromhex(list_vector["cbor_hex"])).to_json()
    obj = json.loads(text)
    assert set(obj) == {"bits", "lst"}
    assert obj["bits"] == list_vector["bits"] and type(obj["bits"]) is int
    lst = obj["lst"]
    assert isinstance(lst, str)
    assert "=" not in lst, "base64url must be unpadded"
    assert BASE64URL_NOPAD.fullmatch(lst), "lst must use the base64url alphabet only"
    assert zlib.decompress(b64url_decode(lst)) == expected
    assert StatusList.from_json(text).to_bytes() == expected


def test_to_cbor_is_a_spec_map(list_vector: Vector) -> None:
    expected = expected_array(list_vector)
    data = StatusList.from_json(list_vector["json"]).to_cbor()
    assert data[0] >> 5 == 5, "top level must be a CBOR map (major type 5)"
    obj = cbor2.loads(data)
    assert isinstance(obj, dict)
    assert all(type(k) is str for k in obj), f"keys must be text strings, got {list(obj)}"
    assert set(obj) == {"bits", "lst"}
    assert obj["bits"] == list_vector["bits"] and type(obj["bits"]) is int
    assert type(obj["lst"]) is bytes, "lst must be a byte string, not base64 text"
    assert zlib.decompress(obj["lst"]) == expected
    assert StatusList.from_cbor(data).to_bytes() == expected


URIS = [
    "https://example.com/statuslists/aggregation",
    'https://example.com/agg?type="mdoc"&q=a\\b',
    "urn:example:caf\u00e9:\u2603",
]


@pytest.mark.parametrize("uri", URIS)
def test_aggregation_uri_round_trips_in_json(list_vector: Vector, uri: str) -> None:
    sl = StatusList.from_json(list_vector["json"])
    obj = json.loads(sl.to_json(uri))
    assert obj["aggregation_uri"] == uri
    assert set(obj) == {"bits", "lst", "aggregation_uri"}
    assert zlib.decompress(b64url_decode(obj["lst"])) == expected_array(list_vector)
    assert StatusList.from_json(obj) == sl
    assert StatusList.from_json(json.dumps(obj)) == sl
    # None means "no member", not a null member.
    assert "aggregation_uri" not in json.loads(sl.to_json(None))


@pytest.mark.parametrize("uri", URIS)
def test_aggregation_uri_round_trips_in_cbor(list_vector: Vector, uri: str) -> None:
    sl = StatusList.from_cbor(bytes.fromhex(list_vector["cbor_hex"]))
    data = sl.to_cbor(uri)
    obj = cbor2.loads(data)
    assert type(obj["aggregation_uri"]) is str and obj["aggregation_uri"] == uri
    assert set(obj) == {"bits", "lst", "aggregation_uri"}
    assert zlib.decompress(obj["lst"]) == expected_array(list_vector)
    assert StatusList.from_cbor(data) == sl
    assert "aggregation_uri" not in cbor2.loads(sl.to_cbor(None))


def test_spec_aggregation_uri_object_is_accepted(list_vector: Vector) -> None:
    """Objects as an issuer publishes them (with ``aggregation_uri``) decode to the same list."""
    obj = {**list_vector["json"], "aggregation_uri": URIS[0]}
    check_list(StatusList.from_json(obj), list_vector)
    cbor = cbor2.loads(bytes.fromhex(list_vector["cbor_hex"]))
    check_list(StatusList.from_cbor(cbor2.dumps({**cbor, "aggregation_uri": URIS[0]})), list_vector)
