"""The reference: the original pure-Python keyed index permutation, kept for the tests only.

The service runs the native one (``statuslist.service.permutation``, implemented in
``rust/statuslist-core/src/permutation.rs``); it must map every counter exactly as this code
does, since lists created before the move were handed out by it (a changed mapping could hand
an index out twice). Do not change this file.

Entry ``k`` handed out from a list (``k`` is the list's durable allocation counter) is
``permute(k)``. ``permute`` is a bijection of ``[0, size)``, so indices never repeat while the
counter only grows, yet consecutive allocations land far apart (spec §12.4/§12.5: no sequential
indices that leak issuance order or volume).

Construction: an unbalanced Feistel network over the ``b = ceil(log2(size))``-bit domain
(six rounds, keyed BLAKE2b as round function), with cycle walking to stay below ``size``: a
value outside ``[0, size)`` is permuted again until it falls inside. Because ``2^b < 2·size``, a
walk takes fewer than two steps on average.
"""

from __future__ import annotations

import hashlib
from array import array

__all__ = ["IndexPermutation"]

ROUNDS = 6


class IndexPermutation:
    """A keyed bijection of ``[0, size)``; ``key`` is the list's secret (16+ random bytes)."""

    __slots__ = ("_bits", "_hl", "_hr", "_lw", "_rounds", "_rw", "size")

    def __init__(self, key: bytes, size: int) -> None:
        if size < 1:
            raise ValueError("size must be positive")
        self.size = size
        self._bits = max(2, (size - 1).bit_length())
        self._lw = self._bits // 2
        self._rw = self._bits - self._lw
        self._rounds = [
            hashlib.blake2b(key=key[:64], digest_size=8, person=b"statuslist", salt=bytes([r]) * 8)
            for r in range(ROUNDS)
        ]

    def _encrypt(self, x: int) -> int:
        wa, wb = self._lw, self._rw
        a, b = x >> wb, x & ((1 << wb) - 1)
        for h in self._rounds:
            f = h.copy()
            f.update(b.to_bytes(8, "little"))
            a, b = b, a ^ (int.from_bytes(f.digest(), "little") & ((1 << wa) - 1))
            wa, wb = wb, wa
        return (a << wb) | b

    def __call__(self, k: int) -> int:
        if not 0 <= k < self.size:
            raise IndexError(f"counter {k} outside [0, {self.size})")
        x = self._encrypt(k)
        while x >= self.size:
            x = self._encrypt(x)
        return x

    def many(self, start: int, count: int) -> array[int]:
        """``permute(k)`` for ``k`` in ``[start, start + count)``, as an ``array('Q')``."""
        return array("Q", map(self, range(start, start + count)))
