"""Issuer keys rotated without a restart: ``statuslist keys reload`` (SIGHUP) makes the new
first key sign from the next publish; a token signed before still verifies because the old key
stays in the JWKS until such tokens expire; a configuration that cannot be loaded changes
nothing and shows in ``/readyz``; an issuer left without keys makes ``/readyz`` red."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

from statuslist.client import StatusListClient, _jwk_public_key
from statuslist.service.keys import IssuerKeys
from statuslist.tokens import load_key, peek_header, verify_claims
from tests.support import ServerProcess, run_cli


def _keygen(path: Path) -> str:
    return json.loads(run_cli("keygen", "--out", str(path)))["kid"]


def _config(path: Path, *keys: Path) -> None:
    listed = ", ".join(repr(str(k)) for k in keys)
    path.write_text(f"[issuers.acme]\nkeys = [{listed}]\n", encoding="utf-8")


def _reload(data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "statuslist", "keys", "reload", "--data", str(data)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _jwks_kids(server: ServerProcess) -> list[str]:
    _, _, body = server.request("GET", "/.well-known/jwks.json")
    return [k["kid"] for k in json.loads(body)["keys"]]


def _wait(cond: object, what: str) -> None:
    deadline = time.monotonic() + 20
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _token(server: ServerProcess, list_id: str) -> bytes:
    code, _, body = server.request(
        "GET", f"/statuslists/{list_id}", headers={"Accept": "application/statuslist+jwt"}
    )
    assert code == 200
    return body


def _verify_with_jwks(server: ServerProcess, token: bytes) -> int:
    """Verifies ``token`` against the key the server's JWKS publishes now for its kid."""
    header = peek_header(token, "jwt")
    _, _, body = server.request("GET", "/.well-known/jwks.json")
    jwk = next(k for k in json.loads(body)["keys"] if k["kid"] == header.kid)
    return verify_claims(token, "jwt", header.alg, _jwk_public_key(jwk)).bits


async def _sdk_status(server: ServerProcess, list_id: str) -> int:
    async with StatusListClient(jwks_url=f"{server.url}/.well-known/jwks.json") as client:
        verified = await client.status_list(f"{server.url}/statuslists/{list_id}")
        return verified.status_list[3]


def test_rotation_without_restart(tmp_path: Path) -> None:
    k1, k2 = tmp_path / "k1.pem", tmp_path / "k2.pem"
    kid1, kid2 = _keygen(k1), _keygen(k2)
    cfg = tmp_path / "statuslist.toml"
    _config(cfg, k1)
    data = tmp_path / "data"
    server = ServerProcess(data, args=("--config", str(cfg)))
    admin = run_cli(
        "apikey", "create", "--config", str(cfg), "--data", str(data), "--scope", "admin"
    ).strip()
    server.start()
    try:
        list_id = server.api("POST", "/v1/lists", {"bits": 1, "size": 1000}, key=admin)["id"]
        server.api("PUT", f"/v1/lists/{list_id}/entries/3", {"status": "INVALID"}, key=admin)
        server.api("POST", f"/v1/lists/{list_id}/publish", key=admin)
        before = _token(server, list_id)
        assert peek_header(before, "jwt").kid == kid1
        assert _jwks_kids(server) == [kid1]

        # Rotate: k2 replaces k1.
        _config(cfg, k2)
        done = _reload(data)
        assert done.returncode == 0, done.stderr
        _wait(lambda: kid2 in _jwks_kids(server), "the new key was never published")
        assert set(_jwks_kids(server)) == {kid1, kid2}  # k1 stays while its tokens may live
        server.api("POST", f"/v1/lists/{list_id}/publish", key=admin)
        after = _token(server, list_id)
        assert peek_header(after, "jwt").kid == kid2
        assert _verify_with_jwks(server, before) == 1  # the old token still verifies
        assert _verify_with_jwks(server, after) == 1
        assert asyncio.run(_sdk_status(server, list_id)) == 1
        assert "signs from the next publish" in server.log()

        # A configuration that cannot be loaded changes nothing and is reported.
        _config(cfg, tmp_path / "missing.pem")
        assert _reload(data).returncode == 0
        _wait(lambda: b"degraded" in server.request("GET", "/readyz")[2], "no degraded report")
        assert b"reloading the issuer keys failed" in server.request("GET", "/readyz")[2]
        server.api("POST", f"/v1/lists/{list_id}/publish", key=admin)
        assert peek_header(_token(server, list_id), "jwt").kid == kid2

        # Fixed again: readiness recovers.
        _config(cfg, k2, k1)
        assert _reload(data).returncode == 0
        _wait(lambda: b'"ready"' in server.request("GET", "/readyz")[2], "not ready again")
        assert _jwks_kids(server) == [kid2, kid1]
    finally:
        server.stop()
    assert "Traceback" not in server.log()


def test_an_issuer_left_without_keys_is_not_ready(tmp_path: Path) -> None:
    k1 = tmp_path / "k1.pem"
    _keygen(k1)
    cfg = tmp_path / "statuslist.toml"
    _config(cfg, k1)
    data = tmp_path / "data"
    admin = run_cli(
        "apikey", "create", "--config", str(cfg), "--data", str(data), "--scope", "admin"
    ).strip()
    server = ServerProcess(data, args=("--config", str(cfg))).start()
    try:
        list_id = server.api("POST", "/v1/lists", {"bits": 1, "size": 100}, key=admin)["id"]
        cfg.write_text(f"[issuers.other]\nkeys = [{str(k1)!r}]\n", encoding="utf-8")
        assert _reload(data).returncode == 0
        _wait(lambda: server.request("GET", "/readyz")[0] == 503, "still ready")
        body = server.request("GET", "/readyz")[2]
        assert list_id.encode() in body and b"no signing key" in body
        assert server.request("GET", f"/statuslists/{list_id}")[0] == 200  # still served
    finally:
        server.stop()


def test_keys_reload_without_a_server_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ServerProcess(data).start().stop()
    for where in (data, tmp_path / "never"):
        done = _reload(where)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("statuslist: error: no server")
        assert "Traceback" not in done.stderr


def test_retired_keys_leave_the_jwks_when_their_tokens_have_expired(tmp_path: Path) -> None:
    now = [1_000_000.0]
    k1, k2 = tmp_path / "k1.pem", tmp_path / "k2.pem"
    _keygen(k1)
    _keygen(k2)
    one, two = load_key(k1.read_bytes()), load_key(k2.read_bytes())
    keys = IssuerKeys({"a": [one]}, {}, clock=lambda: now[0])
    changes = keys.replace(IssuerKeys({"a": [two]}, {}), keep_for=3600)
    assert any("retired" in c for c in changes) and any("signs" in c for c in changes)
    assert keys.signer("a") is two
    assert [k["kid"] for k in keys.jwks()["keys"]] == [two.kid, one.kid]
    now[0] += 3599
    assert len(keys.jwks("a")["keys"]) == 2
    now[0] += 2
    assert [k["kid"] for k in keys.jwks()["keys"]] == [two.kid]
    # A retired key that comes back is current again, listed once.
    keys.replace(IssuerKeys({"a": [two, one]}, {}), keep_for=3600)
    assert [k["kid"] for k in keys.jwks()["keys"]] == [two.kid, one.kid]
