"""Proactive content negotiation (RFC 9110 §12.5): ``Accept`` and ``Accept-Encoding``.

``Accept`` ranges are matched most-specific first (``type/subtype;params`` over ``type/subtype``
over ``type/*`` over ``*/*``); a range with parameters matches only a representation with the same
parameters (ours have none). The offer with the highest q-value wins, ties going to the server's
order; ``q=0`` refuses. A missing or empty ``Accept`` means anything.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["accepts_gzip", "choose_media_type", "etag_matches", "parse_q"]


def parse_q(value: str) -> float | None:
    """A qvalue (0 … 1, at most three decimals), or ``None`` when malformed."""
    value = value.strip()
    try:
        q = float(value)
    except ValueError:
        return None
    if not 0.0 <= q <= 1.0 or len(value) > 5:
        return None
    return q


def _ranges(header: str) -> list[tuple[str, str, dict[str, str], float]]:
    out = []
    for part in header.split(","):
        part = part.strip()
        if not part:
            continue
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        mtype, sep, subtype = media.partition("/")
        if not sep or not mtype or not subtype or (mtype == "*" and subtype != "*"):
            continue  # not a media range: ignored, as if absent
        params: dict[str, str] = {}
        q = 1.0
        for p in pieces[1:]:
            name, _, val = p.partition("=")
            name = name.strip().lower()
            val = val.strip().strip('"')
            if name == "q":
                parsed = parse_q(val)
                q = 0.0 if parsed is None else parsed
                break  # what follows q are accept-ext parameters
            if name:
                params[name] = val.lower()
        out.append((mtype, subtype, params, q))
    return out


def choose_media_type(accept: str | None, offered: Sequence[str]) -> str | None:
    """The best of ``offered`` (lower-case ``type/subtype``, server preference first) for
    ``accept``, or ``None`` when none is acceptable."""
    if accept is None or not accept.strip():
        return offered[0] if offered else None
    ranges = _ranges(accept)
    if not ranges:
        return offered[0] if offered else None
    best: tuple[float, int] | None = None
    chosen = None
    for pos, media in enumerate(offered):
        mtype, _, subtype = media.partition("/")
        q = None
        specificity = -1
        for rtype, rsub, params, rq in ranges:
            if params:
                continue  # our representations carry no parameters
            if rtype == mtype and rsub == subtype:
                s = 2
            elif rtype == mtype and rsub == "*":
                s = 1
            elif rtype == "*":
                s = 0
            else:
                continue
            if s > specificity:
                specificity, q = s, rq
        if q is None or q <= 0:
            continue
        key = (q, -pos)
        if best is None or key > best:
            best, chosen = key, media
    return chosen


def accepts_gzip(header: str | None) -> bool:
    """Whether ``Accept-Encoding`` allows gzip (``gzip``/``x-gzip`` or ``*`` with q > 0)."""
    if not header:
        return False
    explicit: float | None = None
    star: float | None = None
    for part in header.split(","):
        coding, _, rest = part.strip().partition(";")
        coding = coding.strip().lower()
        q = 1.0
        name, _, val = rest.partition("=")
        if name.strip().lower() == "q":
            parsed = parse_q(val)
            q = 0.0 if parsed is None else parsed
        if coding in ("gzip", "x-gzip"):
            explicit = q if explicit is None else max(explicit, q)
        elif coding == "*":
            star = q
    if explicit is not None:
        return explicit > 0
    return star is not None and star > 0


def etag_matches(if_none_match: str, etag: str) -> bool:
    """``If-None-Match`` uses weak comparison (RFC 9110 §13.1.2): ``W/`` is ignored."""
    if if_none_match.strip() == "*":
        return True
    target = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == target for tag in if_none_match.split(","))
