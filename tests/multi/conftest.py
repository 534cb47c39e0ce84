"""Several real ``statuslist serve`` processes on one real PostgreSQL database.

``Cluster`` starts N instances with one configured issuer (a key from ``statuslist keygen``), the
same ``--public-url`` (as behind a load balancer) and their own data directories, and an admin API
key from ``statuslist apikey create`` against the database.
"""

from __future__ import annotations

import base64
import json
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pg import PostgresServer
from tests.support import ServerProcess, free_port
from tests.support import run_cli as cli

PUBLISH_INTERVAL = 0.3


class Cluster:
    def __init__(self, base: Path, url: str, n: int, interval: float = PUBLISH_INTERVAL) -> None:
        self.base, self.url = base, url
        cli("keygen", "--out", str(base / "acme.pem"))
        self.config = base / "statuslist.toml"
        self.config.write_text(
            f"publish_interval = {interval}\n[issuers.acme]\nkeys = [{str(base / 'acme.pem')!r}]\n",
            encoding="utf-8",
        )
        ports = [free_port() for _ in range(n)]
        self.public = f"http://127.0.0.1:{ports[0]}"  # the "load balancer" address
        self.nodes = [self.node(i, ports[i]) for i in range(n)]
        self.key = cli(
            "apikey", "create", "--config", str(self.config), "--database-url", url,
            "--issuer", "acme", "--scope", "admin",
        ).strip()  # fmt: skip

    def node(self, i: int, port: int | None = None) -> ServerProcess:
        return ServerProcess(
            self.base / f"node{i}",
            port=port,
            public_url=self.public,
            args=("--config", str(self.config), "--database-url", self.url),
        )

    def start(self) -> Cluster:
        for node in self.nodes:
            node.start()
        return self

    def stop(self) -> None:
        for node in self.nodes:
            if node.proc is not None:
                node.stop()

    def api(self, node: ServerProcess, method: str, path: str, body: Any = None) -> Any:
        return node.api(method, path, body, key=self.key)

    def call(
        self, node: ServerProcess, method: str, path: str, body: Any = None
    ) -> tuple[int, dict[str, str], bytes]:
        return node.request(method, path, body, key=self.key)

    def leader(self) -> ServerProcess:
        for _ in range(100):
            for node in self.nodes:
                if node.proc is None:
                    continue
                status, _, body = node.request("GET", "/readyz")
                if status == 200 and json.loads(body).get("publishing"):
                    return node
            time.sleep(0.1)
        raise AssertionError("no instance publishes")


def token_status(body: bytes, idx: int) -> int:
    """Entry ``idx`` of a 1-bit list in a served JWT (the signature is checked elsewhere)."""
    payload = body.split(b".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
    lst = claims["status_list"]["lst"]
    raw = zlib.decompress(base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4)))
    return (raw[idx // 8] >> (idx % 8)) & 1


@pytest.fixture(scope="module")
def cluster(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("cluster"), postgres.new_database("multi"), 3).start()
    yield c
    c.stop()
