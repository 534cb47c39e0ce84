"""Bad input is refused with a specific error and a helpful message, and changes nothing."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import zlib
from array import array

import cbor2
import pytest

from statuslist import StatusList
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

GOOD = zlib.compress(bytes([0xB9, 0xA3]), 9)


@pytest.mark.parametrize("bits", [0, 3, 5, 16, -1])
def test_invalid_bits_everywhere(bits: int) -> None:
    with pytest.raises(InvalidBitsError, match="bits must be 1, 2, 4 or 8"):
        StatusList(8, bits)
    with pytest.raises(InvalidBitsError):
        StatusList.from_bytes(b"\x00", bits)
    with pytest.raises(InvalidBitsError):
        StatusList.decode(GOOD, bits)
    with pytest.raises(InvalidBitsError):
        StatusList.from_json({"bits": bits, "lst": "eNrbuRgAAhcBXQ"})
    with pytest.raises((InvalidBitsError, MalformedError)):
        StatusList.from_cbor(cbor2.dumps({"bits": bits, "lst": GOOD}))


def test_value_out_of_range() -> None:
    one = StatusList(16, 1)
    with pytest.raises(ValueOutOfRangeError, match="does not fit in 1 bit"):
        one[0] = 2
    with pytest.raises(ValueOutOfRangeError):
        one.set_many([1, 2], [1, 2])
    eight = StatusList(4, 8)
    with pytest.raises(ValueOutOfRangeError):
        eight.set_many([0], [256])
    with pytest.raises(ArgumentError, match="must not be negative"):
        eight[0] = -1
    assert one.to_bytes() == bytes(2) and eight.to_bytes() == bytes(4)


@pytest.mark.parametrize("index", [16, 17, 2**40, -17])
def test_index_out_of_range(index: int) -> None:
    sl = StatusList(16, 1)
    with pytest.raises(IndexOutOfRangeError, match="out of range"):
        sl[index]
    with pytest.raises(IndexError):
        sl[index] = 1
    assert sl.to_bytes() == bytes(2)


def test_set_many_is_all_or_nothing() -> None:
    sl = StatusList(100, 2)
    sl[5] = 3
    before = sl.to_bytes()
    with pytest.raises(IndexOutOfRangeError):
        sl.set_many(array("Q", [1, 2, 100]), bytes([1, 1, 1]))
    with pytest.raises(ValueOutOfRangeError):
        sl.set_many(array("Q", [1, 2, 3]), bytes([1, 4, 1]))
    with pytest.raises(ArgumentError, match="must not be negative"):
        sl.set_many(array("q", [1, -2]), bytes([1, 1]))
    with pytest.raises(ArgumentError, match="2 indices but 3 values"):
        sl.set_many([1, 2], [1, 1, 1])
    assert sl.to_bytes() == before


@pytest.mark.parametrize("cut", [0, 1, 2, 3, 5, len(GOOD) - 1])
def test_truncated_zlib(cut: int) -> None:
    with pytest.raises(DecompressError):
        StatusList.decode(GOOD[:cut], 1)


def test_zlib_framing_errors() -> None:
    with pytest.raises(DecompressError, match="gzip"):
        StatusList.decode(gzip.compress(bytes(100)), 1)
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    with pytest.raises(DecompressError, match="raw DEFLATE"):
        StatusList.decode(raw.compress(bytes(100)) + raw.flush(), 1)
    with pytest.raises(DecompressError, match="Adler-32"):
        StatusList.decode(GOOD[:-1] + bytes([GOOD[-1] ^ 1]), 1)
    with pytest.raises(DecompressError, match="unexpected bytes after"):
        StatusList.decode(GOOD + b"\x00", 1)
    with pytest.raises(DecompressError):
        StatusList.decode(b"\x78\xda" + bytes(range(40)), 1)
    with pytest.raises(DecompressError, match="dictionar"):
        StatusList.decode(bytes([0x78, 0xBB]) + GOOD[2:], 1)


def test_decompression_bomb_is_refused() -> None:
    bomb = zlib.compress(bytes(64 << 20), 9)  # ~64 KB that inflates to 64 MiB
    with pytest.raises(LimitExceededError, match="16777216"):
        StatusList.decode(bomb, 1)
    small = zlib.compress(bytes(2000))
    with pytest.raises(LimitExceededError):
        StatusList.decode(small, 1, max_bytes=1000)
    assert len(StatusList.decode(small, 1, max_bytes=2000)) == 16000
    with pytest.raises(LimitExceededError):
        StatusList.from_json({"bits": 1, "lst": _b64(bomb)})
    with pytest.raises(LimitExceededError):
        StatusList.from_cbor(cbor2.dumps({"bits": 1, "lst": bomb}))


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.mark.parametrize(
    ("lst", "message"),
    [
        ("eNrbuRgAAhcBXQ==", "padding"),
        ("eNrb+RgAAhcBXQ", "alphabet"),
        ("eNrb/RgAAhcBXQ", "alphabet"),
    ],
)
def test_base64url_is_strict(lst: str, message: str) -> None:
    with pytest.raises(Base64Error, match=message):
        StatusList.from_json({"bits": 1, "lst": lst})


@pytest.mark.parametrize(
    "obj",
    [
        {"bits": 1, "lst": 5},
        {"lst": "eNrbuRgAAhcBXQ"},
        {"bits": 1},
        {"bits": "1", "lst": "eNrbuRgAAhcBXQ"},
        [1, 2],
        "not json",
        '{"bits": 1, "lst": ',
    ],
)
def test_malformed_json(obj: object) -> None:
    with pytest.raises(MalformedError):
        StatusList.from_json(obj)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (cbor2.dumps({"bits": 1, "lst": "eNrbuRgAAhcBXQ"}), "byte string"),
        (cbor2.dumps({1: 1, 2: GOOD}), "text strings"),
        (cbor2.dumps([1, GOOD]), "map"),
        (cbor2.dumps({"bits": 1, "lst": GOOD})[:-3], "CBOR"),
        (cbor2.dumps({"bits": 1, "lst": GOOD}) + b"\x00", "trailing"),
        (bytes.fromhex("a3646269747301646269747301636c7374") + cbor2.dumps(GOOD), "duplicate"),
        (cbor2.dumps({"lst": GOOD}), "bits"),
    ],
)
def test_malformed_cbor(data: bytes, message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        StatusList.from_cbor(data)


def test_sizes_and_types() -> None:
    with pytest.raises(LimitExceededError):
        StatusList(2**40)
    with pytest.raises(ArgumentError):
        StatusList(-1)
    with pytest.raises(TypeError):
        StatusList(8)["a"]  # type: ignore[index]
    with pytest.raises(TypeError):
        StatusList.decode("text", 1)  # type: ignore[arg-type]
    assert issubclass(LimitExceededError, StatusListError)
    assert issubclass(StatusListError, ValueError)


def test_cli_reports_errors_without_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "statuslist", "encode", "--size", "4", "--bits", "3"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "bits must be" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "statuslist", "decode", json.dumps({"bits": 1, "lst": "@@"})],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and "base64url" in proc.stderr and "Traceback" not in proc.stderr
