"""The GIL is released during O(n) native work.

A background thread encodes (then decodes) large lists while the main thread spins a Python loop,
recording a timestamp per iteration. If the native call held the GIL, the main thread could not
run while it worked: its longest gap between two iterations would be about as long as the native
call. With the GIL released, the main thread keeps ticking throughout.
"""

from __future__ import annotations

import itertools
import random
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterator

import pytest

from statuslist import StatusList

ENTRIES = 400_000_000  # 50 MB at one bit: hundreds of chunks of work in one call


@pytest.fixture(scope="module")
def big_raw() -> bytes:
    rng = random.Random(5)
    sl = StatusList(ENTRIES, 1)
    idx = array("Q", (rng.randrange(ENTRIES) for _ in range(200_000)))
    sl.set_many(idx, bytes([1]) * len(idx))
    return sl.to_bytes()


@pytest.fixture(autouse=True)
def fast_switching() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    yield
    sys.setswitchinterval(old)


def _spin_while(work: Callable[[], object]) -> tuple[float, float, int]:
    """Runs `work` in a thread; returns (its duration, main thread's longest gap, ticks)."""
    done = threading.Event()
    span: list[float] = []

    def target() -> None:
        t0 = time.perf_counter()
        work()
        span.append(time.perf_counter() - t0)
        done.set()

    thread = threading.Thread(target=target)
    ticks = [time.perf_counter()]
    thread.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
    thread.join()
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    return span[0], max(gaps, default=0.0), len(ticks)


def test_encode_releases_the_gil(big_raw: bytes) -> None:
    # One call, not several: between calls the thread re-takes the GIL, which would let the main
    # thread tick even if each call held it.
    sl = StatusList.from_bytes(big_raw, 1)
    duration, gap, ticks = _spin_while(sl.encode)
    assert duration > 0.05, f"encode too quick ({duration:.3f}s) to tell anything"
    assert gap < duration / 2, f"main thread stalled {gap:.3f}s of a {duration:.3f}s encode"
    assert ticks > 1000


def test_decode_releases_the_gil(big_raw: bytes) -> None:
    z = StatusList.from_bytes(big_raw, 1).encode()
    duration, gap, ticks = _spin_while(lambda: StatusList.decode(z, 1, max_bytes=len(big_raw)))
    assert duration > 0.05, f"decode too quick ({duration:.3f}s) to tell anything"
    assert gap < duration / 2, f"main thread stalled {gap:.3f}s of a {duration:.3f}s decode"
    assert ticks > 1000
