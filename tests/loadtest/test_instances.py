"""``statuslist loadtest`` against several instances of one deployment (several ``--url``).

Two real instances on one database are not available yet, so the spreading is checked against
one real server reached through two distinct base URLs: its own, and a counting pass-through on
another port (so what the tool says it sent to the second instance is checked outside the tool),
or ``127.0.0.1`` and ``localhost``. The server's own request counters must then equal the sum of
what the tool reports per instance."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from statuslist.exceptions import LoadtestError
from statuslist.loadtest import Scenario
from statuslist.loadtest.report import render_table
from statuslist.loadtest.runner import Runner
from statuslist.loadtest.targets import RoundRobin, Tally, Targets
from tests.loadtest.test_runs import loadtest
from tests.support import ServerProcess, free_port

_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


class CountingProxy:
    """A pass-through to ``upstream`` on its own loopback port, in a thread with its own event
    loop, recording (method, path) of every request that reaches it. Bodies pass unchanged in
    both directions (gzip included), redirects are not followed."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.seen: list[tuple[str, str]] = []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with aiohttp.ClientSession(auto_decompress=False) as client:

            async def forward(request: web.Request) -> web.Response:
                self.seen.append((request.method, request.path))
                body = await request.read()
                headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
                async with client.request(
                    request.method,
                    self.upstream + request.path_qs,
                    data=body or None,
                    headers=headers,
                    allow_redirects=False,
                ) as resp:
                    data = await resp.read()
                    back = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP}
                    return web.Response(status=resp.status, body=data, headers=back)

            app = web.Application(client_max_size=64 << 20)
            app.router.add_route("*", "/{tail:.*}", forward)
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            self._ready.set()
            await self._stop.wait()
            await runner.cleanup()

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        assert self._ready.wait(10), "the proxy did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def _kind(method: str, path: str) -> str | None:
    """The load-test operation a request on the wire belongs to (None: setup, /metrics...)."""
    if (method, path) == ("POST", "/v1/lists"):
        return "create"
    if (method, path) == ("POST", "/v1/allocations"):
        return "allocate"
    if method == "PUT" and re.fullmatch(r"/v1/lists/[^/]+/entries/\d+", path):
        return "revoke (single)"
    if method == "PATCH" and re.fullmatch(r"/v1/lists/[^/]+/entries", path):
        return "revoke (batch)"
    if method == "GET" and re.fullmatch(r"/statuslists/[^/]+", path):
        return "token GET"
    return None


def _reported_kinds(entry: dict[str, Any]) -> Counter[str]:
    """The same kinds from one ``per_instance`` entry of the report."""
    out: Counter[str] = Counter()
    for name, op in entry["operations"].items():
        if name == "create list":
            out["create"] += op["requests"]
        elif name in ("allocate", "revoke (single)", "revoke (batch)"):
            out[name] += op["requests"]
        elif name.startswith(("fetch ", "lag probe")):
            out["token GET"] += op["requests"]
        else:
            raise AssertionError(f"unexpected operation {name!r}")
    return out


def _server_counts(server: ServerProcess) -> Counter[str]:
    """The server's own ``statuslist_http_requests`` counters, by the same kinds."""
    _, _, body = server.request("GET", "/metrics")
    out: Counter[str] = Counter()
    routes = {
        ("POST", "/v1/lists"): "create",
        ("POST", "/v1/allocations"): "allocate",
        ("PUT", "/v1/lists/{list_id}/entries/{idx}"): "revoke (single)",
        ("PATCH", "/v1/lists/{list_id}/entries"): "revoke (batch)",
        ("GET", "/statuslists/{list_id}"): "token GET",
    }
    for line in body.decode().splitlines():
        if not line.startswith("statuslist_http_requests_total{"):
            continue
        labels, _, value = line.partition("{")[2].rpartition("} ")  # routes hold braces too
        got = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        kind = routes.get((got["method"], got["route"]))
        if kind is not None:
            out[kind] += int(float(value))
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("lt-instances") / "data"
    srv = ServerProcess(data, args=("--publish-interval", "0.3")).start()
    yield srv
    assert srv.stop() == 0, srv.log()


def test_load_is_spread_over_the_instances(server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    before = _server_counts(server)
    with CountingProxy(server.url) as proxy:
        a, b = server.url, proxy.url
        proc = loadtest(
            "--url", f"{a},{b}",
            "--api-key", server.api_key,
            "--lists", "2",
            "--entries", "20000",
            "--revocations", "800",
            "--allocation-batch", "200",
            "--batch-size", "40",
            "--single-share", "0.2",
            "--fetchers", "4",
            "--fetches", "400",
            "--lag-samples", "12",
            "--json", str(out),
        )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = out.read_text()
    report = json.loads(text)
    assert server.api_key not in text and "api_key" not in report["scenario"]
    assert report["scenario"]["urls"] == [a, b]
    assert report["errors"] == 0 and report["revoked"] == 800 and report["fetched"] == 400

    per = report["per_instance"]
    assert [e["url"] for e in per] == [a, b] and {e["role"] for e in per} == {"instance"}
    assert all(e["errors"] == 0 and e["server"]["version"] for e in per)
    kinds_a, kinds_b = _reported_kinds(per[0]), _reported_kinds(per[1])
    assert kinds_a["create"] == kinds_b["create"] == 1, "one list created on each instance"
    for kind in ("allocate", "revoke (single)", "revoke (batch)", "token GET"):
        total = kinds_a[kind] + kinds_b[kind]
        assert total >= 4, kind
        assert 0.4 <= kinds_b[kind] / total <= 0.6, (kind, kinds_a[kind], kinds_b[kind])
    # Every operation's requests, summed over the instances, are the table's.
    for name, op in report["operations"].items():
        assert sum(e["operations"][name]["requests"] for e in per) == op["ok"] + op["errors"]
    # What reached B is what the tool says it sent to B...
    on_wire = Counter(k for k in (_kind(m, p) for m, p in proxy.seen) if k is not None)
    assert on_wire == kinds_b
    # ... and the server saw both instances' requests, no more, no fewer.
    after = _server_counts(server)
    assert after - before == kinds_a + kinds_b

    assert {lst["created_via"] for lst in report["lists"]} == {a, b}
    lag = report["publish_lag"]
    assert lag["measured"] == lag["requested"] == 12 and lag["timed_out"] == 0
    directions = Counter((s["written_via"], s["probed_via"]) for s in lag["samples"])
    assert set(directions) == {(a, b), (b, a)}, "written on one instance, probed on the other"
    for lst in report["lists"]:
        assert server.api("GET", f"/v1/lists/{lst['id']}")["allocated"] == lst["allocated"]
    revoked = sum(
        server.api("GET", f"/v1/lists/{lst['id']}")["counts"].get("INVALID", 0)
        for lst in report["lists"]
    )
    assert revoked == 800

    assert f"at {a}, {b} (2 instances)" in proc.stdout
    assert "cross-instance publish lag: 12 of 12 samples" in proc.stdout
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines() if line}
    assert rows[b][1] == f"{per[1]['requests']:,}" and rows[a][2] == "0"
    assert f"server {a}: RSS" in proc.stdout and f"server {b}: RSS" in proc.stdout


def test_tokens_under_the_public_base_are_fetched_from_the_instances(tmp_path: Path) -> None:
    """Token URIs name the public base (a host that does not even resolve): with several
    instances they are fetched from the instances, never from that base."""
    srv = ServerProcess(tmp_path / "data", public_url="http://cdn.invalid").start()
    out = tmp_path / "r.json"
    try:
        urls = (srv.url, f"http://localhost:{srv.port}")
        proc = loadtest(
            "--url", urls[0], "--url", urls[1], "--api-key", srv.api_key,
            "--entries", "5000", "--revocations", "300", "--batch-size", "30",
            "--fetchers", "2", "--fetches", "100", "--lag-samples", "4",
            "--json", str(out),
        )  # fmt: skip
    finally:
        assert srv.stop() == 0, srv.log()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert report["lists"][0]["uri"].startswith("http://cdn.invalid/statuslists/")
    assert report["errors"] == 0 and report["publish_lag"]["measured"] == 4
    per = report["per_instance"]
    assert [e["url"] for e in per] == list(urls), "nothing else was contacted"
    fetches = [
        sum(op["requests"] for n, op in e["operations"].items() if n.startswith("fetch "))
        for e in per
    ]
    # Each fetcher takes the instances in turn; how many fetches each fetcher gets varies.
    assert sum(fetches) == 100 and all(40 <= n <= 60 for n in fetches), fetches


def test_fetch_url_takes_the_fetches_of_every_instance(
    server: ServerProcess, tmp_path: Path
) -> None:
    """Two instances (pass-throughs to the server) behind a CDN (here the server itself, which
    publishes its tokens under its own URL): issuer requests go to the instances in turn, token
    fetches and lag probes to --fetch-url only, as they are."""
    out = tmp_path / "r.json"
    with CountingProxy(server.url) as p1, CountingProxy(server.url) as p2:
        proc = loadtest(
            "--url", p1.url, "--url", p2.url, "--fetch-url", server.url,
            "--api-key", server.api_key, "--entries", "5000", "--revocations", "200",
            "--batch-size", "20", "--fetchers", "2", "--fetches", "60", "--lag-samples", "3",
            "--json", str(out),
        )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    per = report["per_instance"]
    assert [(e["url"], e["role"]) for e in per] == [
        (p1.url, "instance"),
        (p2.url, "instance"),
        (server.url, "fetch-url"),
    ]
    cdn = per[2]["operations"]
    assert sum(op["requests"] for n, op in cdn.items() if n.startswith("fetch ")) == 60
    assert set(cdn) <= {n for n in report["operations"] if n.startswith(("fetch ", "lag probe"))}
    for proxy, entry in ((p1, per[0]), (p2, per[1])):
        assert not [p for _, p in proxy.seen if p.startswith("/statuslists/")]
        assert entry["operations"]["revoke (batch)"]["requests"] > 0
    assert {s["probed_via"] for s in report["publish_lag"]["samples"]} == {server.url}
    assert "publish lag: 3 of 3 samples" in proc.stdout  # not cross-instance: via the CDN
    assert f"{server.url} (--fetch-url)" in proc.stdout


def test_instances_of_different_deployments_are_refused(
    server: ServerProcess, tmp_path: Path
) -> None:
    other = ServerProcess(tmp_path / "data").start()  # its own database and public URL
    try:
        proc = loadtest("--url", server.url, "--url", other.url, "--api-key", server.api_key)
    finally:
        assert other.stop() == 0, other.log()
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "different public base URLs" in proc.stderr and "Traceback" not in proc.stderr
    assert server.url in proc.stderr and other.url in proc.stderr


@pytest.mark.parametrize("form", ["repeated", "commas"])
def test_every_instance_must_answer(server: ServerProcess, form: str) -> None:
    """Both spellings name two instances, and each is checked before anything is created."""
    dead = f"http://127.0.0.1:{free_port()}"
    urls = (
        ("--url", server.url, "--url", dead)
        if form == "repeated"
        else ("--url", f"{server.url},{dead}")
    )
    lists_before = server.api("GET", "/v1/lists")
    proc = loadtest(*urls, "--api-key", server.api_key, "--revocations", "10")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"cannot reach {dead}" in proc.stderr and "Traceback" not in proc.stderr
    assert server.api("GET", "/v1/lists") == lists_before, "nothing created on the live one"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--url", "http://127.0.0.1:1", "--url", "http://127.0.0.1:1/"), "repeats"),
        (("--url", "http://127.0.0.1:1,HTTP://127.0.0.1:1"), "repeats"),
        (("--url", "http://a.invalid:80,http://a.invalid"), "repeats"),
        (("--url", "http://127.0.0.1:1,ftp://127.0.0.1:2"), "--url must be an http"),
        (("--url", "http://127.0.0.1:1", "--url", "127.0.0.1:2"), "--url must be an http"),
        (("--url", "http://127.0.0.1:1,"), "an empty URL"),
        (("--url", "http://127.0.0.1:1", "--url", "http://127.0.0.1:2/?x=1"), "without query"),
        (("--url", "http://127.0.0.1:1,http://127.0.0.1:99999"), "Port out of range"),
    ],
)
def test_invalid_url_lists_are_clear_errors(args: tuple[str, ...], message: str) -> None:
    proc = loadtest(*args, "--api-key", "k")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize(
    "urls",
    [
        ("--url", "http://127.0.0.1:1", "--url", "http://127.0.0.1:2"),
        ("--url", "http://127.0.0.1:1,http://127.0.0.1:2"),
    ],
)
def test_spawn_is_single_instance(urls: tuple[str, ...]) -> None:
    proc = loadtest("--spawn", *urls)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--spawn starts a single server" in proc.stderr and "Traceback" not in proc.stderr


def test_several_urls_need_the_api_key_too() -> None:
    proc = loadtest("--url", "http://127.0.0.1:1,http://127.0.0.1:2")
    assert proc.returncode == 2 and "--api-key is required" in proc.stderr


def test_scenario_keeps_the_urls_as_given() -> None:
    sc = Scenario(url="http://a.invalid:1, https://b.invalid/base/", api_key="secret")
    assert sc.urls == ("http://a.invalid:1", "https://b.invalid/base/")
    public = sc.public()
    assert public["urls"] == ["http://a.invalid:1", "https://b.invalid/base/"]
    assert "secret" not in json.dumps(public)
    assert Scenario(url="http://a.invalid", api_key="k").urls == ("http://a.invalid",)
    assert Scenario(spawn=True).urls == ()


def test_token_uris_are_rewritten_onto_instances_or_refused() -> None:
    a, b, pub = "http://a.invalid:8080", "http://b.invalid:8080", "https://status.invalid/sl"
    t = Targets([a, b + "/"], public_base=pub + "/")
    # Under an instance's base, or under the public base: fetched from the chosen instance.
    assert t.locate(f"{a}/statuslists/L", 1) == (f"{b}/statuslists/L", b)
    assert t.locate(f"{b}/statuslists/L", 0) == (f"{a}/statuslists/L", a)
    assert t.locate(f"{pub}/statuslists/L", 0) == (f"{a}/statuslists/L", a)
    assert t.locate(f"{pub}/statuslists/L", 3) == (f"{b}/statuslists/L", b)
    # Anything else is refused: other hosts, ports, schemes, a base that only shares a prefix.
    for uri in (
        "http://evil.invalid/statuslists/L",
        "http://a.invalid:80801/statuslists/L",
        "https://a.invalid:8080/statuslists/L",
        "https://status.invalid/slx/statuslists/L",
        "https://status.invalid/statuslists/L",
        a,
    ):
        assert t.locate(uri, 0) is None, uri
        assert t.locate(uri, 1) is None, uri
    assert "or the public base https://status.invalid/sl" in t.allowed()
    # One instance: the rule as it always was (only under the URL; the public base is not
    # rewritten, so a deployment behind a CDN needs --fetch-url).
    one = Targets([a], public_base=pub)
    assert one.locate(f"{a}/statuslists/L", 0) == (f"{a}/statuslists/L", a)
    assert one.locate(f"{pub}/statuslists/L", 0) is None
    # --fetch-url: only URIs under it, fetched there as they are, whichever instance's turn.
    cdn = Targets([a, b], fetch_url="https://cdn.invalid", public_base=pub)
    assert cdn.locate("https://cdn.invalid/statuslists/L", 1) == (
        "https://cdn.invalid/statuslists/L",
        "https://cdn.invalid",
    )
    assert cdn.locate(f"{a}/statuslists/L", 0) is None
    assert cdn.locate(f"{pub}/statuslists/L", 0) is None


def test_round_robin_spreads_every_kind() -> None:
    rr = RoundRobin(2)
    # One request per list: list n starts at instance n, so not all on the first.
    assert [rr.next(("allocate", n), n) for n in range(2)] == [0, 1]
    picks = [rr.next(("batch", n % 2), n % 2) for n in range(8)]
    assert picks == [0, 1, 1, 0, 0, 1, 1, 0], "each list alternates on its own"
    tally = Tally()
    tally.add("x", "op", error=False)
    tally.add("x", "op", error=True)
    tally.demote("x", "op")
    assert tally.report(["y", "x"], ["op"]) == [
        {"url": "y", "requests": 0, "errors": 0, "operations": {}},
        {
            "url": "x",
            "requests": 2,
            "errors": 2,
            "operations": {"op": {"requests": 2, "errors": 2}},
        },
    ]


def test_a_token_uri_outside_every_instance_is_refused() -> None:
    """Two URLs reach one stub that reports a public base but hands out token URIs elsewhere:
    the run stops at setup, and no token is fetched from anywhere."""
    seen: list[tuple[str, str]] = []
    bases: list[str] = []

    async def main() -> None:
        async def handler(request: web.Request) -> web.Response:
            seen.append((request.host, request.path))
            if request.path == "/healthz":
                return web.json_response({"status": "ok", "version": "stub"})
            if request.path == "/openapi.json":
                return web.json_response({"servers": [{"url": "http://pub.invalid"}]})
            if request.path == "/v1/lists":
                uri = "http://elsewhere.invalid/statuslists/L"
                return web.json_response({"id": "L", "uri": uri}, status=201)
            return web.json_response({"detail": "not here"}, status=404)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        async with TestServer(app, host="127.0.0.1") as stub:
            bases.extend([f"http://127.0.0.1:{stub.port}", f"http://localhost:{stub.port}"])
            sc = Scenario(url=",".join(bases), api_key="k", entries=1000, revocations=10)
            with pytest.raises(LoadtestError, match="outside") as caught:
                await Runner(sc, sc.urls, "k").run()
            assert "or the public base http://pub.invalid" in str(caught.value)
            assert "--fetch-url" in str(caught.value)

    asyncio.run(main())
    assert {f"http://{host}" for host, _ in seen} == set(bases), "both, and only them"
    assert not [p for _, p in seen if p.startswith("/statuslists/")], "no token was fetched"
    assert sum(p == "/openapi.json" for _, p in seen) == 2, "both instances were asked"


def test_one_url_table_is_as_before() -> None:
    """A single URL: no per-instance table, the header and server line as they always were."""
    url = "http://127.0.0.1:1"
    report: dict[str, Any] = {
        "server": {"url": url, "version": "v", "spawned": False},
        "scenario": Scenario(url=url, api_key="k").public(),
        "window_seconds": 1.0,
        "revoked": 0,
        "fetched": 0,
        "operations": {},
        "per_instance": [{"url": url, "role": "instance", "operations": {}}],
        "publish_lag": {"measured": 0, "requested": 0, "timed_out": 0},
        "client": {"cpu_seconds": 0.0},
    }
    table = render_table(report)
    assert f"at {url}\n" in table and "instances" not in table
    assert "\nserver: no /metrics figures" in table
