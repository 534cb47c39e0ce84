"""The one harness for tests and benchmarks: ``statuslist serve`` as a subprocess on a free port
(the port finder is the load tester's own), and the real nginx binary."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from statuslist import StatusList
from statuslist.exceptions import LoadtestError
from statuslist.loadtest.spawn import free_port, serve_command, wait_ready

__all__ = [
    "NJS_MODULE",
    "REPO",
    "NginxProcess",
    "ServerProcess",
    "fill",
    "free_port",
    "nginx_binary",
    "offload_site",
    "remount",
    "render_template",
    "run_cli",
    "serve_once",
    "tmpfs",
]


REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> str:
    """``python -m statuslist ARGS``; fails the test with its stderr unless it exits 0."""
    proc = subprocess.run(
        [sys.executable, "-m", "statuslist", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, f"statuslist {' '.join(args)} -> {proc.returncode}: {proc.stderr}"
    return proc.stdout


def nginx_binary(why: str = "the CDN tests") -> str:
    """The nginx binary, installed by ``deploy/nginx/ensure-nginx.sh`` when missing (as CI and
    ``make test`` do); the test fails, loudly, when there is none."""
    script = REPO / "deploy" / "nginx" / "ensure-nginx.sh"
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None
    )
    if found is None and script.is_file():
        done = subprocess.run(["/bin/sh", str(script)], capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.strip():
            found = done.stdout.strip().splitlines()[-1]
    if found is None:
        pytest.fail(
            f"nginx is needed for {why}: run deploy/nginx/ensure-nginx.sh (as root)",
            pytrace=False,
        )
    return found


def render_template(template: Path, values: dict[str, str]) -> str:
    """A deploy/nginx template rendered the way envsubst would; every placeholder filled."""
    site = template.read_text()
    for name, value in values.items():
        site = site.replace("${" + name + "}", value)
    left = re.findall(r"\$\{\w+\}", site)
    assert not left, f"the template has placeholders the test does not fill: {left}"
    return site


#: The origin offload's nginx site, and its line that hands the common requests to the
#: native module.
OFFLOAD_TEMPLATE = REPO / "deploy" / "nginx" / "offload.conf.template"
NATIVE_LINE = "        statuslist_offload ${STATUSLIST_OFFLOAD} $statuslist_id;\n"


def offload_site(upstream: str, listen: str, root: Path, *, native: bool) -> str:
    """The template rendered; without ``native``, less the line that uses the module."""
    template = OFFLOAD_TEMPLATE.read_text()
    assert NATIVE_LINE in template
    site = render_template(
        OFFLOAD_TEMPLATE,
        {
            "STATUSLIST_UPSTREAM": upstream,
            "NGINX_LISTEN": listen,
            "STATUSLIST_OFFLOAD": str(root),
            "STATUSLIST_JS_DIR": str(REPO / "deploy" / "nginx"),
        },
    )
    if not native:
        line = NATIVE_LINE.replace("${STATUSLIST_OFFLOAD}", str(root))
        assert site.count(line) == 1
        site = site.replace(line, "")
    return site


#: Debian's njs module (libnginx-mod-http-js), for the origin-offload config.
NJS_MODULE = Path("/usr/lib/nginx/modules/ngx_http_js_module.so")


def statuslist_module() -> Path:
    """The origin offload's native fast path (``deploy/nginx/module``) built for this nginx by
    ``deploy/nginx/build-module.sh`` (as ``make nginx`` does; a no-op when it is up to date);
    the test fails, loudly, when it cannot be built."""
    script = REPO / "deploy" / "nginx" / "build-module.sh"
    done = subprocess.run(["/bin/sh", str(script)], capture_output=True, text=True, check=False)
    path = Path(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else None
    if done.returncode != 0 or path is None or not path.is_file():
        pytest.fail(
            f"the statuslist nginx module could not be built ({script}):\n{done.stderr[-3000:]}",
            pytrace=False,
        )
    return path


class NginxProcess:
    """The real nginx in the foreground, one worker, every path in ``tmp``: ``http_conf`` is
    the ``http {}`` block's content (a site template rendered, or a static server). With
    ``njs``, the njs module is loaded (installed by ``deploy/nginx/ensure-nginx.sh``); with
    ``native``, the offload's own module (:func:`statuslist_module`) too. With ``access_log``,
    nginx logs each request in that format to :attr:`access_log_path`. ``url`` is where it
    listens, for the caller's convenience."""

    def __init__(
        self,
        tmp: Path,
        http_conf: str,
        *,
        url: str = "",
        njs: bool = False,
        native: bool = False,
        access_log: str | None = None,
    ) -> None:
        self.tmp = tmp
        self.url = url
        (tmp / "temp").mkdir(exist_ok=True)
        user = "user root;\n" if os.geteuid() == 0 else ""
        load = ""
        if njs:
            if not NJS_MODULE.is_file():  # installs it, as make test does
                script = REPO / "deploy" / "nginx" / "ensure-nginx.sh"
                subprocess.run(["/bin/sh", str(script)], capture_output=True, check=False)
            if not NJS_MODULE.is_file():
                pytest.fail(
                    f"nginx's njs module ({NJS_MODULE}) is needed: run "
                    "deploy/nginx/ensure-nginx.sh (as root)",
                    pytrace=False,
                )
            load = f"load_module {NJS_MODULE};\n"
        if native:
            load += f"load_module {statuslist_module()};\n"
        self.access_log_path = tmp / "access.log"
        logging = "    access_log off;\n"
        if access_log is not None:
            logging = (
                f"    log_format statuslist_test '{access_log}';\n"
                f"    access_log {self.access_log_path} statuslist_test;\n"
            )
        temp_paths = "".join(
            f"    {kind}_temp_path {tmp / 'temp' / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        self.conf = tmp / "nginx.conf"
        self.conf.write_text(
            f"{load}"
            "daemon off;\n"
            "master_process on;\n"
            "worker_processes 1;\n"
            f"pid {tmp / 'nginx.pid'};\n"
            f"error_log {tmp / 'error.log'} warn;\n"
            f"{user}"
            "events { worker_connections 1024; }\n"
            "http {\n"
            f"{logging}"
            f"{temp_paths}"
            "    sendfile on;\n"
            "    tcp_nopush on;\n"
            "    keepalive_requests 1000000;\n"
            f"{http_conf}\n"
            "}\n"
        )
        self.log_path = tmp / "nginx.out"
        self.proc: subprocess.Popen[bytes] | None = None

    def log(self) -> str:
        parts = []
        for path in (self.log_path, self.tmp / "error.log"):
            text = path.read_text(errors="replace") if path.exists() else "(none)"
            parts.append(f"--- {path.name} ---\n{text[-4000:]}")
        return "\n".join(parts)

    def start(self, probe_url: str, *, timeout: float = 20.0) -> NginxProcess:
        """Checks the config (``nginx -t``), starts nginx and waits until ``probe_url``
        answers 200; fails the test with nginx's logs otherwise."""
        binary = nginx_binary()
        opts = ["-p", f"{self.tmp}/", "-e", str(self.tmp / "error.log"), "-c", str(self.conf)]
        check = subprocess.run([binary, "-t", *opts], capture_output=True, text=True, check=False)
        if check.returncode != 0:
            pytest.fail(f"nginx -t rejected the config:\n{check.stderr}", pytrace=False)
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [binary, *opts], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"nginx exited with {self.proc.returncode}\n{self.log()}", pytrace=False
                )
            try:
                with urllib.request.urlopen(probe_url, timeout=2) as resp:  # noqa: S310
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"nginx: {probe_url} not ready after {timeout:.0f} s\n{self.log()}")

    def stop(self) -> None:
        """SIGTERM (fast shutdown of master and worker), SIGKILL after 10 s."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class ServerProcess:
    """``python -m statuslist serve`` in ``data_dir``; ``start()`` waits for ``/readyz``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        public_url: str | None = None,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.public_url = public_url or self.url
        self.args = args
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"

    def start(self, timeout: float = 60.0, probe: str = "/readyz") -> ServerProcess:
        """Starts the server; waits until ``probe`` answers 200 (``/healthz`` for a server
        that is up but expected not to be ready)."""
        cmd = serve_command(self.data_dir, self.port, self.public_url, *self.args)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env}
        )
        try:
            wait_ready(self.proc, self.url, timeout, self.log, probe)
        except LoadtestError as exc:
            self.kill()
            raise RuntimeError(str(exc)) from None
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    @property
    def api_key(self) -> str:
        return (self.data_dir / "admin-api-key").read_text().strip()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (graceful shutdown), then SIGKILL after ``timeout``; returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One blocking HTTP request; returns (status, headers, body) for any status."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        hdrs = dict(headers or {})
        if key is not None:
            hdrs.setdefault("Authorization", f"Bearer {key}")
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def served_list(self, list_id: str) -> StatusList:
        """The list as served right after an explicit publish, decoded from its JWT."""
        self.api("POST", f"/v1/lists/{list_id}/publish")
        status, _, body = self.request(
            "GET", f"/statuslists/{list_id}", headers={"Accept": "application/statuslist+jwt"}
        )
        assert status == 200, body[:200]
        payload = body.split(b".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
        return StatusList.from_json(claims["status_list"])

    def revoke(self, list_id: str, indices: Iterable[int], status: str = "INVALID") -> None:
        """Sets ``indices`` of the list to ``status`` in one binary batch (u64 LE body)."""
        raw = array("Q", indices).tobytes()
        code, _, data = self.request(
            "PATCH",
            f"/v1/lists/{list_id}/entries?status={status}",
            key=self.api_key,
            raw=raw,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert code == 200, data[:500]

    def api(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        """An issuer API call with the admin key that must succeed; returns the parsed JSON."""
        key = kw.pop("key", None) or self.api_key
        status, _, data = self.request(method, path, body, key=key, **kw)
        if status >= 300:
            raise AssertionError(f"{method} {path} -> {status}: {data[:500]!r}")
        return json.loads(data) if data else None


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "16m", *, read_only: bool = False) -> Iterator[Path]:
    """A real tmpfs mounted at ``path`` (a small disk to fill, or a read-only one); needs root,
    as CI has. Fails the test, loudly, when it cannot mount."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(
        [shutil.which("mount") or "/usr/bin/mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs at {path} (root needed): {done.stderr}", pytrace=False)
    try:
        yield path
    finally:
        subprocess.run(
            [shutil.which("umount") or "/usr/bin/umount", "-l", str(path)],
            capture_output=True,
            check=False,
        )


def remount(path: Path, *, read_only: bool) -> None:
    """Remounts the tmpfs at ``path`` read-only or read-write."""
    opt = "remount,ro" if read_only else "remount,rw"
    subprocess.run(
        [shutil.which("mount") or "/usr/bin/mount", "-o", opt, str(path)],
        capture_output=True,
        check=True,
    )


def fill(path: Path) -> Path:
    """Fills the file system holding ``path`` with one file (returned; delete it to free)."""
    filler = path / "filler"
    with filler.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    return filler


def serve_once(data: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``statuslist serve`` that is expected to refuse to start: its exit and its stderr."""
    return subprocess.run(
        [sys.executable, "-m", "statuslist", "serve", "--data", str(data), "--port",
         str(free_port()), *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
