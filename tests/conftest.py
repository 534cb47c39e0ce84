"""Shared fixtures: the spec's test vectors and a pure-Python reference of spec §4.1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

VECTORS = Path(__file__).resolve().parents[1].parent / "shared" / "spec" / "vectors.json"


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    if not VECTORS.is_file():
        pytest.fail(f"spec vectors not found at {VECTORS}; the checkout needs shared/ beside it")
    data: dict[str, Any] = json.loads(VECTORS.read_text())
    return data
