"""The layering of ARCHITECTURE.md, checked on the source: each layer imports only downward, and
nothing runs service code from storage. Every import statement counts, including those inside
functions and under ``TYPE_CHECKING``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "python" / "statuslist"

#: For each layer, the statuslist modules (first dotted part below ``statuslist``) it may import.
BASE = {"exceptions", "config", "metrics", "codec", "_native", "__version__"}
ALLOWED: dict[str, set[str]] = {
    "exceptions": set(),
    "codec": {"exceptions", "_native"},
    "tokens": {"exceptions", "codec", "_native"},
    "config": {"exceptions", "codec"},
    "metrics": set(),
    "client": {"exceptions", "codec", "tokens", "_native", "__version__"},
    "storage": BASE,
    "service": BASE | {"storage", "tokens", "service"},
    "web": BASE | {"service", "web"},
    "loadtest": BASE | {"client", "tokens", "loadtest"},
    "cli": BASE | {"service", "storage", "web", "client", "tokens", "loadtest", "cli"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[0] == "statuslist":
                if len(parts) > 1:
                    found.add(parts[1])
                else:  # from statuslist import X
                    found.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "statuslist" and len(parts) > 1:
                    found.add(parts[1])
    return found


def _layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if _layer(p) not in ("__init__", "__main__"))


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_imports_go_only_downward(path: Path) -> None:
    layer = _layer(path)
    assert layer in ALLOWED, f"{layer}: a new layer; add it to ALLOWED and ARCHITECTURE.md"
    bad = _imports(path) - ALLOWED[layer] - {layer}
    assert not bad, f"{path.relative_to(PACKAGE)} ({layer}) imports {sorted(bad)}"


def test_nothing_but_the_cli_imports_web() -> None:
    for path in MODULES:
        if _layer(path) not in ("web", "cli"):
            assert "web" not in _imports(path), path
