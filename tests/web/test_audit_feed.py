"""The audit feed (``GET /v1/lists/{id}/changes``, ``GET /v1/changes``) against a real
server: order and content, pagination without gaps or repeats while writers run, scoping to the
caller's issuer, long-polling, NDJSON, and refused parameters."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from tests.support import ServerProcess, run_cli


@pytest.fixture(scope="module")
def two_issuers(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("audit")
    for name in ("a", "b"):
        run_cli("keygen", "--out", str(tmp / f"{name}.pem"))
    cfg = tmp / "s.toml"
    cfg.write_text(
        "".join(f"[issuers.{n}]\nkeys = [{str(tmp / (n + '.pem'))!r}]\n" for n in ("a", "b")),
        encoding="utf-8",
    )
    data = tmp / "data"
    keys = {
        n: run_cli("apikey", "create", "--config", str(cfg), "--data", str(data), "--issuer", n,
                   "--scope", "admin", "--label", f"{n}-admin").strip()
        for n in ("a", "b")
    }  # fmt: skip
    server = ServerProcess(data, args=("--config", str(cfg))).start()
    yield server, keys
    server.stop()
    assert "Traceback" not in server.log()


def _get(server: ServerProcess, path: str, key: str, **headers: str) -> tuple[int, Any, dict]:
    code, hdrs, body = server.request("GET", path, key=key, headers=headers)
    ctype = hdrs.get("Content-Type", "")
    doc = json.loads(body) if ctype.split(";")[0].endswith(("/json", "+json")) else body
    return code, doc, hdrs


def _follow(server: ServerProcess, path: str, key: str, limit: int) -> list[dict[str, Any]]:
    """Every change from the start, page by page, following next_after."""
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        code, doc, _ = _get(server, f"{path}?after={after}&limit={limit}", key)
        assert code == 200, doc
        out.extend(doc["changes"])
        assert doc["next_after"] >= after
        after = doc["next_after"]
        if not doc["more"]:
            return out


def test_order_content_and_actor(two_issuers: Any) -> None:
    server, keys = two_issuers
    lst = server.api("POST", "/v1/lists", {"bits": 2, "size": 100}, key=keys["a"])["id"]
    server.api("PUT", f"/v1/lists/{lst}/entries/5", {"status": "INVALID"}, key=keys["a"])
    server.api("PATCH", f"/v1/lists/{lst}/entries",
               {"indices": [5, 6], "statuses": [2, 1]}, key=keys["a"])  # fmt: skip
    code, doc, headers = _get(server, f"/v1/lists/{lst}/changes", keys["a"])
    assert code == 200
    changes = doc["changes"]
    assert [c["indices"] for c in changes] == [[5], [5, 6]]
    assert [c["old"] for c in changes] == [[0], [1, 0]]
    assert [c["new"] for c in changes] == [[1], [2, 1]]
    assert all(c["actor"] == "a:a-admin" and c["list_id"] == lst for c in changes)
    assert changes[0]["seq"] < changes[1]["seq"] and doc["next_after"] == changes[1]["seq"]
    assert doc["more"] is False and 'rel="next"' in headers["Link"]
    # NDJSON: one change per line, the cursor in the headers.
    code, body, headers = _get(
        server, f"/v1/lists/{lst}/changes", keys["a"], Accept="application/x-ndjson"
    )
    assert code == 200 and headers["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(x) for x in body.decode().splitlines()]
    assert lines == changes and headers["Statuslist-Next-After"] == str(changes[1]["seq"])


def test_pagination_has_no_gaps_or_repeats_under_concurrent_writes(two_issuers: Any) -> None:
    server, keys = two_issuers
    a1 = server.api("POST", "/v1/lists", {"bits": 1, "size": 10_000}, key=keys["a"])["id"]
    a2 = server.api("POST", "/v1/lists", {"bits": 1, "size": 10_000}, key=keys["a"])["id"]
    b1 = server.api("POST", "/v1/lists", {"bits": 1, "size": 10_000}, key=keys["b"])["id"]
    _, start, _ = _get(server, "/v1/changes?limit=1000", keys["a"])
    start_after = start["next_after"]
    while start["more"]:
        _, start, _ = _get(server, f"/v1/changes?after={start_after}&limit=1000", keys["a"])
        start_after = start["next_after"]
    acked: dict[str, list[int]] = {a1: [], a2: [], b1: []}
    lock = threading.Lock()

    def writer(list_id: str, key: str, base: int) -> None:
        for n in range(60):
            idx = base + n
            code, _, _ = server.request(
                "PUT", f"/v1/lists/{list_id}/entries/{idx}", {"status": "INVALID"}, key=key
            )
            if code == 200:
                with lock:
                    acked[list_id].append(idx)

    seen: list[dict[str, Any]] = []
    stop = threading.Event()

    def reader() -> None:  # pages through the feed while the writers write
        after = start_after
        while True:
            last = stop.is_set()  # every write was acknowledged before this request began
            code, doc, _ = _get(server, f"/v1/changes?after={after}&limit=7", keys["a"])
            assert code == 200
            seen.extend(doc["changes"])
            after = doc["next_after"]
            if last and not doc["more"]:
                return

    threads = [
        threading.Thread(target=writer, args=(a1, keys["a"], 0)),
        threading.Thread(target=writer, args=(a1, keys["a"], 1000)),
        threading.Thread(target=writer, args=(a2, keys["a"], 0)),
        threading.Thread(target=writer, args=(b1, keys["b"], 0)),
    ]
    follower = threading.Thread(target=reader)
    follower.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    follower.join(60)
    seqs = [c["seq"] for c in seen]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)), "out of order or repeated"
    assert {c["list_id"] for c in seen} == {a1, a2}, "another issuer's changes leaked"
    for list_id in (a1, a2):
        got = sorted(i for c in seen if c["list_id"] == list_id for i in c["indices"])
        assert got == sorted(acked[list_id]), f"gaps in {list_id}"
    # The per-list feed, followed from the start in small pages, agrees.
    per_list = _follow(server, f"/v1/lists/{a1}/changes", keys["a"], 5)
    assert [c["seq"] for c in per_list] == [c["seq"] for c in seen if c["list_id"] == a1]


def test_scoped_to_the_callers_issuer(two_issuers: Any) -> None:
    server, keys = two_issuers
    a = server.api("POST", "/v1/lists", {"bits": 1, "size": 100}, key=keys["a"])["id"]
    server.api("PUT", f"/v1/lists/{a}/entries/1", {"status": "INVALID"}, key=keys["a"])
    assert _get(server, f"/v1/lists/{a}/changes", keys["b"])[0] == 404
    assert all(c["list_id"] != a for c in _follow(server, "/v1/changes", keys["b"], 100))
    assert server.request("GET", f"/v1/lists/{a}/changes")[0] == 401


def test_long_poll_wakes_on_a_change(two_issuers: Any) -> None:
    server, keys = two_issuers
    lst = server.api("POST", "/v1/lists", {"bits": 1, "size": 100}, key=keys["a"])["id"]
    _, doc, _ = _get(server, f"/v1/lists/{lst}/changes", keys["a"])
    after = doc["next_after"]
    started = time.monotonic()
    _, doc, _ = _get(server, f"/v1/lists/{lst}/changes?after={after}&wait=1", keys["a"])
    assert doc["changes"] == [] and time.monotonic() - started >= 0.9  # waited, then empty

    def later() -> None:
        time.sleep(0.5)
        server.api("PUT", f"/v1/lists/{lst}/entries/9", {"status": "INVALID"}, key=keys["a"])

    threading.Thread(target=later).start()
    started = time.monotonic()
    _, doc, _ = _get(server, f"/v1/lists/{lst}/changes?after={after}&wait=10", keys["a"])
    took = time.monotonic() - started
    assert [c["indices"] for c in doc["changes"]] == [[9]]
    assert 0.3 < took < 5, took
    started = time.monotonic()
    _, doc, _ = _get(server, f"/v1/changes?after={doc['next_after']}&wait=1", keys["a"])
    assert doc["changes"] == [] and time.monotonic() - started >= 0.9


@pytest.mark.parametrize(
    "query",
    ["after=-1", "after=007", "after=%D9%A3", "after=1&after=2", "limit=0", "limit=1001",
     "limit=x", "wait=61", "wait=1.5", f"after={1 << 63}", "x=1", "cursor=5"],
)  # fmt: skip
def test_bad_parameters_are_400(two_issuers: Any, query: str) -> None:
    server, keys = two_issuers
    for path in ("/v1/changes", "/v1/lists/nope/changes"):
        code, doc, _ = _get(server, f"{path}?{query}", keys["a"])
        assert code == 422, (path, query, code)
        assert doc["field"] == query.split("=")[0]
