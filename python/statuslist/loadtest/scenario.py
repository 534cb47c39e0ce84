"""What a load test does: one frozen :class:`Scenario`, validated on construction."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from statuslist.codec import MAX_ENTRIES

__all__ = ["FORMATS", "Scenario", "parse_count", "split_urls"]

FORMATS = ("jwt", "cwt")
_SUFFIXES = {"k": 10**3, "m": 10**6, "g": 10**9}


def parse_count(text: str) -> int:
    """``200000``, ``200_000``, ``200k``, ``10M``, ``1e6`` → an int (``ValueError`` otherwise)."""
    t = text.strip().replace("_", "").lower()
    mult = _SUFFIXES.get(t[-1:], 1)
    if mult != 1:
        t = t[:-1]
    try:
        value = float(t) if ("e" in t or "." in t) else int(t)
    except ValueError:
        raise ValueError(
            f"expected a whole number such as 200000, 200k or 10M, got {text!r}"
        ) from None
    n = value * mult
    if n != int(n):
        raise ValueError(f"expected a whole number, got {text!r}")
    return int(n)


def _check_url(option: str, url: str | None) -> None:
    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{option} must be an http:// or https:// URL, got {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"{option} must be a base URL without query or fragment, got {url!r}")


def _same_place(url: str) -> tuple[str, str, int | None, str]:
    """What makes two base URLs one: scheme and host in any case, the default port spelt or not,
    a trailing slash or not (``http://A:80/`` is ``http://a``)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    default = {"http": 80, "https": 443}.get(scheme)
    port = parts.port if parts.port != default else None
    return scheme, (parts.hostname or "").lower(), port, parts.path.rstrip("/")


def split_urls(text: str | None) -> tuple[str, ...]:
    """The instances named by ``--url`` (repeated options arrive joined by commas), each checked
    like a single ``--url``; empty items and two spellings of one instance are refused, since
    either would skew the round-robin the report relies on."""
    if text is None:
        return ()
    urls = tuple(u.strip() for u in text.split(","))
    seen: dict[tuple[str, str, int | None, str], str] = {}
    for url in urls:
        if not url:
            raise ValueError(f"--url: an empty URL in {text!r} (give URLs separated by commas)")
        _check_url("--url", url)
        try:
            key = _same_place(url)
        except ValueError as exc:  # a port that is not a number, or out of range
            raise ValueError(f"--url {url!r}: {exc}") from None
        if key in seen:
            raise ValueError(f"--url: {url!r} repeats {seen[key]!r}; give each instance once")
        seen[key] = url
    return urls


@dataclass(frozen=True, slots=True)
class Scenario:
    """Every knob of a run; the defaults are the documented scenario. Invalid values raise
    ``ValueError`` naming the command-line option."""

    url: str | None = None  # one base URL, or several instances of one deployment, comma-separated
    api_key: str | None = None
    spawn: bool = False
    fetch_url: str | None = None
    lists: int = 1
    entries: int = 1_000_000
    bits: int = 1
    allocations: int | None = None  # default: as many as there are revocations
    allocation_batch: int = 10_000
    revocations: int = 100_000
    batch_size: int = 1_000
    single_share: float = 0.05
    batch_encoding: Literal["json", "binary"] = "json"
    rate: float | None = None
    concurrency: int = 32
    fetchers: int = 10
    fetches: int | None = None
    formats: tuple[str, ...] = FORMATS
    conditional_share: float = 0.5
    lag_samples: int = 100
    lag_poll: float = 0.05
    lag_timeout: float = 30.0
    duration: float = 60.0
    timeout: float = 60.0
    processes: int = 1  # load-generating processes, each running a share of the scenario
    publish_interval: float | None = None  # --spawn only
    server_config: Path | None = None  # --spawn only
    urls: tuple[str, ...] = field(init=False, default=())  # url, split and checked

    def __post_init__(self) -> None:
        if self.spawn and self.url is not None:
            if "," in self.url:
                raise ValueError(
                    "--spawn starts a single server of its own: it cannot stand in for several "
                    "--url instances (drop --spawn to load running instances)"
                )
            raise ValueError("--spawn starts its own server: do not also give --url")
        if not self.spawn:
            if self.url is None:
                raise ValueError("give --url of a running server (and --api-key), or --spawn")
            if not self.api_key:
                raise ValueError("--api-key is required with --url (or set STATUSLIST_API_KEY)")
            if self.publish_interval is not None or self.server_config is not None:
                raise ValueError("--publish-interval and --server-config only apply to --spawn")
        object.__setattr__(self, "urls", split_urls(self.url))
        _check_url("--fetch-url", self.fetch_url)
        if self.bits not in (1, 2, 4, 8):
            raise ValueError(f"--bits must be 1, 2, 4 or 8, got {self.bits}")
        if not 1 <= self.entries <= MAX_ENTRIES:
            raise ValueError(f"--entries must be in [1, {MAX_ENTRIES:,}], got {self.entries:,}")
        if not 1 <= self.lists <= 10_000:
            raise ValueError(f"--lists must be in [1, 10000], got {self.lists}")
        if self.revocations < 0:
            raise ValueError(f"--revocations must be >= 0, got {self.revocations}")
        capacity = self.lists * self.entries
        if self.allocations is not None and not 0 <= self.allocations <= capacity:
            raise ValueError(
                f"--allocations must be in [0, lists x entries = {capacity:,}], "
                f"got {self.allocations:,}"
            )
        if self.allocations is None and self.revocations > capacity:
            raise ValueError(
                f"--revocations ({self.revocations:,}) needs as many allocated entries; "
                f"the lists hold {capacity:,} (raise --entries or --lists)"
            )
        if self.planned_allocations < self.revocations:
            raise ValueError(
                f"--revocations ({self.revocations:,}) needs as many allocated entries; "
                f"--allocations is {self.planned_allocations:,}"
            )
        for option, value, low, high in (
            ("--allocation-batch", self.allocation_batch, 1, 1_000_000),
            ("--batch-size", self.batch_size, 1, 10_000_000),
            ("--concurrency", self.concurrency, 1, 10_000),
            ("--fetchers", self.fetchers, 0, 10_000),
            ("--lag-samples", self.lag_samples, 0, 100_000),
        ):
            if not low <= value <= high:
                raise ValueError(f"{option} must be in [{low:,}, {high:,}], got {value:,}")
        if not 1 <= self.processes <= min(256, self.concurrency):
            raise ValueError(
                f"--processes must be in [1, min(256, --concurrency = {self.concurrency})] "
                f"(each process runs at least one writer), got {self.processes}"
            )
        for option, share in (
            ("--single-share", self.single_share),
            ("--conditional-share", self.conditional_share),
        ):
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{option} must be a fraction in [0, 1], got {share}")
        if self.batch_encoding not in ("json", "binary"):
            raise ValueError(
                f"--batch-encoding must be json or binary, got {self.batch_encoding!r}"
            )
        if self.rate is not None and not self.rate > 0:
            raise ValueError(f"--rate must be a positive number of revocations/s, got {self.rate}")
        if self.fetches is not None and self.fetches < 0:
            raise ValueError(f"--fetches must be >= 0, got {self.fetches}")
        if not self.formats or set(self.formats) - set(FORMATS):
            raise ValueError(f"--formats must be a non-empty subset of jwt,cwt, got {self.formats}")
        for option, seconds in (
            ("--duration", self.duration),
            ("--timeout", self.timeout),
            ("--lag-poll", self.lag_poll),
            ("--lag-timeout", self.lag_timeout),
        ):
            if not 0 < seconds <= 86_400:
                raise ValueError(f"{option} must be in (0, 86400] seconds, got {seconds}")
        if self.publish_interval is not None and not 0 < self.publish_interval <= 3600:
            raise ValueError(
                f"--publish-interval must be in (0, 3600], got {self.publish_interval}"
            )

    def shares(self, urls: Sequence[str], api_key: str) -> list[Scenario]:
        """The scenario cut into ``processes`` parts against ``urls`` (a spawned server's too):
        every count (allocations, revocations, lag samples, fetchers, fetches, concurrency) and
        the rate divided between them, the first parts taking the remainders, so the parts add
        up to the whole. Fetches go to the parts that have fetchers. Lists are not divided:
        they are created once and every part writes to all of them."""
        n = self.processes

        def cut(total: int, parts: int) -> list[int]:
            return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]

        fetchers = cut(self.fetchers, n)
        with_fetchers = sum(1 for f in fetchers if f)
        fetches: list[int | None] = [None] * n
        if self.fetches is not None:
            split = iter(cut(self.fetches, max(with_fetchers, 1)))
            fetches = [next(split) if f else 0 for f in fetchers]
        return [
            dataclasses.replace(
                self,
                url=",".join(urls),
                api_key=api_key,
                spawn=False,
                publish_interval=None,
                server_config=None,
                processes=1,
                allocations=alloc,
                revocations=rev,
                lag_samples=lag,
                fetchers=fetchers[i],
                fetches=fetches[i],
                concurrency=conc,
                rate=None if self.rate is None else self.rate / n,
            )
            for i, (alloc, rev, lag, conc) in enumerate(
                zip(
                    cut(self.planned_allocations, n),
                    cut(self.revocations, n),
                    cut(self.lag_samples, n),
                    cut(self.concurrency, n),
                    strict=True,
                )
            )
        ]

    @property
    def planned_allocations(self) -> int:
        return self.revocations if self.allocations is None else self.allocations

    def public(self) -> dict[str, Any]:
        """The scenario for reports: every field except the API key."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out.pop("api_key")
        out["formats"] = list(self.formats)
        out["urls"] = list(self.urls)
        out["server_config"] = None if self.server_config is None else str(self.server_config)
        out["allocations"] = self.planned_allocations
        return out
