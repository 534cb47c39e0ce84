"""Hypothesis: random and mutated token bytes (bits flipped, truncated, spliced, inserted) served
by a real local HTTP server; the SDK either reads the entry or raises a StatusListError subclass,
never anything else (issue #12)."""

from __future__ import annotations

import json

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.client.live import (
    CWT_TYPE,
    JWT_TYPE,
    LiveServer,
    Reply,
    cwt_claims,
    good_protected,
    raw_cwt,
    raw_jwt,
    typed_or_result,
)
from tests.client.test_client import KEY, _claims
from tests.client.test_hostile import HEADER


@pytest.fixture(autouse=True)
def _both_clients(client_kind: str) -> str:
    """Every case against the asyncio client and the synchronous one."""
    return client_kind


def _seeds(uri: str) -> list[tuple[bytes, str]]:
    x5c = {"x5c": ["MIIBAA=="]}
    return [
        (raw_jwt(json.dumps(HEADER).encode(), json.dumps(_claims(uri)).encode()), JWT_TYPE),
        (
            raw_jwt(json.dumps({**HEADER, **x5c}).encode(), json.dumps(_claims(uri)).encode()),
            JWT_TYPE,
        ),
        (raw_cwt(good_protected(), {4: b"rp-test"}, cbor2.dumps(cwt_claims(uri))), CWT_TYPE),
        (
            raw_cwt(
                good_protected(_2=[16]),
                {4: b"rp-test", 33: [b"x", b"y"]},
                cbor2.dumps(cwt_claims(uri)),
            ),
            CWT_TYPE,
        ),
    ]


MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 16), st.integers(0, 7)),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 16), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 16), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 1 << 16), st.integers(1, 64)),
    st.tuples(st.just("splice"), st.integers(0, 1 << 16), st.integers(0, 1 << 16)),
)


def _mutate(data: bytes, other: bytes, mutations: list[tuple[str, int, int]]) -> bytes:
    out = bytearray(data)
    for kind, at, arg in mutations:
        at = at % (len(out) + 1)
        if kind == "flip" and at < len(out):
            out[at] ^= 1 << arg
        elif kind == "truncate":
            del out[at:]
        elif kind == "insert":
            out.insert(at, arg)
        elif kind == "delete":
            del out[at : at + arg]
        elif kind == "splice":
            start = arg % max(len(other), 1)
            out[at:at] = other[start : start + 24]
    return bytes(out)


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 3),
    other=st.integers(0, 3),
    mutations=st.lists(MUTATION, min_size=1, max_size=4),
    as_other_type=st.booleans(),
)
def test_mutated_tokens_give_typed_errors(
    server: LiveServer,
    seed: int,
    other: int,
    mutations: list[tuple[str, int, int]],
    as_other_type: bool,
) -> None:
    uri = server.url("/fuzz")
    seeds = _seeds(uri)
    body, ctype = seeds[seed]
    if as_other_type:
        ctype = CWT_TYPE if ctype == JWT_TYPE else JWT_TYPE
    server.serve("/fuzz", Reply(_mutate(body, seeds[other][0], mutations), ctype))
    typed_or_result(7, uri)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=512), cwt=st.booleans())
def test_random_bytes_give_typed_errors(server: LiveServer, body: bytes, cwt: bool) -> None:
    uri = server.serve("/random", Reply(body, CWT_TYPE if cwt else JWT_TYPE))
    typed_or_result(7, uri)


def test_the_seeds_are_accepted(server: LiveServer) -> None:
    """Unmutated, the first and third seeds verify: mutations are what gets refused."""
    from tests.client.live import query

    uri = server.url("/seed")
    for i in (0, 2):
        body, ctype = _seeds(uri)[i]
        server.serve("/seed", Reply(body, ctype))
        assert query(7, uri).status == 1
    assert KEY.kid == "rp-test"
