"""Real servers for the HTTP tests: ``statuslist serve`` subprocesses on free ports.

- ``server``: the development setup (no config), publishing every 0.2 s.
- ``history_server``: the same with ``STATUSLIST_HISTORY_RETENTION=3600`` (``?time=`` enabled).
- ``limited``: two configured issuers ``a`` and ``b`` (keys from ``statuslist keygen``), small
  body and batch limits, and API keys from ``statuslist apikey create`` (admin of a, admin of b,
  read-only of a, write of a).

Each fixture is module-scoped: one process per test module. Tests create their own lists, so
nothing a test writes is seen by another and their order does not matter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import ServerProcess, run_cli

#: The limits of the ``limited`` server (small, so that exceeding them is cheap).
#: max_batch is 500, not more: 501 updates by claim (``{"uri": …, "idx": …, "status": …}``, ~80
#: bytes each) must still fit in max_body_bytes, or the body limit would hide the batch limit.
MAX_BODY_BYTES = 65536
MAX_BATCH = 500


def _stop(srv: ServerProcess) -> None:
    code = srv.stop()
    assert code == 0, f"server exited with {code}:\n{srv.log()}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("web") / "data"
    srv = ServerProcess(data, args=("--publish-interval", "0.2")).start()
    yield srv
    _stop(srv)


@pytest.fixture(scope="module")
def history_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("history") / "data"
    srv = ServerProcess(
        data,
        args=("--publish-interval", "0.2"),
        env={"STATUSLIST_HISTORY_RETENTION": "3600"},
    ).start()
    yield srv
    _stop(srv)


@dataclass(frozen=True)
class Limited:
    """The two-issuer server with small limits, and API keys for it."""

    srv: ServerProcess
    config: Path
    key_a: str  # admin of issuer a
    key_b: str  # admin of issuer b
    read_a: str  # read-only key of issuer a
    write_a: str  # write (not admin) key of issuer a
    max_body_bytes: int = MAX_BODY_BYTES
    max_batch: int = MAX_BATCH


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Limited]:
    base = tmp_path_factory.mktemp("limited")
    data = base / "data"
    data.mkdir()
    for name in ("a", "b"):
        run_cli("keygen", "--out", str(base / f"{name}.pem"))
    config = base / "statuslist.toml"
    config.write_text(
        f"data_dir = {str(data)!r}\n"
        "publish_interval = 0.2\n"
        "[limits]\n"
        f"max_body_bytes = {MAX_BODY_BYTES}\n"
        f"max_batch = {MAX_BATCH}\n"
        "[issuers.a]\n"
        f"keys = [{str(base / 'a.pem')!r}]\n"
        "[issuers.b]\n"
        f"keys = [{str(base / 'b.pem')!r}]\n",
        encoding="utf-8",
    )

    def apikey(issuer: str, scope: str) -> str:
        out = run_cli(
            "apikey", "create", "--config", str(config), "--issuer", issuer, "--scope", scope
        )
        key = out.strip()
        assert key.startswith("sl_") and "\n" not in key, out
        return key

    keys = Limited(
        srv=ServerProcess(data, args=("--config", str(config))),
        config=config,
        key_a=apikey("a", "admin"),
        key_b=apikey("b", "admin"),
        read_a=apikey("a", "read"),
        write_a=apikey("a", "write"),
    )
    keys.srv.start()
    yield keys
    _stop(keys.srv)
