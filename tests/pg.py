"""A real PostgreSQL server for tests and benchmarks: Debian's ``initdb``/``pg_ctl`` run as the
``postgres`` user (they refuse root) on a temporary directory, a free port and a private socket
directory, with trust authentication on loopback only. No mocks.

``.ci/run`` (via ``make test``) installs the ``postgresql`` package when ``initdb`` is missing; a
test that needs PostgreSQL fails loudly when it still is.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from statuslist.loadtest.spawn import free_port

__all__ = ["PostgresServer", "pg_bindir"]


def pg_bindir() -> Path:
    """Where ``initdb`` and ``pg_ctl`` are (``pg_config --bindir``, else Debian's layout)."""
    candidates = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(Path(out.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for c in candidates:
        if (c / "initdb").is_file() and (c / "pg_ctl").is_file():
            return c
    pytest.fail(
        "PostgreSQL is needed (initdb/pg_ctl not found): apt-get install -y postgresql",
        pytrace=False,
    )


class PostgresServer:
    """One PostgreSQL cluster; ``url(db)`` for a database in it; stop/start/kill for the tests of
    database trouble."""

    def __init__(self) -> None:
        self.bindir = pg_bindir()
        self.base = Path(tempfile.mkdtemp(prefix="statuslist-pg-"))
        self.data = self.base / "data"
        self.sockets = self.base / "sock"
        self.log = self.base / "server.log"
        self.port = free_port()
        self._user = "postgres" if os.geteuid() == 0 else None
        self._n = 0

    def _run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        full = ["runuser", "-u", self._user, "--", *cmd] if self._user else list(cmd)
        done = subprocess.run(full, capture_output=True, text=True, check=False, timeout=120)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stdout}{done.stderr}")
        return done

    def init(self) -> PostgresServer:
        self.sockets.mkdir()
        if self._user:
            pw = pwd.getpwnam(self._user)
            for p in (self.base, self.sockets):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        conf = self.data / "postgresql.conf"
        with conf.open("a") as fh:
            fh.write(
                f"port = {self.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.sockets}'\n"
                "max_connections = 200\n"
                "shared_buffers = 64MB\n"
                # Durability as in production: fsync and synchronous_commit stay on.
            )
        return self

    def start(self) -> PostgresServer:
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "start"
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False
        )

    def kill(self) -> None:
        """SIGKILL of the postmaster (a crash; the next start recovers from the WAL)."""
        pid_file = self.data / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        time.sleep(0.5)

    def running(self) -> bool:
        return (
            self._run(
                str(self.bindir / "pg_ctl"), "-D", str(self.data), "status", check=False
            ).returncode
            == 0
        )

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def new_database(self, prefix: str = "t") -> str:
        """A fresh, empty database; its URL."""
        self._n += 1
        name = f"{prefix}{os.getpid()}_{self._n}"
        socket = ("-h", str(self.sockets), "-p", str(self.port), "-U", "postgres")
        self._run(str(self.bindir / "createdb"), *socket, name)
        return self.url(name)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer().init().start()
    try:
        yield server
    finally:
        server.destroy()
