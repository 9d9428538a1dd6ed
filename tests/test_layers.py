"""The dependency direction of STYLE.md, pinned: leaves stay leaves.

`verifiers` and `schemas` import neither the gateway nor the consumers; the
consumers never import the gateway; the gateway reaches the consumers only where
the two are composed (the CLI commands and the wiring of `serve`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GATEWAY_COMPOSITION = {
    "gateway/runtime/serve.py",
    "gateway/runtime/asgi.py",
    "gateway/runtime/credentials.py",
    "gateway/runtime/connect.py",
}


def imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("verifiers", {"gateway", "consumers", "schemas"}),
        ("schemas", {"gateway", "consumers", "verifiers"}),
        ("consumers", {"gateway", "verifiers"}),
    ],
)
def test_leaves_do_not_import_upwards(package: str, forbidden: set[str]) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & forbidden)
        for path in modules(package)
        if imported_packages(path) & forbidden
    }
    assert offenders == {}


def test_gateway_meets_consumers_only_where_it_composes_them() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in modules("gateway")
        if "consumers" in imported_packages(path)
        and str(path.relative_to(ROOT)) not in GATEWAY_COMPOSITION
        and not str(path.relative_to(ROOT)).startswith("gateway/commands/")
    ]
    assert offenders == []
