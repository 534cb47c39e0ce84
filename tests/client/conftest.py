"""Fixtures of the SDK tests: ``server``, the real local HTTP server serving crafted answers
(one per module), and ``client_kind``, which runs a test once with the asyncio client and
once with the synchronous one (``tests.client.live.query`` reads it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.client import live
from tests.client.live import LiveServer


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer() as srv:
        yield srv


@pytest.fixture(params=["async", "sync"])
def client_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    live.CLIENT_KIND[0] = request.param
    try:
        yield request.param
    finally:
        live.CLIENT_KIND[0] = "async"
