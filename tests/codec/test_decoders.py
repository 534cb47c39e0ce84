"""Other implementations' inflaters read everything our encoder produces (issue #14).

On every list of the compression sweep (``benchmarks/sweep.py``: bits 1, 2, 8; densities 0.01% to
50%; uniform and clustered; and its periodic patterns: every k-th entry, a repeated block, one
entry every K entries) the zlib stream of ``StatusList.encode`` must inflate to the list's bytes
with Python's ``zlib`` and with ``pako`` (the inflater of the npm peer ``@sd-jwt/jwt-status-list``),
run by node. ``zlib-rs`` and ``miniz_oxide`` are covered by
``rust/statuslist-core/tests/roundtrip.rs``. A Hypothesis property feeds random and adversarial
byte patterns (runs of any byte, periodic patterns, sparse marks, noise) across chunk and group
boundaries.

Missing ``node``/``npm`` or a failed install FAILS the pako test; it is never skipped.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.sweep import BITS, DENSITIES, PATTERNS, Case, build, periodic_cases
from statuslist import StatusList
from statuslist.codec import CHUNK_BYTES
from tests.interop._common import process_failure

NODE_DIR = Path(__file__).resolve().parents[1] / "interop" / "node"
#: Entries per sweep list (the sweep's default size).
ENTRIES = 1_000_000

CASES = [
    Case(bits, density, pattern, ENTRIES)
    for bits in BITS
    for pattern in PATTERNS
    for density in DENSITIES
] + periodic_cases(ENTRIES)


@pytest.fixture(scope="module")
def sweep() -> list[tuple[Case, bytes, bytes]]:
    """(case, raw bytes, our zlib stream) for every list of the sweep."""
    out = []
    for case in CASES:
        raw, _ = build(case)
        out.append((case, raw, StatusList.from_bytes(raw, case.bits).encode()))
    return out


def test_python_zlib_reads_the_sweep(sweep: list[tuple[Case, bytes, bytes]]) -> None:
    for case, raw, z in sweep:
        assert zlib.decompress(z) == raw, case.name


def _pako_inflate(tmp: Path, streams: list[bytes]) -> list[dict[str, object]]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail(f"the pako test needs node and npm on PATH (node={node}, npm={npm})")
    for name in ("package.json", "package-lock.json", "pako_inflate.mjs"):
        shutil.copy2(NODE_DIR / name, tmp / name)
    cmd = [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(tmp)]
    try:
        subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=300, check=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.fail(
            f"npm install for the pako test failed: {' '.join(cmd)}\n{process_failure(exc)}"
        )
    installed = json.loads((tmp / "node_modules" / "pako" / "package.json").read_text())
    assert installed["version"] == "2.2.0"
    proc = subprocess.run(
        [node, str(tmp / "pako_inflate.mjs")],
        input=json.dumps([base64.b64encode(z).decode() for z in streams]),
        capture_output=True,
        text=True,
        cwd=tmp,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"pako_inflate.mjs failed ({proc.returncode}):\n{proc.stderr}")
    result: list[dict[str, object]] = json.loads(proc.stdout)
    return result


def test_pako_reads_the_sweep(
    sweep: list[tuple[Case, bytes, bytes]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    inflated = _pako_inflate(tmp_path_factory.mktemp("pako"), [z for _, _, z in sweep])
    assert len(inflated) == len(sweep)
    for (case, raw, _), got in zip(sweep, inflated, strict=True):
        assert got == {"length": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}, case.name


# --- random and adversarial byte patterns --------------------------------------------------------

#: Sizes that straddle chunk and four-chunk group boundaries.
_SIZES = st.sampled_from([1, 2, 3, 259, CHUNK_BYTES - 1, CHUNK_BYTES + 3, 4 * CHUNK_BYTES + 1])


@st.composite
def adversarial(draw: st.DrawFn) -> bytes:
    """A byte array built from one of several shapes that stress an LZ77 encoder."""
    size = draw(st.one_of(_SIZES, st.integers(0, 6 * CHUNK_BYTES)))
    shape = draw(st.sampled_from(["runs", "periodic", "sparse", "noise", "bursts"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = random.Random(seed)
    if shape == "noise":
        return rng.randbytes(size)
    if shape == "periodic":
        unit = rng.randbytes(draw(st.integers(1, 70_000)))
        return (unit * (size // len(unit) + 1))[:size]
    out = bytearray(size)
    if shape == "runs":  # runs of any byte value, of any length up to past 258
        i = 0
        while i < size:
            n = rng.choice([1, 2, 3, 4, 257, 258, 259, rng.randint(1, 2000)])
            out[i : i + n] = bytes([rng.randrange(256)]) * len(out[i : i + n])
            i += n
    elif shape == "sparse":  # zeros, Y, zeros with few distinct Y
        values = rng.sample(range(1, 256), rng.randint(1, 4))
        for _ in range(int(size * rng.choice([0.0001, 0.01, 0.1]))):
            out[rng.randrange(size)] = rng.choice(values)
    else:  # bursts of 0xff with partial bytes at their edges (clustered revocations)
        for _ in range(rng.randint(0, 50)):
            start = rng.randrange(size * 8 + 1)
            for bit in range(start, min(start + rng.randint(1, 5000), size * 8)):
                out[bit // 8] |= 1 << (bit % 8)
    return bytes(out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=adversarial(), bits=st.sampled_from([1, 2, 4, 8]))
def test_encode_inflates_to_input(raw: bytes, bits: int) -> None:
    sl = StatusList.from_bytes(raw, bits)
    z = sl.encode()
    assert zlib.decompress(z) == raw
    # Incremental re-encode after a change equals a fresh encode and still inflates.
    if raw:
        sl[len(sl) - 1] = (1 << bits) - 1 - sl[len(sl) - 1]
        again = sl.encode()
        assert again == StatusList.from_bytes(sl.to_bytes(), bits).encode()
        assert zlib.decompress(again) == sl.to_bytes()


def test_never_larger_than_zlib9_on_the_sweep(sweep: list[tuple[Case, bytes, bytes]]) -> None:
    """Issue #14's size goal: no list of the sweep larger than ``zlib.compress(raw, 9)`` (the
    spec's reference encoding): the density patterns, and the periodic ones (every k-th entry, at
    1M entries and at 1 MiB where chunk seams fall inside copies; a repeated block; one entry in
    K or in alternating gaps, whose best copies are long "zeros, Y, zeros" ones)."""
    over = []
    for case, raw, z in sweep:
        limit = len(zlib.compress(raw, 9))
        if len(z) > limit:
            over.append(f"{case.name}: {len(z):,} > {limit:,}")
    assert not over, over


def _huffman_only(raw: bytes) -> int:
    """Size of zlib's literal-only coding of ``raw`` (no copies, no runs)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_HUFFMAN_ONLY)
    return len(c.compress(raw) + c.flush())


@pytest.mark.parametrize(("bits", "density"), [(1, 0.1), (1, 0.5), (2, 0.1), (2, 0.5)])
def test_dense_random_lists_cost_no_more_than_literals(bits: int, density: float) -> None:
    """On the dense random lists, whose chunks the encoder codes as literals without a parse
    (copies there saved nothing), the stream is no larger than zlib's literal-only coding, and
    still smaller than ``zlib.compress(raw, 9)``."""
    raw, _ = build(Case(bits, density, "uniform", ENTRIES))
    z = StatusList.from_bytes(raw, bits).encode()
    assert zlib.decompress(z) == raw
    assert len(z) <= _huffman_only(raw)
    assert len(z) <= len(zlib.compress(raw, 9))


def test_random_bytes_that_repeat_are_still_copies() -> None:
    """Random bytes look like dense random lists byte by byte, but where they repeat the encoder
    must see it: a random block repeated through several chunks (copies across chunk seams,
    from each chunk's dictionary) and chunks whose second half repeats their first."""
    rng = random.Random(7)
    block = rng.randbytes(4096)
    raw = block * (3 * CHUNK_BYTES // len(block))
    z = StatusList.from_bytes(raw, 1).encode()
    assert zlib.decompress(z) == raw
    assert len(z) < 2 * len(block), len(z)  # the block once, then copies
    assert len(z) <= len(zlib.compress(raw, 9))
    halves = b"".join(2 * rng.randbytes(CHUNK_BYTES // 2) for _ in range(3))
    z = StatusList.from_bytes(halves, 2).encode()
    assert zlib.decompress(z) == halves
    assert len(z) < 0.52 * len(halves), len(z)
    assert len(z) <= len(zlib.compress(halves, 9))
