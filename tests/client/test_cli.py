"""The token verbs of the command line: keygen, inspect, fetch and check against a local server."""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from statuslist import StatusList
from statuslist.tokens import TokenClaims, load_key, sign


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "statuslist", *args], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    path = tmp_path_factory.mktemp("keys") / "issuer.pem"
    proc = cli("keygen", "--alg", "ES256", "--out", str(path), "--kid", "cli-key")
    assert proc.returncode == 0, proc.stderr
    return path, json.loads(proc.stdout)


def test_keygen_writes_a_private_file(key_file: tuple[Path, dict[str, object]]) -> None:
    path, jwk = key_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert jwk["kid"] == "cli-key" and jwk["alg"] == "ES256" and "d" not in jwk
    again = cli("keygen", "--out", str(path))
    assert again.returncode == 2 and "--force" in again.stderr


@pytest.fixture(scope="module")
def server(key_file: tuple[Path, dict[str, object]]) -> Iterator[str]:
    """A local server in its own thread serving a JWT and a CWT of one 2-bit list."""
    key = load_key(key_file[0].read_bytes(), "cli-key")
    ready = threading.Event()
    state: dict[str, object] = {}

    async def main() -> None:
        tokens: dict[str, bytes] = {}

        async def serve(request: web.Request) -> web.Response:
            fmt = request.match_info["fmt"]
            return web.Response(body=tokens[fmt], content_type=f"application/statuslist+{fmt}")

        app = web.Application()
        app.router.add_get("/{fmt:jwt|cwt}", serve)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        sl = StatusList(64, 2)
        sl.set_many([5, 6], [1, 2])
        now = int(time.time())
        for fmt in ("jwt", "cwt"):
            claims = TokenClaims(
                sub=f"{base}/{fmt}", iat=now, exp=now + 600, ttl=60, status_list=sl
            )
            tokens[fmt] = sign(key.signer, claims, fmt)  # type: ignore[arg-type]
        state["base"], state["stop"] = base, asyncio.Event()
        ready.set()
        await state["stop"].wait()  # type: ignore[attr-defined]
        await runner.cleanup()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield str(state["base"])
    loop.call_soon_threadsafe(state["stop"].set)  # type: ignore[attr-defined]
    thread.join(10)


def test_fetch_inspect_and_check(
    server: str, key_file: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    jwk_path = tmp_path / "jwk.json"
    jwk_path.write_text(json.dumps(key_file[1]))
    for fmt in ("jwt", "cwt"):
        out = tmp_path / f"token.{fmt}"
        fetched = cli("fetch", f"{server}/{fmt}", "--format", fmt, "--out", str(out))
        assert fetched.returncode == 0, fetched.stderr
        inspected = cli("inspect", str(out))
        assert inspected.returncode == 0, inspected.stderr
        doc = json.loads(inspected.stdout)
        assert doc["format"] == fmt
        assert doc["list"] == {
            "bits": 2,
            "size": 64,
            "compressed_bytes": doc["list"]["compressed_bytes"],
            "counts": {"0": 62, "1": 1, "2": 1},
        }
        checked = cli("check", "--uri", f"{server}/{fmt}", "--idx", "6", "--jwk", str(jwk_path))
        assert checked.returncode == 0, checked.stderr
        result = json.loads(checked.stdout)
        assert (result["status"], result["name"], result["format"]) == (2, "SUSPENDED", fmt)
        # --require-valid: the exit status says VALID or not, for shell scripts.
        base = ("check", "--uri", f"{server}/{fmt}", "--jwk", str(jwk_path), "--require-valid")
        for idx, code, name in (("6", 3, "SUSPENDED"), ("0", 0, "VALID")):
            checked = cli(*base, "--idx", idx)
            assert checked.returncode == code, checked.stderr
            assert json.loads(checked.stdout)["name"] == name


def test_check_fails_with_the_wrong_key(server: str, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    made = cli("keygen", "--out", str(other), "--kid", "cli-key")
    jwk = tmp_path / "other.json"
    jwk.write_text(made.stdout)
    checked = cli("check", "--uri", f"{server}/jwt", "--idx", "6", "--jwk", str(jwk))
    assert checked.returncode == 1
    assert "SignatureError" in checked.stderr and "Traceback" not in checked.stderr


def _b64u(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _jwt(header: bytes, claims: bytes) -> str:
    return f"{_b64u(header)}.{_b64u(claims)}.x"


@pytest.mark.parametrize(
    "token",
    [
        "a.b.c",
        _jwt(b"[" * 50_000, b"{}"),  # deeply nested header
        _jwt(b"{}", b"[]"),  # claims not an object
        _jwt(b"{}", b'{"status_list": 5}'),
        _jwt(b"{}", b'{"status_list": {"bits": 1, "lst": "!!"}}'),
        _jwt(b"{}", b'{"status_list": {"bits": 3, "lst": ""}}'),
        _jwt(bytes([0xFF, 0xFE]), b"{}"),  # not UTF-8
        "d28443a10126a0",  # a COSE_Sign1 cut short
        "c0",  # a CBOR tag without content
        "9f" * 5000 + "ff" * 5000,  # deeply nested CBOR
        "d2" + "84" + "40" * 3 + "01",  # tag 18 with junk
    ],
    ids=lambda t: t[:24],
)
def test_inspect_of_hostile_tokens_is_one_error_line(token: str) -> None:
    done = cli("inspect", token)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith("statuslist: error: ")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
