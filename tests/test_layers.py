"""The dependency direction of STYLE.md and the gateway's rooms, pinned.

`verifiers` and `schemas` import neither the gateway nor the consumers; the
consumers never import the gateway; the gateway reaches the consumers only where
the two are composed (`gateway/runtime/` and the CLI commands). Inside the gateway
each room (`ingress`, `bus`, `store`, `admin`, `console`, `google`, `runtime`) may import only
what its rule allows of the others, and no module imports itself through others:
every import counts, those made only for type checking and inside functions too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gateway", "consumers", "schemas", "verifiers")

SHARED = ("gateway.settings", "gateway.logs", "gateway.tasks")
"""Top-level gateway modules every room may use."""

ROOMS: dict[str, tuple[str, ...]] = {
    # the hot path: the publish contract and the sources' read side, no bus internals
    "gateway.ingress": ("gateway.bus.publish", "gateway.store.sources"),
    # where a delivery becomes durable: counts on the ingress's metrics, a topic per provider
    "gateway.bus": ("gateway.ingress.metrics", "gateway.ingress.providers"),
    "gateway.store": (),
    "gateway.admin": ("gateway.ingress", "gateway.store"),
    # the console renders what the admin API holds; its actions are admin API calls
    "gateway.console": ("gateway.admin", "gateway.ingress", "gateway.store"),
    "gateway.google": ("gateway.app", "gateway.store"),
}
"""Each room, and what it may import of the gateway besides itself and `SHARED`.
`gateway.runtime` and `gateway.commands` compose everything and may import anything."""

COMPOSERS = ("gateway.runtime", "gateway.commands")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {
        module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
    }


MODULES = modules()


def imported(path: Path) -> set[str]:
    """Every module of the project `path` imports (a name imported from a package
    counts as its module when it is one)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name in MODULES}


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def in_package(package: str) -> Iterator[tuple[str, set[str]]]:
    for name, path in sorted(MODULES.items()):
        if within(name, package):
            yield name, imported(path)


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("verifiers", ("gateway", "consumers", "schemas")),
        ("schemas", ("gateway", "consumers", "verifiers")),
        ("consumers", ("gateway", "verifiers")),
    ],
)
def test_leaves_do_not_import_upwards(package: str, forbidden: tuple[str, ...]) -> None:
    offenders = {
        name: sorted(i for i in imports if any(within(i, f) for f in forbidden))
        for name, imports in in_package(package)
        if any(within(i, f) for i in imports for f in forbidden)
    }
    assert offenders == {}


def test_only_the_runtime_and_the_commands_import_the_consumers() -> None:
    offenders = [
        name
        for name, imports in in_package("gateway")
        if any(within(i, "consumers") for i in imports)
        and not any(within(name, composer) for composer in COMPOSERS)
    ]
    assert offenders == []


@pytest.mark.parametrize("room", sorted(ROOMS))
def test_each_room_imports_only_what_its_rule_allows(room: str) -> None:
    allowed = (room, *ROOMS[room], *SHARED)
    offenders = {
        name: sorted(
            i
            for i in imports
            if within(i, "gateway") and i != "gateway" and not any(within(i, a) for a in allowed)
        )
        for name, imports in in_package(room)
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_nothing_but_the_composers_and_the_cli_imports_the_runtime() -> None:
    offenders = [
        name
        for name, imports in in_package("gateway")
        if any(within(i, "gateway.runtime") for i in imports)
        and not any(within(name, composer) for composer in COMPOSERS)
        and name != "gateway.cli"
    ]
    assert offenders == []


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` (module -> modules it imports), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_module_imports_itself_through_others() -> None:
    graph = {
        name: {i for i in imported(path) if not within(name, i)}  # a package's own parts
        for name, path in MODULES.items()
    }
    assert find_cycle(graph) is None
