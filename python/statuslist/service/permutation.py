"""Random-looking, never-reused indices: a keyed permutation of a list's index domain.

Entry ``k`` handed out from a list (``k`` is the list's durable allocation counter) is
``permute(k)``. ``permute`` is a bijection of ``[0, size)``, so indices never repeat while the
counter only grows, yet consecutive allocations land far apart (spec §12.4/§12.5: no sequential
indices that leak issuance order or volume).

The permutation is native (``rust/statuslist-core/src/permutation.rs``, which documents the
construction: a six-round keyed-BLAKE2b Feistel network with cycle walking). Its mapping is
fixed for every existing list; ``tests/reference/permutation.py`` keeps the original pure-Python
implementation, and the tests check the two agree.
"""

from __future__ import annotations

import sys
from array import array

from statuslist._native import IndexPermutation as _Native

__all__ = ["IndexPermutation", "answer_json"]


class IndexPermutation:
    """A keyed bijection of ``[0, size)``; ``key`` is the list's secret (16+ random bytes)."""

    __slots__ = ("_native", "size")

    def __init__(self, key: bytes, size: int) -> None:
        self._native = _Native(key, size)
        self.size = size

    def __call__(self, k: int) -> int:
        return self._native(k)

    def many(self, start: int, count: int) -> array[int]:
        """``permute(k)`` for ``k`` in ``[start, start + count)``, as an ``array('Q')``. Long
        batches release the GIL."""
        out = array("Q")
        out.frombytes(self._native.many(start, count))  # u64 little-endian
        if sys.byteorder == "big":
            out.byteswap()
        return out

    def entries_json(self, start: int, count: int, uri: str) -> bytes:
        """The allocation answer's items for ``[start, start + count)`` of the list at ``uri``:
        ``{"status_list": {"idx": N, "uri": "…"}}`` joined by ``", "``, as ``json.dumps`` writes
        them. Long batches release the GIL."""
        return self._native.entries_json(start, count, uri)


def answer_json(parts: list[tuple[IndexPermutation, int, int, str]]) -> bytes:
    """The JSON array of the allocation answer's items for ``parts`` of ``(permutation, start,
    count, uri)``, in order, as ``json.dumps`` writes it; one native call (without the GIL for
    long answers) writing straight into the returned ``bytes``."""
    return _Native.answer_json([(p._native, start, n, uri) for p, start, n, uri in parts])
