"""The GIL is released while the native core encodes or decodes a large list.

How the test works: a background thread makes ONE long native call (``encode()`` of an 80M-entry
list, or ``decode()`` of its encoding) while the main thread spins a tight Python loop that
appends ``time.perf_counter()`` to an array on every iteration. Afterwards we look at the main
thread's ticks that fall inside the call's ``[start, end]`` interval.

Why it fails if the GIL were held: a thread only runs Python bytecode while it holds the GIL. If
the extension kept the GIL for the whole call, the main thread would block in its next GIL
acquisition as soon as the call began and could not record a single tick until the call returned.
Then (a) there would be (almost) no ticks inside the interval and (b) the gap between the last tick
before and the first tick after the call, i.e. the longest gap, would be about as long as the
call itself. With the GIL released, the main thread keeps ticking throughout: hundreds of thousands
of ticks, and gaps only as long as an OS time slice. ``sys.setswitchinterval(0.001)`` makes the
interpreter hand the GIL over quickly, so the only long gaps left are the ones the call causes.

One call per measurement, not a loop of short calls: between two calls the worker runs Python and
must give the GIL back, which would let the main thread tick even if every call held it. If one
call is too short to measure on a fast machine, the list is made bigger (repeated 2x, 4x, 8x).
"""

from __future__ import annotations

import bisect
import itertools
import random
import sys
import threading
import time
import zlib
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from statuslist import StatusList

SIZE = 80_000_000  # entries at one bit: 10 MB, ~150 chunks of 64 KiB
DENSITY = 0.01
MIN_CALL_SECONDS = 0.1  # shorter calls are too close to OS scheduling noise to tell anything
MIN_TICKS = 1000


@pytest.fixture(scope="module")
def raw() -> bytes:
    """10 MB byte array of an 80M-entry list with ~1% of its bits set at random."""
    rng = random.Random(20261122)
    indices = array("Q", [rng.randrange(SIZE) for _ in range(int(SIZE * DENSITY))])
    sl = StatusList(SIZE, 1)
    sl.set_many(indices, b"\x01" * len(indices))
    assert 0.009 * SIZE < sl.counts()[1] <= 0.01 * SIZE
    return sl.to_bytes()


@pytest.fixture(autouse=True)
def fast_switching() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


@dataclass
class Observation:
    start: float
    end: float
    ticks: array[float]  # main-thread perf_counter() values, ascending
    result: object

    @property
    def duration(self) -> float:
        return self.end - self.start

    def inside(self, start: float | None = None, end: float | None = None) -> list[float]:
        lo = bisect.bisect_right(self.ticks, self.start if start is None else start)
        hi = bisect.bisect_left(self.ticks, self.end if end is None else end)
        return list(self.ticks[lo:hi])

    def longest_gap(self) -> float:
        """Longest stretch of the call during which the main thread recorded no tick."""
        points = [self.start, *self.inside(), self.end]
        return max(b - a for a, b in itertools.pairwise(points))


def observe(call: Callable[[], object]) -> Observation:
    """Runs ``call`` once in a background thread while the main thread ticks."""
    span: list[float] = []
    result: list[object] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            span.append(time.perf_counter())
            result.append(call())
            span.append(time.perf_counter())
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    ticks: array[float] = array("d")
    tick, clock = ticks.append, time.perf_counter
    thread = threading.Thread(target=worker, name="native-call")
    alive = thread.is_alive
    thread.start()
    while alive():
        tick(clock())
    thread.join()
    if errors:
        raise errors[0]
    return Observation(span[0], span[1], ticks, result[0])


def measure(prepare: Callable[[int], Callable[[], object]], what: str) -> tuple[Observation, int]:
    """Observes ``prepare(factor)()`` for the smallest list size factor giving a measurable call."""
    durations = []
    for factor in (1, 2, 4, 8):
        obs = observe(prepare(factor))
        if obs.duration >= MIN_CALL_SECONDS:
            return obs, factor
        durations.append(f"{obs.duration * 1000:.1f} ms")
    pytest.fail(f"{what} stayed too quick to measure even at 8x the list: {durations}")


def progress_problem(obs: Observation, what: str, copy_at_end: bool = False) -> str | None:
    """Why ``obs`` looks like the GIL was held, or ``None`` when the main thread kept running.

    ``copy_at_end``: the call ends by copying what it wrote without the GIL into a new ``bytes``
    with the GIL held (a page-faulting copy that can take as long as the writing on a loaded
    machine); then the main thread must tick through the first quarter of the call, while the
    writing runs, and stall no longer than half of the call before that copy.
    """
    quarter = obs.duration / 4
    if copy_at_end:
        ticks = len(obs.inside(obs.start, obs.start + quarter))
        where = "first quarter"
        # The stall before the end, which is the copy's, is left out.
        points = [obs.start, *obs.inside()]
        gap = max((b - a for a, b in itertools.pairwise(points)), default=obs.duration)
    else:
        # Ticks in the middle half only: a worker holding the GIL still lets a few through at
        # the edges of the call (while it runs the Python around it).
        ticks = len(obs.inside(obs.start + quarter, obs.end - quarter))
        where = "middle half"
        gap = obs.longest_gap()
    summary = (
        f"{what} took {obs.duration * 1000:.1f} ms; the main thread ticked {ticks} times during "
        f"its {where} and its longest stall was {gap * 1000:.1f} ms"
    )
    if ticks < MIN_TICKS:
        return f"main thread barely ran: {summary}"
    if gap >= 0.5 * obs.duration:
        return f"main thread stalled (GIL held?): {summary}"
    return None


def assert_releases_gil(
    prepare: Callable[[int], Callable[[], object]],
    what: str,
    check_result: Callable[[Observation, int], None],
    copy_at_end: bool = False,
) -> None:
    """Up to three observations; passes on the first where the main thread kept running. On a
    shared 2-core machine one observation can stall for scheduling reasons; a call that holds
    the GIL stalls the main thread in every one of them."""
    problems = []
    for _ in range(3):
        obs, factor = measure(prepare, what)
        check_result(obs, factor)
        problem = progress_problem(obs, f"{what} at factor {factor}", copy_at_end)
        if problem is None:
            return
        problems.append(problem)
    pytest.fail("; ".join(problems))


def test_encode_releases_the_gil(raw: bytes) -> None:
    def prepare(factor: int) -> Callable[[], object]:
        fresh = StatusList.from_bytes(raw * factor, 1)  # never encoded: every chunk is dirty
        assert fresh.dirty_chunks() == -(-len(raw) * factor // 65536)
        return fresh.encode

    def check_result(obs: Observation, factor: int) -> None:
        assert isinstance(obs.result, bytes)
        assert zlib.decompress(obs.result) == raw * factor, "the measured encode must be real work"

    assert_releases_gil(prepare, "encode()", check_result)


def test_decode_releases_the_gil(raw: bytes) -> None:
    def prepare(factor: int) -> Callable[[], object]:
        z = StatusList.from_bytes(raw * factor, 1).encode()
        return lambda: StatusList.decode(z, 1, max_bytes=len(raw) * factor)

    def check_result(obs: Observation, factor: int) -> None:
        assert isinstance(obs.result, StatusList)
        assert obs.result.to_bytes() == raw * factor, "the measured decode must be real work"

    assert_releases_gil(prepare, "decode()", check_result)


def test_switch_interval_is_short_during_these_tests() -> None:
    """The autouse fixture sets 1 ms for each test here (and puts the old value back after)."""
    assert sys.getswitchinterval() == pytest.approx(0.001)


@pytest.mark.parametrize("method", ["many", "entries_json"])
def test_permutation_batches_release_the_gil(method: str) -> None:
    from statuslist._native import IndexPermutation

    perm = IndexPermutation(b"k" * 32, 100_000_000)
    uri = "https://status.example/lists/1"

    # many() is fast once the list's memo is filled: it needs more entries to be measurable.
    per_factor = 1_000_000 if method == "many" else 200_000

    def prepare(factor: int) -> Callable[[], object]:
        n = per_factor * factor
        if method == "many":
            return lambda: perm.many(0, n)
        return lambda: perm.entries_json(0, n, uri)

    def check_result(obs: Observation, factor: int) -> None:
        assert isinstance(obs.result, bytes)
        n = per_factor * factor
        if method == "many":
            got = array("Q", obs.result)
            assert len(got) == n and got[n - 1] == perm(n - 1), "the measured call must be real"
        else:
            assert obs.result.count(b"status_list") == n
            assert obs.result.endswith(f'{{"idx": {perm(n - 1)}, "uri": "{uri}"}}}}'.encode())

    # Both write their answer without the GIL and copy it into the returned bytes with it.
    assert_releases_gil(prepare, f"IndexPermutation.{method}()", check_result, copy_at_end=True)
