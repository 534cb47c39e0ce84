"""Shared fixtures for the benchmarks: refuse debug builds, build the test lists once."""

from __future__ import annotations

import random
from array import array

import pytest

from statuslist import _native


def pytest_configure(config: pytest.Config) -> None:
    if _native.BUILD_PROFILE != "release":
        raise pytest.UsageError(
            "benchmarks need the release build of statuslist._native "
            f"(this one is {_native.BUILD_PROFILE}); run `make install`"
        )


def revoked_list(entries: int, fraction: float = 0.01, seed: int = 1) -> bytes:
    """Raw bytes of a 1-bit list with `fraction` of entries set, at random positions."""
    rng = random.Random(seed)
    sl = _native.StatusList(entries, 1)
    idx = array("Q", rng.sample(range(entries), int(entries * fraction)))
    sl.set_many(idx, bytes([1]) * len(idx))
    return sl.to_bytes()


_CACHE: dict[int, bytes] = {}


@pytest.fixture(scope="session")
def lists() -> dict[int, bytes]:
    """Lazily built raw lists keyed by entry count (1% revoked)."""
    return _CACHE


def raw_list(entries: int) -> bytes:
    if entries not in _CACHE:
        _CACHE[entries] = revoked_list(entries)
    return _CACHE[entries]
