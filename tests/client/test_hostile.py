"""Hostile input to the relying-party SDK, through a real local HTTP server serving crafted,
correctly signed tokens: every failure is a typed StatusListError with a bounded message, never a
bare Python exception and never a hang (issue #12, SDK part). Families of cases, not examples."""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import cbor2
import pytest

from statuslist.client import StatusReference
from statuslist.exceptions import (
    CriticalExtensionError,
    DecompressError,
    ExpiredTokenError,
    FetchError,
    IndexOutOfRangeError,
    InvalidBitsError,
    LimitExceededError,
    MalformedError,
    SignatureError,
    StatusListError,
    SubjectMismatchError,
    TokenError,
    UnknownKeyError,
)
from tests.client.live import (
    CWT_TYP,
    CWT_TYPE,
    JWT_TYPE,
    LiveServer,
    Reply,
    b64u,
    cwt_claims,
    good_protected,
    nested,
    query,
    raw_cwt,
    raw_jwt,
    refusal,
)
from tests.client.test_client import KEY, NOW, _claims

HEADER = {"alg": "ES256", "kid": "rp-test", "typ": "statuslist+jwt"}
BIG = 10**400


@pytest.fixture(autouse=True)
def _both_clients(client_kind: str) -> str:
    """Every case against the asyncio client and the synchronous one."""
    return client_kind


def _jwt_with(uri: str, header: dict[str, Any] | None = None, **claims: Any) -> bytes:
    return raw_jwt(
        json.dumps({**HEADER, **(header or {})}).encode(),
        json.dumps(_claims(uri, **claims)).encode(),
    )


def _serve(server: LiveServer, name: str, make: Callable[[str], bytes], ctype: str) -> str:
    uri = server.url(f"/{name}")
    server.serve(f"/{name}", Reply(make(uri), ctype))
    return uri


def test_the_forgers_make_accepted_tokens(server: LiveServer) -> None:
    """Every family below changes one thing in tokens these forgers make, which are accepted."""
    uri = _serve(server, "ok-jwt", lambda u: _jwt_with(u), JWT_TYPE)
    assert query(7, uri).status == 1
    uri = _serve(
        server,
        "ok-cwt",
        lambda u: raw_cwt(good_protected(), {4: b"rp-test"}, cbor2.dumps(cwt_claims(u))),
        CWT_TYPE,
    )
    assert query(8, uri).status == 2


# ---- crit (RFC 7515 §4.1.11, RFC 9052 §3.1) --------------------------------------------------

JWS_CRIT_REFUSED = [
    {"crit": ["b64"], "b64": False},
    {"crit": ["urn:example:extension"], "urn:example:extension": {"v": 1}},
    {"crit": ["exp"], "exp": NOW + 60},
    {"crit": ["ext", "ext"], "ext": 1},
    {"crit": ["ext"]},  # listed but absent
    {"crit": []},
    {"crit": "b64", "b64": False},
    {"crit": [1]},
    {"crit": None},
    {"crit": {"b64": True}},
    *({"crit": [name]} for name in ("alg", "kid", "typ", "x5c", "jwk", "cty", "crit")),
]


@pytest.mark.parametrize("extra", JWS_CRIT_REFUSED, ids=lambda e: json.dumps(e)[:40])
def test_jws_crit_not_understood_is_refused(server: LiveServer, extra: dict[str, Any]) -> None:
    uri = _serve(server, "crit-jwt", lambda u: _jwt_with(u, extra), JWT_TYPE)
    exc = refusal(7, uri)
    assert isinstance(exc, CriticalExtensionError), exc
    assert "crit" in str(exc)


COSE_CRIT_REFUSED: list[dict[int | str, Any]] = [
    {2: [99], 99: 0},
    {2: [-65537], -65537: b"x"},
    {2: ["ext"], "ext": True},
    {2: [3], 3: "text/plain"},  # content type: present, not processed here
    {2: [99]},  # listed but absent
    {2: []},
    {2: 16},
    {2: [16, 16]},
    {2: [2]},
    {2: [b"x"]},
]


@pytest.mark.parametrize("extra", COSE_CRIT_REFUSED, ids=repr)
def test_cose_crit_not_understood_is_refused(server: LiveServer, extra: dict[Any, Any]) -> None:
    protected = cbor2.dumps({1: -7, 16: CWT_TYP, **extra})
    uri = _serve(
        server,
        "crit-cwt",
        lambda u: raw_cwt(protected, {4: b"rp-test"}, cbor2.dumps(cwt_claims(u))),
        CWT_TYPE,
    )
    exc = refusal(7, uri)
    assert isinstance(exc, CriticalExtensionError | TokenError), exc
    assert "crit" in str(exc) or "label" in str(exc)


def test_cose_crit_must_be_protected_and_understood_labels_pass(server: LiveServer) -> None:
    def make(unprotected: dict[int, Any], **protected: Any) -> Callable[[str], bytes]:
        return lambda u: raw_cwt(
            good_protected(**protected), unprotected, cbor2.dumps(cwt_claims(u))
        )

    uri = _serve(server, "crit-u", make({4: b"rp-test", 2: [16]}), CWT_TYPE)
    assert isinstance(refusal(7, uri), CriticalExtensionError)
    for labels in ([16], [1, 16], [1]):
        uri = _serve(server, "crit-ok", make({4: b"rp-test"}, _2=labels), CWT_TYPE)
        assert query(7, uri).status == 1, labels


# ---- typ (RFC 8725 §3.11; CoAP Content-Format 279) ------------------------------------------


@pytest.mark.parametrize("typ", [CWT_TYP, 279, "Application/StatusList+CWT"])
def test_cose_typ_accepted(server: LiveServer, typ: Any) -> None:
    uri = _serve(
        server,
        "typ-ok",
        lambda u: raw_cwt(good_protected(_16=typ), {4: b"rp-test"}, cbor2.dumps(cwt_claims(u))),
        CWT_TYPE,
    )
    assert query(7, uri).status == 1


@pytest.mark.parametrize(
    "typ",
    [
        280,
        0,
        -279,
        "application/cwt",
        "statuslist+jwt",
        "",
        b"application/statuslist+cwt",
        [279],
        None,
        279.0,
        True,
    ],
    ids=repr,
)
def test_cose_typ_refused(server: LiveServer, typ: Any) -> None:
    uri = _serve(
        server,
        "typ-bad",
        lambda u: raw_cwt(good_protected(_16=typ), {4: b"rp-test"}, cbor2.dumps(cwt_claims(u))),
        CWT_TYPE,
    )
    assert "typ" in str(refusal(7, uri))


def test_cose_typ_in_the_unprotected_header_is_refused(server: LiveServer) -> None:
    uri = _serve(
        server,
        "typ-u",
        lambda u: raw_cwt(
            good_protected(_16=None), {4: b"rp-test", 16: CWT_TYP}, cbor2.dumps(cwt_claims(u))
        ),
        CWT_TYPE,
    )
    assert "typ" in str(refusal(7, uri))


@pytest.mark.parametrize("typ", ["statuslist+jwt", "application/statuslist+jwt", "StatusList+JWT"])
def test_jwt_typ_accepted(server: LiveServer, typ: str) -> None:
    uri = _serve(server, "jtyp-ok", lambda u: _jwt_with(u, {"typ": typ}), JWT_TYPE)
    assert query(7, uri).status == 1


@pytest.mark.parametrize(
    "typ",
    ["JWT", "jwt", "statuslist+cwt", "application/jwt", "", " statuslist+jwt", 5, None, ["x"]],
    ids=repr,
)
def test_jwt_typ_refused(server: LiveServer, typ: Any) -> None:
    uri = _serve(server, "jtyp-bad", lambda u: _jwt_with(u, {"typ": typ}), JWT_TYPE)
    assert isinstance(refusal(7, uri), TokenError)


# ---- JWT envelope and header: before any signature check ------------------------------------


def _header_family() -> list[tuple[str, bytes]]:
    cases: list[tuple[str, Any]] = [
        ("x5c a", {"x5c": ["a"]}),
        ("x5c empty", {"x5c": []}),
        ("x5c int", {"x5c": [1]}),
        ("x5c str", {"x5c": "MIIB"}),
        ("x5c null", {"x5c": None}),
        ("x5c b64url", {"x5c": ["-_-_"]}),
        ("x5c many", {"x5c": ["AAAA"] * 100}),
        ("kid int", {"kid": 5}),
        ("kid list", {"kid": ["rp-test"]}),
        ("kid null", {"kid": None}),
        ("kid bool", {"kid": True}),
        ("kid huge", {"kid": "k" * 100_000}),
        ("alg none", {"alg": "none"}),
        ("alg NoNe", {"alg": "NoNe"}),
        ("alg HS256", {"alg": "HS256"}),
        ("alg RS256", {"alg": "RS256"}),
        ("alg empty", {"alg": ""}),
        ("alg int", {"alg": -7}),
        ("alg null", {"alg": None}),
        ("alg list", {"alg": ["ES256"]}),
        ("enc", {"enc": "A256GCM"}),
    ]
    out = [(name, json.dumps({**HEADER, **extra}).encode()) for name, extra in cases]
    out += [
        ("deep 100k", f'{{"alg":"ES256","typ":"statuslist+jwt","x":{nested(100_000)}}}'.encode()),
        ("deep 65", f'{{"alg":"ES256","typ":"statuslist+jwt","x":{nested(65)}}}'.encode()),
        ("header array", b'["alg","ES256"]'),
        ("header string", b'"ES256"'),
        ("header number", b"1" * 5000),
        ("header not json", b"{alg: ES256}"),
        ("header latin-1", '{"alg":"ES256","typ":"statuslist+jwt","x":"é"}'.encode("latin-1")),
        ("header surrogate", b'{"alg":"ES256","typ":"statuslist+jwt","x":"\\ud800"}'),
        ("duplicate alg", b'{"alg":"none","alg":"ES256","typ":"statuslist+jwt"}'),
        ("duplicate kid", b'{"alg":"ES256","kid":"a","kid":"rp-test","typ":"statuslist+jwt"}'),
        ("empty header", b""),
        ("huge header", b'{"alg":"ES256","typ":"statuslist+jwt","x":"' + b"a" * 70_000 + b'"}'),
    ]
    return out


@pytest.mark.parametrize(("name", "header"), _header_family(), ids=lambda v: str(v)[:30])
def test_hostile_jwt_headers(server: LiveServer, name: str, header: bytes) -> None:
    uri = server.url("/hdr")
    server.serve("/hdr", Reply(raw_jwt(header, json.dumps(_claims(uri)).encode())))
    assert isinstance(refusal(7, uri), TokenError | LimitExceededError), name


def _envelope_family(uri: str) -> list[bytes]:
    good = _jwt_with(uri)
    h, c, s = good.split(b".")
    return [
        b"",
        b".",
        b"..",
        h + b"." + c,
        h + b"." + c + b"." + s + b".x",
        h + b"." + c + b"." + s + b".x.y",
        b"a.b.c.d.e.f.g",
        b"eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d",
        b'{"payload":"e30","signatures":[]}',
        b"  {}",
        h + b"=." + c + b"." + s,
        h + b"." + c + b"=." + s,
        h + b"." + c + b"." + s + b"=",
        h.replace(b"e", b"+") + b"." + c + b"." + s,
        h + b"." + c + b"." + s[:-3],
        h + b"." + c + b"." + s[:-4] + b"AAAA",
        h + b"." + c[:-4] + b"AAAA" + b"." + s,
        h + b"." + c + b".",
        *(
            good[:at] + bytes([byte]) + good[at:]
            for at in (0, 5, len(h) + 3, len(good) - 2)
            for byte in (0x80, 0xC3, 0xFF, 0x00)
        ),
        "ü".encode() + good,
        good + "\u2028".encode(),
        good.replace(b".", "\u3002".encode(), 1),
    ]


def test_hostile_jwt_envelopes(server: LiveServer) -> None:
    uri = server.url("/env")
    for body in _envelope_family(uri):
        server.serve("/env", Reply(body))
        exc = refusal(7, uri)
        assert isinstance(exc, TokenError), (body[:60], exc)


def test_non_ascii_in_a_jwt_names_the_offset(server: LiveServer) -> None:
    uri = server.url("/nonascii")
    good = _jwt_with(uri)
    server.serve("/nonascii", Reply(good[:10] + "é".encode() + good[10:]))
    assert "non-ASCII byte at offset 10" in str(refusal(7, uri))


# ---- claims after the signature check (JWT) ---------------------------------------------------

WRONG_NUMBERS: list[Any] = [
    BIG,
    -BIG,
    2**64,
    -1,
    True,
    False,
    None,
    "1800000000",
    1.8e9,
    1e400,
    [NOW],
    {"v": NOW},
    "",
]


def _claims_family(uri: str) -> Iterator[tuple[str, bytes, type[Exception]]]:
    def claims(**over: Any) -> bytes:
        return json.dumps(_claims(uri, **over)).encode()

    for name in ("iat", "exp", "ttl"):
        for value in WRONG_NUMBERS:
            if value is None:
                continue
            yield f"{name}={value!r:.20}", claims(**{name: value}), TokenError
    for i, sub in enumerate((5, [uri], {"uri": uri}, True)):
        yield f"sub type {i}", claims(sub=sub), TokenError
    for i, sub in enumerate(
        (None, uri + "/", uri.upper(), uri + "\x00", "", uri.replace("http", "https"))
    ):
        yield f"sub mismatch {i}", claims(sub=sub), SubjectMismatchError
    for bits in (0, 3, 5, 16, -1, 256, BIG, True, "1", None, 1.0, [1]):
        yield (
            f"bits={bits!r:.20}",
            claims(status_list={"bits": bits, "lst": "eNrbuRgAAhcBXQ"}),
            (MalformedError | InvalidBitsError),
        )
    for lst in (
        None,
        5,
        "",
        "eNrbuRgAAhcBXQ==",
        "eNrb+RgA",
        "!!!!",
        b64u(b"not zlib"),
        ["x"],
        b64u(zlib.compress(b"\x00" * 10)[:-2]),
    ):
        yield (
            f"lst={lst!r:.20}",
            claims(status_list={"bits": 1, "lst": lst}),
            (MalformedError | DecompressError | TokenError),
        )
    for sl in (None, 5, "x", [], {"bits": 1}, {"lst": "eNrbuRgAAhcBXQ"}):
        yield f"status_list={sl!r:.20}", claims(status_list=sl), MalformedError | TokenError
    yield (
        "dup status_list",
        claims()[:-1] + b',"status_list":{"bits":8,"lst":"eNoDAAAAAAE"}}',
        (TokenError),
    )
    yield "dup exp", claims()[:-1] + f',"exp":{NOW + 99999}}}'.encode(), TokenError
    yield (
        "dup bits",
        claims(status_list={"bits": 2, "lst": "eNrbuRgAAhcBXQ"}).replace(
            b'"bits": 2', b'"bits": 2, "bits": 8'
        ),
        MalformedError,
    )
    yield "deep claim", claims()[:-1] + f',"x":{nested(100_000)}}}'.encode(), TokenError
    yield (
        "deep status_list",
        claims(status_list={"bits": 1, "lst": "eNrbuRgAAhcBXQ"})[:-2]
        + f',"x":{nested(70)}}}}}'.encode(),
        TokenError,
    )
    yield "claims array", b"[]", TokenError
    yield "claims string", b'"x"', TokenError
    yield "claims null", b"null", TokenError
    yield "claims empty", b"", TokenError
    yield "claims not utf-8", b'{"sub":"\xff\xfe"}', TokenError
    yield "claims latin-1", json.dumps(_claims(uri)).encode()[:-1] + b',"x":"\xe9"}', TokenError
    yield "claims trailing", claims() + b"{}", TokenError
    yield "claims nan", claims()[:-1] + b',"x":NaN}', TokenError
    yield "expired", claims(exp=NOW - 3600), ExpiredTokenError
    yield "future iat", claims(iat=NOW + 3600), TokenError
    yield "ttl zero", claims(ttl=0), TokenError
    yield (
        "zip bomb",
        claims(status_list={"bits": 1, "lst": b64u(zlib.compress(bytes(20 << 20)))}),
        (LimitExceededError),
    )


@pytest.mark.parametrize(
    ("name", "claims", "error"),
    list(_claims_family("URI")),
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_hostile_jwt_claims(
    server: LiveServer, name: str, claims: bytes, error: type[Exception]
) -> None:
    uri = server.url("/claims")
    # The family was built for the placeholder URI: re-make it for the real one.
    case = dict((n, (c, e)) for n, c, e in _claims_family(uri))[name]
    server.serve("/claims", Reply(raw_jwt(json.dumps(HEADER).encode(), case[0])))
    exc = refusal(7, uri)
    assert isinstance(exc, case[1]), (name, type(exc).__name__, exc)


# ---- CWT envelope, headers and claims --------------------------------------------------------


def _cwt_family(uri: str) -> Iterator[tuple[str, bytes]]:
    payload = cbor2.dumps(cwt_claims(uri))
    good = raw_cwt(good_protected(), {4: b"rp-test"}, payload)
    yield "empty", b""
    yield "garbage", b"\xff\xfe\xfd"
    yield "truncated", good[:-1]
    yield "trailing", good + b"\x00"
    yield "untagged", raw_cwt(good_protected(), {4: b"rp-test"}, payload, tag=None)
    yield "tag 61", cbor2.dumps(cbor2.CBORTag(61, cbor2.loads(good)))
    yield "tag 98", raw_cwt(good_protected(), {4: b"rp-test"}, payload, tag=98)
    yield "tag 55799 around", cbor2.dumps(cbor2.CBORTag(55799, cbor2.loads(good)))
    yield "tag huge", b"\xdb" + b"\xff" * 8 + good[1:]
    yield "3 items", cbor2.dumps(cbor2.CBORTag(18, cbor2.loads(good).value[:3]))
    yield "5 items", cbor2.dumps(cbor2.CBORTag(18, [*cbor2.loads(good).value, b""]))
    yield "map not array", cbor2.dumps(cbor2.CBORTag(18, {1: 2}))
    yield "indefinite array", b"\xd2\x9f" + good[2:] + b"\xff"
    yield "array len huge", b"\xd2\x9b" + b"\xff" * 8
    yield "bytes len huge", b"\xd2\x84\x5b" + b"\xff" * 8
    yield "protected not bstr", raw_cwt(b"", {4: b"rp-test"}, payload).replace(b"\x40", b"\xa0", 1)
    yield "protected not cbor", raw_cwt(b"\xff\xff", {4: b"rp-test"}, payload)
    yield "protected array", raw_cwt(cbor2.dumps([1, -7]), {4: b"rp-test"}, payload)
    yield "protected trailing", raw_cwt(good_protected() + b"\x00", {4: b"rp-test"}, payload)
    yield "protected indefinite", raw_cwt(b"\xbf\x01\x26\xff", {4: b"rp-test"}, payload)
    yield "protected huge", raw_cwt(good_protected(_99=b"x" * 70_000), {4: b"rp-test"}, payload)
    yield (
        "protected deep",
        raw_cwt(
            b"\xa3\x01\x26\x10" + cbor2.dumps(CWT_TYP) + b"\x18\x63" + b"\x81" * 100_000 + b"\x00",
            {4: b"rp-test"},
            payload,
        ),
    )
    yield (
        "unprotected deep",
        raw_cwt(good_protected(), {4: b"rp-test"}, payload).replace(
            b"\xa1\x04", b"\xa2\x18\x63" + b"\x81" * 100_000 + b"\x00\x04", 1
        ),
    )
    for alg in (None, "ES256", -257, 5, -7.0, [-7], 2**70, b"\x26"):
        yield f"alg {alg!r:.15}", raw_cwt(good_protected(_1=alg), {4: b"rp-test"}, payload)
    yield "alg unprotected", raw_cwt(good_protected(_1=None), {4: b"rp-test", 1: -7}, payload)
    yield "alg both", raw_cwt(good_protected(), {4: b"rp-test", 1: -7}, payload)
    for kid in ("rp-test", 5, [b"rp-test"], b"\xff\xfe", None):
        yield f"kid {kid!r:.15}", raw_cwt(good_protected(), {4: kid}, payload)
    for x5 in (5, "MIIB", [], [5], [b"a"] * 100):
        yield f"x5chain {x5!r:.15}", raw_cwt(good_protected(), {4: b"rp-test", 33: x5}, payload)
    yield "unprotected array", raw_cwt(good_protected(), [4, b"rp-test"], payload)
    yield "label float", raw_cwt(good_protected(), {4: b"rp-test", 1.5: 0}, payload)
    yield "label bytes", raw_cwt(good_protected(), {4: b"rp-test", b"x": 0}, payload)
    yield (
        "label dup",
        raw_cwt(good_protected(), {4: b"rp-test"}, payload).replace(
            b"\xa1\x04\x47rp-test", b"\xa2\x04\x47rp-test\x04\x47rp-test", 1
        ),
    )
    yield (
        "detached",
        cbor2.dumps(cbor2.CBORTag(18, [good_protected(), {4: b"rp-test"}, None, b"\x00" * 64])),
    )
    yield "bad signature", good[:-1] + bytes([good[-1] ^ 1])
    # Claims (correctly signed).
    for key, values in (
        (6, [BIG, -1, 2**64, "1", None, 1.8e9, [1], cbor2.CBORTag(1, NOW), True]),
        (4, [BIG, -1, 2**64, "1", 1.8e9, {}, False, NOW - 3600]),
        (65534, [BIG, -5, 0, "300", 300.5]),
        (2, [None, 5, b"x", [uri], uri + "/"]),
        (
            65533,
            [
                None,
                5,
                "x",
                [],
                {"bits": 3, "lst": b"x"},
                {"bits": 1, "lst": "eNrbuRgAAhcBXQ"},
                {"bits": 1},
                {1: 1},
                {"bits": 1, "lst": zlib.compress(bytes(20 << 20))},
                {"bits": 1, "lst": b"not zlib"},
                {"bits": BIG, "lst": b""},
            ],
        ),
    ):
        for i, v in enumerate(values):
            claims = cwt_claims(uri, **{f"_{key}": v}) if v is not None else cwt_claims(uri)
            if v is None:
                del claims[key]
            yield (
                f"claim {key} #{i}",
                raw_cwt(good_protected(), {4: b"rp-test"}, cbor2.dumps(claims)),
            )
    for name, body in (
        ("claims garbage", b"\xff"),
        ("claims array", cbor2.dumps([1, 2])),
        ("claims trailing", payload + b"\x00"),
        ("claims truncated", payload[:-3]),
        (
            "claims deep",
            payload[:1].replace(b"\xa5", b"\xa6")
            + payload[1:]
            + b"\x18\x63"
            + b"\x81" * 100_000
            + b"\x00",
        ),
        (
            "claims dup",
            payload[:1].replace(b"\xa5", b"\xa6") + payload[1:] + cbor2.dumps(2) + cbor2.dumps(uri),
        ),
        ("claims bignum iat", cbor2.dumps({**cwt_claims(uri), 6: 2**70})),
        ("claims float16 exp", payload.replace(cbor2.dumps(NOW + 3600), b"\xf9\x7c\x00")),
    ):
        yield name, raw_cwt(good_protected(), {4: b"rp-test"}, body)


@pytest.mark.parametrize("name", [n for n, _ in _cwt_family("URI")])
def test_hostile_cwts(server: LiveServer, name: str) -> None:
    uri = server.url("/cwt")
    body = dict(_cwt_family(uri))[name]
    server.serve("/cwt", Reply(body, CWT_TYPE))
    exc = refusal(7, uri)
    assert isinstance(
        exc, TokenError | MalformedError | LimitExceededError | DecompressError | InvalidBitsError
    ), exc


# ---- the status claim (the Referenced Token is attacker-controlled too) ----------------------


@pytest.mark.parametrize(
    "status",
    [
        {"identifiers": {"uri": "https://x.example"}},
        {"status_list_v2": {"idx": 1, "uri": "https://x.example"}},
        {"x" * 10_000: 1},
        {},
        {1: 2},
    ],
    ids=repr,
)
def test_only_unknown_mechanisms(status: dict[Any, Any]) -> None:
    for claims in ({"status": status}, {65535: status}):
        with pytest.raises(MalformedError, match="no supported status mechanism is present") as e:
            StatusReference.from_claims(claims)
        assert len(str(e.value)) < 1000


def test_unknown_mechanisms_beside_status_list_are_ignored(server: LiveServer) -> None:
    uri = _serve(server, "mech", lambda u: _jwt_with(u), JWT_TYPE)
    for extra in ({"identifiers": [1, 2]}, {"zzz": None}, {"aaa": {"idx": "x"}}):
        ref = StatusReference.from_claims(
            {"status": {**extra, "status_list": {"idx": 7, "uri": uri}}}
        )
        assert ref.idx == 7
        assert query(ref.idx, ref.uri).status == 1


@pytest.mark.parametrize(
    "node",
    [{"idx": v, "uri": "https://x.example/1"} for v in (-1, True, 1.5, "1", None, [1], BIG * -1)]
    + [{"idx": 1, "uri": v} for v in ("", 5, None, b"https://x", ["https://x"])]
    + [5, "status_list", [1], None],
    ids=lambda v: repr(v)[:30],
)
def test_bad_status_list_claims(node: Any) -> None:
    with pytest.raises(MalformedError) as e:
        StatusReference.from_claims({"status": {"status_list": node}})
    assert len(str(e.value)) < 1000


def test_huge_index_is_out_of_range_with_a_bounded_message(server: LiveServer) -> None:
    uri = _serve(server, "huge-idx", lambda u: _jwt_with(u), JWT_TYPE)
    for idx in (1024, 2**64, BIG):
        exc = refusal(idx, uri)
        assert isinstance(exc, IndexOutOfRangeError)


# ---- HTTP: content types, redirects, sizes, slowness, broken connections ---------------------


@pytest.mark.parametrize(
    "ctype",
    [
        "text/html",
        "application/json",
        "application/jwt",
        "application/octet-stream",
        "application/statuslist+jwt+x",
        "",
    ],
)
def test_wrong_content_type(server: LiveServer, ctype: str) -> None:
    uri = server.url("/ctype")
    server.serve("/ctype", Reply(_jwt_with(uri), ctype or "x/y"))
    assert "Content-Type" in str(refusal(7, uri))


def test_x5c_that_is_not_der_is_refused_with_trust_anchors(server: LiveServer) -> None:
    from tests.client.test_x5c import _ca

    _, anchor = _ca()
    for chain in (["AAAA"], ["MIIB"], ["AAAA", "AAAA"]):
        uri = _serve(server, "x5c-der", lambda u, c=chain: _jwt_with(u, {"x5c": c}), JWT_TYPE)
        exc = refusal(7, uri, trust_anchors=[anchor])
        assert isinstance(exc, TokenError), exc
    for x5 in (b"not der", [b"not der", b"x"]):
        uri = _serve(
            server,
            "x5chain-der",
            lambda u, x=x5: raw_cwt(
                good_protected(), {4: b"rp-test", 33: x}, cbor2.dumps(cwt_claims(u))
            ),
            CWT_TYPE,
        )
        exc = refusal(7, uri, trust_anchors=[anchor])
        assert isinstance(exc, TokenError), exc


def test_formats_limit_content_types(server: LiveServer) -> None:
    uri = server.url("/only")
    server.serve("/only", Reply(_jwt_with(uri)))
    assert "Content-Type" in str(refusal(7, uri, formats=["cwt"]))


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_chains_are_bounded(server: LiveServer, status: int) -> None:
    for hop in range(6):
        server.serve(
            f"/r{status}/{hop}",
            Reply(b"", "text/plain", status, {"Location": f"/r{status}/{hop + 1}"}),
        )
    uri = server.url(f"/r{status}/0")
    assert "redirects" in str(refusal(7, uri, max_redirects=3))


def test_redirect_to_the_token_is_followed_and_sub_is_held_to_the_uri(server: LiveServer) -> None:
    target = _serve(server, "target", lambda u: _jwt_with(u), JWT_TYPE)
    server.serve("/moved", Reply(b"", "text/plain", 302, {"Location": "/target"}))
    exc = refusal(7, server.url("/moved"))
    assert isinstance(exc, SubjectMismatchError)
    assert query(7, target).status == 1


@pytest.mark.parametrize(
    "location", ["ftp://127.0.0.1/x", "file:///etc/passwd", "http://[::1", "//", "http://"]
)
def test_redirects_to_unusable_locations(server: LiveServer, location: str) -> None:
    server.serve("/bad-redirect", Reply(b"", "text/plain", 302, {"Location": location}))
    assert isinstance(refusal(7, server.url("/bad-redirect")), FetchError)


@pytest.mark.parametrize(
    "uri",
    [
        "not a url",
        "http://[::1",
        "ftp://127.0.0.1/x",
        "file:///etc/passwd",
        "http://",
        "x" * 5000,
        "http://127.0.0.1:1/",
        "http://127.0.0.1:99999/",
        "http://\u0000/",
    ],
)
def test_unusable_uris(uri: str) -> None:
    assert isinstance(refusal(7, uri, timeout=2), FetchError)


@pytest.mark.parametrize("status", [204, 400, 404, 500, 503, 599])
def test_http_errors(server: LiveServer, status: int) -> None:
    uri = server.serve("/err", Reply(b"<html>" * 10, "text/html", status))
    assert isinstance(refusal(7, uri), FetchError | TokenError)


@pytest.mark.parametrize("piece", [0, 65_536])
def test_huge_bodies_are_refused_while_reading(server: LiveServer, piece: int) -> None:
    uri = server.serve("/huge", Reply(b"e" * (3 << 20), piece=piece))
    exc = refusal(7, uri, max_token_bytes=1 << 20)
    assert isinstance(exc, LimitExceededError)


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_compressed_responses_are_read_and_bombs_bounded(server: LiveServer, coding: str) -> None:
    """A Content-Encoding the client asked for is inflated, and counted against the cap after
    inflating: a 64 MiB bomb in a few kB is refused at the cap, not inflated whole."""
    import gzip

    pack = gzip.compress if coding == "gzip" else zlib.compress
    uri = server.url(f"/coded-{coding}")
    server.serve(
        f"/coded-{coding}", Reply(pack(_jwt_with(uri)), headers={"Content-Encoding": coding})
    )
    assert query(7, uri).status == 1
    bomb = server.serve(
        f"/bomb-{coding}", Reply(pack(b" " * (64 << 20)), headers={"Content-Encoding": coding})
    )
    started = time.monotonic()
    assert isinstance(refusal(7, bomb, max_token_bytes=1 << 20), LimitExceededError)
    assert time.monotonic() - started < 5
    garbage = server.serve(
        f"/garbage-{coding}", Reply(b"\x1f\x8b not really", headers={"Content-Encoding": coding})
    )
    assert isinstance(refusal(7, garbage), FetchError | TokenError)


def test_a_slow_server_times_out(server: LiveServer) -> None:
    uri = server.url("/slow")
    server.serve("/slow", Reply(_jwt_with(uri), delay=5))
    started = time.monotonic()
    assert isinstance(refusal(7, uri, timeout=0.5), FetchError)
    assert time.monotonic() - started < 3


def test_a_dripping_server_times_out(server: LiveServer) -> None:
    """The timeout covers the body too: a server sending a byte every 0.1 s is cut off."""
    uri = server.url("/drip")
    server.serve("/drip", Reply(_jwt_with(uri), piece=1, delay=0.1))
    started = time.monotonic()
    assert isinstance(refusal(7, uri, timeout=1), FetchError)
    assert time.monotonic() - started < 4


def test_a_connection_cut_mid_body(server: LiveServer) -> None:
    uri = server.url("/cut")
    server.serve("/cut", Reply(_jwt_with(uri), cut_after=50))
    assert isinstance(refusal(7, uri), FetchError | TokenError)


# ---- hostile JWK Sets -------------------------------------------------------------------------

EC = {k: v for k, v in KEY.public_jwk.items()}


def _jwks_family() -> Iterator[tuple[str, bytes, str]]:
    js = "application/json"
    yield "not json", b"<html>", js
    yield "not utf-8", b"\xff\xfe{", js
    yield "array", b"[]", js
    yield "string", b'"keys"', js
    yield "keys int", b'{"keys": 5}', js
    yield "keys object", b'{"keys": {"kid": "rp-test"}}', js
    yield "keys null", b'{"keys": null}', js
    yield "no keys", b"{}", js
    yield "deep", ('{"keys":' + nested(100_000) + "}").encode(), js
    yield "huge int", b'{"keys": [' + b"1" * 5000 + b"]}", js
    yield "html type", json.dumps({"keys": [EC]}).encode(), "text/html"
    for name, change in (
        ("x int", {"x": 5}),
        ("x missing", {"x": None}),
        ("x bad b64", {"x": "!!!"}),
        ("x short", {"x": b64u(b"\x01" * 31)}),
        ("x non-ascii", {"x": "é" * 43}),
        ("not on curve", {"x": b64u(b"\x01" * 32), "y": b64u(b"\x02" * 32)}),
        ("crv unknown", {"crv": "P-521"}),
        ("crv int", {"crv": 1}),
        ("kty unknown", {"kty": "oct"}),
        ("kty missing", {"kty": None}),
        ("okp short", {"kty": "OKP", "crv": "Ed25519", "x": b64u(b"1")}),
        ("rsa zero", {"kty": "RSA", "n": "AA", "e": "AQAB"}),
        ("rsa list", {"kty": "RSA", "n": ["x"], "e": "AQAB"}),
    ):
        jwk = {k: v for k, v in {**EC, **change}.items() if v is not None}
        yield name, json.dumps({"keys": [jwk]}).encode(), js


@pytest.mark.parametrize(("name", "body", "ctype"), list(_jwks_family()), ids=lambda v: str(v)[:20])
def test_hostile_jwks(server: LiveServer, name: str, body: bytes, ctype: str) -> None:
    uri = _serve(server, "with-jwks", lambda u: _jwt_with(u), JWT_TYPE)
    jwks = server.serve("/jwks", Reply(body, ctype))
    exc = refusal(7, uri, trusted_jwks=(), jwks_url=jwks)
    assert isinstance(exc, UnknownKeyError | SignatureError), (name, exc)


def test_jwks_url_failures_are_fetch_errors(server: LiveServer) -> None:
    uri = _serve(server, "with-jwks2", lambda u: _jwt_with(u), JWT_TYPE)
    server.serve("/jwks500", Reply(b"oops", "text/plain", 500))
    server.serve("/jwks-big", Reply(b" " * (2 << 20), "application/json"))
    for jwks, error in (
        (server.url("/jwks500"), FetchError),
        (server.url("/jwks-big"), LimitExceededError),
        ("http://[::1", FetchError),
    ):
        exc = refusal(7, uri, trusted_jwks=(), jwks_url=jwks, max_token_bytes=1 << 20)
        assert isinstance(exc, error), exc


def test_every_error_class_is_under_the_root() -> None:
    for cls in (CriticalExtensionError, FetchError, TokenError, MalformedError, LimitExceededError):
        assert issubclass(cls, StatusListError)
