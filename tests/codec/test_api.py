"""The public Python surface of the codec: a typed, mutable sequence of small integers."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zlib
from array import array
from pathlib import Path

import cbor2
import pytest

import statuslist
from statuslist import INVALID, SUSPENDED, VALID, StatusList, StatusListError
from statuslist.codec import CHUNK_BYTES, DICT_BYTES

# --- construction and the sequence protocol -------------------------------------------------------


def test_defaults() -> None:
    sl = StatusList(10)
    assert sl.bits == 1
    assert len(sl) == 10
    assert [sl[i] for i in range(10)] == [VALID] * 10
    assert sl.to_bytes() == bytes(2)  # 10 entries round up to 2 bytes; padding is zero


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 1000])
def test_size_and_byte_length(bits: int, size: int) -> None:
    sl = StatusList(size, bits)
    assert sl.bits == bits and len(sl) == size
    assert len(sl.to_bytes()) == -(-size * bits // 8)
    sl2 = StatusList(size, bits=bits)
    assert sl2 == sl


def test_status_constants() -> None:
    assert (VALID, INVALID, SUSPENDED) == (0, 1, 2)


def test_get_and_set_all_values() -> None:
    for bits in (1, 2, 4, 8):
        sl = StatusList(300, bits)
        for i in range(300):
            sl[i] = i % (1 << bits)
        assert [sl[i] for i in range(300)] == [i % (1 << bits) for i in range(300)]


def test_negative_indices_count_from_the_end() -> None:
    sl = StatusList(10, 2)
    sl[-1] = 3
    sl[-10] = 2
    assert sl[9] == 3 and sl[0] == 2
    assert sl[-1] == 3 and sl[-10] == 2
    assert sl.to_bytes() == bytes([0b10, 0, 0b11 << 2])


def test_index_like_objects_are_accepted() -> None:
    class Idx:
        def __index__(self) -> int:
            return 3

    sl = StatusList(8)
    sl[Idx()] = 1  # type: ignore[index]
    assert sl[3] == 1 and sl[Idx()] == 1  # type: ignore[index]
    sl[True] = 1
    assert sl[1] == 1


def test_setting_a_value_twice_and_back() -> None:
    sl = StatusList(16, 4)
    sl[5] = 15
    sl[5] = 0
    sl[5] = 9
    assert sl[5] == 9 and sl[4] == 0 and sl[6] == 0


def test_equality() -> None:
    a = StatusList(10)
    b = StatusList(10)
    assert a == b
    assert (a != b) is False
    assert a == a
    a[9] = INVALID
    assert a != b
    b[9] = INVALID
    assert a == b
    # Same bytes, different bits or size: different lists.
    assert StatusList.from_bytes(b"\x01", 1) != StatusList.from_bytes(b"\x01", 2)
    assert StatusList(8, 1) != StatusList(7, 1)
    assert StatusList(16, 1) != StatusList(8, 2)
    assert a != "not a list"
    assert a != a.to_bytes()
    assert a is not None
    assert (a == 1) is False


def test_repr() -> None:
    assert repr(StatusList(10, 2)) == "StatusList(size=10, bits=2)"
    assert repr(StatusList(0)) == "StatusList(size=0, bits=1)"


def test_from_bytes() -> None:
    raw = bytes([0xB9, 0xA3])
    for bits, n in ((1, 16), (2, 8), (4, 4), (8, 2)):
        sl = StatusList.from_bytes(raw, bits)
        assert len(sl) == n and sl.bits == bits and sl.to_bytes() == raw
    assert StatusList.from_bytes(raw).bits == 1
    for buf in (bytearray(raw), memoryview(raw), array("B", raw)):
        assert StatusList.from_bytes(buf, 1).to_bytes() == raw
    assert len(StatusList.from_bytes(b"", 4)) == 0


def test_from_bytes_copies_its_input() -> None:
    buf = bytearray(4)
    sl = StatusList.from_bytes(buf, 8)
    buf[0] = 7
    assert sl[0] == 0
    out = sl.to_bytes()
    sl[1] = 5
    assert out == bytes(4)


# --- counts ---------------------------------------------------------------------------------------


def test_counts_on_empty_lists() -> None:
    for bits in (1, 2, 4, 8):
        assert StatusList(0, bits).counts() == {}


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
@pytest.mark.parametrize("size", [1, 9, 13, 1000])
def test_counts_on_zero_and_full_lists(bits: int, size: int) -> None:
    sl = StatusList(size, bits)
    assert sl.counts() == {VALID: size}  # padding slots past `size` are not entries
    top = (1 << bits) - 1
    sl.set_many(range(size), [top] * size)
    assert sl.counts() == {top: size}


def test_counts_of_a_mixed_list() -> None:
    sl = StatusList(12, 2)
    sl.set_many([0, 1, 3, 5, 7, 8, 9, 10, 11], [1, 2, 3, 1, 1, 1, 2, 3, 3])
    assert sl.to_bytes() == bytes.fromhex("c944f9")  # spec §4.1 2-bit example
    assert sl.counts() == {0: 3, 1: 4, 2: 2, 3: 3}
    assert all(type(k) is int and type(v) is int for k, v in sl.counts().items())


# --- set_many -------------------------------------------------------------------------------------


@pytest.mark.parametrize("typecode", ["Q", "L", "I", "q", "l", "i"])
def test_set_many_accepts_typed_index_buffers(typecode: str) -> None:
    sl = StatusList(1000, 4)
    sl.set_many(array(typecode, [1, 500, 999]), array("B", [3, 15, 7]))
    assert (sl[1], sl[500], sl[999]) == (3, 15, 7)
    assert sl.counts() == {0: 997, 3: 1, 15: 1, 7: 1}


@pytest.mark.parametrize(
    "values",
    [b"\x01\x02\x03", bytearray([1, 2, 3]), array("B", [1, 2, 3]), [1, 2, 3], (1, 2, 3)],
    ids=["bytes", "bytearray", "array-B", "list", "tuple"],
)
def test_set_many_accepts_value_forms(values: object) -> None:
    sl = StatusList(20, 2)
    sl.set_many(array("Q", [4, 5, 19]), values)  # type: ignore[arg-type]
    assert (sl[4], sl[5], sl[19]) == (1, 2, 3)


def test_set_many_accepts_sequences_and_iterables() -> None:
    sl = StatusList(20, 2)
    sl.set_many([1, 2], [1, 1])
    sl.set_many((3, 4), (2, 2))
    sl.set_many(range(5, 7), [3, 3])
    sl.set_many(memoryview(array("Q", [7])), memoryview(b"\x01"))
    assert [sl[i] for i in range(8)] == [0, 1, 1, 2, 2, 3, 3, 1]


def test_set_many_negative_typed_index_is_refused() -> None:
    sl = StatusList(20, 2)
    # The exact class is pinned in test_bad_input.py; here: refused, and nothing changes.
    with pytest.raises(StatusListError, match="-1"):
        sl.set_many(array("q", [3, -1]), b"\x01\x01")
    assert sl.counts() == {0: 20}


def test_set_many_later_duplicates_win() -> None:
    sl = StatusList(8, 2)
    sl.set_many([3, 3, 3], [1, 2, 3])
    assert sl[3] == 3
    sl.set_many(array("Q", [3, 3]), b"\x02\x00")
    assert sl[3] == 0


def test_set_many_empty_batch() -> None:
    sl = StatusList(8)
    sl.set_many([], [])
    sl.set_many(array("Q"), b"")
    assert sl == StatusList(8)


def test_set_many_can_clear() -> None:
    sl = StatusList(64, 1)
    sl.set_many(range(64), b"\x01" * 64)
    assert sl.counts() == {1: 64}
    sl.set_many(range(0, 64, 2), bytes(32))
    assert sl.to_bytes() == b"\xaa" * 8


# --- encoding -------------------------------------------------------------------------------------


def test_dirty_chunks_follow_changes() -> None:
    size = 8 * (3 * CHUNK_BYTES + 100)  # three full chunks and a short last one
    sl = StatusList(size, 1)
    assert sl.dirty_chunks() == 4  # never encoded
    first = sl.encode()
    assert sl.dirty_chunks() == 0
    sl[0] = 1
    assert sl.dirty_chunks() == 1
    sl[1] = 1  # same chunk
    assert sl.dirty_chunks() == 1
    sl[size - 1] = 1  # last (short) chunk
    assert sl.dirty_chunks() == 2
    sl[8 * CHUNK_BYTES] = 0  # writing the value it already has changes nothing
    assert sl.dirty_chunks() == 2
    sl.set_many(array("Q", [8 * CHUNK_BYTES - 1, 8 * CHUNK_BYTES]), b"\x01\x01")  # chunk edge
    assert sl.dirty_chunks() == 3  # chunks 0, 1 and 3
    second = sl.encode()
    assert sl.dirty_chunks() == 0
    assert second != first
    assert zlib.decompress(second) == sl.to_bytes()
    # Undo everything: the list (and so its encoding) is back where it started.
    sl.set_many([0, 1, size - 1, 8 * CHUNK_BYTES - 1, 8 * CHUNK_BYTES], bytes(5))
    assert sl.dirty_chunks() == 3
    assert zlib.decompress(sl.encode()) == bytes(size // 8)
    assert sl.encode() == StatusList(size, 1).encode()
    # Chunk 2 copies from the last DICT_BYTES of chunk 1: a change there re-encodes both.
    sl[8 * (2 * CHUNK_BYTES - DICT_BYTES)] = 1
    assert sl.dirty_chunks() == 2
    sl.encode()
    sl[8 * (2 * CHUNK_BYTES - DICT_BYTES) - 1] = 1  # just before them: chunk 1 alone
    assert sl.dirty_chunks() == 1


def test_dirty_chunks_of_small_and_empty_lists() -> None:
    assert StatusList(0).dirty_chunks() == 0
    sl = StatusList(10)
    assert sl.dirty_chunks() == 1
    sl.encode()
    assert sl.dirty_chunks() == 0


@pytest.mark.parametrize("size", [0, 1, 100, 8 * CHUNK_BYTES + 1])
def test_encode_twice_without_changes_is_identical(size: int) -> None:
    sl = StatusList(size, 1)
    if size:
        sl[size - 1] = 1
    first = sl.encode()
    assert sl.encode() == first
    assert sl.encode() == first
    assert zlib.decompress(first) == sl.to_bytes()
    # Serialising does not change the list or its dirty state.
    sl.to_json()
    sl.to_cbor()
    assert sl.dirty_chunks() == 0 and sl.encode() == first


def test_to_json_and_to_cbor_carry_the_encoding() -> None:
    sl = StatusList(100, 2)
    sl[50] = SUSPENDED
    z = sl.encode()
    assert cbor2.loads(sl.to_cbor())["lst"] == z
    again = StatusList.from_json(sl.to_json())
    assert again == sl and again[50] == SUSPENDED
    assert StatusList.from_cbor(sl.to_cbor()) == sl
    assert StatusList.decode(z, 2) == sl


def test_decode_accepts_buffers() -> None:
    sl = StatusList(64, 1)
    sl[7] = 1
    z, cbor = sl.encode(), sl.to_cbor()
    for buf in (z, bytearray(z), memoryview(z), array("B", z)):
        assert StatusList.decode(buf, 1) == sl
    for buf in (cbor, bytearray(cbor), memoryview(cbor), array("B", cbor)):
        assert StatusList.from_cbor(buf) == sl


def test_readme_example() -> None:
    sl = StatusList(1_000_000, bits=2)
    sl[42] = INVALID
    sl.set_many([7, 8, 9], [1, 2, 1])
    same = StatusList.from_json(sl.to_json())
    assert same[42] == INVALID
    assert same.counts() == {0: 999_996, 1: 3, 2: 1}


# --- packaging ------------------------------------------------------------------------------------


def test_import_from_another_directory(tmp_path: Path) -> None:
    code = (
        "import statuslist, statuslist.exceptions as e; "
        "s = statuslist.StatusList(8, 2); s[3] = 2; "
        "print(type(s).__name__, s[3], statuslist.__version__, "
        "issubclass(e.InputError, ValueError))"
    )
    for cwd in (Path(tempfile.gettempdir()), tmp_path):
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        name, value, version, is_value_error = out.stdout.split()  # InputError is a ValueError
        assert (name, value, is_value_error) == ("StatusList", "2", "True")
        assert version == statuslist.__version__
    assert statuslist.StatusList is StatusList
    assert "StatusList" in statuslist.__all__
