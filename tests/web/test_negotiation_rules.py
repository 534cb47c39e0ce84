"""RFC 9110 negotiation rules in isolation: media types with q-values, gzip, ETag matching."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from statuslist.web.negotiation import (
    accepts_gzip,
    choose_media_type,
    etag_matches,
    http_date,
    parse_q,
)

JWT, CWT = "application/statuslist+jwt", "application/statuslist+cwt"
BOTH = [JWT, CWT]


@pytest.mark.parametrize(
    ("accept", "offered", "chosen"),
    [
        (None, BOTH, JWT),
        ("", BOTH, JWT),
        ("*/*", BOTH, JWT),
        ("application/*", BOTH, JWT),
        (CWT, BOTH, CWT),
        ("Application/StatusList+CWT", BOTH, CWT),
        (f"{JWT};q=0.1, {CWT}", BOTH, CWT),
        (f"{JWT};q=0.5, {CWT};q=0.5", BOTH, JWT),
        (f"{CWT};q=0, */*", BOTH, JWT),
        (f"*/*;q=0.1, {CWT};q=0.2", BOTH, CWT),
        (f"{JWT};q=0", [JWT], None),
        (f"{JWT};charset=utf-8", BOTH, None),
        (f"{JWT};charset=utf-8, */*;q=0.1", BOTH, JWT),
        ("text/html", BOTH, None),
        (JWT, [CWT], None),
        ("*/*", [CWT], CWT),
        (f"{CWT};q=0.9;ext=1", BOTH, CWT),
        # A header without a single valid media range is ignored, as if absent.
        ("garbage", BOTH, JWT),
        ("garbage, text/html", BOTH, None),
        (f"{CWT};q=2", BOTH, None),
        # qvalues exactly as RFC 9110 §12.4.2 spells them; anything else refuses the range.
        (f"{CWT};q=1e0", BOTH, None),
        (f"{CWT};q=0.5001", BOTH, None),
        (f"{CWT};q=.5", BOTH, None),
        (f"{CWT};q=1.", BOTH, CWT),
        (f"{CWT} ;\tQ = 0.5, {JWT};q=0.4", BOTH, CWT),
        # Only SP and HTAB are whitespace, only ASCII letters fold: U+212A (Kelvin) is no "k",
        # U+00A0 no space.
        ("\u00a0application/statuslist+cwt", BOTH, None),
        ("application/statuslist+\u212awt", BOTH, None),
    ],
)
def test_choose_media_type(accept: str | None, offered: list[str], chosen: str | None) -> None:
    assert choose_media_type(accept, offered) == chosen


@pytest.mark.parametrize(
    ("header", "gzip"),
    [
        (None, False),
        ("gzip", True),
        ("br, GZIP;q=0.5", True),
        ("gzip;q=0", False),
        ("*", True),
        ("*;q=0", False),
        ("gzip;q=0, *", False),
        ("identity", False),
        ("deflate, x-gzip", True),
    ],
)
def test_accepts_gzip(header: str | None, gzip: bool) -> None:
    assert accepts_gzip(header) is gzip


def test_etag_matching_is_weak() -> None:
    assert etag_matches('"a", W/"b"', '"b"')
    assert etag_matches("*", '"x"')
    assert not etag_matches('"a"', '"b"')


@pytest.mark.parametrize(
    ("value", "q"),
    [("0", 0.0), ("0.", 0.0), ("0.123", 0.123), ("1", 1.0), ("1.000", 1.0), (" 1 ", 1.0)],
)
def test_qvalues(value: str, q: float) -> None:
    assert parse_q(value) == q


@pytest.mark.parametrize(
    "value", ["", "1.001", "0.1234", "2", "-0", "+1", ".5", "1e0", "nan", "inf", "0x1", "١"]
)
def test_malformed_qvalues(value: str) -> None:
    assert parse_q(value) is None


SUNDAY = 784111777  # RFC 9110's example, Sun, 06 Nov 1994 08:49:37 GMT


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        " Sun, 06 Nov 1994 08:49:37 GMT\t",
    ],
)
def test_the_three_http_date_forms(value: str) -> None:
    assert http_date(value, now=SUNDAY) == SUNDAY


@pytest.mark.parametrize(
    "value",
    [
        "sun, 06 nov 1994 08:49:37 gmt",  # case-sensitive
        "Sun, 06 Nov 1994 08:49:37 +0000",
        "Sun, 06 Nov 1994 08:49:37",
        "06 Nov 1994 08:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 29 Feb 1900 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:60 GMT",
        "Sun, ٠٦ Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT",
        "",
    ],
)
def test_what_is_not_an_http_date(value: str) -> None:
    assert http_date(value, now=SUNDAY) is None


def test_two_digit_years_are_never_more_than_50_years_ahead() -> None:
    now = 1796169600  # 2026-12-02
    assert http_date("Monday, 01-Dec-76 00:00:00 GMT", now=now) == 3374006400  # 2076
    assert http_date("Tuesday, 01-Dec-77 00:00:00 GMT", now=now) == 249782400  # 1977


@given(st.integers(min_value=-62135596800, max_value=253402300799))
def test_http_dates_read_back_what_formatdate_writes(t: int) -> None:
    assert http_date(formatdate(t, usegmt=True)) == t
    g = time.gmtime(t)
    asctime = time.strftime("%a %b ", g) + f"{g.tm_mday:>2}" + time.strftime(" %H:%M:%S ", g)
    assert http_date(asctime + f"{g.tm_year:04d}") == t
