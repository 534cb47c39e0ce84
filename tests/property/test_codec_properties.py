"""Hypothesis: the native codec agrees with the pure-Python reference of spec §4.1–§4.2."""

from __future__ import annotations

import random
import zlib
from array import array
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from statuslist import StatusList
from tests.reference import get, pack, to_json


@st.composite
def lists(draw: st.DrawFn) -> tuple[int, int, dict[int, int]]:
    bits = draw(st.sampled_from([1, 2, 4, 8]))
    size = draw(st.integers(0, 5000))
    if size == 0:
        return bits, 0, {}
    statuses = draw(
        st.dictionaries(st.integers(0, size - 1), st.integers(0, (1 << bits) - 1), max_size=300)
    )
    return bits, size, statuses


@settings(max_examples=300, deadline=None)
@given(lists())
def test_native_matches_reference(case: tuple[int, int, dict[int, int]]) -> None:
    bits, size, statuses = case
    sl = StatusList(size, bits)
    sl.set_many(array("Q", statuses), bytes(statuses.values()))
    raw = pack(size, bits, statuses)
    assert sl.to_bytes() == raw
    assert [sl[i] for i in range(size)] == [get(raw, bits, i) for i in range(size)]
    assert zlib.decompress(sl.encode()) == raw
    values = Counter(get(raw, bits, i) for i in range(size))
    assert sl.counts() == {v: n for v, n in values.items() if n}


@settings(max_examples=200, deadline=None)
@given(lists(), st.integers(0, 9))
def test_decodes_reference_encodings(case: tuple[int, int, dict[int, int]], level: int) -> None:
    bits, size, statuses = case
    raw = pack(size, bits, statuses)
    assert StatusList.decode(zlib.compress(raw, level), bits).to_bytes() == raw
    assert StatusList.from_json(to_json(raw, bits, level)).to_bytes() == raw


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200_000) | st.binary(max_size=300).map(lambda b: b * 500))
def test_arbitrary_bytes_round_trip(raw: bytes) -> None:
    """Noise, repeats and short inputs exercise stored, fixed and dynamic blocks and the matcher."""
    sl = StatusList.from_bytes(raw, 8)
    z = sl.encode()
    assert zlib.decompress(z) == raw
    assert StatusList.decode(z, 8).to_bytes() == raw


def test_incremental_equals_fresh_over_rounds() -> None:
    """After each round of changes the incremental encoding equals a from-scratch encoding."""
    rng = random.Random(20261122)
    size = 2_000_000  # 250 KB: four 64 KiB chunks
    sl = StatusList(size, 1)
    for round_no in range(6):
        n = rng.choice([1, 10, 1000, 20_000])
        idx = array("Q", (rng.randrange(size) for _ in range(n)))
        sl.set_many(idx, bytes(rng.randrange(2) for _ in range(n)))
        z = sl.encode()
        assert sl.dirty_chunks() == 0
        assert zlib.decompress(z) == sl.to_bytes(), f"round {round_no}"
        assert z == StatusList.from_bytes(sl.to_bytes(), 1).encode(), f"round {round_no}"
