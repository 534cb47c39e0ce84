"""The keyed index permutation behind allocation: a bijection, keyed, not sequential."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statuslist.service.permutation import IndexPermutation


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
    with pytest.raises(IndexError):
        IndexPermutation(b"k" * 32, 10)(10)
