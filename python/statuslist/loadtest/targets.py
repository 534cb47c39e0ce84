"""Where a load test's requests go: the instances of one deployment in turn, and the rule that
nothing else is contacted.

Several ``--url`` values are instances of one service (one database, one public base URL). The
token URIs that service hands out name its public base, which is usually a load balancer or a
CDN in front of the instances, not any one of them; to load every instance the tool fetches each
token from the instance whose turn it is, by putting that instance's base in place of the part of
the URI that names the deployment. Only a URI under a given instance's base, or under the public
base the instances report, is rewritten; anything else is refused, so the tool never contacts a
host it was not given. With ``--fetch-url`` the URIs must be under that base and are fetched
there as they are (the CDN in front of all instances).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

__all__ = ["RoundRobin", "Tally", "Targets"]


class Targets:
    """The instances' base URLs (no trailing slash), ``--fetch-url``, and the public base URL
    the instances report (``None`` until known, or when they do not say)."""

    def __init__(
        self,
        instances: Sequence[str],
        *,
        fetch_url: str | None = None,
        public_base: str | None = None,
    ) -> None:
        if not instances:
            raise ValueError("at least one instance URL is needed")
        self.instances = tuple(b.rstrip("/") for b in instances)
        self.fetch_url = fetch_url.rstrip("/") if fetch_url is not None else None
        self.public_base = public_base.rstrip("/") if public_base is not None else None

    def _prefixes(self) -> list[str]:
        """The bases a token URI may start with to be fetched from an instance, longest first
        (so a base that extends another wins). The public base counts only with several
        instances: with one URL the rule stays as it always was, a URI under that URL or
        ``--fetch-url``."""
        if self.fetch_url is not None:
            return []
        out = list(self.instances)
        if self.public_base is not None and len(self.instances) > 1:
            out.append(self.public_base)
        return sorted(set(out), key=len, reverse=True)

    def locate(self, uri: str, instance: int) -> tuple[str, str] | None:
        """(the URL to GET, the base URL that request contacts) for token ``uri`` on instance
        number ``instance``; ``None`` when ``uri`` is outside everything allowed."""
        if self.fetch_url is not None:
            return (uri, self.fetch_url) if uri.startswith(self.fetch_url + "/") else None
        base = self.instances[instance % len(self.instances)]
        for prefix in self._prefixes():
            if uri.startswith(prefix + "/"):
                return base + uri[len(prefix) :], base
        return None

    def allowed(self) -> str:
        """What :meth:`locate` accepts, for the refusal message."""
        if self.fetch_url is not None:
            return self.fetch_url
        text = ", ".join(self.instances)
        if self.public_base is not None and len(self.instances) > 1:
            text += f" or the public base {self.public_base}"
        return text


class RoundRobin:
    """Instance numbers in turn, counted separately for each kind of request (say, PATCHes of
    list 2, or conditional CWT fetches of list 0). One counter for everything would pair kinds
    with instances whenever their cycles line up (two lists, two instances: list 0 always on the
    first), and each instance would see a different mix."""

    def __init__(self, instances: int, start: int = 0) -> None:
        self.instances = instances
        self.start = start
        self._turns: dict[Hashable, int] = {}

    def next(self, kind: Hashable, offset: int = 0) -> int:
        """The instance for the next request of ``kind``; ``offset`` staggers where kinds
        start (list ``n`` at instance ``n``), so a kind with a single request, such as one
        allocation per list, does not put every list's on the first instance."""
        turn = self._turns.get(kind, self.start + offset)
        self._turns[kind] = turn + 1
        return turn % self.instances


class Tally:
    """Requests and errors per contacted base URL and operation: the report's ``per_instance``.
    A request is counted once it has an answer (or failed); :meth:`demote` turns a counted
    success into an error when its answer turns out wrong."""

    def __init__(self) -> None:
        self._counts: dict[str, dict[str, list[int]]] = {}

    def add(self, base: str, op: str, *, error: bool) -> None:
        cell = self._counts.setdefault(base, {}).setdefault(op, [0, 0])
        cell[0] += 1
        cell[1] += error

    def demote(self, base: str, op: str) -> None:
        self._counts[base][op][1] += 1

    def merge(self, other: Tally) -> None:
        for base, ops in other._counts.items():
            for op, (requests, errors) in ops.items():
                cell = self._counts.setdefault(base, {}).setdefault(op, [0, 0])
                cell[0] += requests
                cell[1] += errors

    def report(self, bases: Iterable[str], order: Sequence[str]) -> list[dict[str, Any]]:
        """One entry per base in ``bases`` (each instance, even one that got nothing), then any
        other base contacted; operations in ``order`` first."""
        rank = {name: n for n, name in enumerate(order)}
        listed = list(dict.fromkeys([*bases, *self._counts]))
        out = []
        for base in listed:
            ops = self._counts.get(base, {})
            names = sorted(ops, key=lambda name: (rank.get(name, len(rank)), name))
            out.append(
                {
                    "url": base,
                    "requests": sum(ops[n][0] for n in names),
                    "errors": sum(ops[n][1] for n in names),
                    "operations": {n: {"requests": ops[n][0], "errors": ops[n][1]} for n in names},
                }
            )
        return out
