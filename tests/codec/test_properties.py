"""Hypothesis: the native codec agrees with a pure-Python reference of spec §4.1-§4.2.

The reference below is deliberately small and uses the standard library only, so that it can be
checked by reading it against the spec. Compressed bytes are never compared with the reference
(any valid DEFLATE stream is fine); what is compared is what they inflate to.
"""

from __future__ import annotations

import base64
import random
import zlib
from array import array
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statuslist import StatusList
from statuslist.codec import CHUNK_BYTES, DICT_BYTES

# --- reference: spec §4.1 (packing, zlib) and §4.2 (base64url without padding) --------------------


def pack(size: int, bits: int, statuses: Mapping[int, int]) -> bytes:
    """Byte array of §4.1: entry i in byte i // (8 // bits), shifted by (i % (8 // bits)) * bits."""
    per_byte = 8 // bits
    out = bytearray(-(-size * bits // 8))
    for i, v in statuses.items():
        out[i // per_byte] |= v << ((i % per_byte) * bits)
    return bytes(out)


def get(raw: bytes, bits: int, i: int) -> int:
    per_byte = 8 // bits
    return (raw[i // per_byte] >> ((i % per_byte) * bits)) & ((1 << bits) - 1)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def encode_json(raw: bytes, bits: int, level: int = 9) -> dict[str, object]:
    return {"bits": bits, "lst": b64url(zlib.compress(raw, level))}


# --- strategies -----------------------------------------------------------------------------------

BITS = [1, 2, 4, 8]


@dataclass(frozen=True)
class Case:
    bits: int
    size: int
    assignments: tuple[tuple[int, int], ...]  # applied in order: later duplicates win

    @property
    def statuses(self) -> dict[int, int]:
        return dict(self.assignments)

    @property
    def raw(self) -> bytes:
        return pack(self.size, self.bits, self.statuses)


@st.composite
def cases(draw: st.DrawFn, max_size: int = 5000) -> Case:
    bits = draw(st.sampled_from(BITS))
    size = draw(
        st.integers(0, 64) | st.integers(0, max_size) | st.integers(max_size // 2, max_size)
    )
    if size == 0:
        return Case(bits, 0, ())
    top = (1 << bits) - 1
    index = st.integers(0, size - 1) | st.sampled_from([0, size - 1])
    value = st.integers(0, top) | st.just(top)
    pairs = draw(st.lists(st.tuples(index, value), max_size=200))
    # Hypothesis keeps lists short; add a seeded dense part so full and noisy lists occur too.
    density = draw(st.sampled_from([0.0, 0.0, 0.01, 0.5, 1.0]))
    if density:
        rng = random.Random(draw(st.integers(0, 2**32)))
        dense = [(i, rng.randint(1, top)) for i in range(size) if rng.random() < density]
        pairs = dense + pairs
    return Case(bits, size, tuple(pairs))


def apply(sl: StatusList, case: Case, how: str) -> None:
    if not case.assignments:
        return
    idx, values = zip(*case.assignments, strict=True)
    if how == "array":
        sl.set_many(array("Q", idx), bytes(values))
    elif how == "list":
        sl.set_many(list(idx), list(values))
    elif how == "setitem":
        for i, v in case.assignments:
            sl[i] = v
    else:  # negative indices, as on a sequence
        for i, v in case.assignments:
            sl[i - case.size] = v


# --- properties -----------------------------------------------------------------------------------


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.sampled_from(["array", "list", "setitem", "negative"]))
def test_native_list_matches_reference(case: Case, how: str) -> None:
    sl = StatusList(case.size, case.bits)
    apply(sl, case, how)
    raw = case.raw

    assert sl.bits == case.bits
    assert len(sl) == case.size
    assert sl.to_bytes() == raw
    expected = [get(raw, case.bits, i) for i in range(case.size)]
    assert [sl[i] for i in range(case.size)] == expected
    assert [sl[i - case.size] for i in range(case.size)] == expected
    assert zlib.decompress(sl.encode()) == raw
    assert sl.counts() == {v: n for v, n in Counter(expected).items() if n}


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cases(),
    st.integers(0, 9),
    st.sampled_from(
        [zlib.Z_DEFAULT_STRATEGY, zlib.Z_FILTERED, zlib.Z_HUFFMAN_ONLY, zlib.Z_RLE, zlib.Z_FIXED]
    ),
)
def test_decodes_reference_encodings(case: Case, level: int, strategy: int) -> None:
    raw = case.raw
    entries = len(raw) * 8 // case.bits

    sl = StatusList.decode(zlib.compress(raw, level), case.bits)
    assert sl.to_bytes() == raw and len(sl) == entries and sl.bits == case.bits
    assert sl == StatusList.from_bytes(raw, case.bits)

    co = zlib.compressobj(level, zlib.DEFLATED, 15, 9, strategy)
    cut = len(raw) // 3  # a sync flush mid-stream adds an empty stored block
    z = co.compress(raw[:cut]) + co.flush(zlib.Z_SYNC_FLUSH) + co.compress(raw[cut:]) + co.flush()
    assert StatusList.decode(z, case.bits).to_bytes() == raw

    obj = encode_json(raw, case.bits, level)
    assert StatusList.from_json(obj).to_bytes() == raw
    text = f'{{"lst": "{obj["lst"]}", "bits": {case.bits}}}'
    assert StatusList.from_json(text).to_bytes() == raw


@st.composite
def noisy_bytes(draw: st.DrawFn) -> bytes:
    """Concatenated segments of noise, runs, repeated patterns and sparse data, up to ~400 KB."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    out = bytearray()
    for kind in draw(
        st.lists(st.sampled_from(["noise", "run", "pattern", "sparse"]), min_size=1, max_size=6)
    ):
        n = draw(st.sampled_from([1, 3, 258, 259, 4000, 32_768, 70_000, 150_000]))
        if kind == "noise":
            out += rng.randbytes(n)
        elif kind == "run":
            out += bytes([rng.randrange(256)]) * n
        elif kind == "pattern":
            out += (rng.randbytes(rng.randint(2, 300)) * (n // 2 + 1))[:n]
        else:
            seg = bytearray(n)
            for _ in range(n // 100 + 1):
                seg[rng.randrange(n)] = rng.randrange(1, 256)
            out += seg
    return bytes(out)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=5000) | noisy_bytes(), st.sampled_from(BITS))
def test_arbitrary_bytes_round_trip(raw: bytes, bits: int) -> None:
    """Noise, runs and short inputs exercise stored, fixed and dynamic blocks and the matcher."""
    sl = StatusList.from_bytes(raw, bits)
    assert len(sl) == len(raw) * 8 // bits
    z = sl.encode()
    assert zlib.decompress(z) == raw
    again = StatusList.decode(z, bits, max_bytes=max(len(raw), 1))
    assert again.to_bytes() == raw
    assert again == sl


ROUND = st.tuples(
    st.sampled_from(["scatter", "one_chunk", "last_chunk", "clear", "noop"]),
    st.sampled_from([1, 10, 1000, 20_000]),
    st.integers(0, 2**32),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32), st.lists(ROUND, min_size=1, max_size=5))
def test_incremental_encode_equals_fresh_encode(
    seed: int, rounds: list[tuple[str, int, int]]
) -> None:
    """After each round of changes, the incremental encoding equals a from-scratch one.

    2,000,000 one-bit entries are 250,000 bytes: three full 64 KiB chunks and a partial last one.
    """
    size = 2_000_000
    chunks = -(-size // 8 // CHUNK_BYTES)
    assert chunks == 4
    rng = random.Random(seed)
    sl = StatusList(size, 1)
    sl.set_many(array("Q", rng.sample(range(size), 5000)), bytes([1]) * 5000)
    assert sl.dirty_chunks() == chunks  # never encoded: everything is dirty
    before = sl.to_bytes()
    z = sl.encode()
    assert zlib.decompress(z) == before

    for number, (kind, n, round_seed) in enumerate(rounds):
        r = random.Random(round_seed)
        if kind == "scatter":
            idx = [r.randrange(size) for _ in range(n)]
        elif kind in ("one_chunk", "last_chunk"):
            k = chunks - 1 if kind == "last_chunk" else r.randrange(chunks)
            lo, hi = k * CHUNK_BYTES * 8, min((k + 1) * CHUNK_BYTES * 8, size)
            idx = [r.randrange(lo, hi) for _ in range(n)]
        else:
            ones = [i for i in range(0, size, 997) if sl[i]] or [0]
            idx = [r.choice(ones) for _ in range(n)]
        if kind == "noop":
            values = bytes(sl[i] for i in idx)
        elif kind == "clear":
            values = bytes(n)
        else:
            values = bytes(r.randrange(2) for _ in range(n))
        sl.set_many(array("Q", idx), values)

        after = sl.to_bytes()
        changed = sum(
            before[k * CHUNK_BYTES : (k + 1) * CHUNK_BYTES]
            != after[k * CHUNK_BYTES : (k + 1) * CHUNK_BYTES]
            for k in range(chunks)
        )
        # A chunk is also re-encoded when the last DICT_BYTES of the one before it changed (its
        # segment copies from there).
        changed += sum(
            before[(k + 1) * CHUNK_BYTES - DICT_BYTES : (k + 1) * CHUNK_BYTES]
            != after[(k + 1) * CHUNK_BYTES - DICT_BYTES : (k + 1) * CHUNK_BYTES]
            and before[(k + 1) * CHUNK_BYTES : (k + 2) * CHUNK_BYTES]
            == after[(k + 1) * CHUNK_BYTES : (k + 2) * CHUNK_BYTES]
            for k in range(chunks - 1)
        )
        touched = len(
            {i // 8 // CHUNK_BYTES for i in idx}
            | {
                i // 8 // CHUNK_BYTES + 1
                for i in idx
                if i // 8 % CHUNK_BYTES >= CHUNK_BYTES - DICT_BYTES
                and i // 8 // CHUNK_BYTES + 1 < chunks
            }
        )
        # Exact unless one call sets an entry and then sets it back (duplicate indices): the
        # chunk is then re-encoded although its bytes end as they were — harmless, never less.
        dirty = sl.dirty_chunks()
        if len(set(idx)) == len(idx):
            assert dirty == changed, f"round {number} ({kind})"
        assert changed <= dirty <= touched, f"round {number} ({kind})"
        z = sl.encode()
        assert sl.dirty_chunks() == 0
        assert zlib.decompress(z) == after, f"round {number} ({kind})"
        assert z == StatusList.from_bytes(after, 1).encode(), (
            f"round {number}: incremental != fresh"
        )
        assert sl.encode() == z, "re-encoding without changes must not change the output"
        before = after


@given(
    st.binary(max_size=3000),
    st.sampled_from(BITS),
    st.integers(0, 3500) | st.integers(2**40, 2**63),
    st.none() | st.integers(0, 3500) | st.integers(2**40, 2**64 - 1),
)
def test_byte_ranges_are_slices_and_copies_are_independent(
    raw: bytes, bits: int, start: int, length: int | None
) -> None:
    """``to_bytes(start, length)`` is the slice ``raw[start:start + length]`` of the packed array
    (what a checkpoint reads page by page), and ``copy()`` is a list of its own."""
    sl = StatusList.from_bytes(raw, bits)
    stop = None if length is None else start + length
    assert sl.to_bytes(start, length) == raw[start:stop]
    assert sl.to_bytes(start) == raw[start:]
    twin = sl.copy()
    assert twin == sl and twin.bits == bits and twin.to_bytes() == raw
    if len(twin):
        twin[0] = (twin[0] + 1) % (1 << bits)
        assert sl.to_bytes() == raw and twin != sl
    assert twin.encode() and StatusList.decode(twin.encode(), bits) == twin
