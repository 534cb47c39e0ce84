"""The typed commands the service takes: request bodies are parsed into these at the edge (the
web layer checks shapes and types); the service checks them against the lists (ranges, the
final-INVALID rule, limits) and carries them out in one call."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Allocation", "ListUpdate", "NewList", "UpdateBatch"]


@dataclass(frozen=True, slots=True)
class NewList:
    """``POST /v1/lists``; ``None`` takes the configured default."""

    bits: int | None = None
    size: int | None = None
    ttl: int | None = None
    formats: tuple[str, ...] | None = None
    final_invalid: bool = False
    decoys: int = 0


@dataclass(frozen=True, slots=True)
class Allocation:
    """``POST /v1/allocations``: ``count`` fresh entries, from ``list_id`` or the issuer's pool."""

    count: int
    list_id: str | None = None


@dataclass(slots=True)  # not frozen: a frozen dataclass costs more to build, per write
class ListUpdate:
    """New values for entries of one list: ``values`` has one byte per index.

    ``form`` names how the request spelled it, so that a refusal names the field at fault:
    ``single`` (``idx``/``status``), ``updates`` (``updates[k].idx``), ``indices``
    (``indices[k]``/``status``), ``statuses`` (``indices[k]``/``statuses[k]``), ``binary``
    (``indices``/``status``). ``positions`` maps entry ``k`` to its place in the request's
    ``updates`` array when it is not ``k`` (one list's share of a batch by URI).
    """

    list_id: str
    indices: array[int] = field(repr=False)
    values: bytes = field(repr=False)
    form: str = "updates"
    positions: Sequence[int] | None = field(default=None, repr=False)
    list_field: str | None = None

    def field_of(self, k: int, what: str) -> str:
        """The request field holding entry ``k``'s ``what`` (``idx`` or ``status``)."""
        if self.form == "single" or (self.form == "binary" and what == "status"):
            return what
        if self.form == "binary":
            return "indices"
        if self.form == "updates":
            pos = self.positions[k] if self.positions is not None else k
            return f"updates[{pos}].{what}"
        if what == "idx":
            return f"indices[{k}]"
        return "status" if self.form == "indices" else f"statuses[{k}]"


@dataclass(slots=True)
class UpdateBatch:
    """Status changes applied atomically, possibly to several lists of one issuer."""

    parts: Sequence[ListUpdate]

    @property
    def size(self) -> int:
        if len(self.parts) == 1:
            return len(self.parts[0].indices)
        return sum(len(p.indices) for p in self.parts)
