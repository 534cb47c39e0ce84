"""``--spawn``: a fresh local ``statuslist serve`` in a temporary data directory."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from statuslist.exceptions import LoadtestError

__all__ = ["SpawnedServer", "free_port", "serve_command", "spawned_server", "wait_ready"]


class SpawnedServer:
    """The running server: its URL, the dev setup's admin API key, and its peak RSS."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, data: Path, log: Path) -> None:
        self.proc = proc
        self.url = url
        self.data = data
        self.log = log

    @property
    def api_key(self) -> str:
        return (self.data / "admin-api-key").read_text().strip()

    def peak_rss(self) -> int | None:
        """VmHWM of the server process (its peak resident set), from /proc; None elsewhere."""
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve_command(data: Path, port: int, public_url: str, *args: str) -> list[str]:
    """``python -m statuslist serve`` on 127.0.0.1:``port`` with ``data`` (tests use it too)."""
    cmd = [sys.executable, "-m", "statuslist", "serve", "--data", str(data)]
    return [*cmd, "--host", "127.0.0.1", "--port", str(port), "--public-url", public_url, *args]


def wait_ready(
    proc: subprocess.Popen[bytes],
    url: str,
    timeout: float,
    log_tail: Callable[[], str],
    probe: str = "/readyz",
) -> None:
    """Waits for ``url`` + ``probe`` to answer 200; :class:`LoadtestError` if the process exits
    or ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise LoadtestError(f"the server exited with code {proc.returncode}:\n{log_tail()}")
        try:
            with urllib.request.urlopen(f"{url}{probe}", timeout=2) as resp:  # noqa: S310
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise LoadtestError(f"the server was not ready after {timeout:g} s:\n{log_tail()}")
        time.sleep(0.05)


@contextlib.contextmanager
def spawned_server(
    *,
    publish_interval: float | None = None,
    config: Path | None = None,
    ready_timeout: float = 120.0,
    keep: bool = False,
) -> Iterator[SpawnedServer]:
    """Starts ``python -m statuslist serve`` on a free loopback port; on exit SIGTERM (graceful
    shutdown; SIGKILL after 60 s) and removes the data directory unless ``keep``."""
    tmp = Path(tempfile.mkdtemp(prefix="statuslist-loadtest-"))
    data, log = tmp / "data", tmp / "server.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = serve_command(data, port, url, "--log-level", "WARNING")
    if config is not None:
        cmd += ["--config", str(config)]
    if publish_interval is not None:
        cmd += ["--publish-interval", str(publish_interval)]
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=os.environ,
            # Its own session: a ^C at the terminal reaches the load test (which then reports
            # and stops the server with SIGTERM), not the server in the middle of the run.
            start_new_session=True,
        )
    server = SpawnedServer(proc, url, data, log)
    try:
        wait_ready(proc, url, ready_timeout, server.log_tail)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if keep:
            print(f"statuslist loadtest: kept the server's data in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
