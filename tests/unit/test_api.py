"""The public Python surface of the codec behaves like a typed sequence."""

from __future__ import annotations

import subprocess
import sys
import zlib
from array import array

import pytest

import statuslist
from statuslist import INVALID, SUSPENDED, VALID, StatusList


def test_defaults_and_sequence_protocol() -> None:
    sl = StatusList(10)
    assert sl.bits == 1 and len(sl) == 10 and sl[0] == VALID
    sl[-1] = INVALID
    assert sl[9] == INVALID and sl[-1] == INVALID
    assert repr(sl) == "StatusList(size=10, bits=1)"
    assert StatusList.from_bytes(sl.to_bytes(), 1)[9] == INVALID
    other = StatusList(10)
    assert sl != other
    other[9] = 1
    assert sl == other
    assert sl != "not a list"


def test_counts() -> None:
    assert StatusList(0, 2).counts() == {}
    sl = StatusList(9, 2)
    assert sl.counts() == {VALID: 9}
    sl.set_many(range(9), [SUSPENDED] * 9)
    assert sl.counts() == {SUSPENDED: 9}


@pytest.mark.parametrize("typecode", ["Q", "L", "I", "q", "i"])
def test_set_many_accepts_typed_buffers(typecode: str) -> None:
    sl = StatusList(1000, 4)
    sl.set_many(array(typecode, [1, 500, 999]), array("B", [3, 15, 7]))
    assert (sl[1], sl[500], sl[999]) == (3, 15, 7)
    sl.set_many([2, 3], b"\x01\x02")
    sl.set_many((4,), bytearray([9]))
    assert (sl[2], sl[3], sl[4]) == (1, 2, 9)


def test_incremental_encoding_tracks_dirty_chunks() -> None:
    sl = StatusList(8 * 200_000, 1)  # 200 KB: four chunks
    first = sl.encode()
    assert sl.dirty_chunks() == 0
    assert sl.encode() == first
    sl[0] = 1
    sl[8 * 199_999] = 1
    assert sl.dirty_chunks() == 2
    sl[1] = 1
    assert sl.dirty_chunks() == 2
    second = sl.encode()
    assert second != first and zlib.decompress(second) == sl.to_bytes()


def test_readme_example() -> None:
    sl = StatusList(1_000_000, bits=2)
    sl[42] = INVALID
    sl.set_many([7, 8, 9], [1, 2, 1])
    same = StatusList.from_json(sl.to_json())
    assert same[42] == INVALID and same.counts() == {0: 999_996, 1: 3, 2: 1}


def test_import_from_any_directory(tmp_path: pytest.TempPathFactory) -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import statuslist; print(statuslist.StatusList.__name__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "StatusList"
    assert statuslist.__version__
