"""Proactive content negotiation (RFC 9110 §12.5): ``Accept`` and ``Accept-Encoding``.

``Accept`` ranges are matched most-specific first (``type/subtype;params`` over ``type/subtype``
over ``type/*`` over ``*/*``); a range with parameters matches only a representation with the same
parameters (ours have none). The offer with the highest q-value wins, ties going to the server's
order; ``q=0`` refuses. A missing or empty ``Accept`` means anything.

Everything here is exact to the grammar, ASCII only: whitespace is SP and HTAB (OWS), names are
lower-cased as ASCII, a qvalue is ``0[.ddd]`` or ``1[.000]``, a date one of the three HTTP-date
forms. The origin-offload nginx module (``deploy/nginx/statuslist.js``) implements the same
rules line for line, so nginx and the service decide alike on any header; a test sends the same
generated headers to both.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

__all__ = [
    "accepts_gzip",
    "ascii_lower",
    "choose_media_type",
    "etag_matches",
    "etag_matches_strong",
    "http_date",
    "ows",
    "parse_q",
]

_OWS = " \t"
_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")


def ows(value: str) -> str:
    """``value`` without leading and trailing SP/HTAB (RFC 9110 §5.6.3)."""
    return value.strip(_OWS)


def ascii_lower(value: str) -> str:
    """Lower-case for ASCII letters only (``str.lower`` maps e.g. U+212A to ``k``)."""
    return value.translate(_LOWER)


def parse_q(value: str) -> float | None:
    """A qvalue (RFC 9110 §12.4.2: ``0[.ddd]`` or ``1[.000]``), or ``None`` when malformed."""
    value = ows(value)
    if _QVALUE.fullmatch(value) is None:
        return None
    return float(value)


def _ranges(header: str) -> list[tuple[str, str, dict[str, str], float]]:
    out = []
    for part in header.split(","):
        part = ows(part)
        if not part:
            continue
        pieces = [ows(p) for p in part.split(";")]
        media = ascii_lower(pieces[0])
        mtype, sep, subtype = media.partition("/")
        if not sep or not mtype or not subtype or (mtype == "*" and subtype != "*"):
            continue  # not a media range: ignored, as if absent
        params: dict[str, str] = {}
        q = 1.0
        for p in pieces[1:]:
            name, _, val = p.partition("=")
            name = ascii_lower(ows(name))
            val = ows(val).strip('"')
            if name == "q":
                parsed = parse_q(val)
                q = 0.0 if parsed is None else parsed
                break  # what follows q are accept-ext parameters
            if name:
                params[name] = ascii_lower(val)
        out.append((mtype, subtype, params, q))
    return out


def choose_media_type(accept: str | None, offered: Sequence[str]) -> str | None:
    """The best of ``offered`` (lower-case ``type/subtype``, server preference first) for
    ``accept``, or ``None`` when none is acceptable."""
    if accept is None or not ows(accept):
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
        coding, _, rest = ows(part).partition(";")
        coding = ascii_lower(ows(coding))
        q = 1.0
        name, _, val = rest.partition("=")
        if ascii_lower(ows(name)) == "q":
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
    if ows(if_none_match) == "*":
        return True
    target = etag.removeprefix("W/")
    return any(ows(tag).removeprefix("W/") == target for tag in if_none_match.split(","))


def etag_matches_strong(if_match: str, etag: str) -> bool:
    """``If-Match`` uses strong comparison (RFC 9110 §13.1.1): a weak tag never matches, and
    ``*`` matches any current representation."""
    if ows(if_match) == "*":
        return True
    if etag.startswith("W/"):
        return False
    return any(ows(tag) == etag for tag in if_match.split(","))


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MON = "(" + "|".join(_MONTHS) + ")"
_TIME = "([0-9]{2}):([0-9]{2}):([0-9]{2})"
_IMF = re.compile(rf"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{{2}}) {_MON} ([0-9]{{4}}) {_TIME} GMT")
_RFC850 = re.compile(
    rf"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), "
    rf"([0-9]{{2}})-{_MON}-([0-9]{{2}}) {_TIME} GMT"
)
_ASCTIME = re.compile(rf"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) {_MON} ([ 0-9][0-9]) {_TIME} ([0-9]{{4}})")


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _month_days(y: int, m: int) -> int:
    if m == 2:
        return 29 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 28
    return 30 if m in (4, 6, 9, 11) else 31


def http_date(value: str, now: float | None = None) -> int | None:
    """An HTTP-date (RFC 9110 §5.6.7: IMF-fixdate, or the obsolete RFC 850 and asctime forms
    that recipients must accept) as a Unix time, or ``None`` when it is not one. Case-sensitive;
    a two-digit year more than 50 years ahead of ``now`` is the century before."""
    value = ows(value)
    if (m := _IMF.fullmatch(value)) is not None:
        day, mon, year, hh, mm, ss = m.groups()
        y = int(year)
    elif (m := _RFC850.fullmatch(value)) is not None:
        day, mon, yy, hh, mm, ss = m.groups()
        this_year = time.gmtime(time.time() if now is None else now).tm_year
        y = this_year - this_year % 100 + int(yy)
        if y > this_year + 50:
            y -= 100
    elif (m := _ASCTIME.fullmatch(value)) is not None:
        mon, day, hh, mm, ss, year = m.groups()
        y = int(year)
    else:
        return None
    month = _MONTHS.index(mon) + 1
    d, h, mi, s = int(day.lstrip(" ")), int(hh), int(mm), int(ss)
    if not (1 <= d <= _month_days(y, month) and h <= 23 and mi <= 59 and s <= 59):
        return None
    return _days_from_civil(y, month, d) * 86400 + h * 3600 + mi * 60 + s
