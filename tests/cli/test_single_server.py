"""SQLite is one process's: a second ``statuslist serve`` on the same data directory is refused
with a clear message, while one-off commands still open the database; after ``kill -9`` of the
server the data directory is free again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import ServerProcess, free_port


def test_a_second_server_on_one_data_directory_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = ServerProcess(data).start()
    try:
        second = subprocess.run(
            [sys.executable, "-m", "statuslist", "serve", "--data", str(data), "--port",
             str(free_port())],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert second.returncode == 2, second.stderr
        assert "in use by another statuslist serve" in second.stderr
        assert f"pid {first.proc.pid}" in second.stderr  # type: ignore[union-attr]
        assert "Traceback" not in second.stderr
        made = subprocess.run(
            [sys.executable, "-m", "statuslist", "apikey", "create", "--data", str(data)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert made.returncode == 0 and made.stdout.startswith("sl_"), made.stderr
        assert first.request("GET", "/readyz")[0] == 200
    finally:
        first.kill()
    again = ServerProcess(data).start()  # the lock died with the process
    again.stop()


def test_postgresql_without_issuers_is_refused_clearly(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "statuslist", "serve", "--data", str(tmp_path / "d"),
         "--database-url", "postgresql://nobody@127.0.0.1:1/none", "--port", str(free_port())],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "needs issuers configured" in proc.stderr and "Traceback" not in proc.stderr


def test_an_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    subprocess.run(
        [sys.executable, "-m", "statuslist", "keygen", "--out", str(key)],
        capture_output=True,
        timeout=60,
        check=True,
    )
    cfg = tmp_path / "s.toml"
    cfg.write_text(f"[issuers.a]\nkeys = [{str(key)!r}]\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "statuslist", "serve", "--config", str(cfg), "--data",
         str(tmp_path / "d"), "--database-url", f"postgresql://nobody@127.0.0.1:{free_port()}/x",
         "--port", str(free_port())],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "cannot open the PostgreSQL database" in proc.stderr
    assert "Traceback" not in proc.stderr
