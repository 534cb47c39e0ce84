"""The SQLite writer's group commit: a group of appends alone commits as one statement; any
other group, or one whose statement fails, as one transaction of savepoints. Both ways must
number, keep and refuse exactly the same writes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from statuslist.storage import NewChange
from statuslist.storage.sqlite import _ROWS_PER_INSERT, SQLiteStorage
from tests.storage.test_contract import change, record


def _run(path: Path, fn: Callable[[SQLiteStorage], Coroutine[Any, Any, None]]) -> None:
    async def main() -> None:
        s = SQLiteStorage(path)
        await s.open()
        try:
            await fn(s)
        finally:
            await s.close()

    return asyncio.run(main())


@pytest.mark.parametrize("rows", [1, 3, _ROWS_PER_INSERT // 4, _ROWS_PER_INSERT])
@pytest.mark.parametrize("bad", [None, 0, 5])
def test_a_group_of_appends_numbers_them_and_fails_only_the_bad_one(
    tmp_path: Path, rows: int, bad: int | None
) -> None:
    """Appends queued together share a commit, whatever their total row count (within one
    statement's rows, or past it); a malformed one fails alone."""

    async def go(s: SQLiteStorage) -> None:
        await s.insert_list(record("L", 1 << 16))
        before = s.commits
        batches: list[list[NewChange]] = [
            [change("L", f"a{n}-{k}", n * rows + k) for k in range(rows)] for n in range(8)
        ]
        if bad is not None:  # its last change has no actor: the NOT NULL column refuses it
            broken = NewChange("L", b"\0" * 8, b"\0", b"\1", 1.0, None)  # type: ignore[arg-type]
            batches[bad] = [*batches[bad][:-1], broken]
        results = await asyncio.gather(*(s.append(b) for b in batches), return_exceptions=True)
        assert s.commits - before <= 4, "queued together, they share commits"
        logged = await s.changes("L", 0, 100_000)
        by_seq = {c.seq: c for c in logged}
        kept = 0
        for n, (sent, got) in enumerate(zip(batches, results, strict=True)):
            if n == bad:
                assert isinstance(got, Exception)
                continue
            assert isinstance(got, list) and len(got) == rows
            assert [by_seq[q].actor for q in got] == [c.actor for c in sent]
            kept += rows
        assert len(logged) == kept
        assert [c.seq for c in logged] == sorted(c.seq for c in logged)

    _run(tmp_path / "db", go)

    async def reopened(s: SQLiteStorage) -> None:  # what was answered is what is on disk
        assert len(await s.changes("L", 0, 100_000)) == (8 - (bad is not None)) * rows

    _run(tmp_path / "db", reopened)


def test_a_group_with_another_operation_still_commits_every_write(tmp_path: Path) -> None:
    async def go(s: SQLiteStorage) -> None:
        await s.insert_list(record("L", 1 << 10))
        ops = [s.append([change("L", f"w{n}", n)]) for n in range(20)]
        ops.insert(5, s.reserve("L", 3, 100))
        results = await asyncio.gather(*ops)
        assert results[5] == (0, 3)
        assert len(await s.changes("L", 0, 100)) == 20

    _run(tmp_path / "db", go)
