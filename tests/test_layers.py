"""Imports go one way: core <- services <- flow <- Airflow edge <- entry points <- demos, and never in a circle.

Every ``import`` counts, including the lazy ones inside functions (they run too). The layers are described
in docs/architecture.md; a new module must be placed in LAYERS before this test passes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A module belongs to the longest prefix that names it; it may import its own layer or lower.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", (
        "retrain", "retrain.errors", "retrain.settings", "retrain.config", "retrain.spec_cache", "retrain.assets", "retrain.links",
        "retrain.contracts", "retrain.data", "retrain.models", "retrain.training", "retrain.tracking.gate",
        "retrain.tracking.tags", "retrain.validation.checks",
    )),
    ("services", ("retrain.tracking", "retrain.validation", "retrain.alerts")),
    ("flow", ("retrain.pipeline",)),
    ("edge", ("retrain.orchestration", "plugins", "dags")),
    ("entry", ("retrain.cli", "retrain.run_once")),
    ("demo", ("retrain_demo",)),  # demos and harness, outside the product: nothing in retrain may import them
]


def layer_of(module: str) -> int:
    best, rank = "", None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            exact_only = prefix == "retrain"  # the package itself, not everything under it
            hit = module == prefix or (not exact_only and module.startswith(prefix + "."))
            if hit and len(prefix) > len(best):
                best, rank = prefix, index
    if rank is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py")
    return rank


def module_files() -> dict[str, Path]:
    files = {}
    for path in [*(ROOT / "include" / "retrain").rglob("*.py"), *(ROOT / "include" / "retrain_demo").rglob("*.py")]:
        parts = list(path.relative_to(ROOT / "include").with_suffix("").parts)
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for folder in ("plugins", "dags"):
        for path in (ROOT / folder).glob("*.py"):
            files[f"{folder}.{path.stem}"] = path
    return files


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``module`` imports, at top level or inside functions (not under TYPE_CHECKING)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):  # type-only imports never run
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            node.body = []
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            # `from pkg import sub` imports the submodule when there is one
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        found.update(name for name in names if name in known and name != module)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    files = module_files()
    return {module: imports_of(module, path, set(files)) for module, path in files.items()}


def test_every_module_has_a_layer(graph):
    for module in graph:
        layer_of(module)


def test_no_import_against_the_layer_order(graph):
    upward = sorted(
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in graph.items()
        for target in targets
        if layer_of(target) > layer_of(module)
    )
    assert upward == [], "imports against the layer order:\n" + "\n".join(upward)


def test_no_import_cycles(graph):
    cycles, state = [], {}

    def visit(module: str, stack: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycles.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target, stack + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == [], "import cycles:\n" + "\n".join(cycles)


def reads_environment(tree: ast.AST) -> list[int]:
    """Lines that read a variable: os.environ.get(...), os.environ[...], os.getenv(...)."""
    getters = ("os.environ.get", "os.getenv", "environ.get")
    return [
        node.lineno for node in ast.walk(tree)
        if (isinstance(node, ast.Call) and ast.unparse(node.func) in getters)
        or (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and ast.unparse(node.value) == "os.environ")
    ]


def test_only_settings_reads_the_environment():
    readers = sorted(
        f"{module}:{line}"
        for module, path in module_files().items()
        if module != "retrain.settings"
        for line in reads_environment(ast.parse(path.read_text()))
    )
    assert readers == [], "read the environment outside retrain.settings:\n" + "\n".join(readers)
