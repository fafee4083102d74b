"""The layers import one way (docs/architecture.md): read from the source, no model needed.

api and realtime are two doors onto the service: neither imports the other, both read
the access policy from ``server.access``; only the service (and the runtime that opens
it) reaches the store; no import inside a function hides a cycle between our packages.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[1] / "server"


def module_name(path: Path) -> str:
    parts = path.relative_to(SERVER.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, node: ast.ImportFrom | ast.Import) -> list[str]:
    """Absolute names of what ``node`` imports (``from .x import y`` -> ``server.pkg.x.y``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    base = package.split(".")
    if node.level:
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    return [f"{prefix}.{a.name}" for a in node.names] + [prefix]


def imports_of(package: str) -> dict[str, set[str]]:
    """module -> every server.* name it imports (module level and inside functions)."""
    out: dict[str, set[str]] = {}
    root = SERVER / package if package else SERVER
    files = [root.with_suffix(".py")] if root.with_suffix(".py").is_file() else root.rglob("*.py")
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names.update(n for n in imported(path, node) if n.startswith("server"))
        out[module_name(path)] = names
    return out


def offenders(package: str, forbidden: str) -> list[str]:
    return sorted(
        f"{mod} imports {name}"
        for mod, names in imports_of(package).items()
        for name in names
        if name == forbidden or name.startswith(forbidden + ".")
    )


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("realtime", "server.api"),
        ("api", "server.realtime"),
        ("access", "server.api"),
        ("access", "server.realtime"),
        ("access", "server.service"),
        ("service", "server.api"),
        ("service", "server.realtime"),
        ("proctoring", "server.service"),
        ("proctoring", "server.vision"),
        ("vision", "server.service"),
        ("reports", "server.store"),
        ("api", "server.store"),
        ("realtime", "server.store"),
    ],
)
def test_layers_import_one_way(package, forbidden):
    assert offenders(package, forbidden) == []


def test_api_and_realtime_read_the_store_only_through_the_service():
    """No ``x.store`` attribute outside service/ (``.ctx.store`` is the service's own)."""
    found = []
    for package in ("api", "realtime", "reports"):
        for path in (SERVER / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Attribute) and node.attr == "store":
                    found.append(f"{module_name(path)}:{node.lineno}")
    assert found == []


DOORS_AND_SERVICE = ("server.api", "server.realtime", "server.service", "server.access")


def test_no_deferred_import_between_api_realtime_and_service():
    """An import inside a function from one of these to another would be hiding a cycle."""
    found = []
    for package in ("api", "realtime", "service"):
        for path in (SERVER / package).rglob("*.py"):
            for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(fn):
                    if not isinstance(node, ast.Import | ast.ImportFrom):
                        continue
                    names = imported(path, node)
                    if any(n.startswith(DOORS_AND_SERVICE) for n in names):
                        found.append(f"{module_name(path)}:{node.lineno}")
    assert found == []


def test_the_checks_see_a_forbidden_import():
    """The walker itself: a known import of the service by api is found."""
    assert offenders("api", "server.service")
