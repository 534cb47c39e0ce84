"""``POST /v1/allocations`` over HTTP: small answers and large ones (written after their headers,
without a join) carry the same headers and exactly the JSON ``json.dumps`` would write."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.support import ServerProcess


def _post(server: ServerProcess, doc: dict[str, object]) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(  # noqa: S310 (the test server's http URL)
        f"{server.url}/v1/allocations",
        data=json.dumps(doc).encode(),
        headers={"Authorization": f"Bearer {server.api_key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()


@pytest.mark.parametrize("count", [1, 300, 5_000, 120_000])
def test_allocation_answer(server: ServerProcess, count: int) -> None:
    lst = server.api("POST", "/v1/lists", {"bits": 1, "size": 1_000_000})
    status, headers, body = _post(server, {"count": count, "list_id": lst["id"]})
    assert status == 201
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["cache-control"] == "no-store"
    assert int(headers["content-length"]) == len(body)
    doc = json.loads(body)
    assert body == json.dumps(doc).encode()
    assert {e["status_list"]["uri"] for e in doc} == {lst["uri"]}
    idx = [e["status_list"]["idx"] for e in doc]
    assert len(set(idx)) == count and all(0 <= i < 1_000_000 for i in idx)
    assert server.api("GET", f"/v1/lists/{lst['id']}")["allocated"] == count
