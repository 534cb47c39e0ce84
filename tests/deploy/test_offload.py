"""Origin offload (issue #13 part 4) with the real nginx binary and its njs module: `statuslist
serve --offload-dir` writes every published token to a directory, and nginx with
``deploy/nginx/offload.conf.template`` + ``statuslist.js`` answers token GETs from it.

The check is always the same: one request, sent once to the service and once to nginx, must get
the same answer -- status, bytes, and every header the service sets (``max-age`` may differ by
the second that passed between the two). Families of generated headers (Accept with q-values,
parameters, wildcards, case and whitespace; Accept-Encoding; If-None-Match lists and weak tags;
If-Modified-Since in the three HTTP-date forms and not; field lines sent twice) go to both. The
service's own request counter shows which answers nginx gave from the files, without it.

Every check runs twice: against the template as shipped, where the native module
(``deploy/nginx/module``) answers the common requests before njs runs, and against the template
without its ``statuslist_offload`` line, where njs decides alone. nginx, the njs module and the
native module (built by ``deploy/nginx/build-module.sh``, from Debian's nginx-dev) are required:
without them the run fails, pointing at the script that installs them.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statuslist.loadtest.spawn import serve_command
from statuslist.web.offload import read_meta
from tests.support import (
    NginxProcess,
    ServerProcess,
    free_port,
    nginx_binary,
    offload_site,
)

JWT = "application/statuslist+jwt"
CWT = "application/statuslist+cwt"
# The headers the service sets on a token answer (besides Date, Server, Content-Length).
COMPARED = (
    "Content-Type",
    "Content-Encoding",
    "ETag",
    "Last-Modified",
    "Vary",
    "Access-Control-Allow-Origin",
    "Access-Control-Expose-Headers",
)
ROUTE_LABEL = 'route="/statuslists/{list_id}"'
#: With the native module: one access-log line per request, "1" first when it answered.
ACCESS_LOG = "$statuslist_fast|$status|$request_method|$request_uri"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Message
    body: bytes


def fetch(
    base: str, path: str, headers: list[tuple[str, str]] | None = None, method: str = "GET"
) -> Reply:
    """One request with exactly these header lines (repeats allowed, nothing added but
    Host), any status."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers or []:
            conn.putheader(name, value)
        conn.endheaders()
        resp = conn.getresponse()
        return Reply(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


def max_age(reply: Reply) -> int:
    value = reply.headers.get("Cache-Control", "")
    assert value.startswith("public, max-age="), reply.headers
    return int(value.removeprefix("public, max-age="))


def assert_same(service: Reply, nginx: Reply, what: object) -> None:
    assert nginx.status == service.status, (what, service.status, nginx.status, nginx.body[:300])
    if service.status == 400:  # nginx's own page: a header field it allows once, sent twice
        return
    assert nginx.body == service.body, what
    if service.status not in (200, 304):
        return
    for name in COMPARED:
        assert nginx.headers.get_all(name) == service.headers.get_all(name), (what, name)
    assert abs(max_age(nginx) - max_age(service)) <= 1, what
    if service.status == 200:  # HEAD too: the length of what GET would send
        assert nginx.headers["Content-Length"] == service.headers["Content-Length"], what
    else:  # a 304 has no body, so neither Content-Type nor a Content-Length of 0
        for name in ("Content-Type", "Content-Length"):
            assert nginx.headers.get(name) is None, (what, name, nginx.headers)


@functools.cache
def nginx_version() -> tuple[int, ...]:
    out = subprocess.run([nginx_binary(), "-v"], capture_output=True, text=True, check=True)
    found = re.search(r"nginx/(\d+)\.(\d+)", out.stderr)
    assert found, out.stderr
    return tuple(int(x) for x in found.groups())


def token_requests(origin: str) -> int:
    """How many token GETs the service has answered (its Prometheus counter)."""
    text = fetch(origin, "/metrics").body.decode()
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith("statuslist_http_requests_total{") and ROUTE_LABEL in line
    )


@dataclass
class Offload:
    origin: str
    nginx: str
    root: Path
    server: ServerProcess
    lists: dict[str, str]  # "both" / "jwt" / "cwt" -> list id
    proxy: NginxProcess | None = None
    native: bool = False

    def native_answers(self) -> int:
        """How many requests the native module has answered so far (the access log)."""
        assert self.native and self.proxy is not None
        path = self.proxy.access_log_path
        lines = path.read_text().splitlines() if path.exists() else []
        return sum(line.startswith("1|") for line in lines)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.server.api_key}"}

    def api(self, method: str, path: str, doc: Any = None) -> Any:
        headers = [("Authorization", f"Bearer {self.server.api_key}")]
        conn_body = None
        if doc is not None:
            headers.append(("Content-Type", "application/json"))
            conn_body = json.dumps(doc).encode()
        url = urllib.parse.urlsplit(self.origin)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        try:
            conn.request(method, path, body=conn_body, headers=dict(headers))
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status < 300, (method, path, resp.status, body)
            return json.loads(body) if body else None
        finally:
            conn.close()

    def meta(self, list_id: str) -> dict[str, Any]:
        return read_meta(self.root, list_id)


def start_stack(
    tmp: Path, *, native: bool = True
) -> tuple[ServerProcess, NginxProcess, str, str, Path]:
    service_port, nginx_port = free_port(), free_port()
    origin, proxy = f"http://127.0.0.1:{service_port}", f"http://127.0.0.1:{nginx_port}"
    root = tmp / "offload"
    server = ServerProcess(
        tmp / "data", port=service_port, public_url=proxy, args=("--offload-dir", str(root))
    )
    server.start(timeout=30)
    site = offload_site(f"127.0.0.1:{service_port}", f"127.0.0.1:{nginx_port}", root, native=native)
    try:
        nginx = NginxProcess(
            tmp,
            site,
            url=proxy,
            njs=True,
            native=native,
            access_log=ACCESS_LOG if native else None,
        ).start(f"{proxy}/healthz")
    except BaseException:
        server.stop()
        raise
    return server, nginx, origin, proxy, root


def make_lists(stack: Offload) -> None:
    for name, formats in (("both", ["jwt", "cwt"]), ("jwt", ["jwt"]), ("cwt", ["cwt"])):
        doc = stack.api("POST", "/v1/lists", {"bits": 2, "size": 4096, "formats": formats})
        stack.lists[name] = doc["id"]
        stack.api("PUT", f"/v1/lists/{doc['id']}/entries/7", {"status": "INVALID"})
        stack.api("POST", f"/v1/lists/{doc['id']}/publish")


@pytest.fixture(scope="module", params=["native", "njs"])
def offload(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Offload]:
    native = request.param == "native"
    tmp = tmp_path_factory.mktemp(f"offload-{request.param}")
    server, nginx, origin, proxy, root = start_stack(tmp, native=native)
    try:
        stack = Offload(origin, proxy, root, server, {}, nginx, native)
        make_lists(stack)
        yield stack
    finally:
        nginx.stop()
        server.stop(timeout=10)


# -- generated requests -------------------------------------------------------------------------

_MEDIA = [
    JWT,
    CWT,
    "APPLICATION/StatusList+JWT",
    "application/statuslist+CWT",
    "application/*",
    "*/*",
    "*/jwt",
    "text/html",
    "application",
    "",
    "garbage",
]
_PARAMS = [
    "",
    "",
    ";q=0",
    ";q=1",
    ";q=0.5",
    ";q=0.500",
    ";q=0.5001",
    ";q=1.0",
    ";q=1.001",
    ";q=2",
    ";q=.5",
    ";q=1e0",
    ";Q=0.3",
    ";q=0.2;ext=1",
    ";charset=utf-8",
    ";level=1;q=0.9",
    " ; q = 0.7",
    ';q="0.4"',
    ";q",
    ";=",
]
_SEPARATORS = [", ", ",", " ,\t", ",,", ", ,"]
_CODINGS = ["gzip", "x-gzip", "GZIP", "*", "identity", "br", "deflate", "", "gzip\t"]


def _joined(items: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(st.lists(items, min_size=1, max_size=4), st.sampled_from(_SEPARATORS)).map(
        lambda t: t[1].join(t[0])
    )


ACCEPT = st.one_of(
    st.none(), _joined(st.tuples(st.sampled_from(_MEDIA), st.sampled_from(_PARAMS)).map("".join))
)
ACCEPT_ENCODING = st.one_of(
    st.none(),
    _joined(st.tuples(st.sampled_from(_CODINGS), st.sampled_from(_PARAMS)).map("".join)),
)


def _dates(iat: int) -> list[str]:
    out = []
    for t in (iat - 86400, iat - 1, iat, iat + 1, iat + 3600):
        out.append(formatdate(t, usegmt=True))
        g = time.gmtime(t)
        out.append(time.strftime("%A, %d-%b-%y %H:%M:%S GMT", g))  # RFC 850
        out.append(
            time.strftime("%a %b ", g) + f"{g.tm_mday:>2}" + time.strftime(" %H:%M:%S %Y", g)
        )
    last = formatdate(iat, usegmt=True)
    out += [
        last.lower(),
        last.replace("GMT", "+0000"),
        last.replace(" GMT", ""),
        last[5:],  # no day name
        f"  {last}\t",
        "Sun, 30 Feb 2025 10:00:00 GMT",
        "Sun, 06 Nov 1994 25:49:37 GMT",
        "garbage",
        "",
    ]
    return out


@st.composite
def requests(draw: st.DrawFn, offload: Offload) -> tuple[str, list[tuple[str, str]], str]:
    which = draw(st.sampled_from(sorted(offload.lists)))
    list_id = offload.lists[which]
    meta = offload.meta(list_id)
    headers: list[tuple[str, str]] = []
    accept = draw(ACCEPT)
    if accept is not None:
        if draw(st.booleans()) and "," in accept:  # the same list on two field lines
            first, _, rest = accept.partition(",")
            headers += [("Accept", first), ("Accept", rest)]
        else:
            headers.append(("Accept", accept))
    encoding = draw(ACCEPT_ENCODING)
    if encoding is not None:
        headers.append(("Accept-Encoding", encoding))
    tags = [r["etag"] for r in meta["reps"].values()] + ['"not-ours"', "*"]
    inm = draw(
        st.one_of(
            st.none(),
            st.lists(
                st.tuples(st.sampled_from(tags), st.booleans()).map(
                    lambda t: ("W/" + t[0]) if t[1] and t[0] != "*" else t[0]
                ),
                min_size=1,
                max_size=3,
            ).map(", ".join),
        )
    )
    if inm is not None:
        headers.append(("If-None-Match", inm))
        if draw(st.integers(0, 9)) == 0:  # a second line: combined by the service
            headers.append(("If-None-Match", '"another"'))
    ims = draw(st.one_of(st.none(), st.sampled_from(_dates(meta["iat"]))))
    if ims is not None:
        headers.append(("If-Modified-Since", ims))
        if draw(st.integers(0, 9)) == 0:  # sent twice: 400 from both
            headers.append(("If-Modified-Since", ims))
    if draw(st.integers(0, 7)) == 0:  # preconditions: the service decides (412 or the token)
        headers.append(("If-Match", draw(st.sampled_from([*tags, f"W/{tags[0]}", ""]))))
    if draw(st.integers(0, 7)) == 0:
        headers.append(("If-Unmodified-Since", draw(st.sampled_from(_dates(meta["iat"])))))
    if draw(st.integers(0, 19)) == 0:
        headers += [("Authorization", "Bearer a"), ("Authorization", "Bearer b")]
    method = draw(st.sampled_from(["GET", "GET", "HEAD"]))
    return f"/statuslists/{list_id}", headers, method


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_nginx_decides_as_the_service_does(offload: Offload, data: st.DataObject) -> None:
    path, headers, method = data.draw(requests(offload))
    service = fetch(offload.origin, path, headers, method)
    nginx = fetch(offload.nginx, path, headers, method)
    if sum(name == "If-None-Match" for name, _ in headers) > 1 and nginx_version() < (1, 23):
        # nginx before 1.23 refuses a second If-None-Match line (400) before any config runs;
        # the service combines the lines, as RFC 9110 §5.3 says.
        assert nginx.status == 400, (headers, nginx.status)
        return
    assert_same(service, nginx, (method, headers))


# -- what nginx answers itself, and what it leaves to the service -------------------------------


def test_tokens_are_served_from_the_files(offload: Offload) -> None:
    """200s and 304s for every format and coding come from the files: the service's request
    counter does not move, and the answers are the service's."""
    cases: list[list[tuple[str, str]]] = [
        [],
        [("Accept", JWT)],
        [("Accept", JWT), ("Accept-Encoding", "gzip")],
        [("Accept", CWT)],
        [("Accept", f"{JWT};q=0.2, {CWT}")],
    ]
    answers = []
    for which in ("both", "jwt", "cwt"):
        path = f"/statuslists/{offload.lists[which]}"
        for headers in cases:
            answers.append((path, headers, fetch(offload.origin, path, headers)))
    before = token_requests(offload.origin)
    served = 0
    for path, headers, service in answers:
        if service.status != 200:
            continue
        nginx = fetch(offload.nginx, path, headers)
        assert_same(service, nginx, headers)
        again = fetch(offload.nginx, path, [*headers, ("If-None-Match", service.headers["ETag"])])
        assert again.status == 304 and again.body == b""
        served += 2
    assert served >= 20
    assert token_requests(offload.origin) == before, "nginx asked the service"
    gz = fetch(
        offload.nginx,
        path := f"/statuslists/{offload.lists['both']}",
        [("Accept-Encoding", "gzip")],
    )
    assert gz.headers["Content-Encoding"] == "gzip"
    assert gz.headers["Last-Modified"] == offload.meta(offload.lists["both"])["last_modified"]
    assert path


@pytest.mark.parametrize(
    ("path", "headers", "method", "status"),
    [
        ("/statuslists/{both}", [("Accept", "text/html")], "GET", 406),
        ("/statuslists/{jwt}", [("Accept", CWT)], "GET", 406),
        ("/statuslists/nosuchlist", [], "GET", 404),
        ("/statuslists/{both}?time=1", [], "GET", 501),
        ("/statuslists/{both}", [], "OPTIONS", 204),
        ("/statuslists/{both}", [], "POST", 405),
        ("/statuslists/a%2f{both}", [], "GET", 404),
        ("/statuslists/%7B{both}", [], "GET", 404),
        ("/statuslists/" + "a" * 65, [], "GET", 404),
        ("/statuslists/{both}/", [], "GET", 404),
        ("/statuslists/%C3%A9", [], "GET", 404),
    ],
)
def test_the_rest_goes_to_the_service(
    offload: Offload, path: str, headers: list[tuple[str, str]], method: str, status: int
) -> None:
    """406, 404, ``?time=``, other methods and ids that cannot name a list: the service's own
    answer, through nginx."""
    path = path.format(**offload.lists)
    service = fetch(offload.origin, path, headers, method)
    assert service.status == status, service.body
    before = token_requests(offload.origin)
    nginx = fetch(offload.nginx, path, headers, method)
    assert (nginx.status, nginx.body) == (service.status, service.body)
    if status not in (404, 405):  # counted under their own route (or none)
        assert token_requests(offload.origin) > before, "nginx answered by itself"


def test_an_expired_token_on_disk_is_left_to_the_service(offload: Offload) -> None:
    """A token file past its ``exp`` (the service stopped publishing, say) is never sent by
    nginx: the service decides (here it has a fresh one)."""
    list_id = offload.lists["jwt"]
    meta_path = offload.root / "lists" / f"{list_id}.meta"
    saved = meta_path.read_bytes()
    fields = saved.decode().split(" ")
    fields[2] = str(int(time.time()) - 1)  # exp
    meta_path.write_text(" ".join(fields))
    try:
        before = token_requests(offload.origin)
        nginx = fetch(offload.nginx, f"/statuslists/{list_id}")
        service = fetch(offload.origin, f"/statuslists/{list_id}")
        assert_same(service, nginx, "expired on disk")
        assert token_requests(offload.origin) == before + 2
    finally:
        meta_path.write_bytes(saved)


def test_a_publish_replaces_the_files(offload: Offload) -> None:
    """After a change and a publish, nginx serves the new token with the service's new ETag;
    token files are immutable (named by ETag, mtime = iat), the previous generation is kept for
    readers in flight and older ones are removed."""
    list_id = offload.lists["both"]
    path = f"/statuslists/{list_id}"
    folder = offload.root / "tokens" / list_id
    generations = [set(p.name for p in folder.iterdir())]
    etags = [fetch(offload.nginx, path).headers["ETag"]]
    for n in range(3):
        offload.api("PUT", f"/v1/lists/{list_id}/entries/{100 + n}", {"status": "SUSPENDED"})
        published = offload.api("POST", f"/v1/lists/{list_id}/publish")
        service = fetch(offload.origin, path, [("Accept-Encoding", "gzip")])
        nginx = fetch(offload.nginx, path, [("Accept-Encoding", "gzip")])
        assert_same(service, nginx, f"publish {n}")
        plain = fetch(offload.nginx, path)
        assert plain.headers["ETag"] == published["etags"]["jwt"] != etags[-1]
        etags.append(plain.headers["ETag"])
        names = set(p.name for p in folder.iterdir())
        meta = offload.meta(list_id)
        for rep in meta["reps"].values():
            file = offload.root / rep["file"]
            assert file.name.startswith(rep["etag"].strip('"'))
            assert int(file.stat().st_mtime) == meta["iat"]
        current = {Path(rep["file"]).name for rep in meta["reps"].values()}
        assert current <= names and names <= current | generations[-1]
        generations.append(current)
    assert len(set(etags)) == 4


# -- the native module: what it answers itself, and what it leaves to njs -----------------------


def _native_cases(offload: Offload) -> tuple[list[Any], list[Any]]:
    """(path, headers, method) the native module answers, and ones it must leave to njs."""
    both, jwt, cwt = (f"/statuslists/{offload.lists[k]}" for k in ("both", "jwt", "cwt"))
    meta = offload.meta(offload.lists["both"])
    tag = meta["reps"]["jwt"]["etag"]
    gz_tag = meta["reps"]["jwt+gzip"]["etag"]
    cwt_tag = meta["reps"]["cwt"]["etag"]
    last = meta["last_modified"]
    answers = [
        (both, [], "GET"),
        (both, [], "HEAD"),
        (both, [("Accept", "*/*")], "GET"),
        (both, [("Accept", JWT)], "GET"),
        (both, [("Accept", CWT)], "GET"),
        (cwt, [], "GET"),
        (cwt, [("Accept", "*/*"), ("Accept-Encoding", "gzip")], "GET"),
        (jwt, [("Accept-Encoding", "gzip")], "GET"),
        (both, [("Accept", JWT), ("Accept-Encoding", "gzip, deflate, br")], "GET"),
        (both, [("Accept-Encoding", "gzip, deflate, br, zstd")], "HEAD"),
        (both, [("If-None-Match", tag)], "GET"),
        (both, [("If-None-Match", tag)], "HEAD"),
        (both, [("Accept-Encoding", "gzip"), ("If-None-Match", gz_tag)], "GET"),
        (both, [("Accept", CWT), ("If-None-Match", cwt_tag)], "GET"),
        (both, [("If-None-Match", gz_tag)], "GET"),  # another representation's: 200
        (both, [("If-None-Match", '"not-ours"')], "GET"),
        (both, [("If-None-Match", '"not-ours"'), ("If-Modified-Since", last)], "GET"),
        (both, [("If-Modified-Since", last)], "GET"),
        (both, [("Accept", CWT), ("If-Modified-Since", last)], "HEAD"),
    ]
    leaves = [
        (both, [("Accept", f"{JWT};q=0.5")], "GET"),
        (both, [("Accept", "application/*")], "GET"),
        (both, [("Accept", JWT.upper())], "GET"),
        (both, [("Accept", JWT), ("Accept", CWT)], "GET"),
        (jwt, [("Accept", CWT)], "GET"),  # 406, from the service
        (both, [("Accept-Encoding", "br")], "GET"),
        (both, [("Accept-Encoding", "gzip;q=0")], "GET"),
        (both, [("Accept-Encoding", "gzip"), ("Accept-Encoding", "br")], "GET"),
        (both, [("If-None-Match", f"W/{tag}")], "GET"),
        (both, [("If-None-Match", f'"x", {tag}')], "GET"),
        (both, [("If-None-Match", "*")], "GET"),
        (both, [("If-None-Match", f"{tag},")], "GET"),
        (both, [("If-Modified-Since", last.lower())], "GET"),
        (both, [("If-Modified-Since", formatdate(meta["iat"] + 60, usegmt=True))], "GET"),
        (both + "?x=1", [], "GET"),
        ("/statuslists/nosuchlist", [], "GET"),
        (both, [("If-Match", tag)], "GET"),
        (both, [("If-Match", '"not-ours"')], "GET"),  # 412, from the service
        (both, [("If-Unmodified-Since", last)], "HEAD"),
    ]
    return answers, leaves


@pytest.mark.parametrize("offload", ["native"], indirect=True)
def test_the_native_module_answers_the_common_requests(offload: Offload) -> None:
    """Each common request is answered by the native module (the access log says so), with the
    service's answer; each other one it leaves to njs, which answers as the service does."""
    answers, leaves = _native_cases(offload)
    for path, headers, method in answers:
        before = offload.native_answers()
        nginx = fetch(offload.nginx, path, headers, method)
        service = fetch(offload.origin, path, headers, method)
        assert_same(service, nginx, (path, headers, method))
        assert offload.native_answers() == before + 1, ("not answered natively", path, headers)
    for path, headers, method in leaves:
        before = offload.native_answers()
        nginx = fetch(offload.nginx, path, headers, method)
        service = fetch(offload.origin, path, headers, method)
        assert_same(service, nginx, (path, headers, method))
        assert offload.native_answers() == before, ("answered natively", path, headers)


@pytest.mark.parametrize("offload", ["native"], indirect=True)
def test_the_native_module_follows_the_meta_file(offload: Offload) -> None:
    """The module keeps each worker's copy of a ``.meta`` only while the file is the same one:
    rewritten in place (same inode, same size, even the same mtime) it reads it again. Here the
    "two tokens in one second" flag, which turns a 304 for our own Last-Modified into a 200,
    and then a layout it does not know, which it leaves to njs."""
    list_id = offload.lists["jwt"]
    path = f"/statuslists/{list_id}"
    meta_path = offload.root / "lists" / f"{list_id}.meta"
    saved = meta_path.read_bytes()
    stat = meta_path.stat()
    last = offload.meta(list_id)["last_modified"]
    ims = [("If-Modified-Since", last)]
    fields = saved.decode().split(" ")
    try:
        for same, status in (("0", 304), ("1", 200), ("0", 304), ("1", 200)):
            fields[4] = same
            meta_path.write_text(" ".join(fields))
            os.utime(meta_path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            assert meta_path.stat().st_ino == stat.st_ino
            before = offload.native_answers()
            got = fetch(offload.nginx, path, ims)
            assert got.status == status, (same, got.status)
            assert offload.native_answers() == before + 1
        meta_path.write_text("2" + saved.decode()[1:])  # a later layout: njs refuses it too
        before, asked = offload.native_answers(), token_requests(offload.origin)
        got = fetch(offload.nginx, path)
        assert got.status == 200 and offload.native_answers() == before
        assert token_requests(offload.origin) == asked + 1, "not left to the service"
    finally:
        meta_path.write_bytes(saved)
    flagged = saved.decode().split(" ")[4] == "1"
    assert fetch(offload.nginx, path, ims).status == (200 if flagged else 304)


def test_nginx_keeps_serving_while_the_service_is_down(tmp_path: Path) -> None:
    """The service stops: nginx goes on answering token GETs (200 and 304) from the files;
    what it leaves to the service fails (502) until the service is back."""
    server, nginx, origin, proxy, root = start_stack(tmp_path)
    try:
        stack = Offload(origin, proxy, root, server, {})
        make_lists(stack)
        path = f"/statuslists/{stack.lists['both']}"
        want = {h: fetch(origin, path, list(h)) for h in ((), (("Accept", CWT),))}
        server.stop(timeout=10)
        for headers, service in want.items():
            got = fetch(proxy, path, list(headers))
            assert (got.status, got.body) == (200, service.body)
            assert got.headers["ETag"] == service.headers["ETag"]
            tag = [("If-None-Match", service.headers["ETag"])]
            assert fetch(proxy, path, [*headers, *tag]).status == 304
        assert fetch(proxy, "/statuslists/nosuchlist").status == 502
        server.start(timeout=30)
        assert fetch(proxy, "/statuslists/nosuchlist").status == 404
        assert fetch(proxy, path).body == want[()].body  # still valid: not re-signed
    finally:
        nginx.stop()
        server.stop(timeout=10)


def test_offload_failures_are_reported(tmp_path: Path) -> None:
    """An offload directory that cannot be made stops the start with one line; one that stops
    taking writes leaves the service degraded (``/readyz`` says why) and serving from memory,
    until a publish writes again."""
    bad = tmp_path / "file"
    bad.write_text("not a directory")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = serve_command(tmp_path / "d1", port, url, "--offload-dir", str(bad / "x"))
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "offload_dir" in done.stderr and "Traceback" not in done.stderr, done.stderr

    root = tmp_path / "offload"
    server = ServerProcess(tmp_path / "d2", args=("--offload-dir", str(root)))
    server.start(timeout=30)
    try:
        stack = Offload(server.url, server.url, root, server, {})
        list_id = stack.api("POST", "/v1/lists", {"bits": 1, "size": 1024})["id"]
        shutil.rmtree(root / "lists")
        (root / "lists").write_text("in the way")
        stack.api("POST", f"/v1/lists/{list_id}/publish")
        ready = json.loads(fetch(server.url, "/readyz").body)
        assert ready["status"] == "degraded", ready
        assert any("origin offload" in r for r in ready["reasons"]), ready
        assert fetch(server.url, f"/statuslists/{list_id}").status == 200
        (root / "lists").unlink()
        (root / "lists").mkdir()
        stack.api("POST", f"/v1/lists/{list_id}/publish")
        assert json.loads(fetch(server.url, "/readyz").body)["status"] == "ready"
        assert stack.meta(list_id)["iat"] > 0
    finally:
        server.stop(timeout=10)


def test_a_list_damaged_at_start_is_withdrawn_from_the_files(tmp_path: Path) -> None:
    """A list whose stored pages fail their checks at start is not served by the service
    (503 list-damaged): its files are removed, so nginx does not go on serving its last token
    from disk until it expires. The other lists keep theirs."""
    server, nginx, origin, proxy, root = start_stack(tmp_path)
    try:
        stack = Offload(origin, proxy, root, server, {})
        make_lists(stack)
        victim, bystander = stack.lists["both"], stack.lists["jwt"]
        assert fetch(proxy, f"/statuslists/{victim}").status == 200
        assert (root / "lists" / f"{victim}.meta").exists()
        assert server.stop(timeout=10) == 0
        conn = sqlite3.connect(tmp_path / "data" / "statuslist.db")
        try:
            conn.execute(
                "UPDATE pages SET data = zeroblob(length(data)) WHERE list_id = ?", (victim,)
            )
            conn.commit()
        finally:
            conn.close()
        server.start(timeout=30, probe="/healthz")
        assert not (root / "lists" / f"{victim}.meta").exists()
        assert not (root / "tokens" / victim).exists()
        got = fetch(proxy, f"/statuslists/{victim}")
        assert got.status == 503 and b"list-damaged" in got.body, got
        want = fetch(origin, f"/statuslists/{bystander}")
        before = token_requests(origin)
        kept = fetch(proxy, f"/statuslists/{bystander}")
        assert (kept.status, kept.body) == (200, want.body)
        assert token_requests(origin) == before  # nginx answered from the files
        assert "Traceback" not in server.log()
    finally:
        nginx.stop()
        server.stop(timeout=10)
