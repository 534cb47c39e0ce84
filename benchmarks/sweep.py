"""Compression sweep (issue #14): our encoder against zlib-9, libdeflate-12 and zopfli, per pattern.

Every list of the sweep is built here (deterministic seeds) and compressed by every peer in the
same run, so the ratios hold on a noisy shared machine:

- ``ours``: a cold ``StatusList.encode()`` (every chunk dirty; the list is built before timing;
  it runs on all cores, so "CPU × zlib-9", the ratio of CPU seconds, is the load-robust figure and
  "speed × zlib-9", the ratio of wall-clock medians, the one a publisher sees on an idle machine);
- ``zlib-9``: ``zlib.compress(raw, 9)`` (Python's zlib, the spec's reference encoding);
- ``libdeflate-12``: ``deflate.zlib_compress(raw, 12)`` (PyPI ``deflate``);
- ``zopfli``: ``zopfli.zlib.compress(raw)`` (PyPI ``zopfli``, 15 iterations), only on lists up to
  ``--zopfli-max`` bytes because it needs seconds per 100 KB.

Every output is inflated with ``zlib.decompress`` and compared with the input. The entropy bound is
the information content of the process that generated the list (see :func:`entropy_bits`): no
encoder that knows only that process can do better on average.

Patterns: ``uniform`` revokes entries independently at random positions; ``clustered`` revokes
bursts of consecutive entries (burst lengths geometric with mean :data:`BURST_MEAN`) at random
starts until the density is reached. Revoked entries get status 1 on 1-bit lists and a status drawn
uniformly from 1..3 on wider lists (one per entry when uniform, one per burst when clustered).

Periodic patterns (after the density sweep; ``--no-periodic`` leaves them out), the worst case of
an LZ77 search: 1-bit lists with every 3rd, 5th and 13th entry revoked, at ``--entries`` entries and
at 1 MiB (8,388,608 entries, 16 chunks of 64 KiB: where each chunk's copies end), one random 64-byte
block repeated over the whole list; and 8-bit lists with one revoked entry (one non-zero byte) every
K entries, K = 37, 100, 250, 997 and 4093 or cycling through 100/101/103, 997/1003 and 4093/3001
(the copies worth taking are long "zeros, Y, zeros" ones one period back). Their entropy bound is
what picks them among the lists of their kind (the offset of the first revoked entry; the block's
512 random bits).

    python3 -m benchmarks.sweep                    # the table of benchmarks/README.md
    python3 -m benchmarks.sweep --entries 1000000 --bits 1 --densities 0.01
"""

from __future__ import annotations

import argparse
import math
import platform
import random
import statistics
import time
import zlib
from array import array
from collections.abc import Callable
from dataclasses import dataclass

import deflate
import zopfli.zlib

from statuslist import StatusList

DENSITIES = (0.0001, 0.001, 0.01, 0.1, 0.5)
BITS = (1, 2, 8)
PATTERNS = ("uniform", "clustered")
#: Mean length of a burst of consecutive revocations in the clustered pattern.
BURST_MEAN = 32
#: Largest status value drawn for a revoked entry of a list wider than one bit.
TOP_VALUE = 3
#: Periodic patterns: every k-th entry revoked, for each k; and a repeated random block of bytes.
PERIODS = (3, 5, 13)
BLOCK_BYTES = 64
#: The periodic 1-bit lists are also built at this size (1 MiB: 16 chunks).
PERIODIC_MIB_ENTRIES = 8 * 1024 * 1024
#: Sparse periodic 8-bit lists: one revoked entry after each gap, the gaps taken in turn.
GAPS = ((37,), (100,), (250,), (997,), (4093,), (100, 101, 103), (997, 1003), (4093, 3001))


@dataclass(frozen=True)
class Case:
    bits: int
    density: float
    pattern: str
    entries: int
    #: ``periodic``: revoke every ``period``-th entry; ``repeat``: a block of ``period`` bytes.
    period: int = 0
    #: ``gaps``: revoke one entry after each of these gaps (in entries), in turn.
    gaps: tuple[int, ...] = ()

    @property
    def name(self) -> str:
        if self.pattern == "periodic":
            nth = {1: "st", 2: "nd", 3: "rd"}.get(self.period % 10, "th")
            if self.period % 100 in (11, 12, 13):
                nth = "th"
            size = " (1 MiB)" if self.entries == PERIODIC_MIB_ENTRIES else ""
            return f"{self.bits}-bit every {self.period}{nth} entry{size}"
        if self.pattern == "gaps":
            return f"{self.bits}-bit one entry in {'/'.join(map(str, self.gaps))}"
        if self.pattern == "repeat":
            return f"{self.bits}-bit {self.period}-byte block repeated"
        return f"{self.bits}-bit {self.density * 100:g}% {self.pattern}"


def periodic_cases(entries: int) -> list[Case]:
    """The periodic patterns of the sweep, of ``entries`` entries (and the 1 MiB ones)."""
    cases = [Case(1, 1 / k, "periodic", entries, k) for k in PERIODS]
    cases += [Case(1, 1 / k, "periodic", PERIODIC_MIB_ENTRIES, k) for k in PERIODS]
    cases.append(Case(1, 0.5, "repeat", entries, BLOCK_BYTES))
    for gaps in GAPS:
        cases.append(Case(8, len(gaps) / sum(gaps), "gaps", entries, gaps=gaps))
    return cases


def _values(bits: int) -> int:
    return 1 if bits == 1 else min(TOP_VALUE, (1 << bits) - 1)


def build(case: Case) -> tuple[bytes, float]:
    """The raw list of ``case`` and the entropy bound of its generating process, in bytes."""
    rng = random.Random(f"{case.bits}-{case.density}-{case.pattern}-{case.entries}")
    n, k = case.entries, _values(case.bits)
    nbytes = (n * case.bits + 7) // 8
    if case.pattern == "periodic":
        sl = StatusList(n, case.bits)
        idx = array("Q", range(0, n, case.period))
        sl.set_many(idx, bytes([1]) * len(idx))
        return sl.to_bytes(), math.log2(case.period) / 8
    if case.pattern == "gaps":
        raw = bytearray(nbytes)
        at, k = 0, 0
        while at < nbytes:
            raw[at] = 1
            at += case.gaps[k % len(case.gaps)]
            k += 1
        return bytes(raw), math.log2(sum(case.gaps)) / 8
    if case.pattern == "repeat":
        block = rng.randbytes(case.period)
        return (block * (nbytes // case.period + 1))[:nbytes], case.period
    target = int(n * case.density)
    statuses: dict[int, int] = {}
    bursts: list[int] = []
    if case.pattern == "uniform":
        for i in rng.sample(range(n), target):
            statuses[i] = rng.randint(1, k)
    else:
        p_stop = 1 / BURST_MEAN
        while len(statuses) < target:
            start, value = rng.randrange(n), rng.randint(1, k)
            length = 1
            while rng.random() >= p_stop:
                length += 1
            length = min(length, target - len(statuses), n - start)
            bursts.append(length)
            for i in range(start, start + length):
                statuses[i] = value
    sl = StatusList(n, case.bits)
    idx = array("Q", statuses)
    sl.set_many(idx, bytes(statuses[i] for i in idx))
    return sl.to_bytes(), entropy_bits(case, len(statuses), bursts) / 8


def _log2_binomial(n: int, k: int) -> float:
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)) / math.log(2)


def entropy_bits(case: Case, revoked: int, bursts: list[int]) -> float:
    """Information content of the generated list, in bits.

    Uniform: which ``revoked`` of the ``entries`` positions (log2 C(n, r)) and a value each.
    Clustered: which burst starts (log2 C(n, b)), each burst's geometric length (its entropy,
    ``H(1/m) * m`` bits for mean ``m``) and one value per burst.
    """
    n, k = case.entries, _values(case.bits)
    if case.pattern == "uniform":
        return _log2_binomial(n, revoked) + revoked * math.log2(k)
    b = len(bursts)
    p = 1 / BURST_MEAN
    h = -(p * math.log2(p) + (1 - p) * math.log2(1 - p)) / p
    return _log2_binomial(n, b) + b * (h + math.log2(k))


def _time(fn: Callable[[], bytes], repeat: int) -> tuple[bytes, float, float]:
    """Output, median wall seconds and median CPU seconds (all threads of the process)."""
    walls, cpus, out = [], [], b""
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return out, statistics.median(walls), statistics.median(cpus)


@dataclass
class Row:
    case: Case
    raw: int
    bound: float
    #: peer name -> (compressed bytes, median wall seconds, median CPU seconds)
    results: dict[str, tuple[int, float, float]]


def measure(case: Case, repeat: int, zopfli_max: int) -> Row:
    raw, bound = build(case)
    lists = [StatusList.from_bytes(raw, case.bits) for _ in range(repeat)]
    fresh = iter(lists)  # a cold encode each round: every chunk dirty
    peers: dict[str, tuple[Callable[[], bytes], int]] = {
        "ours": (lambda: next(fresh).encode(), repeat),
        "zlib-9": (lambda: zlib.compress(raw, 9), max(1, repeat // 3)),
        "libdeflate-12": (lambda: deflate.zlib_compress(raw, 12), max(1, repeat // 3)),
    }
    if len(raw) <= zopfli_max:
        peers["zopfli"] = (lambda: zopfli.zlib.compress(raw), 1)
    results = {}
    for name, (fn, rounds) in peers.items():
        out, wall, cpu = _time(fn, rounds)
        if zlib.decompress(out) != raw:
            raise AssertionError(f"{name} output does not inflate to the input on {case.name}")
        results[name] = (len(out), wall, cpu)
    return Row(case, len(raw), bound, results)


def _ms(s: float) -> str:
    return f"{s * 1000:,.2f}" if s < 10 else f"{s * 1000:,.0f}"


def table(rows: list[Row]) -> str:
    lines = [
        "| pattern | raw bytes | entropy bound | ours | zlib-9 | libdeflate-12 | zopfli "
        "| ours ÷ zlib-9 | ours ÷ libdeflate-12 | ours ÷ bound | ours ms | zlib-9 ms "
        "| libdeflate-12 ms | speed × zlib-9 | CPU × zlib-9 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ours, z9, ld = r.results["ours"], r.results["zlib-9"], r.results["libdeflate-12"]
        zop = f"{r.results['zopfli'][0]:,}" if "zopfli" in r.results else "–"
        lines.append(
            f"| {r.case.name} | {r.raw:,} | {r.bound:,.0f} | {ours[0]:,} | {z9[0]:,} | {ld[0]:,} "
            f"| {zop} | {ours[0] / z9[0]:.3f} | {ours[0] / ld[0]:.3f} "
            f"| {ours[0] / r.bound if r.bound else math.inf:.2f} "
            f"| {_ms(ours[1])} | {_ms(z9[1])} | {_ms(ld[1])} | {z9[1] / ours[1]:.1f} "
            f"| {z9[2] / max(ours[2], 1e-6):.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--entries", type=int, default=1_000_000, help="entries per list")
    ap.add_argument("--bits", type=int, nargs="*", default=list(BITS))
    ap.add_argument("--densities", type=float, nargs="*", default=list(DENSITIES))
    ap.add_argument("--patterns", nargs="*", default=list(PATTERNS))
    ap.add_argument("--repeat", type=int, default=9, help="timed rounds of ours (zlib: a third)")
    ap.add_argument(
        "--zopfli-max", type=int, default=300_000, help="largest raw list zopfli is run on"
    )
    ap.add_argument("--no-periodic", action="store_true", help="leave out the periodic patterns")
    args = ap.parse_args(argv)
    cases = [
        Case(bits, density, pattern, args.entries)
        for bits in args.bits
        for pattern in args.patterns
        for density in args.densities
    ]
    if not args.no_periodic:
        cases += periodic_cases(args.entries)
    rows = []
    for case in cases:
        rows.append(measure(case, args.repeat, args.zopfli_max))
        print(f"done {case.name}", flush=True)
    print()
    print(table(rows))
    print()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(
        f"{args.entries:,} entries per list; {platform.python_implementation()} "
        f"{platform.python_version()}; medians; {stamp}"
    )


if __name__ == "__main__":
    main()
