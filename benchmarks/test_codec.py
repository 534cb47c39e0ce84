"""Codec benchmarks (issue: native core). Peers run in the same session so ratios hold.

Lists are 1-bit with 1% of entries revoked at random positions. For every size we time:
- ``encode``: our cold encode (all chunks dirty) vs ``zlib.compress(raw, 9)``;
- ``decode``: our ``StatusList.decode`` vs ``zlib.decompress``;
and on the 10M list the incremental re-encode after 1 and after 10,000 changes.
Each benchmark records the compressed size (``extra_info``) next to its timing.
"""

from __future__ import annotations

import random
import zlib
from array import array

import pytest

from benchmarks.conftest import raw_list
from statuslist import StatusList

SIZES = [1_000_000, 10_000_000, 100_000_000]
IDS = ["1M", "10M", "100M"]


def _rounds(entries: int, fast: bool) -> int:
    if fast:
        return 30 if entries <= 10_000_000 else 5
    return 5 if entries <= 10_000_000 else 1


@pytest.mark.parametrize("entries", SIZES, ids=IDS)
def test_encode_statuslist(benchmark: pytest.FixtureRequest, entries: int) -> None:
    raw = raw_list(entries)
    benchmark.group = f"encode {entries:,}"

    def setup() -> tuple[tuple[StatusList], dict[str, object]]:
        return (StatusList.from_bytes(raw, 1),), {}

    out = benchmark.pedantic(lambda sl: sl.encode(), setup=setup, rounds=_rounds(entries, True))
    assert zlib.decompress(out) == raw
    benchmark.extra_info["compressed_bytes"] = len(out)


@pytest.mark.parametrize("entries", SIZES, ids=IDS)
def test_encode_zlib9(benchmark: pytest.FixtureRequest, entries: int) -> None:
    raw = raw_list(entries)
    benchmark.group = f"encode {entries:,}"
    out = benchmark.pedantic(zlib.compress, args=(raw, 9), rounds=_rounds(entries, False))
    benchmark.extra_info["compressed_bytes"] = len(out)


@pytest.mark.parametrize("entries", SIZES, ids=IDS)
def test_decode_statuslist(benchmark: pytest.FixtureRequest, entries: int) -> None:
    raw = raw_list(entries)
    benchmark.group = f"decode {entries:,}"
    z = zlib.compress(raw, 9)
    sl = benchmark.pedantic(
        StatusList.decode,
        args=(z, 1),
        kwargs={"max_bytes": len(raw)},
        rounds=_rounds(entries, True),
    )
    assert sl.to_bytes() == raw
    benchmark.extra_info["compressed_bytes"] = len(z)


@pytest.mark.parametrize("entries", SIZES, ids=IDS)
def test_decode_zlib(benchmark: pytest.FixtureRequest, entries: int) -> None:
    raw = raw_list(entries)
    benchmark.group = f"decode {entries:,}"
    z = zlib.compress(raw, 9)
    out = benchmark.pedantic(zlib.decompress, args=(z,), rounds=_rounds(entries, True))
    assert out == raw
    benchmark.extra_info["compressed_bytes"] = len(z)


@pytest.mark.parametrize("changes", [1, 10_000], ids=["1change", "10kchanges"])
def test_reencode_10m(benchmark: pytest.FixtureRequest, changes: int) -> None:
    """Re-encode after `changes` random entries flip; rounds alternate flipping a fixed random set
    on and off, so the list stays at ~1% revoked instead of filling up over the rounds."""
    entries = 10_000_000
    raw = raw_list(entries)
    benchmark.group = "re-encode 10,000,000"
    sl = StatusList.from_bytes(raw, 1)
    sl.encode()
    rng = random.Random(7)
    idx = array("Q", rng.sample(range(entries), changes))
    original = bytes(sl[i] for i in idx)
    flipped = bytes(1 - v for v in original)
    state = {"on": False}

    def setup() -> tuple[tuple[()], dict[str, object]]:
        state["on"] = not state["on"]
        sl.set_many(idx, flipped if state["on"] else original)
        return (), {}

    out = benchmark.pedantic(sl.encode, setup=setup, rounds=30)
    assert zlib.decompress(out) == sl.to_bytes()
    benchmark.extra_info["compressed_bytes"] = len(out)
