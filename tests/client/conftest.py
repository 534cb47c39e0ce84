"""The ``client_kind`` fixture: a test run once with the asyncio client and once with the
synchronous one (``tests.client.live.query`` reads it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.client import live


@pytest.fixture(params=["async", "sync"])
def client_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    live.CLIENT_KIND[0] = request.param
    try:
        yield request.param
    finally:
        live.CLIENT_KIND[0] = "async"
