"""The synchronous client beyond the shared hostile suites (which run every case on both
clients): one client shared by many threads, its cache and revalidation, and the status
mechanism registry."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from statuslist.client import (
    MECHANISMS,
    StatusReference,
    SyncStatusListClient,
    register_mechanism,
)
from statuslist.exceptions import MalformedError
from tests.client.live import JWT_TYPE, LiveServer, Reply
from tests.client.test_client import KEY, NOW, forged_jwt


def test_one_client_shared_by_threads(server: LiveServer) -> None:
    uri = server.url("/shared")
    server.serve("/shared", Reply(forged_jwt(uri), JWT_TYPE, headers={"ETag": '"v1"'}))
    client = SyncStatusListClient(trusted_jwks=[KEY.public_jwk], clock=lambda: NOW)
    results: list[Any] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for idx in (7, 8, 9) * 20:
                results.append((idx, client.status({"idx": idx, "uri": uri}).status))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 8 * 60
    assert {r for r in results} == {(7, 1), (8, 2), (9, 0)}
    assert server.hits["/shared"] <= 8  # the cache holds for ttl: at most one GET per thread


def test_revalidation_with_the_etag(server: LiveServer) -> None:
    uri = server.url("/etag")
    server.serve("/etag", Reply(forged_jwt(uri), JWT_TYPE, headers={"ETag": '"v1"'}))
    now = [float(NOW)]
    with SyncStatusListClient(
        trusted_jwks=[KEY.public_jwk], clock=lambda: now[0], max_ttl=10
    ) as client:
        first = client.status({"idx": 7, "uri": uri})
        assert not first.from_cache
        assert client.status({"idx": 7, "uri": uri}).from_cache
        server.serve("/etag", Reply(b"", JWT_TYPE, status=304))
        now[0] += 11  # stale: revalidated with If-None-Match, the 304 keeps the list
        again = client.status({"idx": 8, "uri": uri})
        assert again.from_cache and again.status == 2
    assert server.hits["/etag"] == 2


def test_a_registered_mechanism_is_read() -> None:
    claims = {"status": {"x_test_mech": {"i": 5, "u": "https://example.com/l"}}}
    with pytest.raises(MalformedError, match="no supported status mechanism"):
        StatusReference.from_claims(claims)

    def read(node: Any) -> StatusReference:
        if not isinstance(node, dict):
            raise MalformedError("x_test_mech must be an object")
        return StatusReference(idx=node["i"], uri=node["u"])

    register_mechanism("x_test_mech", read)
    try:
        assert StatusReference.from_claims(claims) == StatusReference(5, "https://example.com/l")
        both = {"status": {"x_test_mech": 1, "status_list": {"idx": 2, "uri": "https://a/b"}}}
        assert StatusReference.from_claims(both).idx == 2  # status_list is tried first
        with pytest.raises(ValueError, match="registered already"):
            register_mechanism("status_list", read)
    finally:
        MECHANISMS.pop("x_test_mech", None)
