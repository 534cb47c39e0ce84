"""Shared fixtures: the spec's test vectors (``../shared/spec/vectors.json`` beside the checkout).

The vectors are required. When the file is missing the run fails loudly (at collection for the
parametrized conformance tests, at setup for anything using the ``vectors`` fixture); it is never
skipped, because a silently skipped conformance suite looks exactly like a passing one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

VECTORS_PATH = Path(__file__).resolve().parents[1].parent / "shared" / "spec" / "vectors.json"


def load_vectors() -> dict[str, Any]:
    """The parsed vectors file; fails the run (never skips) when it is missing or empty."""
    if not VECTORS_PATH.is_file():
        pytest.fail(
            f"spec vectors not found at {VECTORS_PATH}: the checkout needs shared/spec/ beside it",
            pytrace=False,
        )
    data: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
    if not data.get("lists"):
        pytest.fail(f"{VECTORS_PATH} has no 'lists' entries", pytrace=False)
    return data


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    return load_vectors()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrizes every test taking ``list_vector`` over ALL entries of ``vectors["lists"]``."""
    if "list_vector" in metafunc.fixturenames:
        entries = load_vectors()["lists"]
        metafunc.parametrize("list_vector", entries, ids=[e["name"] for e in entries])


@pytest.fixture(scope="session")
def postgres() -> Any:
    """One real PostgreSQL server for the whole run (``tests/pg.py``); tests take a fresh
    database each with ``postgres.new_database()``."""
    from tests.pg import postgres_server

    with postgres_server() as server:
        yield server
