"""Bad input is refused with the specific exception class, a message that says what is wrong, and
no change to the list.

The classes are those of ``statuslist.exceptions``: every one is a ``StatusListError`` (itself a
``ValueError``) and ``IndexOutOfRangeError`` is also an ``IndexError``. Wrong Python types raise
``TypeError`` as everywhere else in Python.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import re
import subprocess
import sys
import zlib
from array import array

import cbor2
import pytest

from statuslist import StatusList
from statuslist.codec import DEFAULT_MAX_BYTES, MAX_ENTRIES
from statuslist.exceptions import (
    ArgumentError,
    Base64Error,
    DecompressError,
    IndexOutOfRangeError,
    InvalidBitsError,
    LimitExceededError,
    MalformedError,
    StatusListError,
    ValueOutOfRangeError,
)

RAW = bytes([0xB9, 0xA3])  # spec §4.1 example, 16 entries at one bit
GOOD = zlib.compress(RAW, 9)
GOOD_LST = "eNrbuRgAAhcBXQ"  # base64url of GOOD
GOOD_CBOR = bytes.fromhex("a2646269747301636c73744a78dadbb918000217015d")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def num_id(n: object) -> str:
    """Readable test ids for huge numbers: 2**64, -2**40, 2**64-1."""
    if isinstance(n, int) and not isinstance(n, bool) and abs(n) >= 1 << 20:
        sign, m = ("-" if n < 0 else ""), abs(n)
        if m & (m - 1) == 0:
            return f"{sign}2**{m.bit_length() - 1}"
        if (m + 1) & m == 0:
            return f"{sign}2**{m.bit_length()}-1"
    return str(n)


def test_fixture_inputs_are_good() -> None:
    """The inputs corrupted below are themselves accepted, so each failure is due to the damage."""
    for sl in (
        StatusList.decode(GOOD, 1),
        StatusList.from_json({"bits": 1, "lst": GOOD_LST}),
        StatusList.from_cbor(GOOD_CBOR),
        StatusList.from_cbor(cbor2.dumps({"bits": 1, "lst": GOOD})),
    ):
        assert sl.to_bytes() == RAW


def test_exception_tree() -> None:
    for cls in (
        ArgumentError,
        Base64Error,
        DecompressError,
        IndexOutOfRangeError,
        InvalidBitsError,
        LimitExceededError,
        MalformedError,
        ValueOutOfRangeError,
    ):
        assert issubclass(cls, StatusListError) and issubclass(cls, ValueError)
    assert not issubclass(StatusListError, ValueError), "only input errors are ValueErrors"
    assert issubclass(IndexOutOfRangeError, IndexError)
    assert issubclass(Base64Error, MalformedError)


# --- bits -----------------------------------------------------------------------------------------

BAD_BITS = [0, 3, 5, 7, 16, -1, 256]


@pytest.mark.parametrize("bits", BAD_BITS)
def test_invalid_bits_in_constructor(bits: int) -> None:
    with pytest.raises(InvalidBitsError, match=rf"bits must be 1, 2, 4 or 8, got {bits}\b"):
        StatusList(8, bits)


@pytest.mark.parametrize("bits", BAD_BITS)
def test_invalid_bits_in_from_bytes(bits: int) -> None:
    with pytest.raises(InvalidBitsError, match=rf"bits must be 1, 2, 4 or 8, got {bits}\b"):
        StatusList.from_bytes(RAW, bits)


@pytest.mark.parametrize("bits", BAD_BITS)
def test_invalid_bits_in_decode(bits: int) -> None:
    with pytest.raises(InvalidBitsError, match=rf"bits must be 1, 2, 4 or 8, got {bits}\b"):
        StatusList.decode(GOOD, bits)


@pytest.mark.parametrize("bits", BAD_BITS)
def test_invalid_bits_in_from_json(bits: int) -> None:
    with pytest.raises(InvalidBitsError, match=rf"bits must be 1, 2, 4 or 8, got {bits}\b"):
        StatusList.from_json({"bits": bits, "lst": GOOD_LST})
    with pytest.raises(InvalidBitsError, match="bits must be 1, 2, 4 or 8"):
        StatusList.from_json(f'{{"bits": {bits}, "lst": "{GOOD_LST}"}}')


@pytest.mark.parametrize("bits", BAD_BITS)
def test_invalid_bits_in_from_cbor(bits: int) -> None:
    """An integer ``bits`` outside {1, 2, 4, 8} (negative ones included) is InvalidBitsError, as
    in the JSON form; only a ``bits`` that is not an integer at all is MalformedError."""
    with pytest.raises(InvalidBitsError, match=rf"bits must be 1, 2, 4 or 8, got {bits}\b"):
        StatusList.from_cbor(cbor2.dumps({"bits": bits, "lst": GOOD}))


@pytest.mark.parametrize(
    ("bits", "source"),
    [("1", '"1"'), (1.0, "1.0"), (True, "true"), (None, "null"), ([1], "[1]")],
)
def test_bits_of_the_wrong_type_are_malformed(bits: object, source: str) -> None:
    with pytest.raises(MalformedError, match='"bits" must be'):
        StatusList.from_json(f'{{"bits": {source}, "lst": "{GOOD_LST}"}}')
    with pytest.raises(MalformedError, match='"bits" must be'):
        StatusList.from_cbor(cbor2.dumps({"bits": bits, "lst": GOOD}))


# --- values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bits", "value"),
    [(1, 2), (1, 255), (2, 4), (4, 16), (8, 256), (8, 2**64), (1, 2**200)],
    ids=num_id,
)
def test_value_out_of_range(bits: int, value: int) -> None:
    sl = StatusList(16, bits)
    message = rf"status value {value} does not fit in {bits} bit"
    with pytest.raises(ValueOutOfRangeError, match=message):
        sl[3] = value
    with pytest.raises(ValueOutOfRangeError, match=message):
        sl.set_many([1, 2], [1, value])
    with pytest.raises(ValueOutOfRangeError, match=message):
        sl.set_many(array("Q", [1, 2]), [value, 0])
    if value < 256:
        with pytest.raises(ValueOutOfRangeError, match=message):
            sl.set_many([1, 2], bytes([1, value]))
    assert sl.to_bytes() == bytes(len(sl.to_bytes()))


@pytest.mark.parametrize("value", [-1, -256])
def test_negative_value(value: int) -> None:
    sl = StatusList(16, 8)
    with pytest.raises((ValueOutOfRangeError, ArgumentError), match=rf"{value}|negative"):
        sl[0] = value
    with pytest.raises((ValueOutOfRangeError, ArgumentError), match=rf"{value}|negative"):
        sl.set_many([0], [value])
    assert sl.to_bytes() == bytes(16)


# --- indices --------------------------------------------------------------------------------------

OUT_OF_RANGE = [16, 17, 2**32, 2**40, 2**63, 2**64, -17, -(2**40)]


@pytest.mark.parametrize("index", OUT_OF_RANGE, ids=num_id)
def test_index_out_of_range_on_get(index: int) -> None:
    sl = StatusList(16, 1)
    with pytest.raises(
        IndexOutOfRangeError, match=rf"index {index} is out of range for a list of 16"
    ):
        sl[index]


@pytest.mark.parametrize("index", OUT_OF_RANGE, ids=num_id)
def test_index_out_of_range_on_set(index: int) -> None:
    sl = StatusList(16, 1)
    with pytest.raises(
        IndexOutOfRangeError, match=rf"index {index} is out of range for a list of 16"
    ):
        sl[index] = 1
    assert sl.to_bytes() == bytes(2)


@pytest.mark.parametrize("index", [2**127, 2**200, -(2**200)], ids=num_id)
def test_index_beyond_any_integer_size_is_an_index_error(index: int) -> None:
    """Like ``[][2**200]``: an IndexError, not a TypeError (the index *is* an integer)."""
    sl = StatusList(16, 1)
    with pytest.raises(IndexError):
        sl[index]
    with pytest.raises(IndexError):
        sl[index] = 1


@pytest.mark.parametrize("index", [16, 17, 2**32, 2**63 - 1, 2**64 - 1], ids=num_id)
@pytest.mark.parametrize("typecode", ["Q", "list"])
def test_index_out_of_range_on_set_many(index: int, typecode: str) -> None:
    sl = StatusList(16, 1)
    indices = [0, index, 1]
    if typecode != "list":
        indices = array(typecode, indices)  # type: ignore[assignment]
    with pytest.raises(
        IndexOutOfRangeError, match=rf"index {index} is out of range for a list of 16"
    ):
        sl.set_many(indices, [1, 1, 1])
    assert sl.to_bytes() == bytes(2)


@pytest.mark.parametrize("index", [2**64, 2**100], ids=num_id)
def test_index_too_large_for_any_buffer_on_set_many(index: int) -> None:
    sl = StatusList(16, 1)
    with pytest.raises(IndexOutOfRangeError, match="out of range"):
        sl.set_many([0, index], [1, 1])
    assert sl.to_bytes() == bytes(2)


@pytest.mark.parametrize(
    "indices",
    [[-1], [0, -16], array("q", [3, -1]), array("i", [-5]), array("l", [-(2**40)])],
    ids=["list-1", "list-16", "q", "i", "l"],
)
def test_negative_index_on_set_many(indices: object) -> None:
    """set_many takes absolute indices; a negative one is out of range (IndexOutOfRangeError's
    documented "negative where not allowed")."""
    sl = StatusList(16, 1)
    with pytest.raises(IndexOutOfRangeError, match=r"-\d+"):
        sl.set_many(indices, [1] * len(indices))  # type: ignore[arg-type]
    assert sl.to_bytes() == bytes(2)


# --- set_many atomicity and arguments -------------------------------------------------------------

ATOMIC_CASES = [
    ([1, 2, 100], [1, 1, 1], IndexOutOfRangeError),
    ([100, 1, 2], [1, 1, 1], IndexOutOfRangeError),
    ([1, 2, 3], [1, 4, 1], ValueOutOfRangeError),
    ([1, 2, 3], [1, 1, 4], ValueOutOfRangeError),
    ([1, 2, 3], [1, 1, 300], ValueOutOfRangeError),
    ([1, 2, 3, 99], [3, 3, 3, 3], None),  # control: a valid batch does change the list
]


@pytest.mark.parametrize(("indices", "values", "error"), ATOMIC_CASES)
@pytest.mark.parametrize("form", ["list", "buffers"])
def test_set_many_is_all_or_nothing(
    indices: list[int], values: list[int], error: type[Exception] | None, form: str
) -> None:
    sl = StatusList(100, 2)
    sl.set_many(range(0, 100, 7), [2] * 15)
    before = sl.to_bytes()
    sl.encode()
    assert sl.dirty_chunks() == 0
    idx: object = indices
    vals: object = values
    if form == "buffers":
        idx = array("Q", indices)
        vals = bytes(values) if max(values) < 256 else array("H", values)
    if error is None:
        sl.set_many(idx, vals)  # type: ignore[arg-type]
        assert sl.to_bytes() != before
        return
    with pytest.raises(error):
        sl.set_many(idx, vals)  # type: ignore[arg-type]
    assert sl.to_bytes() == before
    assert sl.dirty_chunks() == 0, "a refused batch must not mark chunks dirty"


def test_set_many_large_batch_with_one_bad_entry_at_the_end() -> None:
    size = 1_000_000
    sl = StatusList(size, 1)
    rng = random.Random(7)
    idx = array("Q", (rng.randrange(size) for _ in range(50_000)))
    idx.append(size)
    with pytest.raises(IndexOutOfRangeError, match=f"index {size} is out of range"):
        sl.set_many(idx, bytes([1]) * len(idx))
    assert sl.counts() == {0: size}


@pytest.mark.parametrize(
    ("indices", "values", "message"),
    [
        ([1, 2], [1, 1, 1], "2 indices but 3 values"),
        ([1, 2, 3], [1], "3 indices but 1 values"),
        (array("Q", [1]), b"", "1 indices but 0 values"),
        ([], b"\x01", "0 indices but 1 values"),
    ],
)
def test_set_many_length_mismatch(indices: object, values: object, message: str) -> None:
    sl = StatusList(16, 1)
    with pytest.raises(ArgumentError, match=message):
        sl.set_many(indices, values)  # type: ignore[arg-type]
    assert sl.to_bytes() == bytes(2)


# --- zlib -----------------------------------------------------------------------------------------


def _bigger_stream() -> bytes:
    rng = random.Random(3)
    sl = StatusList(200_000, 2)
    sl.set_many(
        array("Q", (rng.randrange(200_000) for _ in range(2000))),
        bytes(rng.randrange(4) for _ in range(2000)),
    )
    return sl.encode()


BIG = _bigger_stream()


@pytest.mark.parametrize(
    ("data", "cut"),
    [(GOOD, c) for c in (0, 1, 2, 3, 5, len(GOOD) - 4, len(GOOD) - 1)]
    + [(BIG, c) for c in (2, 10, len(BIG) // 2, len(BIG) - 5, len(BIG) - 4, len(BIG) - 1)],
)
def test_truncated_zlib(data: bytes, cut: int) -> None:
    with pytest.raises(DecompressError, match=r"truncated|too short"):
        StatusList.decode(data[:cut], 1)


@pytest.mark.parametrize(
    "data",
    [
        b"hello, world",
        bytes(range(7, 60)),
        b"\x00" * 32,
        b"\xff" * 32,
        b"\x78\xda" + bytes(range(40)),
        b"\x78\xda" + random.Random(1).randbytes(300),
        b"\x78\xda\xff\xff\xff\xff",
    ],
    ids=["text", "ramp", "zeros", "ones", "header+ramp", "header+noise", "header+ff"],
)
def test_garbage_is_a_decompress_error(data: bytes) -> None:
    with pytest.raises(DecompressError, match="invalid zlib data"):
        StatusList.decode(data, 1)


def test_gzip_is_refused_by_name() -> None:
    with pytest.raises(DecompressError, match="gzip"):
        StatusList.decode(gzip.compress(RAW), 1)


def test_raw_deflate_is_refused_by_name() -> None:
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw_deflate = co.compress(RAW * 50) + co.flush()
    with pytest.raises(DecompressError, match="raw"):
        StatusList.decode(raw_deflate, 1)


@pytest.mark.parametrize("flip", [0x01, 0x80])
@pytest.mark.parametrize("position", [-1, -2, -4])
def test_wrong_adler32(flip: int, position: int) -> None:
    for stream in (GOOD, BIG):
        bad = bytearray(stream)
        bad[position] ^= flip
        with pytest.raises(DecompressError, match="Adler-32"):
            StatusList.decode(bytes(bad), 1)


@pytest.mark.parametrize("extra", [b"\x00", b"\x00" * 4, GOOD])
def test_trailing_garbage_after_the_stream(extra: bytes) -> None:
    with pytest.raises(DecompressError, match=f"{len(extra)} unexpected bytes after"):
        StatusList.decode(GOOD + extra, 1)


def test_preset_dictionary_is_refused() -> None:
    co = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, zdict=b"\x00" * 64)
    with_dict = co.compress(RAW) + co.flush()
    assert with_dict[1] & 0x20, "FDICT flag set"
    with pytest.raises(DecompressError, match="dictionar"):
        StatusList.decode(with_dict, 1)


def test_bad_header_check_bits() -> None:
    with pytest.raises(DecompressError, match="zlib header"):
        StatusList.decode(bytes([0x78, 0xDB]) + GOOD[2:], 1)


# --- inflated-size limits -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """About 64 KB of zlib that inflates to 64 MiB of zeros."""
    return zlib.compress(bytes(64 << 20), 9)


def test_zip_bomb_is_refused_by_default(bomb: bytes) -> None:
    assert DEFAULT_MAX_BYTES == 16 << 20
    limit = rf"exceeds the limit of {DEFAULT_MAX_BYTES}\b"
    with pytest.raises(LimitExceededError, match=limit):
        StatusList.decode(bomb, 1)
    with pytest.raises(LimitExceededError, match=limit):
        StatusList.from_json({"bits": 1, "lst": b64url(bomb)})
    with pytest.raises(LimitExceededError, match=limit):
        StatusList.from_cbor(cbor2.dumps({"bits": 1, "lst": bomb}))


def test_zip_bomb_accepted_with_a_big_enough_limit(bomb: bytes) -> None:
    sl = StatusList.decode(bomb, 8, max_bytes=64 << 20)
    assert len(sl) == 64 << 20 and sl.counts() == {0: 64 << 20}


@pytest.mark.parametrize("limit", [0, 1, 10, 1000, 1022, 1023, 1024, 1999])
def test_small_limit_is_enforced(limit: int) -> None:
    z = zlib.compress(bytes(2000))
    message = rf"inflated status list size in bytes: \d+ exceeds the limit of {limit}\b"
    with pytest.raises(LimitExceededError, match=message):
        StatusList.decode(z, 1, max_bytes=limit)
    with pytest.raises(LimitExceededError, match=message):
        StatusList.from_json({"bits": 1, "lst": b64url(z)}, max_bytes=limit)
    with pytest.raises(LimitExceededError, match=message):
        StatusList.from_cbor(cbor2.dumps({"bits": 1, "lst": z}), max_bytes=limit)


@pytest.mark.parametrize("size", [0, 1, 2, 1000, 2000, 100_000])
def test_exactly_at_the_limit_is_accepted(size: int) -> None:
    raw = bytes(range(256)) * (size // 256) + bytes(size % 256)
    z = zlib.compress(raw)
    assert StatusList.decode(z, 1, max_bytes=size).to_bytes() == raw
    assert StatusList.from_json({"bits": 1, "lst": b64url(z)}, max_bytes=size).to_bytes() == raw
    assert (
        StatusList.from_cbor(cbor2.dumps({"bits": 1, "lst": z}), max_bytes=size).to_bytes() == raw
    )
    if size:
        with pytest.raises(LimitExceededError):
            StatusList.decode(z, 1, max_bytes=size - 1)


# --- JSON object (§4.2) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lst", "message"),
    [
        (GOOD_LST + "==", "padding"),
        (GOOD_LST[:-2] + "==", "padding"),
        ("eNrb+RgAAhcBXQ", r"'\+'.*alphabet"),
        ("eNrb/RgAAhcBXQ", r"'/'.*alphabet"),
        ("eNrbuRgA AhcBXQ", "alphabet"),
        ("eNrbuRgA\nAhcBXQ", "alphabet"),
        ("eNrbuRgAAhcBX\u00e9", "alphabet"),
        ("eNrbuRgAAhcBX", "base64url"),  # impossible length (13 mod 4 == 1)
        ("eNrbuRgAAhcBXR", "base64url"),  # non-zero stray bits in the last symbol
    ],
)
def test_lst_must_be_strict_base64url(lst: str, message: str) -> None:
    with pytest.raises(Base64Error, match=message):
        StatusList.from_json({"bits": 1, "lst": lst})
    with pytest.raises(Base64Error, match=message):
        StatusList.from_json(json.dumps({"bits": 1, "lst": lst}))


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"bits": 1, "lst": 5}, '"lst" must be a string'),
        ({"bits": 1, "lst": None}, '"lst" must be a string'),
        ({"bits": 1, "lst": [GOOD_LST]}, '"lst" must be a string'),
        ({"lst": GOOD_LST}, 'missing required member "bits"'),
        ({"bits": 1}, 'missing required member "lst"'),
        ({}, "missing required member"),
        ({"bits": 1, "lst": GOOD_LST, "aggregation_uri": 5}, '"aggregation_uri" must be a string'),
        ([1, 2], "must be a JSON object"),
        ("[1, 2]", "must be a JSON object"),
        ('"text"', "must be a JSON object"),
        ("42", "must be a JSON object"),
        ("null", "must be a JSON object"),
        ("not json", "not valid JSON"),
        ('{"bits": 1, "lst": ', "not valid JSON"),
        ("", "not valid JSON"),
        (b"\xff\xfe{}", "UTF-8"),
    ],
)
def test_malformed_json(obj: object, message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        StatusList.from_json(obj)  # type: ignore[arg-type]


def test_json_duplicate_members_are_refused() -> None:
    """object.rs: "duplicate members ... are errors" - in JSON as in CBOR (which `bits` wins
    must not depend on the parser)."""
    with pytest.raises(MalformedError, match="duplicate"):
        StatusList.from_json(f'{{"bits": 2, "bits": 1, "lst": "{GOOD_LST}"}}')
    with pytest.raises(MalformedError, match="duplicate"):
        StatusList.from_json(f'{{"bits": 1, "lst": "{GOOD_LST}", "lst": "{GOOD_LST}"}}')


# --- CBOR map (§4.3) ------------------------------------------------------------------------------


def _duplicate(key: str) -> bytes:
    head = bytes([0xA3]) + cbor2.dumps("bits") + cbor2.dumps(1) + cbor2.dumps("lst")
    value = cbor2.dumps(1) if key == "bits" else cbor2.dumps(GOOD)
    return head + cbor2.dumps(GOOD) + cbor2.dumps(key) + value


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (cbor2.dumps({"bits": 1, "lst": GOOD_LST}), "byte string"),
        (cbor2.dumps({"bits": 1, "lst": 5}), "byte string"),
        (cbor2.dumps({1: 1, 2: GOOD}), "text strings"),
        (cbor2.dumps({"bits": 1, "lst": GOOD, 7: 0}), "text strings"),
        (cbor2.dumps({b"bits": 1, b"lst": GOOD}), "text strings"),
        (cbor2.dumps([1, GOOD]), "map"),
        (cbor2.dumps(1), "map"),
        (cbor2.dumps(GOOD), "map"),
        (cbor2.dumps({"bits": 1, "lst": GOOD}) + b"\x00", "1 trailing bytes"),
        (GOOD_CBOR + GOOD_CBOR, f"{len(GOOD_CBOR)} trailing bytes"),
        (_duplicate("bits"), 'duplicate member "bits"'),
        (_duplicate("lst"), 'duplicate member "lst"'),
        (cbor2.dumps({"lst": GOOD}), 'missing required member "bits"'),
        (cbor2.dumps({"bits": 1}), 'missing required member "lst"'),
        (cbor2.dumps({"bits": 1, "lst": GOOD, "aggregation_uri": 5}), "aggregation_uri"),
        (b"", "invalid CBOR"),
    ],
)
def test_malformed_cbor(data: bytes, message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        StatusList.from_cbor(data)


@pytest.mark.parametrize("cut", range(len(GOOD_CBOR)))
def test_truncated_cbor(cut: int) -> None:
    with pytest.raises(MalformedError, match=r"invalid CBOR|missing required|must be"):
        StatusList.from_cbor(GOOD_CBOR[:cut])


def test_cbor_map_with_extra_unknown_text_key_is_fine() -> None:
    """Control for the key checks above: unknown *text* keys are ignored (extensibility)."""
    data = cbor2.dumps({"bits": 1, "lst": GOOD, "x-extra": [1, {"a": b""}]})
    assert StatusList.from_cbor(data).to_bytes() == RAW


def test_cbor_indefinite_length_map_is_a_map() -> None:
    """RFC 8949 §3.2.2: an indefinite-length map is still a map (major type 5), and object.rs has
    a branch for it (``entries == None``); refusing it as "must be a CBOR map" is wrong."""
    data = (
        b"\xbf"
        + cbor2.dumps("bits")
        + cbor2.dumps(1)
        + cbor2.dumps("lst")
        + cbor2.dumps(GOOD)
        + b"\xff"
    )
    assert StatusList.from_cbor(data).to_bytes() == RAW


# --- sizes and types ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [2**40, MAX_ENTRIES + 1, 2**64 - 1], ids=num_id)
def test_list_too_large(size: int) -> None:
    with pytest.raises(LimitExceededError, match=rf"{size} exceeds the limit of {MAX_ENTRIES}\b"):
        StatusList(size)


@pytest.mark.parametrize("size", [-1, -(2**40)], ids=num_id)
def test_negative_size(size: int) -> None:
    with pytest.raises(ArgumentError, match=rf"size must not be negative, got {size}\b"):
        StatusList(size)


@pytest.mark.parametrize("index", ["a", 1.5, 1.0, None, b"\x01", [1]])
def test_index_of_the_wrong_type(index: object) -> None:
    sl = StatusList(8)
    with pytest.raises(TypeError, match="indices must be integers"):
        sl[index]  # type: ignore[index]
    with pytest.raises(TypeError, match="indices must be integers"):
        sl[index] = 1  # type: ignore[index]


@pytest.mark.parametrize(
    "call",
    [
        lambda: StatusList.decode("text", 1),  # type: ignore[arg-type]
        lambda: StatusList.decode(None, 1),  # type: ignore[arg-type]
        lambda: StatusList.from_bytes("text", 1),  # type: ignore[arg-type]
        lambda: StatusList.from_cbor("a2", 1),  # type: ignore[arg-type]
        lambda: StatusList("8"),  # type: ignore[arg-type]
        lambda: StatusList(8.0),  # type: ignore[arg-type]
        lambda: StatusList(8, "1"),  # type: ignore[arg-type]
        lambda: StatusList(8).__setitem__(0, "1"),
        lambda: StatusList(8).__setitem__(0, 1.0),
        lambda: StatusList(8).set_many(None, None),  # type: ignore[arg-type]
        lambda: StatusList(8).set_many([0], ["1"]),  # type: ignore[list-item]
        lambda: StatusList(8).set_many([1.5], [1]),  # type: ignore[list-item]
        lambda: StatusList(8).set_many(["0"], [1]),  # type: ignore[list-item]
    ],
    ids=[
        "decode-str",
        "decode-none",
        "from_bytes-str",
        "from_cbor-str",
        "size-str",
        "size-float",
        "bits-str",
        "value-str",
        "value-float",
        "set_many-none",
        "set_many-str-value",
        "set_many-float-index",
        "set_many-str-index",
    ],
)
def test_wrong_types_are_type_errors(call: object) -> None:
    with pytest.raises(TypeError):
        call()  # type: ignore[operator]


def test_bytes_like_message_names_the_type() -> None:
    with pytest.raises(TypeError, match="bytes-like object, got str"):
        StatusList.decode("text", 1)  # type: ignore[arg-type]


# --- command line ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["encode", "--size", "4", "--bits", "3"], "bits must be"),
        (["encode", "--size", "-1"], "size must not be negative"),
        (["encode", "--size", "4", "--set", "9=1"], "out of range"),
        (["encode", "--size", "4", "--set", "1=2"], "does not fit"),
        (["decode", json.dumps({"bits": 1, "lst": "@@"})], "base64url"),
        (["decode", json.dumps({"bits": 1, "lst": b64url(gzip.compress(RAW))})], "gzip"),
        (["decode", "--max-bytes", "1", json.dumps({"bits": 1, "lst": GOOD_LST})], "limit"),
    ],
)
def test_cli_reports_errors_without_traceback(args: list[str], message: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "statuslist", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.match(r"statuslist: error: ", proc.stderr), proc.stderr
