"""RFC 9110 negotiation rules in isolation: media types with q-values, gzip, ETag matching."""

from __future__ import annotations

import pytest

from statuslist.web.negotiation import accepts_gzip, choose_media_type, etag_matches

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
