"""The tree's import directions: bench and devtools never import tests, docbot's packages import none of
tests, devtools and bench, and ingest has no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    """Every module named by an import statement in the file (function-level imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _package_imports(package: str) -> dict[str, set[str]]:
    return {
        ".".join(path.relative_to(REPO).with_suffix("").parts): _imports(path)
        for path in (REPO / package).rglob("*.py")
    }


def test_bench_and_devtools_never_import_tests() -> None:
    for package in ("bench", "devtools"):
        for module, names in _package_imports(package).items():
            bad = sorted(name for name in names if name == "tests" or name.startswith("tests."))
            assert not bad, f"{module} imports {bad}"


def test_docbot_itself_imports_neither_tests_nor_devtools_nor_bench() -> None:
    for package in ("bot", "ingest", "models", "vectorstore", "config"):
        for module, names in _package_imports(package).items():
            bad = sorted(n for n in names if n.split(".")[0] in ("tests", "devtools", "bench"))
            assert not bad, f"{module} imports {bad}"


def test_ingest_has_no_import_cycle() -> None:
    graph = {
        module.removesuffix(".__init__"): {name for name in names if name.startswith("ingest.")}
        for module, names in _package_imports("ingest").items()
    }

    def visit(node: str, path: list[str]) -> None:
        assert node not in path, "cycle: " + " -> ".join([*path, node])
        for following in sorted(graph.get(node, ())):
            visit(following, [*path, node])

    for start in graph:
        visit(start, [])
