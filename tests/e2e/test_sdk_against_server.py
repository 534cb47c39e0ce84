"""End to end: a real ``statuslist serve`` from a fresh data directory (no config), an issuer
driving it over HTTP, and a relying party reading the result with the SDK (JWT and CWT)."""

from __future__ import annotations

import asyncio
import json
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from statuslist.client import StatusListClient, SyncStatusListClient
from tests.support import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("e2e") / "data"
    srv = ServerProcess(data, args=("--publish-interval", "0.2")).start()
    yield srv
    assert srv.stop() == 0, srv.log()


def _jwks(server: ServerProcess) -> list[dict[str, Any]]:
    keys: list[dict[str, Any]] = server.api("GET", "/.well-known/jwks.json")["keys"]
    return keys


#: The client ``_read`` uses; every test runs with the asyncio and the synchronous client.
KIND = ["async"]


@pytest.fixture(autouse=True, params=["async", "sync"])
def _client_kind(request: pytest.FixtureRequest) -> Iterator[None]:
    KIND[0] = request.param
    yield
    KIND[0] = "async"


def _read(server: ServerProcess, claims: dict[str, Any], fmt: str) -> tuple[str, int]:
    if KIND[0] == "sync":
        with SyncStatusListClient(trusted_jwks=_jwks(server), formats=(fmt,)) as sync:  # type: ignore[arg-type]
            result = sync.status(claims)
            assert result.format == fmt
            return result.name, result.iat

    async def run() -> tuple[str, int]:
        async with StatusListClient(trusted_jwks=_jwks(server), formats=(fmt,)) as client:  # type: ignore[arg-type]
            result = await client.status(claims)
            assert result.format == fmt
            return result.name, result.iat

    return asyncio.run(run())


def _wait_for(server: ServerProcess, claims: dict[str, Any], fmt: str, want: str) -> float:
    """Polls with a fresh SDK client (no cache) until the entry reads ``want``; returns seconds."""
    start = time.monotonic()
    while time.monotonic() - start < 10:
        name, _ = _read(server, claims, fmt)
        if name == want:
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"{fmt} entry never read {want} within 10 s")


def test_fresh_setup_serves_a_token_the_sdk_validates(server: ServerProcess) -> None:
    key_file = server.data_dir / "admin-api-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((server.data_dir / "keys" / "default.pem").stat().st_mode) == 0o600
    assert "DEVELOPMENT SETUP" in server.log()
    # Allocation without a list creates one from the defaults.
    entries = server.api("POST", "/v1/allocations", {"count": 2})
    assert len(entries) == 2
    claims = entries[0]
    assert claims["status_list"]["uri"].startswith(server.url + "/statuslists/")
    _wait_for(server, claims, "jwt", "VALID")
    _wait_for(server, claims, "cwt", "VALID")


@pytest.mark.parametrize("fmt", ["jwt", "cwt"])
def test_revocation_becomes_visible(server: ServerProcess, fmt: str) -> None:
    lst = server.api("POST", "/v1/lists", {"bits": 1, "size": 100_000, "ttl": 60})
    entries = server.api("POST", "/v1/allocations", {"count": 3, "list_id": lst["id"]})
    revoked, kept = entries[0], entries[1]
    _wait_for(server, revoked, fmt, "VALID")
    s = revoked["status_list"]
    answer = server.api("PUT", f"/v1/lists/{lst['id']}/entries/{s['idx']}", {"status": "INVALID"})
    assert answer == {"idx": s["idx"], "status": 1, "name": "INVALID"}
    lag = _wait_for(server, revoked, fmt, "INVALID")
    assert lag < 5, lag
    assert _read(server, kept, fmt)[0] == "VALID"
    shown = server.api("GET", f"/v1/lists/{lst['id']}")
    assert shown["counts"] == {"VALID": 99_999, "INVALID": 1}
    assert shown["allocated"] == 3


def test_suspend_and_reinstate_on_a_two_bit_list(server: ServerProcess) -> None:
    lst = server.api("POST", "/v1/lists", {"bits": 2, "size": 4096, "formats": ["jwt", "cwt"]})
    (entry,) = server.api("POST", "/v1/allocations", {"count": 1, "list_id": lst["id"]})
    idx = entry["status_list"]["idx"]
    path = f"/v1/lists/{lst['id']}/entries/{idx}"
    server.api("PUT", path, {"status": "SUSPENDED"})
    assert server.api("GET", path)["name"] == "SUSPENDED"
    for fmt in ("jwt", "cwt"):
        _wait_for(server, entry, fmt, "SUSPENDED")
    server.api("PUT", path, {"status": "VALID"})
    for fmt in ("jwt", "cwt"):
        _wait_for(server, entry, fmt, "VALID")
    # Revoke by the claim as embedded in the credential.
    server.api("PATCH", "/v1/entries", {"updates": [{**entry["status_list"], "status": "INVALID"}]})
    _wait_for(server, entry, "jwt", "INVALID")


def test_explicit_publish_returns_the_served_etag(server: ServerProcess) -> None:
    lst = server.api("POST", "/v1/lists", {"bits": 1, "size": 800})
    server.api("PATCH", f"/v1/lists/{lst['id']}/entries", {"indices": [1, 2], "status": 1})
    pub = server.api("POST", f"/v1/lists/{lst['id']}/publish")
    status, headers, body = server.request(
        "GET", f"/statuslists/{lst['id']}", headers={"Accept": "application/statuslist+jwt"}
    )
    assert status == 200 and headers["ETag"] == pub["etag"]
    payload = body.split(b".")[1]
    claims = json.loads(
        __import__("base64").urlsafe_b64decode(payload + b"=" * (-len(payload) % 4))
    )
    assert claims["iat"] == pub["iat"] and claims["exp"] == pub["exp"]
    assert claims["sub"] == lst["uri"]


def test_cli_lists_verbs_against_the_server(server: ServerProcess, tmp_path: Path) -> None:
    import subprocess
    import sys

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "statuslist", *args],
            capture_output=True,
            text=True,
            check=False,
            env={"STATUSLIST_API_KEY": server.api_key, "PATH": "/usr/bin:/bin"},
        )

    made = cli("lists", "create", "--url", server.url, "--bits", "4", "--size", "100")
    assert made.returncode == 0, made.stderr
    doc = json.loads(made.stdout)
    assert doc["bits"] == 4 and doc["size"] == 100
    shown = cli("lists", "show", "--url", server.url, doc["id"])
    assert shown.returncode == 0 and json.loads(shown.stdout)["id"] == doc["id"]
    missing = cli("lists", "show", "--url", server.url, "nope")
    assert missing.returncode == 1 and "HTTP 404" in missing.stderr
    bad = cli("lists", "create", "--url", server.url, "--bits", "3")
    assert bad.returncode == 1 and "bits" in bad.stderr
