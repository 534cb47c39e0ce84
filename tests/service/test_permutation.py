"""The keyed index permutation behind allocation: native, and exactly the original mapping.

``tests/reference/permutation.py`` is the original pure-Python implementation; every list created
before the permutation moved to Rust was handed out by it, so the native one must agree with it
on every key, size and counter (a changed mapping could hand an index out twice).
"""

from __future__ import annotations

import hashlib
import json
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statuslist.exceptions import ArgumentError, StatusListError
from statuslist.service.permutation import IndexPermutation
from tests.reference.permutation import IndexPermutation as Reference

#: Computed by the pure-Python permutation before it moved to Rust (key, size, start, indices).
VECTORS: list[tuple[bytes, int, int, list[int]]] = [
    (
        bytes(range(32)),
        100_000_000,
        0,
        [26128050, 22586788, 88618540, 84816422, 26689646, 21775486, 51337423, 50945917],
    ),
    (b"statuslist-vector-key-0001", 1, 0, [0]),
    (b"statuslist-vector-key-0002", 2, 0, [0, 1]),
    (b"\xff" * 16, 1000, 990, [58, 40, 194, 202, 867, 113, 391, 238, 301, 74]),
    (b"\x00" * 64 + b"ignored", (1 << 20) + 1, 1 << 20, [488717]),
    (
        hashlib.sha256(b"v").digest(),
        1 << 40,
        (1 << 40) - 5,
        [899638150900, 818842131878, 484164600659, 187541719160, 628658997658],
    ),
    (b"", 17, 0, [4, 11, 7, 15, 0, 12, 3, 13, 5, 1, 9, 16, 8, 10, 6, 2, 14]),
    (
        hashlib.sha256(b"w").digest(),
        (1 << 33) - 1,
        123456789,
        [4453691577, 7865870952, 1560755213, 7046257124, 3826555456, 5248348153],
    ),
]


@pytest.mark.parametrize(("key", "size", "start", "expected"), VECTORS)
def test_fixed_vectors(key: bytes, size: int, start: int, expected: list[int]) -> None:
    perm = IndexPermutation(key, size)
    assert list(perm.many(start, len(expected))) == expected
    assert [perm(k) for k in range(start, start + len(expected))] == expected
    # The reference still computes them too (it is the definition, not a copy of the output).
    assert list(Reference(key, size).many(start, len(expected))) == expected


def _sizes() -> st.SearchStrategy[int]:
    """Sizes near the edges of the Feistel domain: 1, 2, odd, powers of two and ±1 around
    them, up to 2^40, and any size in between."""
    around_powers = st.builds(
        lambda e, d: max(1, (1 << e) + d), st.integers(0, 40), st.sampled_from([-1, 0, 1])
    )
    return st.one_of(
        st.sampled_from([1, 2, 3, 4, 5]),
        around_powers,
        st.integers(1, 1 << 16).map(lambda n: n | 1),
        st.integers(1, 1 << 40),
    )


@settings(max_examples=300, deadline=None)
@given(key=st.binary(min_size=0, max_size=80), size=_sizes(), data=st.data())
def test_native_equals_the_reference(key: bytes, size: int, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, size - 1), label="start")
    count = data.draw(st.integers(0, min(size - start, 300)), label="count")
    native = IndexPermutation(key, size)
    assert list(native.many(start, count)) == list(Reference(key, size).many(start, count))
    k = data.draw(st.integers(0, size - 1), label="k")
    assert native(k) == Reference(key, size)(k)


@settings(max_examples=10, deadline=None)
@given(key=st.binary(min_size=16, max_size=32), size=st.integers(3000, 1 << 40))
def test_long_batches_equal_the_reference(key: bytes, size: int) -> None:
    """Batches long enough to be split across threads (and computed with the GIL released)."""
    count = min(size, 12_345)
    start = size - count
    native = IndexPermutation(key, size).many(start, count)
    assert list(native) == list(Reference(key, size).many(start, count))


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 3000), key=st.binary(min_size=16, max_size=32))
def test_permutation_is_a_bijection(size: int, key: bytes) -> None:
    perm = IndexPermutation(key, size)
    assert sorted(perm.many(0, size)) == list(range(size))


def test_permutation_depends_on_the_key_and_is_not_sequential() -> None:
    a = IndexPermutation(b"k" * 32, 1_000_000).many(0, 1000)
    b = IndexPermutation(b"j" * 32, 1_000_000).many(0, 1000)
    assert list(a) != list(b)
    ascending = sum(1 for x, y in pairwise(a) if y == x + 1)
    assert ascending < 5


def test_out_of_range_is_a_typed_error() -> None:
    perm = IndexPermutation(b"k" * 32, 10)
    for bad in (10, -1, 1 << 70):
        with pytest.raises(IndexError) as e:
            perm(bad)
        assert isinstance(e.value, StatusListError)
    with pytest.raises(IndexError):
        perm.many(5, 6)
    with pytest.raises(ArgumentError, match="start must be in"):
        perm.many(-1, 2)
    with pytest.raises(ArgumentError, match="size must be positive"):
        IndexPermutation(b"k", 0)
    assert len(perm.many(10, 0)) == 0


@settings(max_examples=40, deadline=None)
@given(
    key=st.binary(min_size=16, max_size=32),
    size=st.integers(1, 1 << 40),
    uri=st.text(max_size=40),
    data=st.data(),
)
def test_entries_json_is_what_json_dumps_writes(
    key: bytes, size: int, uri: str, data: st.DataObject
) -> None:
    start = data.draw(st.integers(0, size - 1))
    count = data.draw(st.integers(1, min(size - start, 2000)))
    perm = IndexPermutation(key, size)
    items = [{"status_list": {"idx": i, "uri": uri}} for i in perm.many(start, count)]
    assert perm.entries_json(start, count, uri) == json.dumps(items)[1:-1].encode()
