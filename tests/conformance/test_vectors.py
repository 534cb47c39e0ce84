"""Every list vector of the spec (§4, Appendix C) decodes exactly and re-encodes faithfully."""

from __future__ import annotations

import json
import zlib
from typing import Any

import cbor2
import pytest

from statuslist import StatusList
from tests.conftest import VECTORS
from tests.reference import pack, unb64url

_NAMES = [v["name"] for v in json.loads(VECTORS.read_text())["lists"]] if VECTORS.is_file() else []


@pytest.fixture(params=_NAMES or ["<missing vectors>"])
def vector(request: pytest.FixtureRequest, vectors: dict[str, Any]) -> dict[str, Any]:
    by_name = {v["name"]: v for v in vectors["lists"]}
    return by_name[request.param]


def expected_bytes(v: dict[str, Any]) -> bytes:
    statuses = {int(i): s for i, s in v["statuses"].items()}
    raw = pack(v["size"], v["bits"], statuses)
    if v["byte_array_hex"] is not None:
        assert raw.hex() == v["byte_array_hex"], "reference packing disagrees with the spec"
    return raw


def test_vectors_present(vectors: dict[str, Any]) -> None:
    assert len(vectors["lists"]) >= 6


def test_decodes_json_object_and_text(vector: dict[str, Any]) -> None:
    raw = expected_bytes(vector)
    for source in (vector["json"], json.dumps(vector["json"])):
        sl = StatusList.from_json(source)
        assert sl.bits == vector["bits"]
        assert sl.to_bytes() == raw
        for i, status in vector["statuses"].items():
            assert sl[int(i)] == status


def test_decodes_cbor(vector: dict[str, Any]) -> None:
    sl = StatusList.from_cbor(bytes.fromhex(vector["cbor_hex"]))
    assert sl.bits == vector["bits"]
    assert sl.to_bytes() == expected_bytes(vector)


def test_counts_match_statuses(vector: dict[str, Any]) -> None:
    sl = StatusList.from_json(vector["json"])
    nonzero = [s for s in vector["statuses"].values() if s]
    counts = sl.counts()
    assert sum(counts.values()) == len(sl)
    for value in set(nonzero):
        assert counts[value] == nonzero.count(value)


def test_reencodes_to_the_same_bytes(vector: dict[str, Any]) -> None:
    raw = expected_bytes(vector)
    sl = StatusList.from_bytes(raw, vector["bits"])
    assert zlib.decompress(sl.encode()) == raw

    obj = json.loads(sl.to_json())
    assert set(obj) == {"bits", "lst"} and obj["bits"] == vector["bits"]
    assert "=" not in obj["lst"]
    assert zlib.decompress(unb64url(obj["lst"])) == raw

    cbor = cbor2.loads(sl.to_cbor())
    assert set(cbor) == {"bits", "lst"}, "CBOR keys must be text strings"
    assert isinstance(cbor["lst"], bytes), "CBOR lst must be a byte string"
    assert zlib.decompress(cbor["lst"]) == raw


def test_small_vectors_are_byte_identical(vectors: dict[str, Any]) -> None:
    """One-chunk lists come out exactly as the spec's zlib level-9 examples."""
    for v in vectors["lists"]:
        if v["byte_array_hex"] is not None:
            sl = StatusList.from_bytes(bytes.fromhex(v["byte_array_hex"]), v["bits"])
            assert json.loads(sl.to_json()) == v["json"]
            assert sl.to_cbor().hex() == v["cbor_hex"]


@pytest.mark.parametrize("uri", ["https://example.com/statuslists/aggregation", 'urn:x:\u00e9"q'])
def test_aggregation_uri_round_trips(uri: str) -> None:
    sl = StatusList(64, 2)
    sl[3] = 2
    obj = json.loads(sl.to_json(uri))
    assert obj["aggregation_uri"] == uri
    cbor = cbor2.loads(sl.to_cbor(uri))
    assert cbor["aggregation_uri"] == uri
    assert StatusList.from_json(obj) == sl
    assert StatusList.from_cbor(sl.to_cbor(uri)) == sl
