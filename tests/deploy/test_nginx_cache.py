"""The CDN-like cache config (deploy/nginx) with the real nginx binary in front of a real
``statuslist serve``.

The fixtures start the service on a free port, render ``statuslist.conf.template`` into a
complete nginx.conf in a temporary directory, check it with ``nginx -t`` and start nginx in the
foreground. The tests then talk to nginx only, as relying parties and issuers would behind a CDN:
tokens are cached per negotiated format and for as long as ``Cache-Control`` says, a revocation
shows once that runs out, and the issuer API, health checks and metrics always reach the service.

nginx is required: without it the run fails, pointing at ``deploy/nginx/ensure-nginx.sh``, which
installs it. A skipped cache test would look exactly like a passing one.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from statuslist.client import StatusListClient
from tests.support import NginxProcess, ServerProcess, free_port, render_template

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "deploy" / "nginx" / "statuslist.conf.template"
JWT = "application/statuslist+jwt"
CWT = "application/statuslist+cwt"
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Message
    body: bytes

    @property
    def cache(self) -> str | None:
        """nginx's X-Cache-Status: None where caching is off for the location."""
        return self.headers.get("X-Cache-Status")

    def json(self) -> Any:
        return json.loads(self.body)


def http(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    payload: Any = None,
    data: bytes | None = None,
) -> Reply:
    """One request, any status; urllib neither decompresses nor adds an Accept header."""
    headers = dict(headers or {})
    if payload is not None:
        data = json.dumps(payload).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
            return Reply(resp.status, resp.headers, resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return Reply(err.code, err.headers, err.read())


@dataclass(frozen=True)
class Stack:
    origin: str  # the service itself
    proxy: str  # nginx in front of it; also the service's public URL
    api_key: str
    cache_dir: Path

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("nginx-cache")
    service_port, nginx_port = free_port(), free_port()
    origin = f"http://127.0.0.1:{service_port}"
    proxy = f"http://127.0.0.1:{nginx_port}"

    # The service's own port stays on loopback; its public URL is nginx's.
    server = ServerProcess(tmp / "data", port=service_port, public_url=proxy)
    server.start(timeout=START_TIMEOUT)
    try:
        api_key = server.api_key

        site = render_template(
            TEMPLATE,
            {
                "STATUSLIST_UPSTREAM": f"127.0.0.1:{service_port}",
                "NGINX_LISTEN": f"127.0.0.1:{nginx_port}",
                "NGINX_CACHE_DIR": str(tmp / "cache"),
            },
        )
        nginx = NginxProcess(tmp, site, url=proxy).start(f"{proxy}/healthz")
        try:
            yield Stack(origin=origin, proxy=proxy, api_key=api_key, cache_dir=tmp / "cache")
        finally:
            nginx.stop()
    finally:
        server.stop(timeout=10)


def new_list(stack: Stack, *, ttl: int, count: int = 3) -> tuple[str, list[dict[str, Any]]]:
    """Creates a 2-bit list through nginx, allocates ``count`` entries and publishes it."""
    created = http(
        "POST",
        f"{stack.proxy}/v1/lists",
        headers=stack.auth,
        payload={"bits": 2, "size": 1024, "ttl": ttl},
    )
    assert created.status == 201, created.body
    assert created.cache is None, "the issuer API went through the cache"
    list_id = created.json()["id"]
    assert created.json()["uri"] == f"{stack.proxy}/statuslists/{list_id}"

    allocated = http(
        "POST",
        f"{stack.proxy}/v1/allocations",
        headers=stack.auth,
        payload={"count": count, "list_id": list_id},
    )
    assert allocated.status in (200, 201), allocated.body
    entries = [item["status_list"] for item in allocated.json()]
    assert len(entries) == count
    assert all(e["uri"] == created.json()["uri"] and isinstance(e["idx"], int) for e in entries)

    published = http("POST", f"{stack.proxy}/v1/lists/{list_id}/publish", headers=stack.auth)
    assert published.status == 200, published.body
    assert {"etag", "iat"} <= published.json().keys()
    return list_id, entries


def cache_keys(cache_dir: Path) -> set[str]:
    """The keys of the entries nginx has stored (each cache file has a ``KEY:`` line)."""
    keys = set()
    for path in cache_dir.rglob("*"):
        if path.is_file():
            found = re.search(rb"\nKEY: ([^\n]*)\n", path.read_bytes()[:8192])
            if found:
                keys.add(found.group(1).decode())
    return keys


def max_age(reply: Reply) -> int:
    directives = [d.strip() for d in reply.headers.get("Cache-Control", "").split(",")]
    assert "public" in directives, reply.headers
    ages = [int(d.split("=", 1)[1]) for d in directives if d.startswith("max-age=")]
    assert len(ages) == 1, reply.headers
    return ages[0]


async def _status(entry: dict[str, Any], keys: list[dict[str, Any]]) -> str:
    # A fresh client per call: its own ttl cache must not hide what nginx serves.
    async with StatusListClient(trusted_jwks=keys, formats=("jwt",)) as client:
        result = await client.status({"status_list": entry})
        return result.name


def sdk_status(entry: dict[str, Any], keys: list[dict[str, Any]]) -> str:
    """The entry's status as the relying-party SDK reads it from the token nginx serves."""
    return asyncio.run(_status(entry, keys))


def test_tokens_are_cached_per_negotiated_format(stack: Stack) -> None:
    list_id, _ = new_list(stack, ttl=300)
    url = f"{stack.proxy}/statuslists/{list_id}"

    jwt = http("GET", url, headers={"Accept": JWT})
    assert jwt.status == 200, jwt.body
    assert jwt.cache in ("MISS", "EXPIRED")
    assert jwt.headers["Content-Type"] == JWT
    assert jwt.body.startswith(b"eyJ")
    assert jwt.headers["ETag"].startswith('"'), "the ETag must be strong"
    vary = {v.strip().lower() for v in jwt.headers.get("Vary", "").split(",")}
    assert {"accept", "accept-encoding"} <= vary
    assert 0 < max_age(jwt) <= 300

    again = http("GET", url, headers={"Accept": JWT})
    assert again.cache == "HIT"
    assert again.body == jwt.body
    assert again.headers["ETag"] == jwt.headers["ETag"]

    cwt = http("GET", url, headers={"Accept": CWT})
    assert cwt.status == 200, cwt.body
    assert cwt.cache in ("MISS", "EXPIRED"), "a CWT request was answered from the JWT entry"
    assert cwt.headers["Content-Type"] == CWT
    assert cwt.body[0] == 0xD2, "not a COSE_Sign1 (CBOR tag 18)"
    assert cwt.body != jwt.body
    assert cwt.headers["ETag"] != jwt.headers["ETag"]

    for accept, first in ((JWT, jwt), (CWT, cwt)):
        repeat = http("GET", url, headers={"Accept": accept})
        assert repeat.cache == "HIT", accept
        assert repeat.headers["Content-Type"] == accept
        assert repeat.body == first.body, f"{accept} answered with the other format's bytes"

    # No Accept and */* are answered with the JWT (the list's first format).
    for headers in ({}, {"Accept": "*/*"}, {}):
        default = http("GET", url, headers=headers)
        assert default.headers["Content-Type"] == JWT, headers
        assert default.body == jwt.body, headers
    assert default.cache == "HIT"

    # The precomputed gzip of the JWT is its own entry next to the identity one.
    zipped = http("GET", url, headers={"Accept": JWT, "Accept-Encoding": "gzip"})
    assert zipped.status == 200
    assert zipped.cache in ("MISS", "EXPIRED"), "gzip was answered from the identity entry"
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.body) == jwt.body
    assert zipped.headers["ETag"] != jwt.headers["ETag"], "gzip and identity share a strong ETag"
    zipped_again = http("GET", url, headers={"Accept": JWT, "Accept-Encoding": "gzip"})
    assert zipped_again.cache == "HIT"
    assert zipped_again.body == zipped.body
    plain = http("GET", url, headers={"Accept": JWT, "Accept-Encoding": "identity"})
    assert plain.cache == "HIT"
    assert plain.headers.get("Content-Encoding") in (None, "identity")
    assert plain.body == jwt.body

    # HEAD and conditional requests are answered from the same entry.
    head = http("HEAD", url, headers={"Accept": JWT})
    assert head.status == 200
    assert head.cache == "HIT"
    assert head.body == b""
    assert head.headers["ETag"] == jwt.headers["ETag"]
    unchanged = http("GET", url, headers={"Accept": JWT, "If-None-Match": jwt.headers["ETag"]})
    assert unchanged.status == 304
    assert unchanged.cache == "HIT"
    assert unchanged.body == b""

    # The CWT is never compressed, whatever the client allows, and neither is it by nginx.
    cwt_gzip = http("GET", url, headers={"Accept": CWT, "Accept-Encoding": "gzip"})
    assert cwt_gzip.headers.get("Content-Encoding") is None
    assert cwt_gzip.body == cwt.body

    # The key itself names the negotiated representation (nginx's Vary handling comes on top).
    stored = {k.partition("/statuslists/")[2] for k in cache_keys(stack.cache_dir)}
    parts = ("jwt|identity", "jwt|gzip", "cwt|identity", "cwt|gzip", "default|identity")
    assert {f"{list_id}|{part}" for part in parts} <= stored, stored


def test_revocation_appears_once_max_age_runs_out(stack: Stack) -> None:
    list_id, entries = new_list(stack, ttl=3)
    entry = entries[0]
    url = f"{stack.proxy}/statuslists/{list_id}"
    entry_url = f"{stack.proxy}/v1/lists/{list_id}/entries/{entry['idx']}"
    assert entry["uri"] == url

    jwks = http("GET", f"{stack.proxy}/.well-known/jwks.json")
    assert jwks.status == 200, jwks.body
    keys = jwks.json()["keys"]
    assert keys

    primed_at = time.monotonic()
    primed = http("GET", url, headers={"Accept": JWT})
    assert primed.cache == "MISS", "a fresh list's token was already in the cache"
    fresh_for = max_age(primed)
    assert 0 < fresh_for <= 3
    assert sdk_status(entry, keys) == "VALID"

    before = http("GET", entry_url, headers=stack.auth)
    assert before.status == 200, before.body
    for _ in range(2):  # the same write twice: both must reach the service
        revoked = http("PUT", entry_url, headers=stack.auth, payload={"status": "INVALID"})
        assert revoked.status == 200, revoked.body
        assert revoked.cache in (None, "", "BYPASS"), "an issuer API write went through the cache"
    after = http("GET", entry_url, headers=stack.auth)
    assert after.status == 200, after.body
    assert after.cache in (None, "", "BYPASS")
    assert after.body != before.body, "the issuer API answered a read from a cache"
    assert before.json()["name"] == "VALID"
    assert after.json()["name"] == "INVALID"

    published = http("POST", f"{stack.proxy}/v1/lists/{list_id}/publish", headers=stack.auth)
    assert published.status == 200, published.body
    new_etag = published.json()["etag"]

    # Within max-age the cache keeps serving the token it has: the CDN trade-off the ttl bounds.
    elapsed = time.monotonic() - primed_at
    assert elapsed < fresh_for - 0.5, f"setup took {elapsed:.1f} s of a {fresh_for} s max-age"
    cached = http("GET", url, headers={"Accept": JWT})
    assert cached.cache == "HIT"
    assert cached.body == primed.body
    assert sdk_status(entry, keys) == "VALID"

    # Once it runs out nginx revalidates and the revocation shows, without any purge.
    deadline = primed_at + fresh_for + 5
    status = "VALID"
    while status != "INVALID" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = sdk_status(entry, keys)
    seen_after = time.monotonic() - primed_at
    assert status == "INVALID", (
        f"still {status} {seen_after:.1f} s after caching, max-age {fresh_for}"
    )
    assert seen_after >= fresh_for - 0.5, (
        f"the cache let a new token through after {seen_after:.1f} s"
    )

    current = http("GET", url, headers={"Accept": JWT})
    assert current.cache in ("HIT", "EXPIRED", "REVALIDATED", "MISS")
    assert current.body != primed.body
    assert current.headers["ETag"] != primed.headers["ETag"]
    assert current.headers["ETag"] == new_etag, "nginx serves another token than the published one"

    # When max-age runs out again and the token has not changed, the service's 304 to nginx's
    # If-None-Match renews the entry: no body is transferred.
    deadline = time.monotonic() + fresh_for + 3
    while True:
        time.sleep(0.2)
        again = http("GET", url, headers={"Accept": JWT})
        if again.cache != "HIT" or time.monotonic() > deadline:
            break
    assert again.cache == "REVALIDATED", again.headers
    assert again.headers["ETag"] == new_etag
    assert again.body == current.body


def test_issuer_api_health_and_metrics_bypass_the_cache(stack: Stack) -> None:
    # Authorization reaches the service: without it 401, with it the list is there.
    anonymous = http("GET", f"{stack.proxy}/v1/lists")
    assert anonymous.status == 401, anonymous.body
    for _ in range(2):
        listed = http("GET", f"{stack.proxy}/v1/lists", headers=stack.auth)
        assert listed.status == 200, listed.body
        assert listed.cache in (None, "", "BYPASS")

    for path in ("/healthz", "/readyz", "/metrics"):
        for _ in range(2):
            reply = http("GET", f"{stack.proxy}{path}")
            assert reply.status == 200, (path, reply.body)
            assert reply.cache in (None, "", "BYPASS"), f"{path} went through the cache"
            assert "public" not in reply.headers.get("Cache-Control", ""), path

    # A batch body far beyond nginx's default 1 MiB limit goes through to the service.
    created = http(
        "POST", f"{stack.proxy}/v1/lists", headers=stack.auth, payload={"bits": 1, "size": 65536}
    )
    assert created.status == 201, created.body
    list_id = created.json()["id"]
    allocated = http(
        "POST",
        f"{stack.proxy}/v1/allocations",
        headers=stack.auth,
        payload={"count": 40_000, "list_id": list_id},
    )
    assert allocated.status in (200, 201), allocated.body[:500]
    updates = [{"idx": e["status_list"]["idx"], "status": "INVALID"} for e in allocated.json()]
    body = json.dumps({"updates": updates}).encode()
    assert len(body) > 1 << 20
    batch = http(
        "PATCH",
        f"{stack.proxy}/v1/lists/{list_id}/entries",
        headers={**stack.auth, "Content-Type": "application/json"},
        data=body,
    )
    assert batch.status == 200, batch.body[:500]
    assert batch.json() == {"updated": len(updates)}
    assert batch.cache in (None, "", "BYPASS")

    # Public documents other than tokens are cached as the service's Cache-Control allows.
    first, second = (http("GET", f"{stack.proxy}/.well-known/jwks.json") for _ in range(2))
    assert max_age(first) > 0
    assert second.cache == "HIT"
    assert second.body == first.body
