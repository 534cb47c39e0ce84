"""Unit tests of the service's building blocks: negotiation, the index permutation, settings,
and the SQLite writer's group commit and rollback."""

from __future__ import annotations

import asyncio
import os
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statuslist.config import ConfigError, load_settings
from statuslist.service.permutation import IndexPermutation
from statuslist.storage import ListRecord
from statuslist.storage.sqlite import SQLiteStorage
from statuslist.web.negotiation import accepts_gzip, choose_media_type, etag_matches

JWT, CWT = "application/statuslist+jwt", "application/statuslist+cwt"
BOTH = [JWT, CWT]


@pytest.mark.parametrize(
    ("accept", "offered", "chosen"),
    [
        (None, BOTH, JWT),
        ("", BOTH, JWT),
        ("*/*", BOTH, JWT),
        ("application/*", BOTH, JWT),
        (CWT, BOTH, CWT),
        ("Application/StatusList+CWT", BOTH, CWT),
        (f"{JWT};q=0.1, {CWT}", BOTH, CWT),
        (f"{JWT};q=0.5, {CWT};q=0.5", BOTH, JWT),
        (f"{CWT};q=0, */*", BOTH, JWT),
        (f"*/*;q=0.1, {CWT};q=0.2", BOTH, CWT),
        (f"{JWT};q=0", [JWT], None),
        (f"{JWT};charset=utf-8", BOTH, None),
        (f"{JWT};charset=utf-8, */*;q=0.1", BOTH, JWT),
        ("text/html", BOTH, None),
        (JWT, [CWT], None),
        ("*/*", [CWT], CWT),
        (f"{CWT};q=0.9;ext=1", BOTH, CWT),
        # A header without a single valid media range is ignored, as if absent.
        ("garbage", BOTH, JWT),
        ("garbage, text/html", BOTH, None),
        (f"{CWT};q=2", BOTH, None),
    ],
)
def test_choose_media_type(accept: str | None, offered: list[str], chosen: str | None) -> None:
    assert choose_media_type(accept, offered) == chosen


@pytest.mark.parametrize(
    ("header", "gzip"),
    [
        (None, False),
        ("gzip", True),
        ("br, GZIP;q=0.5", True),
        ("gzip;q=0", False),
        ("*", True),
        ("*;q=0", False),
        ("gzip;q=0, *", False),
        ("identity", False),
        ("deflate, x-gzip", True),
    ],
)
def test_accepts_gzip(header: str | None, gzip: bool) -> None:
    assert accepts_gzip(header) is gzip


def test_etag_matching_is_weak() -> None:
    assert etag_matches('"a", W/"b"', '"b"')
    assert etag_matches("*", '"x"')
    assert not etag_matches('"a"', '"b"')


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 3000), key=st.binary(min_size=16, max_size=32))
def test_permutation_is_a_bijection(size: int, key: bytes) -> None:
    perm = IndexPermutation(key, size)
    assert sorted(perm.many(0, size)) == list(range(size))


def test_permutation_depends_on_the_key_and_is_not_sequential() -> None:
    a = IndexPermutation(b"k" * 32, 1_000_000).many(0, 1000)
    b = IndexPermutation(b"j" * 32, 1_000_000).many(0, 1000)
    assert list(a) != list(b)
    ascending = sum(1 for x, y in pairwise(a) if y == x + 1)
    assert ascending < 5
    with pytest.raises(IndexError):
        IndexPermutation(b"k" * 32, 10)(10)


def test_settings_sources_and_validation(tmp_path: Path) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text("port = 9000\npublish_interval = 0.5\n[list_defaults]\nbits = 1\n")
    s = load_settings(cfg, env={"STATUSLIST_PORT": "9100"}, host="192.0.2.1")
    assert (s.port, s.host, s.publish_interval, s.list_defaults.bits) == (9100, "192.0.2.1", 0.5, 1)
    assert s.base_url == "http://192.0.2.1:9100" and s.dev_setup
    for text, message in [
        ("nonsense = 1\n", "unknown setting"),
        ("[list_defaults]\nbits = 3\n", "bits"),
        ("publish_interval = 0\n", "publish_interval"),
        ('public_base_url = "ftp://x"\n', "public_base_url"),
        ("[issuers.a]\n", "key"),
        ("port = \n", "s.toml"),
    ]:
        cfg.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_settings(cfg, env={})
    with pytest.raises(ConfigError, match="STATUSLIST_PORT"):
        load_settings(None, env={"STATUSLIST_PORT": "eighty"})
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.toml", env={})


def _record(list_id: str) -> ListRecord:
    return ListRecord(list_id, "i", 1, 8, 60, ("jwt",), False, 0, False, 0.0, os.urandom(32))


def test_group_commit_shares_commits_and_isolates_failures(tmp_path: Path) -> None:
    async def run() -> None:
        storage = SQLiteStorage(tmp_path / "db.sqlite")
        await storage.open()
        undone: list[str] = []
        try:
            await storage.transact(lambda tx: tx.insert_list(_record("L")))

            def write(n: int) -> int:
                def fn(tx: object) -> int:
                    seq: int = tx.append_change("L", b"", b"", b"", 0.0, f"w{n}")  # type: ignore[attr-defined]
                    tx.on_rollback(lambda: undone.append(f"w{n}"))  # type: ignore[attr-defined]
                    if n == 7:
                        raise ValueError("refused")
                    return seq

                return fn

            before = storage.commits
            results = await asyncio.gather(
                *(storage.transact(write(n)) for n in range(200)), return_exceptions=True
            )
            commits = storage.commits - before
            assert isinstance(results[7], ValueError) and undone == ["w7"]
            seqs = [r for r in results if isinstance(r, int)]
            assert len(seqs) == 199 and seqs == sorted(seqs)
            assert commits < 50, f"{commits} commits for 200 concurrent writes"
            logged = await storage.changes("L", 0, 1000)
            assert [c.actor for c in logged] == [f"w{n}" for n in range(200) if n != 7]
        finally:
            await storage.close()

    asyncio.run(run())
