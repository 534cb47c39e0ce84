"""Helpers shared by the interop tests: deterministic random status lists and comparisons."""

from __future__ import annotations

import base64
import random
import subprocess
import zlib
from typing import Any

import pytest

from statuslist import StatusList

BITS = (1, 2, 4, 8)

#: (size, pattern). Sizes: a single entry; 13 and 777, which leave the last byte partly filled at
#: bits 1, 2 and 4; 4096, which fills it; ~100k entries. Patterns: uniformly random statuses, a
#: realistic mostly-valid list (~1% non-zero) and every entry at the maximal value.
CASES = (
    (1, "uniform"),
    (13, "uniform"),
    (777, "max"),
    (4096, "uniform"),
    (100_000, "sparse"),
    (100_003, "uniform"),
)


def process_failure(exc: subprocess.CalledProcessError | subprocess.TimeoutExpired) -> str:
    """The error with its captured output (``TimeoutExpired`` may hold bytes even in text mode)."""

    def text(output: str | bytes | None) -> str:
        return output.decode(errors="replace") if isinstance(output, bytes) else output or ""

    return f"{exc}\nstdout:\n{text(exc.stdout)}\nstderr:\n{text(exc.stderr)}"


def case_params() -> list[Any]:
    """``bits, size, pattern`` for every bits value and every case, with readable ids."""
    return [
        pytest.param(bits, size, pattern, id=f"bits{bits}-{size}-{pattern}")
        for bits in BITS
        for size, pattern in CASES
    ]


def random_statuses(bits: int, size: int, pattern: str) -> list[int]:
    """Deterministic statuses (the seed is the case itself, so failures reproduce)."""
    rng = random.Random(f"{bits}-{size}-{pattern}")
    top = (1 << bits) - 1
    if pattern == "uniform":
        return rng.choices(range(top + 1), k=size)
    if pattern == "sparse":  # ~1% non-zero, as in a real list of mostly valid tokens
        return [rng.randint(1, top) if rng.random() < 0.01 else 0 for _ in range(size)]
    if pattern == "max":
        return [top] * size
    raise ValueError(pattern)


def ours_from_statuses(bits: int, statuses: list[int]) -> StatusList:
    sl = StatusList(len(statuses), bits)
    sl.set_many(range(len(statuses)), statuses)
    return sl


def ours_statuses(sl: StatusList) -> list[int]:
    return [sl[i] for i in range(len(sl))]


def padded_len(bits: int, size: int) -> int:
    """Entries a decoder sees for ``size`` entries: the byte array is ceil(size*bits/8) bytes."""
    per_byte = 8 // bits
    return -(-size // per_byte) * per_byte


def assert_same_statuses(decoded: list[int], expected: list[int], bits: int, who: str) -> None:
    """``decoded`` (a whole decoded list, padding included) holds ``expected`` then zeros.

    A decoder cannot know the original entry count, so the padding of the last byte comes back as
    extra entries; per spec §4.1 they must be 0. On a mismatch, the first differing index is named.
    """
    size = len(expected)
    assert len(decoded) == padded_len(bits, size), (
        f"{who}: decoded {len(decoded)} entries, expected {padded_len(bits, size)} "
        f"({size} entries at bits={bits}, padded to whole bytes)"
    )
    if decoded[:size] != expected:
        first = next(i for i in range(size) if decoded[i] != expected[i])
        pytest.fail(
            f"{who}: status at index {first} is {decoded[first]}, expected {expected[first]} "
            f"(bits={bits}, size={size}); around it decoded={decoded[first : first + 8]} "
            f"expected={expected[first : first + 8]}"
        )
    assert not any(decoded[size:]), f"{who}: padding entries are not 0: {decoded[size:]}"


def packed_bytes(lst: str) -> bytes:
    """The byte array of a ``lst`` value: base64url (no padding) → zlib inflate (spec §4.1)."""
    return zlib.decompress(base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4)))


def lsb_first_pack(bits: int, statuses: list[int]) -> bytes:
    """Reference packing straight from spec §4.1 (independent of both implementations)."""
    per_byte = 8 // bits
    out = bytearray(-(-len(statuses) // per_byte))
    for i, status in enumerate(statuses):
        out[i // per_byte] |= status << ((i % per_byte) * bits)
    return bytes(out)
